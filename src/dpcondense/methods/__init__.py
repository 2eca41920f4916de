"""Condensation methods, one module each, registered by name in :data:`METHODS`.

Every public module of this package is imported when the package is (see
:func:`dpcondense.registry.import_components`): a new method is one new module with a
``@register_method("name")`` class, plus ``conf/method/<name>.yaml``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Iterable

from dpcondense.methods.base import METHODS, CondensationMethod, SyntheticSet, balanced_labels, register_method
from dpcondense.params import check_params
from dpcondense.registry import import_components

#: constructor keywords that are switches of the run, not hyperparameters (never declared in ``param_specs``)
RUN_SWITCHES = ("progress",)

__all__ = [
    "METHODS", "CondensationMethod", "SyntheticSet", "balanced_labels", "register_method", "make_method", "load_plugins",
    "check_method_params",
]


def make_method(name: str, **hyperparameters: Any) -> CondensationMethod:
    """Instantiate the registered method ``name`` with its ``hyperparameters``.

    The run context (family, size, ε, δ, seed) is given to ``fit``:
    ``make_method("dpzo", steps=50).fit(train, size=10, epsilon=1.0, random_state=0)``.

    Raises
    ------
    ValueError
        A parameter the method does not take (naming the ones it takes), or a value outside its
        ``param_specs`` (naming what is allowed), before anything is built.
    """
    cls = METHODS.get(name)
    check_method_params(cls, hyperparameters)
    return cls(**hyperparameters)


def check_method_params(cls: type[CondensationMethod], params: dict[str, Any], *, key_prefix: str = "") -> dict[str, Any]:
    """Check ``params`` against the method's ``param_specs``; return them unchanged.

    ``progress`` and private ``_`` keywords of the constructor pass unchecked. A method that
    declares no ``param_specs`` (e.g. a plugin written before them) is left to its constructor.
    """
    if cls.param_specs is None:
        return dict(params)
    keywords = inspect.signature(cls.__init__).parameters
    passthrough = [k for k in keywords if k in RUN_SWITCHES or k.startswith("_")]
    return check_params(f"method {cls.name!r}", cls.param_specs, params, key_prefix=key_prefix, passthrough=passthrough)


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
