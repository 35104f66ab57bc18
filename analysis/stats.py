"""Significance tests behind the benchmark tables.

All functions take the long results frame ``metrics_long`` with columns
``dataset, model, seed, task, split, metric, value`` (one row per run x split x
task x metric).

Conventions:

* Seed-level tests pair two models by seed, using only the seeds both have.
* Multiple-comparison correction (Holm) is applied per *table*, and a table is
  one dataset: all (task, competing model) comparisons of one dataset, metric
  and split form one family. This matches how a reader scans a results table
  for marks, and keeps a dataset's marks independent of how many other
  datasets happen to be in the run.
* The paired t-test decides ``significant``. The Wilcoxon signed-rank test is
  reported alongside; with few seeds it cannot reach small p-values (with 5
  seeds its exact two-sided minimum is 0.0625).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.multitest import multipletests

__all__ = [
    "HIGHER_IS_BETTER",
    "cell_summary",
    "combine_pvalues_over_seeds",
    "delong_test",
    "friedman_blocks",
    "friedman_nemenyi",
    "friedman_test",
    "higher_is_better",
    "holm",
    "paired_comparisons",
]

REQUIRED_COLUMNS = ("dataset", "model", "seed", "task", "split", "metric", "value")
RUN_KEY = ["dataset", "model", "seed", "task", "split", "metric"]

HIGHER_IS_BETTER: dict[str, bool] = {
    "auc": True,
    "gauc": True,
    "logloss": False,
    "ece": False,
}


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric``: :data:`HIGHER_IS_BETTER`, plus ``wr@K`` (higher)."""
    if metric.startswith("wr@"):
        return True
    try:
        return HIGHER_IS_BETTER[metric]
    except KeyError:
        raise KeyError(f"unknown direction for metric {metric!r}; add it to HIGHER_IS_BETTER") from None


def _select(df: pd.DataFrame, split: str, metric: str | None = None) -> pd.DataFrame:
    """Rows of one split (and metric); checks columns and one value per run key."""
    missing = set(REQUIRED_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"metrics frame lacks columns {sorted(missing)}")
    mask = df["split"] == split
    if metric is not None:
        mask &= df["metric"] == metric
    sel = df.loc[mask, list(REQUIRED_COLUMNS)]
    if sel.empty:
        raise ValueError(f"no rows for split={split!r}" + (f", metric={metric!r}" if metric else ""))
    dup = sel.duplicated(RUN_KEY, keep=False)
    if dup.any():
        raise ValueError(f"duplicate rows for run keys:\n{sel.loc[dup, RUN_KEY].head()}")
    return sel


def _t_interval(mean: float, sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval ``mean +- t * sd / sqrt(n)``; NaN for ``n < 2``."""
    if n < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    return float(mean - half), float(mean + half)


def cell_summary(df: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per (dataset, task, metric, model): n_seeds, mean, std (ddof=1) and a
    t-based 95% CI of the mean (NaN with one seed)."""
    sel = _select(df, split)
    keys = ["dataset", "task", "metric", "model"]
    out = sel.groupby(keys, sort=True)["value"].agg(n_seeds="count", mean="mean", std="std").reset_index()
    ci = [_t_interval(m, s, n) for m, s, n in zip(out["mean"], out["std"], out["n_seeds"])]
    out[["ci95_low", "ci95_high"]] = pd.DataFrame(ci, index=out.index, dtype=float)
    out.insert(4, "split", split)
    return out


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries stay NaN and do not count."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
    return out


def _paired_tests(ref: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Mean difference ``ref - other`` with its 95% t interval, paired t-test p
    and Wilcoxon signed-rank p (both two-sided).

    Degenerate cases are decided here rather than left to scipy: all
    differences zero gives p = 1 for both tests; a constant non-zero difference
    gives t-test p = 0 (the limit t -> inf); fewer than two pairs gives NaN.
    """
    d = ref - other
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    low, high = _t_interval(mean, float(d.std(ddof=1)) if n > 1 else float("nan"), n)
    if n and not d.any():
        p_t = p_w = 1.0
    elif n < 2:
        p_t = p_w = float("nan")
    else:
        p_t = 0.0 if np.ptp(d) == 0 else float(stats.ttest_rel(ref, other).pvalue)
        p_w = float(stats.wilcoxon(d).pvalue)
    return {"n_pairs": n, "mean_diff": mean, "ci95_low": low, "ci95_high": high,
            "p_ttest": p_t, "p_wilcoxon": p_w}


def paired_comparisons(
    df: pd.DataFrame,
    reference: str,
    metric: str = "auc",
    split: str = "test",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Seed-paired tests of ``reference`` against every other model, per
    dataset and task.

    One row per (dataset, task, other model) with ``mean_diff`` = reference -
    other (sign is not direction-corrected), its 95% t interval, raw and
    Holm-adjusted (family = one dataset, see module docstring) paired t-test
    and Wilcoxon p-values, and ``significant`` = Holm-adjusted t-test p <
    ``alpha``. Pairs without any common seed get ``n_pairs = 0`` and NaN.
    """
    sel = _select(df, split, metric)
    if reference not in set(sel["model"]):
        raise ValueError(f"reference model {reference!r} has no {split}/{metric} rows")
    rows = []
    for (dataset, task), block in sel.groupby(["dataset", "task"], sort=True):
        wide = block.pivot(index="seed", columns="model", values="value")
        if reference not in wide:
            wide[reference] = np.nan
        for model in sorted(wide.columns.drop(reference)):
            pair = wide[[reference, model]].dropna()
            rows.append({"dataset": dataset, "task": task, "model": model,
                         **_paired_tests(pair[reference].to_numpy(), pair[model].to_numpy())})
    out = pd.DataFrame(rows, columns=["dataset", "task", "model", "n_pairs", "mean_diff", "ci95_low",
                                      "ci95_high", "p_ttest", "p_wilcoxon"])
    out.insert(2, "metric", metric)
    out.insert(3, "split", split)
    out.insert(4, "reference", reference)
    for test in ("ttest", "wilcoxon"):
        out[f"p_{test}_holm"] = out.groupby("dataset")[f"p_{test}"].transform(holm)
    out["significant"] = out["p_ttest_holm"] < alpha
    return out


def delong_test(y: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> tuple[float, float, float, float]:
    """DeLong test for two correlated AUCs on the same rows.

    Fast O(n log n) algorithm of Sun & Xu (2014, IEEE SPL 21(11)) using
    midranks. Returns ``(auc_a, auc_b, z, p)`` with ``z = (auc_a - auc_b) /
    se`` and a two-sided normal p-value. If the variance of the difference is
    zero (e.g. identical scores), equal AUCs give ``z = 0, p = 1`` and unequal
    AUCs give ``z = +-inf, p = 0``.
    """
    y = np.asarray(y)
    scores = np.vstack([np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)])
    if y.ndim != 1 or scores.shape[1] != y.size:
        raise ValueError("y, score_a and score_b must be 1-D arrays of equal length")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite")
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m < 2 or n < 2:
        raise ValueError(f"need at least 2 positives and 2 negatives, got {m} and {n}")
    x, z_neg = scores[:, pos], scores[:, ~pos]
    tx = stats.rankdata(x, axis=1)
    ty = stats.rankdata(z_neg, axis=1)
    tz = stats.rankdata(np.hstack([x, z_neg]), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:, :m] - tx) / n  # per positive: share of negatives scored below it
    v01 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives scored above it
    cov = np.cov(v10) / m + np.cov(v01) / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = aucs[0] - aucs[1]
    if var <= 0:
        z = 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    else:
        z = float(diff / np.sqrt(var))
    return float(aucs[0]), float(aucs[1]), z, float(2 * stats.norm.sf(abs(z)))


def combine_pvalues_over_seeds(pvals: ArrayLike) -> float:
    """Combine per-seed two-sided DeLong p-values with Fisher's method.

    Fisher rather than Stouffer: two-sided p-values carry no direction, and
    Fisher treats p = 1 (identical scores on a seed) as zero evidence, whereas
    Stouffer maps it to z = -inf and the combined p to 1 regardless of the
    other seeds. Caveats: the result is direction-agnostic (check the sign of
    the AUC differences), and both methods assume independence, which seeds
    evaluated on the same test rows violate, so the combined p is
    anti-conservative; report it as descriptive.
    """
    p = np.asarray(pvals, dtype=float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError("pvals must be a non-empty 1-D sequence")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("p-values must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        return float(stats.combine_pvalues(p, method="fisher").pvalue)


def friedman_blocks(df: pd.DataFrame, metric: str = "auc", split: str = "test") -> tuple[pd.DataFrame, list[str]]:
    """The complete (dataset, task) block x model matrix of mean-over-seeds values for the Friedman
    test, and notes on what it leaves out.

    Blocks where the metric is undefined for every model (e.g. AUC of a task whose test split has
    one label) are dropped. The test needs every model in every block, so when models are missing
    from some blocks (ESMM on non-funnel data) either those models or those blocks go: whichever
    keeps more (block, model) cells, then more blocks, among the choices with >= 3 models and
    >= 2 blocks.
    """
    sel = _select(df, split, metric)
    full = sel.groupby(["dataset", "task", "model"])["value"].mean().unstack("model")
    notes = [f"{d}/{t}: undefined for every model" for d, t in full.index[full.isna().all(axis=1)]]
    full = full.dropna(how="all")
    by_models, by_blocks = full.dropna(axis=1), full.dropna(axis=0)
    usable = [b for b in (by_models, by_blocks) if b.shape[1] >= 3 and b.shape[0] >= 2]
    if not usable:
        raise ValueError(f"need >= 3 models present in every block and >= 2 blocks, got {by_models.shape[1]} "
                         f"models in all {by_models.shape[0]} blocks or {by_blocks.shape[0]} blocks with all "
                         f"{by_blocks.shape[1]} models")
    blocks = max(usable, key=lambda b: (b.size, b.shape[0]))
    if missing := sorted(set(full.columns) - set(blocks.columns)):
        notes.append(f"models not in every block: {', '.join(missing)}")
    if dropped := [f"{d}/{t}" for d, t in full.index.difference(blocks.index)]:
        notes.append(f"blocks without every model: {', '.join(dropped)}")
    return blocks, notes


def friedman_test(blocks: pd.DataFrame, metric: str = "auc") -> tuple[float, float, pd.Series, pd.DataFrame]:
    """Friedman test with Nemenyi post-hoc on a complete block x model matrix
    (:func:`friedman_blocks`). Returns ``(statistic, p, avg_ranks, nemenyi_p)`` where
    ``avg_ranks`` (1 = best, direction from :func:`higher_is_better`) is sorted best first and
    ``nemenyi_p`` is the model x model p-value matrix."""
    stat, p = stats.friedmanchisquare(*blocks.to_numpy().T)
    avg_ranks = blocks.rank(axis=1, ascending=not higher_is_better(metric)).mean().sort_values()
    avg_ranks.name = "avg_rank"
    nemenyi = sp.posthoc_nemenyi_friedman(blocks)
    return float(stat), float(p), avg_ranks, nemenyi


def friedman_nemenyi(
    df: pd.DataFrame, metric: str = "auc", split: str = "test"
) -> tuple[float, float, pd.Series, pd.DataFrame]:
    """:func:`friedman_test` over blocks = (dataset, task) of metrics_long rows, each block the mean
    over seeds per model, on the complete matrix of :func:`friedman_blocks`."""
    return friedman_test(friedman_blocks(df, metric, split)[0], metric)
