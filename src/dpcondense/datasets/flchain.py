"""FLCHAIN overall survival (scikit-survival's bundled copy). Card: conf/dataset/flchain.yaml."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, register_dataset, schema_for

CHECKSUM = "025608994a75f39c03911d3378b4ad45b1d985d839586349d171d4d7fd8110fb"


@register_dataset("flchain")
def load_flchain() -> Dataset:
    from sksurv.datasets import load_flchain as _load

    X, y = _load()
    frame = pd.DataFrame(X).drop(columns=["chapter"])  # cause of death: a target leak
    for col in ("sex", "flc.grp", "mgus"):
        frame[col] = frame[col].astype(str)
    frame["sample.yr"] = frame["sample.yr"].astype(str).astype(int)
    frame["futime"] = np.maximum(y["futime"], schema_for("flchain").outcome.min_time)
    frame["death"] = y["death"].astype(int)
    return finish(frame.reset_index(drop=True), "flchain", CHECKSUM)
