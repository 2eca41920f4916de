"""Plain Markdown / LaTeX table writers (deterministic text, no external dependency)."""

from __future__ import annotations

from typing import Sequence


def _cell(v: object) -> str:
    if v is None:
        return "—"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, caption: str = "") -> str:
    """A booktabs table."""

    def esc(s: object) -> str:
        return _cell(s).replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("&", r"\&")

    spec = "l" * len(header)
    out = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out.append(" & ".join(esc(h) for h in header) + r" \\")
    out.append(r"\midrule")
    out += [" & ".join(esc(v) for v in row) + r" \\" for row in rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(rf"\caption{{{esc(caption)}}}")
    out.append(r"\end{table}")
    return "\n".join(out)
