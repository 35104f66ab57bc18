"""The synthetic funnel generator: configured rates and correlation, funnel structure, determinism,
the processed output, and an oracle that beats every model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.aggregate import summary_markdown
from benchmarks.base import get_dataset
from benchmarks.fetch import fetch_dataset, local_availability
from benchmarks.processed import load_schema, load_split
from benchmarks.synthetic_funnel import FunnelGenerator, FunnelOptions
from models import model_names
from training.loop import train_run

SMALL = {"rows": 10_000, "users": 300, "queries": 40, "items": 200, "rates": [0.3, 0.15, 0.06], "seed": 1}


def cluster_se(values: np.ndarray, groups: np.ndarray) -> float:
    """Standard error of the mean of ``values`` when rows of a group are correlated (sessions)."""
    sums = np.bincount(groups, weights=values)
    sizes = np.bincount(groups)
    mean = values.mean()
    return float(np.sqrt(np.sum((sums - mean * sizes) ** 2)) / len(values))


@pytest.mark.parametrize("rates, correlation", [([0.1, 0.03, 0.01], 0.5), ([0.4, 0.2, 0.15], 0.0), ([0.05, 0.04, 0.01], 0.9)])
def test_empirical_rates_match_the_configuration(rates, correlation):
    gen = FunnelGenerator(FunnelOptions(rows=200_000, rates=rates, correlation=correlation, seed=2))
    data = gen.generate()
    labels = data["labels"].astype(np.float64)
    for k, rate in enumerate(rates):
        se = cluster_se(labels[:, k], data["group"])
        assert abs(labels[:, k].mean() - rate) < 4 * se + 1e-3, (k, labels[:, k].mean(), rate, se)
        # the oracle probabilities are calibrated too: their mean is the rate
        assert abs(data["oracle"][:, k].mean() - rate) < 4 * cluster_se(data["oracle"][:, k].astype(np.float64), data["group"]) + 1e-3


@pytest.mark.parametrize("correlation", [0.0, 0.5, 0.9])
def test_stage_scores_have_the_configured_correlation(correlation):
    # uniform popularity and large populations, so no single user, query or item dominates
    gen = FunnelGenerator(FunnelOptions(rows=1000, correlation=correlation, latent_dim=16, popularity=0.0,
                                        users=50_000, queries=50_000, items=50_000))
    s = gen.stage_scores(gen._draw(np.random.default_rng(9), 20_000))
    c = np.corrcoef(s.T)
    assert np.allclose(c[np.triu_indices(3, 1)], correlation, atol=0.03)
    assert np.allclose(s.std(0), 1.0, atol=0.05)


def test_funnel_structure_and_oracle_probabilities():
    data = FunnelGenerator(FunnelOptions(**SMALL)).generate()
    y, p = data["labels"], data["oracle"]
    assert (y[:, 1] <= y[:, 0]).all() and (y[:, 2] <= y[:, 1]).all()  # cart implies click, purchase implies cart
    assert (p[:, 1] <= p[:, 0]).all() and (p[:, 2] <= p[:, 1]).all() and ((p > 0) & (p < 1)).all()
    assert np.array_equal(data["position"][:10], np.arange(10)) and np.array_equal(data["group"][:10], np.zeros(10))


def test_generation_is_deterministic_per_seed():
    a, b = FunnelGenerator(FunnelOptions(**SMALL)).generate(), FunnelGenerator(FunnelOptions(**SMALL)).generate()
    c = FunnelGenerator(FunnelOptions(**{**SMALL, "seed": 2})).generate()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["labels"], c["labels"])


@pytest.mark.parametrize("bad, message", [
    ({"rates": [0.1, 0.2, 0.01]}, "purchase < cart < click"),
    ({"correlation": 1.5}, "correlation"),
    ({"rows": 10}, "rows"),
])
def test_bad_options_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        FunnelGenerator(FunnelOptions(**bad))


@pytest.fixture(scope="module")
def funnel_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("funnel")
    dataset = get_dataset("synthetic_funnel", {"prepare": SMALL})
    status = fetch_dataset(dataset, root / "raw", strict=True)  # no sources: nothing to fetch
    assert status["available"] and status["files"] == {} and local_availability(dataset, root) == {}
    dataset.prepare(root / "raw", root / "processed")
    return root / "processed"


def test_processed_output_has_sessions_unknown_ids_and_the_oracle(funnel_data):
    schema = load_schema(funnel_data)
    assert schema["group_key"] == "session" and schema["sources"] == {}
    assert [t["name"] for t in schema["tasks"]] == ["click", "cart", "purchase"]
    assert sum(schema["rows"].values()) == SMALL["rows"]
    splits = {s: load_split(funnel_data, s) for s in ("train", "val", "test")}
    assert not set(splits["train"]["group"]) & set(splits["test"]["group"])  # split by session
    train_ids = set(splits["train"]["categorical"][:, 0])
    assert 0 not in train_ids
    test_users = splits["test"]["categorical"][:, 0]
    assert set(test_users) - {0} <= train_ids  # users never seen in train are unknown (0)
    for split in ("val", "test"):
        assert set(schema["oracle"][split]) == {"click", "cart", "purchase"}
        assert all(0.5 < m["auc"] <= 1 and "gauc" in m for m in schema["oracle"][split].values())


@pytest.mark.parametrize("model", model_names())
def test_oracle_auc_exceeds_the_model(funnel_data, tmp_path, model):
    run = {"dataset": "synthetic_funnel", "model": model, "seed": 0, "prepare": {}, "model_options": {},
           "tasks": [{"name": t, "pos_weight": 1.0, "loss_weight": 1.0} for t in ("click", "cart", "purchase")],
           "training": {"epochs": 1, "batch_size": 256, "threads": 1}}
    threads = torch.get_num_threads()  # the run sets one thread (fast on a busy machine); restore it after
    try:
        metrics = train_run(funnel_data, tmp_path / "run", run)
    finally:
        torch.set_num_threads(threads)
    oracle = load_schema(funnel_data)["oracle"]["test"]
    for task, m in metrics["test"].items():
        assert m["auc"] < oracle[task]["auc"], (task, m["auc"], oracle[task]["auc"])


def test_summary_shows_the_oracle_beside_the_models():
    tasks = ("click", "cart", "purchase")
    long = pd.DataFrame([{"dataset": "synthetic_funnel", "model": "resflow", "seed": s, "task": t, "split": "test",
                          "metric": "auc", "value": 0.6} for s in (0, 1) for t in tasks])
    runs = pd.DataFrame([{"dataset": "synthetic_funnel", "model": "resflow", "seed": 0, "n_params": 10}])
    oracle = {"test": {"click": {"auc": 0.81}, "cart": {"auc": 0.92}, "purchase": {"auc": 0.95}}}
    lines = summary_markdown(long, runs, [], oracles={"synthetic_funnel": oracle}).splitlines()
    header = next(ln for ln in lines if ln.startswith("| model |"))
    row = next(ln for ln in lines if ln.startswith("| oracle"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:-1]
    cells = [c.strip() for c in row.strip("|").split("|")][1:-1]
    assert dict(zip(columns, cells)) == {"click": "0.8100", "cart": "0.9200", "purchase": "0.9500"}
    assert "oracle" not in summary_markdown(long, runs, [])


def test_summary_says_why_a_metric_is_undefined():
    """Ali-CCP's sample: its test split has no purchase, so CTCVR AUC is NaN in every run."""
    rows = [{"dataset": "ali_ccp", "model": "resflow", "seed": s, "task": t, "split": "test", "metric": m, "value": v}
            for s in (0, 1) for t, m, v in [("click", "auc", 0.6), ("ctcvr", "auc", float("nan")),
                                            ("click", "positive_rate", 0.2), ("ctcvr", "positive_rate", 0.0)]]
    runs = pd.DataFrame([{"dataset": "ali_ccp", "model": "resflow", "seed": 0, "n_params": 10}])
    text = summary_markdown(pd.DataFrame(rows), runs, [])
    assert "| resflow | 0.6000 ± 0.0000 | undefined | 10 |" in text
    assert "ctcvr: test AUC undefined in every run: the test split holds no positive label." in text
    assert "click: test AUC undefined" not in text
