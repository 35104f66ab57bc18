"""Evaluation metrics of the resflow-bench suite (pure numpy, vectorised).

Definitions used throughout the suite:

* **AUC** is the exact ROC AUC (Mann-Whitney U statistic with average ranks for
  tied scores); it is never approximated by binning. It is NaN when only one
  class is present.
* **GAUC** is the impression-weighted mean of per-group exact AUCs over the
  groups (e.g. users or requests) that contain both classes; a group's weight
  is its number of rows. It is NaN when no group contains both classes.
* **WR@K** (weighted recall at K): each row carries a gain
  ``sum_k v_k * y_k`` (item value ``v_k`` of task ``k`` times its 0/1 label).
  Within every group rows are ranked by the fused score, descending; WR@K is
  the share of the total gain over all groups that lies in the groups' top-K
  rows. Ties in score are broken by original row order (the earlier row ranks
  higher). This is the suite's own definition, because the exact formula of
  the ResFlow paper is not available.

Fusion weights are searched on validation data only
(:func:`search_fusion_weights` takes no test arrays).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_WEIGHT_GRID",
    "auc",
    "binary_task_metrics",
    "calibration_ratio",
    "expected_calibration_error",
    "fuse_scores",
    "gauc",
    "item_gains",
    "log_loss",
    "search_fusion_weights",
    "weighted_recall_at_k",
    "weighted_recall_at_ks",
]

DEFAULT_WEIGHT_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
_PROB_EPS = 1e-7
_MAX_PRODUCT_TASKS = 4

FusionMode = Literal["additive", "multiplicative"]


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #
def _as_1d_float(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_binary(
    y_true: ArrayLike, y_score: ArrayLike, score_name: str = "y_score"
) -> tuple[np.ndarray, np.ndarray]:
    y = _as_1d_float(y_true, "y_true")
    if y.size == 0:
        raise ValueError("y_true is empty")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    s = _as_1d_float(y_score, score_name)
    if s.shape != y.shape:
        raise ValueError(f"y_true and {score_name} differ in length: {y.size} != {s.size}")
    return y, s


def _check_probs(y_true: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y, p = _check_binary(y_true, p, "p")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p must lie in [0, 1]")
    return y, p


def _check_groups(groups: ArrayLike, n: int) -> np.ndarray:
    """Validate group labels; return int64 codes in ``[0, n)``, equal iff same group."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise ValueError(f"groups must be 1-D of length {n}, got shape {g.shape}")
    if g.dtype.kind == "f" and not np.isfinite(g).all():
        raise ValueError("groups contains NaN or infinite values")
    if g.dtype.kind in "biu" and n and int(g.max()) - int(g.min()) < n:
        return g.astype(np.int64) - int(g.min())
    return np.unique(g, return_inverse=True)[1].astype(np.int64)


def _segment_starts(sorted_key: np.ndarray) -> np.ndarray:
    """Mask of rows that start a run of equal keys (row 0 always starts one)."""
    new = np.empty(sorted_key.size, dtype=bool)
    new[:1] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=new[1:])
    return new


def _dense_rank(x: np.ndarray) -> np.ndarray:
    """0-based dense rank of each value (equal values share a rank)."""
    order = np.argsort(x)
    rank = np.empty(x.size, dtype=np.int64)
    rank[order] = np.cumsum(_segment_starts(x[order])) - 1
    return rank


def _order_by_group_and_score(codes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Row order by group code, then score descending, then row index.

    Sorts packed int64 keys by value, several times faster than ``np.lexsort``;
    ``codes`` must lie in ``[0, n)``.
    """
    n = scores.size
    rows = np.arange(n, dtype=np.int64)
    by_score = np.sort(_dense_rank(-scores) * n + rows) % n  # ties by row index
    return by_score[np.sort(codes[by_score] * n + rows) % n]


# --------------------------------------------------------------------------- #
# Binary-task metrics
# --------------------------------------------------------------------------- #
def _grouped_auc(y: np.ndarray, s: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact AUC and row count per group (NaN for one-class groups).

    ``codes`` must lie in ``[0, n)``; only groups that occur are returned.
    """
    n = y.size
    # One value sort of packed (group, score rank, label) keys.
    key = np.sort((codes * n + _dense_rank(s)) * 2 + y.astype(np.int64))
    y = key & 1
    key >>= 1
    new_block = _segment_starts(key)
    new_group = _segment_starts(key // n)

    group_start = np.flatnonzero(new_group)
    size = np.diff(np.append(group_start, n))
    block_start = np.flatnonzero(new_block)
    block_end = np.append(block_start[1:], n)
    block_group = np.cumsum(new_group[block_start]) - 1
    # 1-based average rank of each tie block inside its group.
    block_rank = (block_start + block_end + 1) / 2 - group_start[block_group]
    block_pos = np.add.reduceat(y, block_start)

    n_pos = np.add.reduceat(y, group_start)
    n_neg = size - n_pos
    rank_sum = np.bincount(block_group, weights=block_rank * block_pos, minlength=group_start.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        aucs = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    aucs[(n_pos == 0) | (n_neg == 0)] = np.nan
    return aucs, size


def auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Exact ROC AUC (Mann-Whitney, average ranks for ties); NaN if one class."""
    y, s = _check_binary(y_true, y_score)
    return float(_grouped_auc(y, s, np.zeros(y.size, dtype=np.int64))[0][0])


def gauc(y_true: ArrayLike, y_score: ArrayLike, groups: ArrayLike) -> float:
    """Row-count-weighted mean of per-group exact AUC over two-class groups.

    NaN if no group contains both classes.
    """
    y, s = _check_binary(y_true, y_score)
    aucs, size = _grouped_auc(y, s, _check_groups(groups, y.size))
    valid = ~np.isnan(aucs)
    if not valid.any():
        return float("nan")
    return float(np.dot(aucs[valid], size[valid]) / size[valid].sum())


def log_loss(y_true: ArrayLike, p: ArrayLike, eps: float = _PROB_EPS) -> float:
    """Mean binary cross-entropy with ``p`` clipped to ``[eps, 1 - eps]``."""
    y, p = _check_probs(y_true, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def calibration_ratio(y_true: ArrayLike, p: ArrayLike) -> float:
    """Mean prediction divided by the positive rate; NaN if no positives."""
    y, p = _check_probs(y_true, p)
    positives = y.sum()
    return float(p.sum() / positives) if positives > 0 else float("nan")


def expected_calibration_error(y_true: ArrayLike, p: ArrayLike, n_bins: int = 15) -> float:
    """ECE over ``n_bins`` equal-width bins on [0, 1], weighted by bin count.

    Bins are ``[i/n, (i+1)/n)``; the last bin also contains ``p == 1``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    y, p = _check_probs(y_true, p)
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    # sum_b (n_b / n) * |mean_y_b - mean_p_b| == sum_b |sum_y_b - sum_p_b| / n
    return float(np.abs(sum_y - sum_p).sum() / y.size)


def binary_task_metrics(y_true: ArrayLike, p: ArrayLike, groups: ArrayLike | None = None) -> dict[str, float]:
    """AUC, log loss, calibration ratio, ECE, positive rate, mean prediction
    (and GAUC when ``groups`` is given) of one binary task."""
    y, p = _check_probs(y_true, p)
    metrics = {
        "auc": auc(y, p),
        "logloss": log_loss(y, p),
        "calibration": calibration_ratio(y, p),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(y.mean()),
        "mean_pred": float(p.mean()),
    }
    if groups is not None:
        metrics["gauc"] = gauc(y, p, groups)
    return metrics


# --------------------------------------------------------------------------- #
# Weighted recall at K
# --------------------------------------------------------------------------- #
def _check_ks(ks: Iterable[int]) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    return ks


def _wr_at_ks(gains: np.ndarray, scores: np.ndarray, groups: np.ndarray, ks: list[int]) -> dict[int, float]:
    """WR@K on validated arrays; one stable sort shared by all ``ks``."""
    total = gains.sum()
    if total == 0:
        return {k: float("nan") for k in ks}
    order = _order_by_group_and_score(groups, scores)
    new_group = _segment_starts(groups[order])
    group_start = np.flatnonzero(new_group)
    rank = np.arange(gains.size) - group_start[np.cumsum(new_group) - 1]
    k_max = max(ks)
    gain_by_rank = np.bincount(np.minimum(rank, k_max), weights=gains[order], minlength=k_max + 1)
    top_gain = np.cumsum(gain_by_rank)  # top_gain[r]: gain at within-group ranks 0..r
    return {k: float(top_gain[k - 1] / total) for k in ks}


def _check_wr_inputs(
    gains: ArrayLike, scores: ArrayLike, groups: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gains = _as_1d_float(gains, "gains")
    if (gains < 0).any():
        raise ValueError("gains must be nonnegative")
    scores = _as_1d_float(scores, "scores")
    if scores.shape != gains.shape:
        raise ValueError(f"gains and scores differ in length: {gains.size} != {scores.size}")
    return gains, scores, _check_groups(groups, gains.size)


def weighted_recall_at_ks(
    gains: ArrayLike, scores: ArrayLike, groups: ArrayLike, ks: Iterable[int]
) -> dict[int, float]:
    """WR@K for several K sharing one sort; see the module docstring.

    Rows are ranked per group by ``scores`` descending, ties by original row
    order. NaN for every K if the total gain is 0.
    """
    gains, scores, groups = _check_wr_inputs(gains, scores, groups)
    return _wr_at_ks(gains, scores, groups, _check_ks(ks))


def weighted_recall_at_k(gains: ArrayLike, scores: ArrayLike, groups: ArrayLike, k: int) -> float:
    """Share of the total gain found in each group's top ``k`` rows by score."""
    return weighted_recall_at_ks(gains, scores, groups, [k])[int(k)]


# --------------------------------------------------------------------------- #
# Multi-task score fusion
# --------------------------------------------------------------------------- #
def item_gains(labels: ArrayLike, values: ArrayLike) -> np.ndarray:
    """Per-row gain ``sum_k values[k] * labels[:, k]`` for 0/1 ``labels`` [n, K]."""
    y = np.asarray(labels, dtype=np.float64)
    v = _as_1d_float(values, "values")
    if y.ndim != 2 or y.shape[1] != v.size:
        raise ValueError(f"labels must have shape [n, {v.size}], got {y.shape}")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("labels must contain only 0 and 1")
    if (v < 0).any():
        raise ValueError("values must be nonnegative")
    return y @ v


def _check_fusion_inputs(probs: ArrayLike, weights: ArrayLike, mode: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    w = _as_1d_float(weights, "weights")
    if p.ndim != 2 or p.shape[1] != w.size:
        raise ValueError(f"probs must have shape [n, {w.size}], got {p.shape}")
    if not (np.isfinite(p) & (p >= 0) & (p <= 1)).all():
        raise ValueError("probs must lie in [0, 1]")
    if mode not in ("additive", "multiplicative"):
        raise ValueError(f"mode must be 'additive' or 'multiplicative', got {mode!r}")
    return p, w


def _fuse(p: np.ndarray, w: np.ndarray, mode: str) -> np.ndarray:
    if mode == "additive":
        return p @ w
    return np.exp(np.log(np.clip(p, _PROB_EPS, 1.0)) @ w)


def fuse_scores(probs: ArrayLike, weights: ArrayLike, mode: FusionMode) -> np.ndarray:
    """Fuse task probabilities [n, K] into one score per row.

    ``additive``: ``sum_k w_k p_k``; ``multiplicative``: ``prod_k p_k ** w_k``
    (computed as ``exp(sum_k w_k log p_k)`` with ``p`` clipped to >= 1e-7).
    """
    p, w = _check_fusion_inputs(probs, weights, mode)
    return _fuse(p, w, mode)


def search_fusion_weights(
    probs_val: ArrayLike,
    labels_val: ArrayLike,
    groups_val: ArrayLike,
    values: ArrayLike,
    mode: FusionMode,
    k: int,
    grid: Sequence[float] = DEFAULT_WEIGHT_GRID,
) -> dict[str, list[float] | float]:
    """Choose fusion weights maximising WR@k on validation data only.

    Task 1's weight is fixed at 1; the others take values from ``grid``.
    With K <= 4 tasks the full product ``grid ** (K-1)`` is searched in
    ``itertools.product`` order; otherwise coordinate ascent starts from
    ``grid[0]`` for every other task, sets each task in turn to its best grid
    value and sweeps until a sweep no longer improves WR@k. Ties always go to
    the candidate met first. Returns ``{"weights": [...], "val_wr": float}``.
    """
    gains = item_gains(labels_val, values)
    n_tasks = np.asarray(values).size
    p, _ = _check_fusion_inputs(probs_val, np.ones(n_tasks), mode)
    if p.shape[0] != gains.size:
        raise ValueError(f"probs_val and labels_val differ in rows: {p.shape[0]} != {gains.size}")
    if gains.sum() == 0:
        raise ValueError("total validation gain is 0, so WR@k is undefined")
    groups = _check_groups(groups_val, gains.size)
    grid = [float(w) for w in grid]
    if not grid or not np.isfinite(grid).all():
        raise ValueError("grid must be a non-empty sequence of finite weights")
    ks = _check_ks([k])

    def score(rest: Sequence[float]) -> float:
        w = np.array([1.0, *rest])
        return _wr_at_ks(gains, _fuse(p, w, mode), groups, ks)[ks[0]]

    n_rest = n_tasks - 1
    if n_tasks <= _MAX_PRODUCT_TASKS:
        best, best_wr = [], -np.inf
        for rest in itertools.product(grid, repeat=n_rest):
            wr = score(rest)
            if wr > best_wr:
                best, best_wr = list(rest), wr
    else:
        best = [grid[0]] * n_rest
        best_wr = score(best)
        improved = True
        while improved:
            start_wr = best_wr
            for j in range(n_rest):
                wrs = [score([*best[:j], w, *best[j + 1 :]]) for w in grid]
                i = int(np.argmax(wrs))  # first maximiser in grid order
                best[j], best_wr = grid[i], wrs[i]
            improved = best_wr > start_wr
    return {"weights": [1.0, *best], "val_wr": float(best_wr)}
