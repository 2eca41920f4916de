"""Wisconsin Diagnostic Breast Cancer (scikit-learn's bundled copy). Card: conf/dataset/breast_cancer_wisconsin.yaml."""

from __future__ import annotations

import numpy as np

from dpcondense.data import Dataset
from dpcondense.datasets._common import finish, register_dataset

CHECKSUM = "af399a019264f7999e6b395ee90576e46564867aa4c8a40797c96be87dc1be55"


@register_dataset("breast_cancer_wisconsin")
def load_breast_cancer_wisconsin() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.copy()
    # scikit-learn codes 0 = malignant; the positive class here is malignant
    frame["diagnosis"] = np.where(bunch.target.to_numpy() == 0, "malignant", "benign")
    return finish(frame, "breast_cancer_wisconsin", CHECKSUM)
