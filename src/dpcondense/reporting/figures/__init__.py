"""Figures 1–5 of the report, one module each, registered by key in :data:`FIGURES`.

Each figure is a matplotlib ``Figure`` whose artists carry ``gid`` s (``"dpzo"``,
``"dpzo:band"``, ``"dpzo:inf"``, ``"full_data"``, ...) so tests can read the data drawn.
Importing this package registers every figure; a new figure is one new module here (decorated
with :func:`~dpcondense.reporting.figures.base.register_figure`); nothing else is edited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpcondense.reporting.figures.base import FIGURES, ReportFigure, register_figure
from dpcondense.registry import import_components
from dpcondense.reporting.runs import ExperimentRuns

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure

# every module of this package registers its figure (one new module = one new figure)
import_components(__name__, __path__)

__all__ = ["FIGURES", "FIGURE_FILES", "ReportFigure", "build_figures", "register_figure"]

#: files :func:`dpcondense.reporting.write_report` writes per figure key (``.png`` + ``.pdf``)
FIGURE_FILES: dict[str, str] = {key: FIGURES.get(key).stem for key in FIGURES.names()}


def build_figures(runs: ExperimentRuns, used: dict[str, set[str]] | None = None) -> dict[str, "Figure"]:
    """Every figure, keyed like :data:`FIGURE_FILES`; ``used[key]`` collects the runs drawn.

    Parameters
    ----------
    runs : ExperimentRuns
        The experiment's runs.
    used : dict, optional
        Filled with one set of run identities per figure key.

    Returns
    -------
    dict of str to Figure
        In registry order (``figure1`` … ``figure5``).
    """
    used = {} if used is None else used
    out = {}
    for key in FIGURES.names():
        used[key] = set()
        out[key] = FIGURES.get(key).draw(runs, used=used[key])
    return out
