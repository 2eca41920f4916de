"""Built-in clinical datasets, one module each, registered by name.

``load_dataset(name)`` returns a validated :class:`~dpcondense.data.Dataset`; every dataset
loads offline from an installed package and is checked against a recorded checksum.
"""

from __future__ import annotations

from functools import lru_cache

from dpcondense.data import Dataset
from dpcondense.datasets._common import DATASETS, card, register_dataset, schema_for
from dpcondense.registry import import_components

__all__ = ["DATASETS", "card", "load_dataset", "register_dataset", "schema_for", "dataset_names"]


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


# last: every module of this package registers its dataset (its card is conf/dataset/<name>.yaml)
import_components(__name__, __path__)
