"""The figure registry: each figure module registers its drawing function under a key and a file stem.

Adding a figure is one new module in this package decorated with :func:`register_figure` (the package
imports all its modules); :func:`dpcondense.reporting.figures.build_figures` and
:func:`dpcondense.reporting.write_report` pick it up from :data:`FIGURES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from dpcondense.registry import Registry

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ReportFigure:
    """A registered figure: its key (``figure1`` ...), its file stem and its drawing function.

    ``draw(runs, *, used)`` returns a matplotlib ``Figure`` and adds the run identities it drew to
    the set ``used``.
    """

    key: str
    stem: str
    draw: Callable[..., "Figure"]


#: every figure of the report by key; keys sort in the order the report shows them
FIGURES: Registry[ReportFigure] = Registry("figure")


def register_figure(key: str, stem: str) -> Callable[[F], F]:
    """Decorator: register a ``draw(runs, *, used) -> Figure`` function as figure ``key``.

    Parameters
    ----------
    key : str
        ``figure<N>``: where the figure goes in the report and in ``runs_used.md``.
    stem : str
        File name (without extension) of its ``.png`` and ``.pdf`` files.

    Returns
    -------
    callable
        A decorator returning the function unchanged.
    """

    def deco(draw: F) -> F:
        FIGURES.register(key)(ReportFigure(key, stem, draw))
        return draw

    return deco
