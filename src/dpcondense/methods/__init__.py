"""Condensation methods, one module each, registered by name in :data:`METHODS`."""

from __future__ import annotations

import importlib
from typing import Iterable

from dpcondense.methods import (  # noqa: F401  (registration)
    dp_direct,
    dp_dm,
    dp_gaussian,
    dp_marginals,
    dpzo,
    full_data,
    kmeans,
    random_subset,
)
from dpcondense.methods.base import METHODS, CondensationMethod, SyntheticSet, register_method

__all__ = ["METHODS", "CondensationMethod", "SyntheticSet", "register_method", "make_method", "load_plugins"]


def make_method(name: str, **params) -> CondensationMethod:
    """Instantiate the registered method ``name`` with ``params``."""
    return METHODS.get(name)(**params)


def load_plugins(modules: Iterable[str] | str | None) -> list[str]:
    """Import user modules that register methods (``@register_method``) from outside the package.

    Parameters
    ----------
    modules : str or iterable of str, optional
        Importable module names, e.g. ``["my_pkg.my_method"]`` (``--plugin`` on the CLI,
        ``plugins: [...]`` in the Hydra config). ``None`` or empty imports nothing.

    Returns
    -------
    list of str
        Names of the methods that became registered by these imports.

    Raises
    ------
    ImportError
        Naming the module that cannot be imported and why.
    """
    if modules is None:
        return []
    names = [modules] if isinstance(modules, str) else list(modules)
    before = set(METHODS.names())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(
                f"plugin module {name!r} cannot be imported ({exc}); it must be importable "
                "(installed, or on PYTHONPATH) and register its method with @register_method"
            ) from exc
    return sorted(set(METHODS.names()) - before)
