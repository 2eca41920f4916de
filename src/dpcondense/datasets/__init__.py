"""Built-in clinical datasets, one module each, registered by name.

``load_dataset(name)`` returns a validated :class:`~dpcondense.data.Dataset`; every dataset
loads offline from an installed package and is checked against a recorded checksum.
"""

from __future__ import annotations

from functools import lru_cache

from dpcondense.data import Dataset
from dpcondense.datasets import (  # noqa: F401  (imports register the datasets)
    breast_cancer_wisconsin,
    flchain,
    gbsg,
    metabric,
    pima_diabetes,
    support_mortality,
)
from dpcondense.datasets._common import DATASETS, register_dataset, schema_for

__all__ = ["DATASETS", "load_dataset", "register_dataset", "schema_for", "dataset_names"]


def dataset_names() -> list[str]:
    return DATASETS.names()


@lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """Load the built-in dataset ``name`` (cached; treat the result as read-only).

    Raises
    ------
    UnknownComponentError
        If ``name`` is not a registered dataset (the message lists the available ones).
    """
    return DATASETS.get(name)()
