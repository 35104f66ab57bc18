"""Tests of analysis.stats and analysis.figures on constructed data with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.figures import plot_critical_difference
from analysis.stats import (
    cell_summary,
    combine_pvalues_over_seeds,
    delong_test,
    friedman_blocks,
    friedman_nemenyi,
    holm,
    paired_comparisons,
)

SEEDS = [0, 1, 2, 3, 4]


def make_long(
    values: dict[tuple[str, str, str], list[float]], metric: str = "auc", split: str = "test"
) -> pd.DataFrame:
    """metrics_long rows from {(dataset, task, model): per-seed values}."""
    rows = [
        {"dataset": d, "model": m, "seed": seed, "task": t, "split": split, "metric": metric, "value": v}
        for (d, t, m), vals in values.items()
        for seed, v in zip(SEEDS, vals)
    ]
    return pd.DataFrame(rows)


BASE = [0.780, 0.784, 0.779, 0.782, 0.781]
NOISE = [0.0004, -0.0003, 0.0002, -0.0001, -0.0002]  # sums to 0


# --- cell_summary -------------------------------------------------------------

def test_cell_summary_matches_scipy_t_interval():
    sample = [0.71, 0.74, 0.69, 0.73, 0.72]
    df = make_long({("d", "ctr", "a"): sample, ("d", "ctr", "b"): sample[:1]})
    df = pd.concat([df, df.assign(split="val", value=0.0)])
    out = cell_summary(df).set_index("model")
    low, high = stats.t.interval(0.95, 4, loc=np.mean(sample), scale=stats.sem(sample))
    assert out.loc["a", "n_seeds"] == 5
    assert out.loc["a", "mean"] == pytest.approx(np.mean(sample))
    assert out.loc["a", "std"] == pytest.approx(np.std(sample, ddof=1))
    assert out.loc["a", ["ci95_low", "ci95_high"]].tolist() == pytest.approx([low, high])
    assert out.loc["b", ["std", "ci95_low", "ci95_high"]].isna().all()


def test_duplicate_run_rows_are_rejected():
    df = make_long({("d", "ctr", "a"): BASE})
    with pytest.raises(ValueError, match="duplicate"):
        cell_summary(pd.concat([df, df]))


# --- Holm and paired comparisons ----------------------------------------------

def test_holm_matches_hand_computation():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(out[1])
    assert out[[0, 2, 3]] == pytest.approx([0.03, 0.06, 0.06])


def test_identical_runs_give_p_one_and_no_mark():
    df = make_long({("d", "ctr", "ref"): BASE, ("d", "ctr", "twin"): BASE})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # degenerate cases are handled, not left to scipy
        out = paired_comparisons(df, reference="ref")
    row = out.iloc[0]
    assert row["n_pairs"] == 5 and row["mean_diff"] == 0.0
    assert row[["p_ttest", "p_wilcoxon", "p_ttest_holm", "p_wilcoxon_holm"]].tolist() == [1.0] * 4
    assert not row["significant"]


def test_constant_shift_with_noise_is_significant_after_holm():
    shifted = [b - 0.01 + e for b, e in zip(BASE, NOISE)]
    jitter = [b + e for b, e in zip(BASE, [0.01, -0.01, 0.02, -0.02, 0.0])]  # mean diff 0
    values = {}
    for task in ("ctr", "cvr"):
        values |= {("d", task, "ref"): BASE, ("d", task, "worse"): shifted, ("d", task, "jitter"): jitter}
    out = paired_comparisons(df=make_long(values), reference="ref").set_index(["task", "model"])
    assert out["p_ttest_holm"].ge(out["p_ttest"]).all()
    assert out.loc[("ctr", "worse"), "mean_diff"] == pytest.approx(0.01)
    assert out.loc[("ctr", "worse"), "ci95_low"] > 0
    assert out["significant"].to_dict() == {
        ("ctr", "jitter"): False, ("ctr", "worse"): True, ("cvr", "jitter"): False, ("cvr", "worse"): True,
    }
    assert out.loc[("ctr", "jitter"), "p_ttest"] == pytest.approx(1.0)


def test_holm_family_is_one_dataset_and_pairs_use_common_seeds():
    rng = np.random.default_rng(1)
    values = {(d, t, m): list(0.7 + 0.01 * rng.standard_normal(5))
              for d in ("d1", "d2") for t in ("ctr", "cvr") for m in ("ref", "a", "b")}
    df = make_long(values)
    df = df[~((df["model"] == "a") & (df["seed"] == 4))]  # "a" lacks seed 4
    out = paired_comparisons(df, reference="ref")
    assert len(out) == 8
    assert out.loc[out["model"] == "a", "n_pairs"].eq(4).all()
    for _, family in out.groupby("dataset"):
        assert family["p_ttest_holm"].to_numpy() == pytest.approx(holm(family["p_ttest"]))
        assert family["p_wilcoxon_holm"].to_numpy() == pytest.approx(holm(family["p_wilcoxon"]))


def test_unknown_reference_is_rejected():
    with pytest.raises(ValueError, match="reference"):
        paired_comparisons(make_long({("d", "ctr", "a"): BASE}), reference="ref")


# --- DeLong ---------------------------------------------------------------------

def brute_force_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def test_delong_matches_hand_computed_variance():
    # positives first. Placement values (share of the other class beaten, ties 1/2):
    #   a: V10 = [1, 2/3, 2/3], V01 = [1/3, 1, 1]      -> AUC 7/9
    #   b: V10 = [1/2, 1, 1/3], V01 = [1/2, 1/3, 1]    -> AUC 11/18
    # S10 = [[1/27, -1/54], [-1/54, 13/108]], S01 = [[4/27, 1/27], [1/27, 13/108]]
    # Var(AUC_a - AUC_b) = (S10 + S01)/3 contracted with (1, -1) = 5/81 + 13/162 - 2/162 = 7/54
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([0.9, 0.7, 0.4, 0.8, 0.3, 0.2])
    b = np.array([0.6, 0.8, 0.5, 0.6, 0.7, 0.1])
    auc_a, auc_b, z, p = delong_test(y, a, b)
    assert (auc_a, auc_b) == pytest.approx((7 / 9, 11 / 18))
    assert z == pytest.approx((1 / 6) / np.sqrt(7 / 54))
    assert p == pytest.approx(2 * stats.norm.sf(np.sqrt(3 / 14)))


def test_delong_se_agrees_with_stratified_bootstrap():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.4).astype(int)
    noise = rng.standard_normal(400)
    a = y + noise
    b = 0.7 * y + 0.6 * noise + 0.8 * rng.standard_normal(400)
    auc_a, auc_b, z, _ = delong_test(y, a, b)
    se_delong = (auc_a - auc_b) / z

    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    idx = np.hstack([rng.choice(pos, (2000, pos.size)), rng.choice(neg, (2000, neg.size))])
    m, n = pos.size, neg.size

    def boot_auc(s: np.ndarray) -> np.ndarray:
        ranks = stats.rankdata(s[idx], axis=1)
        return (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)

    se_boot = np.std(boot_auc(a) - boot_auc(b), ddof=1)
    assert se_delong == pytest.approx(se_boot, rel=0.2)


def test_delong_identical_scores_give_p_one():
    rng = np.random.default_rng(2)
    y = np.array([0, 1] * 20)
    s = rng.random(40)
    auc_a, auc_b, z, p = delong_test(y, s, s.copy())
    assert auc_a == auc_b and z == 0.0 and p == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=4, max_size=30), st.randoms())
def test_delong_auc_is_exact_and_z_antisymmetric(scores, rnd):
    n = len(scores)
    y = np.array([1, 1, 0, 0] + [rnd.randint(0, 1) for _ in range(n - 4)])
    a, b = (np.array(col, dtype=float) for col in zip(*scores))
    auc_a, auc_b, z, p = delong_test(y, a, b)
    assert auc_a == pytest.approx(brute_force_auc(y, a))
    assert auc_b == pytest.approx(brute_force_auc(y, b))
    assert 0.0 <= p <= 1.0
    _, _, z_swapped, p_swapped = delong_test(y, b, a)
    assert z_swapped == pytest.approx(-z) and p_swapped == pytest.approx(p)


def test_delong_rejects_single_class():
    with pytest.raises(ValueError, match="positives"):
        delong_test([1, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])


# --- combining p-values ---------------------------------------------------------

def test_fisher_combination_matches_hand_computation():
    pvals = [0.04, 0.10, 0.30]
    statistic = -2 * np.log(pvals).sum()
    assert combine_pvalues_over_seeds(pvals) == pytest.approx(stats.chi2.sf(statistic, 6))
    assert combine_pvalues_over_seeds([1.0, 1.0]) == pytest.approx(1.0)
    assert combine_pvalues_over_seeds([0.01, 1.0]) < 0.1  # a tied seed is not fatal


def test_combination_rejects_invalid_pvalues():
    with pytest.raises(ValueError):
        combine_pvalues_over_seeds([0.5, 1.5])


# --- Friedman / Nemenyi and CD diagram --------------------------------------------

def friedman_frame(metric: str, winner_offset: float) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    values = {}
    for d in ("d1", "d2", "d3"):
        for t in ("ctr", "cvr"):
            base = 0.7 + 0.02 * rng.standard_normal(3)
            for model, level in zip(("m1", "m2", "m3"), base):
                values[(d, t, model)] = list(level + 0.001 * rng.standard_normal(5))
            values[(d, t, "winner")] = list(base.max() + winner_offset + 0.001 * rng.standard_normal(5))
    values[("d1", "ctr", "partial")] = BASE  # missing from the other blocks -> dropped
    return make_long(values, metric=metric)


def test_friedman_ranks_the_always_winning_model_first():
    stat, p, ranks, nemenyi = friedman_nemenyi(friedman_frame("auc", winner_offset=0.05))
    assert ranks.index[0] == "winner" and ranks.iloc[0] == 1.0
    assert set(ranks.index) == {"winner", "m1", "m2", "m3"}
    assert ranks.is_monotonic_increasing
    assert ranks.sum() == pytest.approx(1 + 2 + 3 + 4)
    assert stat > 0 and 0 <= p < 0.05
    assert nemenyi.shape == (4, 4) and np.allclose(nemenyi, nemenyi.T)


def test_friedman_blocks_drop_undefined_blocks_and_keep_the_larger_complete_matrix():
    """The mirror suite's shape: a block undefined for every model (Ali-CCP's sample CTCVR), funnel-only
    models missing from the non-funnel blocks."""
    values = {(d, t, m): [0.7 + 0.01 * i, 0.71 + 0.01 * i] for d, t in [("census", "income"), ("census", "marital"),
              ("funnel", "click"), ("funnel", "cart"), ("funnel", "purchase")] for i, m in enumerate(("a", "b", "c"))}
    values |= {("funnel", t, "esmm"): [0.75, 0.76] for t in ("click", "cart", "purchase")}
    values |= {("ccp", "ctcvr", m): [np.nan, np.nan] for m in ("a", "b", "c", "esmm")}
    blocks, notes = friedman_blocks(make_long(values))
    # 5 blocks x 3 models (15 cells) beat 3 blocks x 4 models (12): the model missing somewhere goes
    assert list(blocks.columns) == ["a", "b", "c"] and blocks.shape == (5, 3)
    assert notes == ["ccp/ctcvr: undefined for every model", "models not in every block: esmm"]
    # with 4 more complete blocks, 7 blocks x 4 models (28 cells) beat 9 x 3 (27): the census blocks go
    values |= {("funnel2", t, m): [0.7, 0.72] for t in ("w", "x", "y", "z") for m in ("a", "b", "c", "esmm")}
    blocks, notes = friedman_blocks(make_long(values))
    assert blocks.shape == (7, 4) and notes[-1] == "blocks without every model: census/income, census/marital"
    stat, p, ranks, _ = friedman_nemenyi(make_long(values))
    assert ranks.index[0] == "esmm" and np.isfinite(stat)


def test_friedman_lower_is_better_metric():
    # the "winner" has the highest logloss everywhere, so it ranks last
    _, _, ranks, _ = friedman_nemenyi(friedman_frame("logloss", winner_offset=0.05), metric="logloss")
    assert ranks.index[-1] == "winner" and ranks.iloc[-1] == 4.0


def test_critical_difference_figure_is_written(tmp_path):
    _, _, ranks, nemenyi = friedman_nemenyi(friedman_frame("auc", winner_offset=0.05))
    paths = plot_critical_difference(ranks, nemenyi, tmp_path / "figs" / "cd.auc")
    assert [p.name for p in paths] == ["cd.auc.png", "cd.auc.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
