"""Every method's release, ledger and metrics are pinned on one small case per (method, task).

The pins in ``tests/golden/releases.json`` were written by ``tests/golden/pins.py``. A change of
any of them means a change of behaviour: bump the version of the method or family whose output
changed and re-pin in the same commit (never re-pin a refactoring).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import pins  # noqa: E402

PINNED = json.loads(pins.PINS.read_text())


def test_every_registered_method_has_a_pin():
    """A new method must be pinned when it is added (run ``python tests/golden/pins.py``)."""
    missing = sorted(case for case, *_ in pins.cases() if case not in PINNED)
    assert not missing, f"no pinned release for {missing}: run `python tests/golden/pins.py` and commit the file"


@pytest.mark.parametrize("case", [c for c in pins.cases()], ids=[c[0] for c in pins.cases()])
def test_release_ledger_and_metrics_unchanged(case):
    name, method, task, family, params = case
    if name not in PINNED:
        pytest.skip(f"{name} is not pinned yet (see test_every_registered_method_has_a_pin)")
    assert pins.run_case(method, task, family, params) == PINNED[name]


@pytest.mark.parametrize("case", sorted(pins.CLI_CASES))
def test_condense_command_files_unchanged(case):
    assert pins.run_cli_case(case) == PINNED[case]


def test_re_pinning_refuses_a_changed_release_without_a_version_bump():
    old = {"m/classification": {"versions": {"method": 1, "family": 1}, "release_sha256": "a"}}
    changed = {"m/classification": {"versions": {"method": 1, "family": 1}, "release_sha256": "b"}}
    bumped = {"m/classification": {"versions": {"method": 2, "family": 1}, "release_sha256": "b"}}
    assert pins.unbumped(old, changed) == ["m/classification"]
    assert pins.unbumped(old, bumped) == [] and pins.unbumped(old, old) == []


def test_pins_record_the_versions_of_their_components():
    from dpcondense.methods import METHODS
    from dpcondense.models import MODELS

    for name, method, task, family, params in pins.cases():
        if PINNED.get(name):
            assert PINNED[name]["versions"] == {"method": METHODS.get(method).version_for(task), "family": MODELS.get(family).version}, name
