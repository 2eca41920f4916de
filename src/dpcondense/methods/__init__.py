"""Condensation methods, one module each, registered by name in :data:`METHODS`."""

from __future__ import annotations

from dpcondense.methods import dpzo, full_data, random_subset  # noqa: F401  (registration)
from dpcondense.methods.base import METHODS, CondensationMethod, SyntheticSet, register_method

__all__ = ["METHODS", "CondensationMethod", "SyntheticSet", "register_method", "make_method"]


def make_method(name: str, **params) -> CondensationMethod:
    """Instantiate the registered method ``name`` with ``params``."""
    return METHODS.get(name)(**params)
