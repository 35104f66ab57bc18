"""The real Snakefile, end to end, on tiny fixtures in a scratch working directory."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO

TINY = {
    "datasets": ["census_income"], "models": ["resflow", "single_task"], "seeds": [0, 1],
    "verify_checksums": False,  # the fixture is not the official file
    "training": {"epochs": 2, "batch_size": 128},
    "dataset_options": {"census_income": {"model": {"embedding_dim": 4}},
                        "synthetic_funnel": {"prepare": {"rows": 3000, "users": 100, "queries": 20, "items": 200}}},
}


def snakemake(workdir: Path, config: dict, *args: str, mirror: Path | None = None, check: bool = True):
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "RESFLOW_DATA_MIRROR"}
    if mirror is not None:
        env["RESFLOW_DATA_MIRROR"] = str(mirror)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / "tiny.yaml"), "--cores", "2", *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.mark.slow
def test_pipeline_end_to_end_on_census_fixture(tmp_path, census_mirror):
    snakemake(tmp_path, TINY, mirror=census_mirror)
    long = pd.read_csv(tmp_path / "results/tables/metrics_long.csv")
    assert list(long.columns) == ["dataset", "model", "seed", "task", "split", "metric", "value"]
    test_auc = long[(long.split == "test") & (long.metric == "auc")]
    assert len(test_auc) == 2 * 2 * 2  # models x seeds x tasks
    assert test_auc.value.between(0, 1).all()
    summary = (tmp_path / "results/tables/summary.md").read_text()
    assert "| resflow |" in summary and "UNVERIFIED" in summary
    for run in ("resflow/seed0", "single_task/seed1"):
        folder = tmp_path / "results/runs/census_income" / run
        assert {p.name for p in folder.iterdir()} >= {"metrics.json", "predictions.npz", "history.csv", "meta.json", "config.resolved.yaml"}
    assert (tmp_path / "logs/train/census_income/resflow/seed0.log").exists()
    # nothing left to do: a second invocation is a no-op
    again = snakemake(tmp_path, TINY, "-n", mirror=census_mirror)
    assert "Nothing to be done" in again.stdout + again.stderr
    # another grid over the same results folder: the tables follow the config of this
    # invocation, never the grid of an earlier one (a smaller grid needs no retraining)
    fewer = snakemake(tmp_path, TINY, "--config", "seeds=[1]", "models=[\"resflow\"]", mirror=census_mirror)
    assert "train" not in _jobs_run(fewer)
    long = pd.read_csv(tmp_path / "results/tables/metrics_long.csv")
    assert set(long.model) == {"resflow"} and set(long.seed) == {1}
    other = snakemake(tmp_path, TINY, "--config", "datasets=[\"synthetic_funnel\"]", "seeds=[0]", mirror=census_mirror)
    assert {"aggregate", "report_publish"} <= _jobs_run(other)
    long = pd.read_csv(tmp_path / "results/tables/metrics_long.csv")
    assert set(long.dataset) == {"synthetic_funnel"}
    assert "synthetic_funnel" in (tmp_path / "results/report/README.md").read_text()


def _jobs_run(result) -> set[str]:
    """Rule names of the jobs a snakemake invocation ran (from its log)."""
    return set(re.findall(r"^(?:local)?rule (\w+):", result.stdout + result.stderr, flags=re.M))


@pytest.mark.slow
def test_missing_dataset_is_listed_with_the_fix_unless_strict(tmp_path):
    config = {**TINY, "verify_checksums": True}
    snakemake(tmp_path, config, "--config", "seeds=[0]")  # no mirror, no network: census is missing
    summary = (tmp_path / "results/tables/summary.md").read_text()
    assert "census_income" in summary and "RESFLOW_DATA_MIRROR" in summary
    assert pd.read_csv(tmp_path / "results/tables/metrics_long.csv").empty
    strict = snakemake(tmp_path / "strict", {**config, "strict": True}, check=False)
    assert strict.returncode != 0 and "could not download census-income" in strict.stdout + strict.stderr


@pytest.mark.parametrize("override, message", [
    (["sedes=[1]"], "Additional properties are not allowed ('sedes' was unexpected)"),
    (["seeds=[]"], "seeds"),
    (["datasets=[\"census_incme\"]"], "datasets: unknown name(s) ['census_incme']"),
    (["models=[\"mmoee\"]"], "models: unknown name(s) ['mmoee']"),
])
def test_bad_config_stops_before_any_job_naming_the_key(tmp_path, override, message):
    result = snakemake(tmp_path, TINY, "-n", "--config", *override, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "resources").exists()


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, TINY, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_jobs_import_this_checkout_not_another_installed_copy(tmp_path, census_mirror, monkeypatch):
    fake = tmp_path / "elsewhere"
    for package in ("core", "training"):  # regular packages (benchmarks is a namespace package)
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("raise ImportError('another copy of resflow-bench')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    snakemake(tmp_path / "work", TINY, "resources/processed/census_income", mirror=census_mirror)
    assert (tmp_path / "work/resources/processed/census_income/schema.json").is_file()
