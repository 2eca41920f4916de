"""The table model: cells, bold cells and the runs used, rendered as Markdown or LaTeX (booktabs).

Rendering is plain string formatting (no external dependency), so the same cells always give the
same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from dpcondense.reporting.labels import DIGITS, MISSING, NOT_APPLICABLE, UNDEFINED
from dpcondense.reporting.records import Stat


def _cell(v: object) -> str:
    if v is None:
        return "—"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (``None`` cells shown as "—"), without a final newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Table:
    """One table: its cells (``str``/``int``/``float``/:class:`Stat`/``None`` = missing), the
    cells in bold, and the run identities it used."""

    key: str
    title: str
    caption: str
    header: list[str]
    rows: list[list[Any]]
    bold: set[tuple[int, int]] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)

    def cells(self) -> list[list[str]]:
        """The rows as displayed (no bold markup)."""
        return [[format_cell(v) for v in row] for row in self.rows]

    def markdown(self) -> str:
        """Title, caption and the table in Markdown (bold cells in ``**``)."""
        rows = [
            [f"**{text}**" if (i, j) in self.bold and text not in (MISSING, NOT_APPLICABLE) else text for j, text in enumerate(row)]
            for i, row in enumerate(self.cells())
        ]
        return f"**{self.title}.** {self.caption}\n\n" + markdown_table(self.header, rows) + "\n"

    def latex(self) -> str:
        """A booktabs ``table`` environment labelled ``tab:<key>`` (numeric columns right-aligned)."""
        numeric = [j > 0 and all(not isinstance(row[j], str) or row[j] in (MISSING, NOT_APPLICABLE) for row in self.rows) for j in range(len(self.header))]
        spec = "".join("r" if n else "l" for n in numeric)
        out = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
        out.append(" & ".join(latex_escape(h) for h in self.header) + r" \\")
        out.append(r"\midrule")
        for i, row in enumerate(self.cells()):
            cells = [latex_escape(text) for text in row]
            cells = [rf"\textbf{{{c}}}" if (i, j) in self.bold and row[j] not in (MISSING, NOT_APPLICABLE) else c for j, c in enumerate(cells)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(self.title)}. {latex_escape(self.caption)}}}"]
        out += [rf"\label{{tab:{self.key}}}", r"\end{table}"]
        return "\n".join(out) + "\n"


def format_cell(value: Any) -> str:
    """A cell as displayed: "—" for no run, ``mean ± std`` for a :class:`Stat`, 3 decimals for a float."""
    if value is None:
        return MISSING
    if isinstance(value, Stat):
        return value.text()
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return UNDEFINED if math.isnan(value) else f"{value:.{DIGITS}f}"
    return str(value)


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "ε": r"$\varepsilon$",
    "∞": r"$\infty$",
    "×": r"$\times$",
    "≤": r"$\le$",
    "—": "---",
    "–": "--",
    "−": "$-$",
    "→": r"$\rightarrow$",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX specials escaped and ±, ε, ∞, dashes and arrows as math."""
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def runs_of(*cells: Any) -> list[str]:
    """The sorted run identities behind the :class:`Stat` cells among ``cells``."""
    out: set[str] = set()
    for c in cells:
        if isinstance(c, Stat):
            out.update(c.identities)
    return sorted(out)
