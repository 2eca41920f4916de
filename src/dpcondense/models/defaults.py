"""Each family's default hyperparameters, read from its card ``conf/model/<name>.yaml``."""

from __future__ import annotations

import functools
import json
from typing import Any

from omegaconf import OmegaConf

from dpcondense.paths import CONF_DIR


@functools.lru_cache(maxsize=None)
def _family_params_cached(name: str) -> str:
    path = CONF_DIR / "model" / f"{name}.yaml"
    params = OmegaConf.to_container(OmegaConf.load(path)).get("params") if path.is_file() else None
    return json.dumps(params or {})


def family_params(name: str) -> dict[str, Any]:
    """Hyperparameters of a family from ``conf/model/<name>.yaml`` (``{}`` if it has no file)."""
    return json.loads(_family_params_cached(name))
