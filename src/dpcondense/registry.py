"""A tiny name → object registry shared by datasets, model families and methods.

Components register themselves at import time with ``@REGISTRY.register("name")``; code that
needs one asks ``REGISTRY.get("name")`` and gets a clear error listing the known names.
External packages can add components through the ``dpcondense.<kind>`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownComponentError(KeyError, ValueError):
    """A name that no registered component answers to (the message lists the known names)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class Registry(Generic[T]):
    """Map names to components of one kind (``dataset``, ``model``, ``method``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (names are unique)."""

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=f"dpcondense.{self.kind}s"):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        """Return the component registered as ``name``.

        Raises
        ------
        UnknownComponentError
            If no component has that name; the message lists the available names.
        """
        if name not in self._items:
            self._load_entry_points()
        if name not in self._items:
            raise UnknownComponentError(
                f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(self.names())}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_components(package: str, path: list[str] | Iterator[str]) -> list[str]:
    """Import every public module of ``package`` (each registers its component when imported).

    Called at the end of a component package's ``__init__``: adding a component is adding one
    module, never editing a list of imports. Modules whose names start with ``_`` are helpers and
    are left alone; ``base`` modules are imported by the components that need them.
    """
    names = sorted(info.name for info in pkgutil.iter_modules(list(path)) if not info.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
