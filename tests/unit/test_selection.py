"""Run selection: runs of an older method version are left out (with a warning), current ones kept."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dpcondense.methods import METHODS
from dpcondense.reporting.selection import is_stale, select_runs


def _run(run_id: str, identity: str, version: str | None, seed: str = "0"):
    tags = {"identity": identity, "dataset": "gbsg", "method": "dpzo", "model": "cox_ph", "eval_models": "cox_ph",
            "epsilon": "1", "size": "50", "seed": seed}
    if version is not None:
        tags["method_version"] = version
    return SimpleNamespace(info=SimpleNamespace(run_id=run_id, end_time=1), data=SimpleNamespace(tags=tags, params={}))


def test_older_method_versions_are_left_out_with_a_warning():
    current = str(METHODS.get("dpzo").version)
    old = str(int(current) - 1)
    runs = [_run("a", "id-old", old), _run("b", "id-new", current), _run("c", "id-other", current, seed="1")]
    assert [is_stale(r) for r in runs] == [True, False, False]
    with pytest.warns(UserWarning, match=f"older method version.*dpzo v{old}"):
        kept = select_runs(runs, experiment="x")
    assert [r.info.run_id for r in kept] == ["b", "c"]  # no conflict between the stale and the current run


def test_runs_without_a_version_tag_are_kept():
    assert not is_stale(_run("a", "id", None))


def test_older_family_versions_are_left_out_where_a_cell_has_two_identities():
    from dpcondense.models import MODELS

    current = MODELS.get("cox_ph").version
    method = str(METHODS.get("dpzo").version)
    specs = {"id-old": {"versions": {"families": {"cox_ph": current - 1}}},
             "id-new": {"versions": {"families": {"cox_ph": current}}},
             "id-alone": {"versions": {"families": {"cox_ph": current - 1}}}}
    runs = [_run("a", "id-old", method), _run("b", "id-new", method), _run("c", "id-alone", method, seed="1")]
    read = []

    def spec_of(run):
        read.append(run.info.run_id)
        return specs[run.data.tags["identity"]]

    with pytest.warns(UserWarning, match=f"older model-family version.*cox_ph v{current - 1}"):
        kept = select_runs(runs, experiment="x", spec_of=spec_of)
    # the cell with two identities keeps the current family's run; a cell with one identity is not read
    assert sorted(r.info.run_id for r in kept) == ["b", "c"]
    assert sorted(read) == ["a", "b"]
    # two current identities in one cell are still a conflict
    specs["id-old"] = specs["id-new"]
    with pytest.raises(ValueError, match="more than one identity"):
        select_runs(runs, experiment="x", spec_of=spec_of)
