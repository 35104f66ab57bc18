"""Tests of analysis.metrics (exact AUC/GAUC, WR@K, fusion, calibration)."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from analysis.metrics import (
    DEFAULT_WEIGHT_GRID,
    auc,
    binary_task_metrics,
    calibration_ratio,
    expected_calibration_error,
    fuse_scores,
    gauc,
    item_gains,
    log_loss,
    search_fusion_weights,
    weighted_recall_at_k,
    weighted_recall_at_ks,
)

FAST = settings(max_examples=60, deadline=None)

# Scores drawn mostly from a handful of values, so ties are common.
tied_scores = st.one_of(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), st.floats(0, 1))


@st.composite
def binary_data(draw, max_groups: int = 1):
    n = draw(st.integers(2, 150))
    y = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    s = draw(arrays(np.float64, n, elements=tied_scores))
    g = draw(arrays(np.int64, n, elements=st.integers(0, max_groups - 1)))
    return y, s, g


def slow_gauc(y, s, g):
    """Reference GAUC: loop over groups with scikit-learn."""
    total, weight = 0.0, 0
    for group in np.unique(g):
        mask = g == group
        if len(np.unique(y[mask])) == 2:
            total += mask.sum() * roc_auc_score(y[mask], s[mask])
            weight += mask.sum()
    return total / weight if weight else float("nan")


def slow_wr(gains, scores, groups, k):
    """Reference WR@K: loop over groups; rank by score desc, then row index."""
    top = 0.0
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        ranked = sorted(rows, key=lambda i: (-scores[i], i))
        top += gains[ranked[:k]].sum()
    return top / gains.sum()


# --------------------------------------------------------------------------- #
# AUC, log loss, calibration
# --------------------------------------------------------------------------- #
@FAST
@given(binary_data())
def test_auc_matches_sklearn(data):
    y, s, _ = data
    assume(0 < y.sum() < y.size)
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_ties_and_one_class():
    assert auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == 0.5
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert np.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "differ in length"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, np.nan], "NaN or infinite"),
        ([0, 1], [np.inf, 0.2], "NaN or infinite"),
        ([], [], "empty"),
    ],
)
def test_auc_validation(y, s, match):
    with pytest.raises(ValueError, match=match):
        auc(y, s)


@FAST
@given(st.integers(1, 150).flatmap(
    lambda n: st.tuples(
        arrays(np.int8, n, elements=st.integers(0, 1)),
        arrays(np.float64, n, elements=st.sampled_from([1e-3, 0.1, 0.5, 0.9]) | st.floats(1e-3, 1 - 1e-3)),
    )
))
def test_log_loss_matches_sklearn(data):
    y, p = data
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p, labels=[0, 1]), rel=1e-10)


def test_log_loss_clips():
    assert log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-np.log(1e-7))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss([1], [1.5])


def test_calibration_ratio():
    assert calibration_ratio([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(2.0)
    assert np.isnan(calibration_ratio([0, 0], [0.1, 0.2]))


def test_ece_perfectly_calibrated_bins_is_zero():
    # 10 rows at each bin centre c, of which exactly 10 * c are positive.
    centres = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    p = np.repeat(centres, 10)
    y = np.concatenate([np.arange(10) < round(10 * c) for c in centres]).astype(int)
    assert expected_calibration_error(y, p, n_bins=5) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)


def test_ece_worst_case_and_edges():
    assert expected_calibration_error([0, 0], [1.0, 1.0]) == pytest.approx(1.0)
    # Two bins with gaps 0.5 and 0.1, weights 1/3 and 2/3.
    ece = expected_calibration_error([1, 0, 0], [0.5, 0.1, 0.1], n_bins=2)
    assert ece == pytest.approx(0.5 / 3 + 0.2 / 3)


def test_binary_task_metrics_keys():
    y, p = [0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5]
    m = binary_task_metrics(y, p)
    assert set(m) == {"auc", "logloss", "calibration", "ece", "positive_rate", "mean_pred"}
    assert m["positive_rate"] == 0.5 and m["mean_pred"] == pytest.approx(0.45)
    assert binary_task_metrics(y, p, groups=[0, 0, 0, 0])["gauc"] == pytest.approx(m["auc"])


# --------------------------------------------------------------------------- #
# GAUC
# --------------------------------------------------------------------------- #
def test_gauc_hand_computed():
    # "a": y=[1,0,1,0], s=[.9,.3,.3,.1] -> pairs 1+1+.5+1 of 4 = 0.875 (4 rows)
    # "b": y=[0,1],     s=[.8,.2]       -> 0 (2 rows)
    # "c": one class only -> ignored
    rows = [
        ("a", 1, 0.9), ("b", 0, 0.8), ("c", 1, 0.5), ("a", 0, 0.3),
        ("a", 1, 0.3), ("b", 1, 0.2), ("c", 1, 0.1), ("a", 0, 0.1),
    ]
    g, y, s = map(list, zip(*rows))
    assert gauc(y, s, g) == pytest.approx((4 * 0.875 + 2 * 0.0) / 6)


def test_gauc_without_two_class_group_is_nan():
    assert np.isnan(gauc([1, 0, 1], [0.1, 0.2, 0.3], [0, 1, 2]))


@FAST
@given(binary_data())
def test_gauc_single_group_equals_auc(data):
    y, s, g = data
    assume(0 < y.sum() < y.size)
    assert gauc(y, s, g) == pytest.approx(auc(y, s), abs=1e-12)


@FAST
@given(binary_data(max_groups=6), st.sampled_from([1, 10**12]))
def test_gauc_matches_slow_reference(data, spread):
    y, s, g = data
    g = g * spread  # large spread exercises the np.unique code path
    expected = slow_gauc(y, s, g)
    if np.isnan(expected):
        assert np.isnan(gauc(y, s, g))
    else:
        assert gauc(y, s, g) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- #
# WR@K
# --------------------------------------------------------------------------- #
# Group 0: scores .9/.5/.1 with gains 1/0/2; group 1: scores .8/.2 with gains 1/3.
WR_GAINS = [1.0, 3.0, 0.0, 1.0, 2.0]
WR_SCORES = [0.9, 0.2, 0.5, 0.8, 0.1]
WR_GROUPS = [0, 1, 0, 1, 0]


def test_wr_hand_computed():
    assert weighted_recall_at_k(WR_GAINS, WR_SCORES, WR_GROUPS, 1) == pytest.approx(2 / 7)  # 1 + 1
    assert weighted_recall_at_ks(WR_GAINS, WR_SCORES, WR_GROUPS, [1, 2, 3]) == pytest.approx(
        {1: 2 / 7, 2: 5 / 7, 3: 1.0}  # k=2: (1 + 0) + (1 + 3)
    )


@FAST
@given(binary_data(max_groups=8), st.integers(1, 6))
def test_wr_matches_slow_reference(data, k):
    y, s, g = data
    gains = y * (1.0 + s)  # ties in s are common
    assume(gains.sum() > 0)
    assert weighted_recall_at_k(gains, s, g, k) == pytest.approx(slow_wr(gains, s, g, k), abs=1e-12)


def test_wr_ties_broken_by_row_order():
    assert weighted_recall_at_k([0.0, 5.0], [0.5, 0.5], [7, 7], 1) == 0.0
    assert weighted_recall_at_k([5.0, 0.0], [0.5, 0.5], [7, 7], 1) == 1.0


def test_wr_edge_cases():
    assert np.isnan(weighted_recall_at_k([0.0, 0.0], [0.1, 0.2], [0, 0], 1))
    with pytest.raises(ValueError, match="nonnegative"):
        weighted_recall_at_k([-1.0, 1.0], [0.1, 0.2], [0, 0], 1)
    with pytest.raises(ValueError, match=">= 1"):
        weighted_recall_at_k([1.0, 1.0], [0.1, 0.2], [0, 0], 0)
    with pytest.raises(ValueError, match="length"):
        weighted_recall_at_k([1.0, 1.0], [0.1, 0.2], [0, 0, 1], 1)


@FAST
@given(st.integers(1, 200), st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_wr_properties(n, n_groups, seed):
    rng = np.random.default_rng(seed)
    gains = rng.exponential(size=n) * (rng.random(n) < 0.5)
    assume(gains.sum() > 0)
    scores = rng.permutation(n).astype(float)  # distinct scores
    groups = rng.integers(0, n_groups, n)
    ks = [1, 2, 5, n]
    wr = weighted_recall_at_ks(gains, scores, groups, ks)

    assert wr[n] == pytest.approx(1.0)  # k covers every group
    assert all(0 <= v <= 1 + 1e-12 for v in wr.values())
    assert [wr[k] for k in ks] == sorted(wr[k] for k in ks)
    assert wr == {k: weighted_recall_at_k(gains, scores, groups, k) for k in ks}

    perm = rng.permutation(n)
    relabel = rng.permutation(n_groups) * 1000 + 17
    permuted = weighted_recall_at_ks(gains[perm], scores[perm], relabel[groups[perm]], ks)
    assert permuted == pytest.approx(wr, abs=1e-12)


# --------------------------------------------------------------------------- #
# Fusion
# --------------------------------------------------------------------------- #
def test_item_gains():
    labels = [[1, 0, 1], [0, 0, 0], [1, 1, 1]]
    np.testing.assert_allclose(item_gains(labels, [1.0, 2.0, 4.0]), [5.0, 0.0, 7.0])
    with pytest.raises(ValueError, match="shape"):
        item_gains(labels, [1.0, 2.0])


def test_fuse_scores_both_modes():
    probs = [[0.5, 0.2], [0.1, 1.0], [0.0, 0.5]]
    np.testing.assert_allclose(fuse_scores(probs, [1.0, 2.0], "additive"), [0.9, 2.1, 1.0])
    np.testing.assert_allclose(
        fuse_scores(probs, [1.0, 2.0], "multiplicative"), [0.5 * 0.04, 0.1, 1e-7 * 0.25], rtol=1e-9
    )
    np.testing.assert_allclose(fuse_scores(probs, [1.0, 0.0], "multiplicative"), [0.5, 0.1, 1e-7], rtol=1e-9)
    with pytest.raises(ValueError, match="mode"):
        fuse_scores(probs, [1.0, 1.0], "max")


def _two_task_val(task2_on_second_row: bool):
    """Groups of 2 rows; task 1 is uninformative (constant), task 2 prob is 0.1
    for the first row and 0.9 for the second. The task-2 positive sits on the
    second row (aligned with the prob) or on the first (anti-aligned)."""
    n_groups = 50
    probs = np.tile([[0.5, 0.1], [0.5, 0.9]], (n_groups, 1))
    labels = np.zeros((2 * n_groups, 2), dtype=int)
    labels[1 if task2_on_second_row else 0 :: 2, 1] = 1
    groups = np.repeat(np.arange(n_groups), 2)
    return probs, labels, groups


def test_search_signature_takes_no_test_data():
    params = list(inspect.signature(search_fusion_weights).parameters)
    assert params == ["probs_val", "labels_val", "groups_val", "values", "mode", "k", "grid"]


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_search_reads_only_validation_data(mode):
    probs, labels, groups = _two_task_val(task2_on_second_row=True)
    val_copies = [probs.copy(), labels.copy(), groups.copy()]
    chosen = search_fusion_weights(probs, labels, groups, [1.0, 1.0], mode, k=1)
    # w2 = 0 keeps row order (first row wins, gain 0); the first positive grid value is best.
    assert chosen == {"weights": [1.0, 0.25], "val_wr": 1.0}
    for arr, copy in zip((probs, labels, groups), val_copies):
        np.testing.assert_array_equal(arr, copy)

    # Poisoned "test" sets (shuffled / flipped labels) cannot influence the choice.
    rng = np.random.default_rng(0)
    poisoned = [rng.permutation(labels), 1 - labels, np.zeros_like(labels)]
    for test_labels in poisoned:
        test_gains = item_gains(test_labels, [1.0, 1.0])
        fused_test = fuse_scores(probs, chosen["weights"], mode)
        if test_gains.sum() > 0:
            weighted_recall_at_k(test_gains, fused_test, groups, 1)  # evaluation only
        assert search_fusion_weights(probs, labels, groups, [1.0, 1.0], mode, k=1) == chosen

    # Changing the validation labels does change the choice.
    _, anti_labels, _ = _two_task_val(task2_on_second_row=False)
    flipped = search_fusion_weights(probs, anti_labels, groups, [1.0, 1.0], mode, k=1)
    assert flipped == {"weights": [1.0, 0.0], "val_wr": 1.0}


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_search_matches_brute_force(mode):
    rng = np.random.default_rng(3)
    n, n_tasks = 300, 3
    probs = rng.random((n, n_tasks))
    labels = (rng.random((n, n_tasks)) < probs).astype(int)
    groups = rng.integers(0, 40, n)
    values = [1.0, 3.0, 0.5]
    gains = item_gains(labels, values)
    best_w, best_wr = None, -1.0
    for rest in itertools.product(DEFAULT_WEIGHT_GRID, repeat=n_tasks - 1):
        w = [1.0, *rest]
        wr = weighted_recall_at_k(gains, fuse_scores(probs, w, mode), groups, 3)
        if wr > best_wr:
            best_w, best_wr = w, wr
    result = search_fusion_weights(probs, labels, groups, values, mode, k=3)
    assert result == {"weights": best_w, "val_wr": pytest.approx(best_wr)}


def test_search_coordinate_ascent_for_many_tasks():
    rng = np.random.default_rng(4)
    n, n_tasks = 400, 5
    probs = rng.random((n, n_tasks))
    labels = (rng.random((n, n_tasks)) < probs).astype(int)
    groups = rng.integers(0, 50, n)
    values = [1.0, 2.0, 0.5, 4.0, 1.0]
    grid = (0.0, 1.0, 2.0)
    result = search_fusion_weights(probs, labels, groups, values, "additive", k=2, grid=grid)
    weights = result["weights"]
    assert len(weights) == n_tasks and weights[0] == 1.0 and set(weights[1:]) <= set(grid)
    gains = item_gains(labels, values)
    assert result["val_wr"] == pytest.approx(
        weighted_recall_at_k(gains, fuse_scores(probs, weights, "additive"), groups, 2)
    )
    start = weighted_recall_at_k(gains, probs[:, 0], groups, 2)  # all other weights at grid[0] = 0
    assert result["val_wr"] >= start
    assert search_fusion_weights(probs, labels, groups, values, "additive", k=2, grid=grid) == result


def test_search_rejects_zero_gain():
    probs, labels, groups = _two_task_val(task2_on_second_row=True)
    with pytest.raises(ValueError, match="gain is 0"):
        search_fusion_weights(probs, np.zeros_like(labels), groups, [1.0, 1.0], "additive", k=1)
