"""``kmeans``: class-wise k-means centroids in model space, decoded (a non-private coreset reference).

Classification: ``size`` centroids per class. Survival: rows are [features, scaled log-time]
(the public log-time scale of :class:`~dpcondense.methods._baseline.LogTimeScale`), clustered
within event strata; the ``size`` rows are split across strata in proportion to the real event
counts (it is non-private, so the exact counts are used). The ledger says ε = ∞.
"""

from __future__ import annotations


import numpy as np
from sklearn.cluster import KMeans as _SkKMeans

from dpcondense.data import Dataset
from dpcondense.methods._baseline import release_from_rows, seed_sequence, strata_and_rows, synthetic_sizes
from dpcondense.methods.base import CondensationMethod, register_method
from dpcondense.methods.full_data import _non_private_ledger
from dpcondense.models.base import quiet_single_thread
from dpcondense.params import ParamSpec


@register_method("kmeans")
class KMeansCentroids(CondensationMethod):
    """Centroids of k-means run separately on each class (or event stratum). Never private.

    Parameters
    ----------
    model, size, epsilon, delta, random_state, model_params
        As in :class:`~dpcondense.methods.base.CondensationMethod` (``model`` and ``epsilon``
        are not used: the centroids do not depend on the model, and nothing is private).
    n_init : int, default=3
        k-means restarts per stratum (scikit-learn's ``n_init``).
    max_iter : int, default=300
        Lloyd iterations per restart.
    """

    label = "k-means"
    # 2: the ledger records where the noise came from
    version = 2
    param_specs = {
        "n_init": ParamSpec(int, low=1, doc="k-means restarts per stratum"),
        "max_iter": ParamSpec(int, low=1, doc="Lloyd iterations per restart"),
    }

    def __init__(
        self,
        *,
        n_init: int = 3,
        max_iter: int = 300,
    ) -> None:
        super().__init__()
        self.n_init = n_init
        self.max_iter = max_iter

    def _fit(self, dataset: Dataset) -> "KMeansCentroids":
        if int(self.n_init) < 1 or int(self.max_iter) < 1:
            raise ValueError(f"n_init and max_iter must be integers >= 1, got {self.n_init}, {self.max_iter}")
        strata, rows = strata_and_rows(dataset)
        counts = np.bincount(strata, minlength=2)
        sizes = synthetic_sizes(dataset, self.size, counts)
        seeds = seed_sequence(self.random_state).generate_state(2)
        parts, labels = [], []
        for c, k in enumerate(sizes):
            if k == 0:
                continue
            members = rows[strata == c]
            if len(members) == 0:
                raise ValueError(f"kmeans: stratum {c} has no real rows, cannot place {k} centroids in it")
            parts.append(_centroids(members, int(k), int(self.n_init), int(self.max_iter), int(seeds[c])))
            labels.append(np.full(int(k), c, dtype=np.int64))
        self._set_release(release_from_rows(dataset, np.vstack(parts), np.concatenate(labels)), dataset.schema)
        self.ledger_ = _non_private_ledger("kmeans", self.delta, f"{int(sizes.sum())} k-means centroids of real rows")
        return self


def _centroids(rows: np.ndarray, k: int, n_init: int, max_iter: int, seed: int) -> np.ndarray:
    """``k`` centroids of ``rows``; with fewer distinct rows than ``k``, the rows repeat."""
    distinct = np.unique(rows, axis=0)
    if len(distinct) <= k:
        return distinct[np.arange(k) % len(distinct)]
    with quiet_single_thread():
        km = _SkKMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed).fit(rows)
    return km.cluster_centers_
