"""The sweep plan's cached composition gives every job the config Hydra's own composition gives.

For every preset of conf/experiment/, a sample of its jobs (first, last and spread between) is
composed both ways; the run configs (``hydra`` node aside, which the plan does not read) and the
run identities must be equal, and the cache must compose fewer times than there are jobs.
"""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from dpcondense.benchmark.callbacks import expand_sweep
from dpcondense.benchmark.compose import SweepComposer
from dpcondense.benchmark.resolve import resolve_run
from dpcondense.paths import CONF_DIR

PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
SAMPLE = 2


def _run_config(cfg):
    out = OmegaConf.to_container(cfg, resolve=False)
    out.pop("hydra", None)
    return OmegaConf.to_container(OmegaConf.create(out), resolve=True)


@pytest.fixture
def hydra_conf():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        yield
    GlobalHydra.instance().clear()


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_cached_composition_equals_hydra_composition(hydra_conf, preset):
    master = compose(config_name="config", overrides=[f"experiment={preset}"], return_hydra_config=True)
    jobs = expand_sweep(master)
    assert jobs, preset
    loader = GlobalHydra.instance().config_loader()
    composer = SweepComposer(loader, master, OverridesParser.create(config_loader=loader))
    step = max(1, len(jobs) // SAMPLE)
    sample = jobs[::step][:SAMPLE] + [jobs[-1]]
    for overrides in sample:
        full = loader.load_sweep_config(master, overrides)
        cached = composer.compose(overrides)
        assert _run_config(cached) == _run_config(full), overrides
        assert resolve_run(cached).identity == resolve_run(full).identity
    # the whole sweep composes once per group choice
    for overrides in jobs:
        assert composer._split(overrides) is not None, overrides  # every override is a plain group or value change
    groups = {composer._split(o)[0] for o in jobs}
    assert len(groups) < len(jobs) or len(jobs) <= 2
