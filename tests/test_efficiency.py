"""The efficiency benchmark: the fast batch path against the per-row reference, mixed precision on
CPU, the measurement functions on a tiny schema, and the Snakemake rules end to end. No timings
are asserted: they depend on the machine."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import efficiency as eff
from analysis.figures import plot_auc_vs_latency
from benchmarks.base import get_dataset
from conftest import census_rows, tabular_schema, write_census
from core.config import ConfigError
from core.io import read_json
from training import loop
from training.data import SplitTensors
from training.suite import resolve_run

CPU = torch.device("cpu")


def tiny_arrays(n: int, seed: int = 0, image: bool = False) -> dict[str, np.ndarray]:
    """Arrays of the processed format; dense column 0 is the row index, so order is visible."""
    rng = np.random.default_rng(seed)
    arrays = {
        "labels": (rng.random((n, 2)) < [0.6, 0.3]).astype(np.float32),
        "categorical": np.stack([rng.integers(0, 7, n), rng.integers(0, 4, n)], axis=1),
        "dense": np.stack([np.arange(n), rng.standard_normal(n)], axis=1).astype(np.float32),
        "group": rng.integers(0, 5, n),
    }
    if image:
        arrays["image"] = rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8)
    return arrays


@pytest.mark.parametrize("seed, batch_size, image", [(0, 32, False), (1, 7, False), (2, 50, True)])
def test_fast_path_yields_the_rows_and_order_of_the_per_row_reference(seed, batch_size, image):
    arrays = tiny_arrays(203, seed, image)
    split = SplitTensors(arrays, CPU)
    fast = list(split.train_batches(batch_size, seed, epoch=1))
    reference = list(eff.per_row_loader(eff.PerRowDataset(arrays), batch_size, split.epoch_order(seed, 1), CPU))
    assert len(fast) == len(reference) == -(-203 // batch_size)
    for (batch, labels), (ref_batch, ref_labels) in zip(fast, reference):
        assert batch.keys() == ref_batch.keys() == ({"categorical", "dense", "image"} if image else {"categorical", "dense"})
        for key in batch:
            assert batch[key].dtype == ref_batch[key].dtype
            assert torch.equal(batch[key], ref_batch[key])
        assert torch.equal(labels, ref_labels)
    rows = torch.cat([b["dense"][:, 0] for b, _ in fast]).long()
    assert sorted(rows.tolist()) == list(range(203))  # every row once, in the seeded order
    assert torch.equal(rows, split.epoch_order(seed, 1))


SUITE = {
    "datasets": ["census_income"], "models": ["resflow"], "seeds": [0],
    "training": {"epochs": 1, "batch_size": 64, "amp": True, "device": "cpu"},
    "dataset_options": {"census_income": {"prepare": {"protocol": "test_split"}, "model": {"embedding_dim": 4}}},
}


def test_mixed_precision_is_off_on_cpu(tmp_path, monkeypatch):
    write_census(tmp_path / "raw" / "census-income.test.gz", census_rows(200))
    get_dataset("census_income", SUITE["dataset_options"]["census_income"]).prepare(tmp_path / "raw", tmp_path / "data")
    autocast = torch.autocast
    enabled = []

    def recording_autocast(*args, **kwargs):
        enabled.append(kwargs.get("enabled", True))
        return autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", recording_autocast)
    run = resolve_run(SUITE, "census_income", "resflow", 0)
    loop.train_run(tmp_path / "data", tmp_path / "run", run)
    assert read_json(tmp_path / "run" / "meta.json")["amp"] is False
    assert enabled and not any(enabled)
    assert eff.Trainer(run, read_json(tmp_path / "data" / "schema.json"), CPU).amp is False


def toy_run(model: str, tasks: list[str]) -> dict:
    return {"model": model, "seed": 0, "model_options": {"embedding_dim": 4, "tower_hidden": [8]},
            "tasks": [{"name": t} for t in tasks], "training": {"batch_size": 16, "device": "cpu"}}


def test_measure_dataset_returns_every_measurement_and_the_targets():
    schema = {**tabular_schema(2), "funnel": False}  # t1 is no sub-event of t0: ESMM does not apply
    cfg = eff.efficiency_config({"batch_sizes": [1, 8, 512], "warmup": 1, "latency_calls": 6, "repeats": 2,
                                 "train_rows": 60})
    runs = {m: toy_run(m, ["t0", "t1"]) for m in ("resflow", "single_task", "mmoe", "esmm")}
    table = eff.measure_dataset(schema, tiny_arrays(100), tiny_arrays(30, seed=1), runs, cfg)
    assert list(table.columns) == eff.COLUMNS
    assert (table["dataset"] == "toy").all()
    per_model = {"params", "train_rows_per_s", "train_peak_mib", "inference_peak_mib", "latency_median_ms",
                 "latency_p99_ms", "latency_ratio_vs_baseline"}
    for model in ("resflow", "single_task", "mmoe"):
        assert per_model <= set(table.loc[table["model"] == model, "measurement"])
        latency = table[(table["model"] == model) & (table["measurement"] == "latency_median_ms")]
        assert sorted(latency["batch_size"]) == [1, 8, 512]
        assert (latency["value"] > 0).all()
    skipped = table[table["model"] == "esmm"]
    assert list(skipped["measurement"]) == ["not_measured"] and "funnel" in skipped["note"].iloc[0]
    assert table.loc[(table["model"] == "resflow") & (table["measurement"] == "train_rows_per_s"), "note"].iloc[0] \
        == "13 epoch(s) of 60 rows"  # min_steps 50 at 4 steps per epoch
    targets = table[table["target"].fillna("") != ""].set_index(["measurement", "batch_size"])
    assert set(targets.index) == {("latency_ratio_vs_baseline", 512), ("epoch_time_ratio_real_vs_in_memory", 16),
                                  ("throughput_ratio_vs_per_row_loader", 16)}
    assert (targets["model"] == "resflow").all()
    assert targets["passed"].isin([True, False]).all()
    assert table.loc[table["measurement"] == "params", "value"].min() > 0
    ratio = table[(table["model"] == "single_task") & (table["measurement"] == "latency_ratio_vs_baseline")]
    assert (ratio["value"] == 1.0).all()


def test_scaling_targets_compare_largest_with_smallest_size():
    scaling = pd.DataFrame({"rows": [1_000_000, 100_000], "model": "resflow", "batch_size": 512,
                            "us_per_row": [30.0, 20.0], "prepare_peak_rss_mib": [5000.0, 600.0],
                            "train_peak_rss_mib": [1500.0, 700.0]})
    time_ratio, memory = eff.scaling_targets(scaling)
    assert time_ratio["value"] == pytest.approx(1.5) and time_ratio["passed"] is True
    assert memory["value"] == pytest.approx(5000 / 1024) and memory["passed"] is False
    assert memory["target"] == "< 4.0"


def test_config_rejects_unknown_keys_and_models():
    assert eff.efficiency_config(None).scaling.rows == [100_000, 1_000_000, 10_000_000]
    with pytest.raises(ConfigError, match="efficiency: unknown key"):
        eff.efficiency_config({"thread": 2})
    with pytest.raises(ConfigError, match="efficiency.scaling: unknown key"):
        eff.efficiency_config({"scaling": {"row": [10]}})
    with pytest.raises(ConfigError, match="unknown model 'resflw'"):
        eff.efficiency_config({"models": ["resflw"]})


def test_auc_latency_frame_and_figure(tmp_path):
    long = pd.DataFrame({"dataset": "d", "model": ["a", "a", "b", "b"], "seed": 0, "task": ["x", "y", "x", "y"],
                         "split": "test", "metric": "auc", "value": [0.7, 0.8, 0.6, 0.6]})
    efficiency = pd.DataFrame({"dataset": "d", "model": ["a", "b", "a"], "measurement": "latency_median_ms",
                               "batch_size": [512, 512, 1], "value": [2.0, 1.0, 0.1]})
    frame = eff.auc_latency_frame(long, efficiency, batch_size=512).set_index("model")
    assert frame.loc["a", "test_auc"] == pytest.approx(0.75) and frame.loc["a", "latency_ms"] == 2.0
    assert frame.loc["b", "test_auc"] == pytest.approx(0.6) and frame.loc["b", "latency_ms"] == 1.0
    png, pdf = plot_auc_vs_latency(frame.reset_index(), tmp_path / "auc_latency", reference="a")
    assert png.stat().st_size > 0 and pdf.stat().st_size > 0


def test_report_section_shows_every_target_and_a_miss():
    rows = [
        eff._target_row("d", "resflow", "epoch_time_ratio_real_vs_in_memory", 1.02, 512, ""),
        eff._target_row("d", "resflow", "throughput_ratio_vs_per_row_loader", 1.3, 512, ""),
        {"dataset": "d", "model": "resflow", "measurement": "throughput_ratio_bound_vs_per_row_loader",
         "batch_size": 512, "value": 1.35, "unit": "ratio"},
        *({"dataset": "d", "model": m, "measurement": meas, "batch_size": 512, "value": v, "unit": ""}
          for m, meas, v in [("resflow", "latency_median_ms", 2.2), ("single_task", "latency_median_ms", 2.0),
                             ("resflow", "latency_ratio_vs_baseline", 1.1), ("single_task", "latency_ratio_vs_baseline", 1.0)]),
    ]
    targets = eff.targets_frame(pd.DataFrame(rows, columns=eff.COLUMNS)).set_index("target")
    assert targets.loc["1. epoch time, real data path / batches already in memory", "holds"] == "held"
    missed = targets.loc["2. throughput, real data path / per-row Dataset + DataLoader"]
    assert missed["holds"] == "MISSED" and missed["measured"] == "1.300" and missed["note"] == "bound 1.35"
    scaling = pd.DataFrame({"rows": [100, 1000], "model": "resflow", "batch_size": 512, "rows_trained": 80,
                            "us_per_row": [3.0, 2.0], "prepare_peak_rss_mib": 600.0, "train_peak_rss_mib": 700.0})
    text = eff.efficiency_markdown(pd.DataFrame(rows, columns=eff.COLUMNS), scaling)
    assert "Missed somewhere: 2. throughput" in text
    assert "| resflow | 2.200 | 1.10 |" in text and "| single\\_task | 2.000 | 1.00 |" in text
    assert "| 1000 | resflow | 512 | 80 | 2.00 | 600 | 700 |" in text


@pytest.mark.slow
def test_efficiency_rules_end_to_end(tmp_path, census_mirror):
    from test_workflow import TINY, snakemake

    config = {**TINY, "efficiency": {
        "models": ["resflow", "single_task", "mmoe"], "batch_sizes": [1, 512], "warmup": 1, "latency_calls": 5,
        "train_rows": 200, "repeats": 1, "scaling": {"rows": [2000, 4000], "steps": 3},
    }}
    snakemake(tmp_path, config, "efficiency", mirror=census_mirror)
    table = pd.read_csv(tmp_path / "results/tables/efficiency.csv")
    assert list(table.columns) == eff.COLUMNS
    assert set(table["model"]) == {"resflow", "single_task", "mmoe"}
    targets = table[table["target"].notna()]
    assert set(targets["measurement"]) == set(eff.TARGETS)
    assert targets["passed"].isin([True, False]).all()
    scaling = pd.read_csv(tmp_path / "results/tables/scaling.csv")
    assert list(scaling.columns) == eff.SCALING_COLUMNS and list(scaling["rows"]) == [2000, 4000]
    assert (scaling["rows_trained"] > 0).all() and (scaling["train_peak_rss_mib"] > 0).all()
    for name in ("efficiency/models.tsv", "efficiency/scaling.tsv", "fetch/census_income.tsv",
                 "prepare/census_income.tsv"):
        assert (tmp_path / "results/benchmarks" / name).is_file()
    assert not any((tmp_path / "resources/efficiency").iterdir())  # the scaling data are removed
    # enabled: the default target trains, reports and adds the efficiency section without re-measuring
    enabled = {**config, "efficiency": {**config["efficiency"], "enabled": True}}
    result = snakemake(tmp_path, enabled, "--rerun-triggers", "mtime", mirror=census_mirror)
    assert "efficiency_models" not in result.stdout + result.stderr
    readme = (tmp_path / "results/report/README.md").read_text()
    assert "## Efficiency" in readme and "2. throughput, real data path" in readme
    assert (tmp_path / "results/report/figures/auc_vs_latency.png").stat().st_size > 0
    assert (tmp_path / "results/report/tables/efficiency.csv").is_file()
