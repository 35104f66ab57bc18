"""config/mirror.yaml on the real Census-Income file of the shared mirror (issue 2's done-when)."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from test_workflow import snakemake

MIRROR = Path(os.environ.get("RESFLOW_DATA_MIRROR", REPO.parent / "shared" / "data"))
CENSUS = MIRROR / "census-income" / "uci-official" / "census-income.test.gz"


@pytest.mark.slow
@pytest.mark.skipif(not CENSUS.is_file(), reason=f"needs the real Census file at {CENSUS} (set RESFLOW_DATA_MIRROR)")
def test_mirror_suite_on_real_census(tmp_path):
    import yaml

    config = yaml.safe_load((REPO / "config" / "mirror.yaml").read_text())
    config.update(datasets=["census_income"], models=["resflow", "single_task", "shared_bottom"], seeds=[0, 1])
    snakemake(tmp_path, config, mirror=MIRROR)
    long = pd.read_csv(tmp_path / "results/tables/metrics_long.csv")
    auc = long[(long.split == "test") & (long.metric == "auc")].groupby(["model", "task"]).value.mean()
    print((tmp_path / "results/tables/summary.md").read_text())
    assert auc["resflow", "income"] >= 0.93
    assert auc["resflow", "marital"] >= 0.97
    assert set(auc.index.get_level_values("model")) == {"resflow", "single_task", "shared_bottom"}
