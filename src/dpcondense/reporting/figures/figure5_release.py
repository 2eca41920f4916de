"""Figure 5 (for the paper only: drawn from real data, not a release): what a release looks like.

Classification: the released rows next to the real training rows on two clinically meaningful
features. Survival: Kaplan–Meier curves of the test split at the median risk of a Cox model
trained on the release vs on the full training split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from dpcondense.data import Dataset, train_test_split
from dpcondense.datasets import DATASETS, load_dataset
from dpcondense.methods.base import WEIGHT_COLUMN, SyntheticSet
from dpcondense.models import make_model
from dpcondense.models.defaults import family_params
from dpcondense.reporting.figures.base import register_figure
from dpcondense.reporting.labels import format_epsilon, method_label
from dpcondense.reporting.records import RunRecord, same_epsilon
from dpcondense.reporting.runs import MAIN_EPSILON, MAIN_METHOD, ExperimentRuns
from dpcondense.reporting.style import new_figure, rc_context

if TYPE_CHECKING:  # matplotlib takes seconds to import
    from matplotlib.figure import Figure

#: written into every figure drawn from real rows
REAL_DATA_NOTE = "For the paper only: drawn from real data, not a release"
#: two clinically meaningful features per classification dataset
FIGURE5_FEATURES = {
    "breast_cancer_wisconsin": ("worst radius", "worst concave points"),
    "pima_diabetes": ("Glucose", "BMI"),
    "support_mortality": ("age", "meanbp"),
}


def pick_release(runs: ExperimentRuns, dataset: str, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> RunRecord | None:
    """The run whose release Figure 5 and the notebook show: ``method`` on ``dataset`` with the
    main family at the default size, at ``epsilon`` (else the smallest ε available), lowest seed."""
    model, size = runs.main_model(dataset), runs.default_size(dataset)
    recs = [r for r in runs.select(dataset=dataset, method=method, model=model, size=size) if not r.derived and r.run_id]
    if not recs:
        recs = [r for r in runs.select(dataset=dataset, method=method) if not r.derived and r.run_id]
    if not recs:
        return None
    at = [r for r in recs if same_epsilon(r.epsilon, epsilon)] or sorted(recs, key=lambda r: r.epsilon)[:1]
    eps = at[0].epsilon
    return sorted((r for r in recs if same_epsilon(r.epsilon, eps)), key=lambda r: (r.seed, r.identity))[0]


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier step curve: (times starting at 0, survival just after each time)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    order = np.argsort(time, kind="stable")
    time, event = time[order], event[order]
    unique = np.unique(time[event])
    surv, s = [1.0], 1.0
    for t in unique:
        at_risk = np.sum(time >= t)
        deaths = np.sum((time == t) & event)
        s *= 1.0 - deaths / at_risk
        surv.append(s)
    return np.concatenate([[0.0], unique]), np.array(surv)


def _release_panels(runs: ExperimentRuns, method: str, epsilon: float) -> list[tuple[str, str, RunRecord, pd.DataFrame]]:
    """(task, dataset, run, released rows) for the first dataset of each task with a release."""
    panels: list[tuple[str, str, RunRecord, pd.DataFrame]] = []
    for task in ("classification", "survival"):
        for d in runs.datasets(task):
            if d not in DATASETS:
                continue
            rec = pick_release(runs, d, method=method, epsilon=epsilon)
            path = runs.artifact(rec.run_id, "synthetic.csv") if rec else None
            if rec is not None and path is not None:
                panels.append((task, d, rec, pd.read_csv(path)))
                break
    return panels


def drawn_releases(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON) -> list[RunRecord]:
    """The runs whose released ``synthetic.csv`` Figure 5 draws (at most one per task): the only
    artifacts a report reads, so the only releases a run record carries (:mod:`~dpcondense.reporting.archive`)."""
    return [rec for _, _, rec, _ in _release_panels(runs, method, epsilon)]


def _draw_release_rows(ax: Any, ds: Dataset, d: str, train: Dataset, frame: pd.DataFrame, what: str) -> None:
    """The released rows over the real training rows on the dataset's two Figure 5 features."""
    fx, fy = _figure5_features(ds.schema, d)
    real = train.to_frame()
    label, positive = ds.schema.outcome.label, ds.schema.outcome.positive
    soft = WEIGHT_COLUMN in frame.columns  # each point twice (class 0 and 1), weighted
    for cls, colour, name in ((0, "#0072B2", "negative"), (1, "#D55E00", "positive")):
        mask = (real[label] == positive) == bool(cls)
        ax.scatter(real.loc[mask, fx], real.loc[mask, fy], s=6, alpha=0.25, color=colour, lw=0,
                   label=f"real training rows ({name})", gid=f"real:class{cls}")
        if soft:
            continue
        rmask = (frame[label].astype(str) == str(positive)) == bool(cls)
        ax.scatter(frame.loc[rmask, fx], frame.loc[rmask, fy], s=40, marker="*" if cls else "X", color=colour,
                   edgecolor="black", lw=0.6, label=f"released rows ({name})", gid=f"release:class{cls}")
    if soft:  # one marker per point, coloured by its released P(positive)
        pos = frame[frame[label].astype(str) == str(positive)]
        ax.scatter(pos[fx], pos[fy], s=45, marker="o", c=pos[WEIGHT_COLUMN], cmap="coolwarm", vmin=0, vmax=1,
                   edgecolor="black", lw=0.6, label="released points (colour: P(positive))", gid="release:soft")
    ax.set_xlabel(_feature_label(ds.schema, fx))
    ax.set_ylabel(_feature_label(ds.schema, fy))
    ax.set_title(f"{d}\n{what} ({len(frame) // 2 if soft else len(frame)} {'soft-labelled points' if soft else 'rows'})")
    ax.legend(loc="best", fontsize=6, framealpha=0.8)
    ax.grid(True, alpha=0.3, lw=0.5)


def _draw_risk_groups(
    ax_iter: Iterator[Any], ds: Dataset, d: str, rec: RunRecord, train: Dataset, test: Dataset, frame: pd.DataFrame, what: str
) -> None:
    """Two panels: test-split Kaplan–Meier curves at the median risk of a Cox model trained on
    the release, then on the full training split."""
    grid = ds.schema.outcome.time_grid()
    release = SyntheticSet.from_release(frame, ds.schema)
    params = family_params("cox_ph")
    X_test = test.encoded()
    fits = (
        ("release", f"Cox PH trained on the {len(frame)}-row release\n({d}, {what})", release.X, release.time, release.event),
        ("full", f"Cox PH trained on the full training split\n({d}, {train.n_rows} rows)", train.encoded(), train.time, train.event),
    )
    unit = ds.schema.outcome.time_unit or "time units"
    for key, title, X, t, ev in fits:
        ax = next(ax_iter)
        risk = make_model("cox_ph", random_state=rec.seed, **params).fit(X, t, ev).predict_risk(X_test, grid)
        high = risk > np.median(risk)
        for name, mask, colour in (("low risk", ~high, "#009E73"), ("high risk", high, "#D55E00")):
            if mask.any():
                kt, ks = kaplan_meier(test.time[mask], test.event[mask])
                ax.step(kt, ks, where="post", color=colour, lw=1.4,
                        label=f"{name} (n = {int(mask.sum())})", gid=f"{key}:{name}")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"time ({unit})")
        ax.set_ylabel("Kaplan–Meier survival (test split)")
        ax.set_title(title)
        ax.legend(loc="lower left", fontsize=7)
        ax.grid(True, alpha=0.3, lw=0.5)


@register_figure("figure5", "figure5_release")
def figure5_release(runs: ExperimentRuns, *, method: str = MAIN_METHOD, epsilon: float = MAIN_EPSILON, used: set[str] | None = None) -> "Figure":
    """Figure 5 (for the paper only: drawn from real data, not a release).

    Classification: the released rows next to the real training rows on two clinically
    meaningful features (gids ``real:class0|1``, ``release:class0|1``). Survival: Kaplan–Meier
    curves of the test split split at the median risk predicted by a Cox model trained on the
    release vs on the full training split (gids ``release:low risk`` ... ``full:high risk``).
    """
    used = set() if used is None else used
    panels = _release_panels(runs, method, epsilon)
    n_axes = sum(1 if task == "classification" else 2 for task, *_ in panels)
    fig, axes = new_figure(n_axes, panel=(3.6, 3.0))
    ax_iter = iter(axes)
    with rc_context():
        for task, d, rec, frame in panels:
            used.add(rec.label)
            ds = load_dataset(d)
            train, test = train_test_split(ds, seed=rec.seed)
            what = f"{method_label(rec.method)} release, ε = {format_epsilon(rec.epsilon)}, seed {rec.seed}"
            if task == "classification":
                _draw_release_rows(next(ax_iter), ds, d, train, frame, what)
            else:
                _draw_risk_groups(ax_iter, ds, d, rec, train, test, frame, what)
        if not panels:
            axes[0].texts[0].set_text("no run with a released synthetic.csv")
        fig.suptitle(f"Figure 5. What the released data look like ({runs.experiment}). {REAL_DATA_NOTE}.", fontsize=10)
    return fig


def _figure5_features(schema: Any, dataset: str) -> tuple[str, str]:
    numeric = [f.name for f in schema.features if f.type == "numeric"]
    preferred = FIGURE5_FEATURES.get(dataset)
    if preferred and all(p in schema.feature_names for p in preferred):
        return preferred
    names = numeric if len(numeric) >= 2 else list(schema.feature_names)
    return names[0], names[1]


def _feature_label(schema: Any, name: str) -> str:
    unit = schema.feature(name).unit
    return f"{name} ({unit})" if unit else name
