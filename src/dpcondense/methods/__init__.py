"""Condensation methods, one module each, registered by name in :data:`METHODS`.

Every public module of this package is imported when the package is (see
:func:`dpcondense.registry.import_components`): a new method is one new module with a
``@register_method("name")`` class, plus ``conf/method/<name>.yaml``.
"""

from __future__ import annotations

import importlib
from typing import Iterable

from dpcondense.methods.base import METHODS, CondensationMethod, SyntheticSet, balanced_labels, register_method
from dpcondense.registry import import_components

__all__ = [
    "METHODS", "CondensationMethod", "SyntheticSet", "balanced_labels", "register_method", "make_method", "load_plugins",
]


def make_method(name: str, **hyperparameters) -> CondensationMethod:
    """Instantiate the registered method ``name`` with its ``hyperparameters``.

    The run context (family, size, ε, δ, seed) is given to ``fit``:
    ``make_method("dpzo", steps=50).fit(train, size=10, epsilon=1.0, random_state=0)``.
    """
    return METHODS.get(name)(**hyperparameters)


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


# last: every module of this package registers its method (a method module may import the names above)
import_components(__name__, __path__)
