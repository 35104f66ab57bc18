"""Ranking evaluation from saved predictions: fusion weights from validation only, tables."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.ranking import RankingConfig, fusion_markdown, fusion_weights, ranking_long, ranking_metrics


def _predictions(path, seed=0, with_group=True, poison_test=False):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("val", "test"):
        n = 2000
        click = (rng.random(n) < 0.2).astype(np.float32)
        buy = click * (rng.random(n) < 0.3)
        labels = np.stack([click, buy], 1)
        probs = np.clip(0.4 * labels + 0.6 * rng.random((n, 2)), 0, 1).astype(np.float32)
        if split == "test" and poison_test:
            labels = 1 - labels
        arrays |= {f"{split}_probs": probs, f"{split}_labels": labels}
        if with_group:
            arrays[f"{split}_group"] = np.sort(rng.integers(0, 200, n))
    np.savez(path, **arrays)
    return path


def test_no_group_key_no_ranking_metrics(tmp_path):
    assert ranking_metrics(_predictions(tmp_path / "p.npz", with_group=False), [1, 5], RankingConfig()) == {}


def test_fusion_weights_come_from_validation_only(tmp_path):
    clean = ranking_metrics(_predictions(tmp_path / "a.npz"), [1, 5], RankingConfig())
    poisoned = ranking_metrics(_predictions(tmp_path / "b.npz", poison_test=True), [1, 5], RankingConfig())
    for mode in ("fused_additive", "fused_multiplicative"):
        assert clean[mode]["weights"] == poisoned[mode]["weights"]
        assert clean[mode]["val_wr@10"] == poisoned[mode]["val_wr@10"]
        assert clean[mode]["test"] != poisoned[mode]["test"]
        assert set(clean[mode]["test"]) == {"wr@5", "wr@10", "wr@20", "wr@50", "gauc"}


def test_fusion_table_shows_both_fusions_weights_and_paired_tests(tmp_path):
    files = []
    for model in ("resflow", "shared_bottom"):
        for seed in range(3):
            run = tmp_path / model / f"seed{seed}"
            run.mkdir(parents=True)
            result = ranking_metrics(_predictions(run / "predictions.npz", seed=seed), [1, 5], RankingConfig(ks=[5, 10]))
            (run / "ranking.json").write_text(json.dumps(result))
            (run / "meta.json").write_text(json.dumps({"dataset": "toy", "model": model, "seed": seed}))
            files.append(run / "ranking.json")
    long = ranking_long(files)
    assert set(long.task) == {"fused_additive", "fused_multiplicative"} and len(long) == 2 * 3 * 2 * 3
    text = fusion_markdown(long, fusion_weights(files))
    assert "| resflow | additive |" in text and "| shared_bottom | multiplicative |" in text
    assert "additive − multiplicative" in text and "[1, " in text
    assert "undefined" not in text and "nan" not in text


def test_fusion_table_says_undefined_instead_of_nan():
    """AliExpress sample: no search group of its test split holds a conversion and a non-conversion."""
    rows = [{"dataset": "ae", "model": "resflow", "seed": s, "task": f"fused_{f}", "split": "test", "metric": m,
             "value": float("nan") if m == "gauc" else 0.5 + 0.01 * s}
            for s in (0, 1) for f in ("additive", "multiplicative") for m in ("wr@5", "gauc")]
    weights = pd.DataFrame({"dataset": "ae", "model": "resflow", "task": ["fused_additive", "fused_multiplicative"],
                            "weights": ["[1, 0]; [1, 1]", "[1, 2]; [1, 0]"]})
    text = fusion_markdown(pd.DataFrame(rows), weights)
    assert "| resflow | additive | 0.5050 ± 0.0071 | undefined | [1, 0]; [1, 1] |" in text
    assert "*gauc: undefined in every run: no group of the test split holds both" in text
    assert "nan" not in text and "| resflow | wr@5 |" in text  # the defined metric is still tested


@pytest.mark.parametrize("bad", [{"ks": "5"}, {"select_k": 1.5}, {"gird": [1]}])
def test_ranking_config_is_strict(bad):
    from core.config import ConfigError, from_dict

    with pytest.raises(ConfigError):
        from_dict(RankingConfig, bad, where="ranking")
