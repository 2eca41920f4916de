"""Composing a sweep's job configs once per choice of config groups (the sweep's serial start-up).

Checking a sweep before it starts composes every job's config; Hydra's composition (the defaults
list, the YAML files of every group) costs about as much as a short run, so a sweep of hundreds of
jobs spent minutes on one core before any worker started. Most jobs of a sweep differ only in
plain values (``seed=3``, ``privacy.epsilon=1``, ``dpzo_variant=x``), not in the groups they select
(``dataset=…``, ``method=…``). :class:`SweepComposer` composes once per distinct set of group
overrides and applies the value overrides to a copy with OmegaConf, exactly as Hydra applies
command-line overrides after the defaults list; any override it cannot treat so (an addition, a
deletion, a list, a dict, a sweep) falls back to Hydra's own composition of that job.
``tests/unit/test_sweep_compose.py`` checks both paths give the same config for every preset.
"""

from __future__ import annotations

import copy
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from dpcondense.paths import CONF_DIR

#: config groups: the folders of conf/ (an override of one of them selects a file, not a value)
GROUPS = frozenset(p.name for p in CONF_DIR.iterdir() if p.is_dir())


class SweepComposer:
    """``compose(overrides)`` = Hydra's ``load_sweep_config(master, overrides)``, cached per group choice.

    For planning only: the run config is the job's; the ``hydra`` node (its record of the job's own
    overrides, output dir names) is the group composition's. Each worker composes its own job.
    """

    def __init__(self, loader: Any, master: DictConfig, parser: Any) -> None:
        self.loader, self.master, self.parser = loader, master, parser
        self._cache: dict[tuple[str, ...], DictConfig] = {}
        self.compositions = 0

    def compose(self, overrides: list[str]) -> DictConfig:
        split = self._split(overrides)
        if split is None:
            self.compositions += 1
            return self.loader.load_sweep_config(self.master, overrides)
        groups, values = split
        if groups not in self._cache:
            self.compositions += 1
            self._cache[groups] = self.loader.load_sweep_config(self.master, list(groups))
        cfg = copy.deepcopy(self._cache[groups])
        with open_dict(cfg):
            for key, value in values:
                OmegaConf.update(cfg, key, value, merge=False)
        return cfg

    def _split(self, overrides: list[str]) -> tuple[tuple[str, ...], list[tuple[str, Any]]] | None:
        """(group overrides, [(key, value)]) or ``None`` when an override needs Hydra's own composition."""
        groups, values = [], []
        for text in overrides:
            (ov,) = self.parser.parse_overrides([text])
            key = ov.key_or_group
            is_group = key.split("/")[0].split(".")[0] in GROUPS and "." not in key
            if ov.is_add() or ov.is_delete() or ov.is_force_add() or ov.is_sweep_override():
                return None
            if is_group or key.startswith("hydra"):
                groups.append(text)
                continue
            value = ov.value()
            if not (value is None or isinstance(value, (str, int, float, bool))):
                return None
            values.append((key, value))
        return tuple(groups), values
