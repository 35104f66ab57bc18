"""Ranking evaluation from saved predictions: Weighted Recall@K and GAUC under score fusion.

For datasets with a group key (search sessions, users), each run's ``predictions.npz`` is scored
without retraining. Fusion weights are chosen on the validation split only (maximising WR@select_k)
and then applied to the test split. The fused score's GAUC is measured against the last task of
the funnel (e.g. CTCVR, purchase), the business target. These are this suite's definitions (the
paper's exact formulas are not available; see ../shared/docs/RESFLOW_SPEC.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from core.io import read_json

from .metrics import DEFAULT_WEIGHT_GRID, fuse_scores, gauc, item_gains, search_fusion_weights, weighted_recall_at_ks
from .stats import holm, paired_comparisons
from .tables import mean_std_text

FUSIONS = ("additive", "multiplicative")


@dataclass
class RankingConfig:
    """``ranking:`` in config."""

    #: K values of Weighted Recall@K
    ks: list[int] = field(default_factory=lambda: [5, 10, 20, 50])
    #: fusion weights maximise validation WR@select_k
    select_k: int = 10
    #: candidate weights of every task but the first (fixed at 1)
    grid: list[float] = field(default_factory=lambda: list(DEFAULT_WEIGHT_GRID))


def ranking_metrics(predictions: str | Path, gains: list[float], cfg: RankingConfig) -> dict[str, Any]:
    """WR@K and GAUC of each fusion on the test split, with the weights chosen on validation.

    Returns ``{}`` when the predictions carry no group key.
    """
    with np.load(predictions) as pred:
        if "test_group" not in pred:
            return {}
        arrays = {k: pred[k] for k in pred.files}
    out: dict[str, Any] = {}
    for mode in FUSIONS:
        chosen = search_fusion_weights(arrays["val_probs"], arrays["val_labels"], arrays["val_group"], gains,
                                       mode, cfg.select_k, cfg.grid)
        scores = fuse_scores(arrays["test_probs"], chosen["weights"], mode)
        test_gains = item_gains(arrays["test_labels"], gains)
        wr = weighted_recall_at_ks(test_gains, scores, arrays["test_group"], cfg.ks)
        out[f"fused_{mode}"] = {
            "weights": chosen["weights"], f"val_wr@{cfg.select_k}": chosen["val_wr"],
            "test": {**{f"wr@{k}": v for k, v in wr.items()},
                     "gauc": gauc(arrays["test_labels"][:, -1], scores, arrays["test_group"])},
        }
    return out


def ranking_long(ranking_files: Iterable[str | Path]) -> pd.DataFrame:
    """Rows of metrics_long (split ``test``, task ``fused_<mode>``) from each run's ranking.json."""
    rows = []
    for path in map(Path, ranking_files):
        meta = read_json(path.with_name("meta.json"))
        for task, result in read_json(path).items():
            rows.extend({"dataset": meta["dataset"], "model": meta["model"], "seed": int(meta["seed"]),
                         "task": task, "split": "test", "metric": m, "value": v}
                        for m, v in result["test"].items())
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "task", "split", "metric", "value"])


def fusion_markdown(long: pd.DataFrame, weights: pd.DataFrame) -> str:
    """Per dataset and model: WR@K and GAUC under each fusion (mean ± std over seeds), the chosen
    weights, and a paired test of additive against multiplicative fusion (paired by seed)."""
    fused = long[long.task.str.startswith("fused_") & (long.split == "test")]
    if fused.empty:
        return "# Score fusion\n\nNo dataset with a group key was run.\n"
    lines = ["# Score fusion: additive vs multiplicative", "",
             "Weights chosen on validation (max WR@K), applied to test. GAUC of the fused score against "
             "the last funnel task. p: paired t-test over seeds, additive vs multiplicative; Holm correction "
             "across all rows of a dataset's test table.", ""]
    for dataset, frame in fused.groupby("dataset"):
        metrics = sorted(frame.metric.unique(), key=lambda m: (m == "gauc", int(m[3:]) if m.startswith("wr@") else 0))
        lines += [f"## {dataset}", "", "| model | fusion | " + " | ".join(metrics) + " | weights (per seed) |",
                  "|---" * (len(metrics) + 3) + "|"]
        for (model, task), cell in frame.groupby(["model", "task"]):
            stats = cell.groupby("metric").value.agg(["mean", "std", "count"])
            w = weights[(weights.dataset == dataset) & (weights.model == model) & (weights.task == task)]
            values = " | ".join(mean_std_text(stats.loc[m]) for m in metrics)
            lines.append(f"| {model} | {task.removeprefix('fused_')} | {values} | {'; '.join(w.weights)} |")
        undefined = [m for m in metrics if not np.isfinite(frame[frame.metric == m].value).any()]
        if undefined:
            lines += ["", f"*{', '.join(undefined)}: undefined in every run: no group of the test split holds both "
                      "a positive and a negative of the last funnel task.*"]
        tests = _fusion_tests(frame[~frame.metric.isin(undefined)])
        if not tests.empty:
            lines += ["", "| model | metric | additive − multiplicative | p (t-test) | p (Holm) |", "|---|---|---|---|---|"]
            lines += [f"| {r.model} | {r.metric} | {r.mean_diff:+.4f} | {r.p_ttest:.3g} | {r.p_holm:.3g} |"
                      for r in tests.itertuples()]
        lines.append("")
    return "\n".join(lines)


def _fusion_tests(frame: pd.DataFrame) -> pd.DataFrame:
    """Paired comparison of the two fusions per model and metric (the fusion plays the 'model')."""
    out = []
    for metric, per_metric in frame.groupby("metric"):
        df = per_metric.assign(dataset=per_metric.model, model=per_metric.task.str.removeprefix("fused_"), task=metric)
        res = paired_comparisons(df, reference="additive", metric=metric, split="test")
        out.append(res.assign(model=res.dataset, metric=metric))
    if not out:
        return pd.DataFrame()
    tests = pd.concat(out, ignore_index=True).sort_values(["model", "metric"], ignore_index=True)
    return tests.assign(p_holm=holm(tests.p_ttest.to_numpy()))


def fusion_weights(ranking_files: Iterable[str | Path]) -> pd.DataFrame:
    rows = []
    for path in map(Path, ranking_files):
        meta = read_json(path.with_name("meta.json"))
        for task, result in read_json(path).items():
            rows.append({"dataset": meta["dataset"], "model": meta["model"], "seed": int(meta["seed"]), "task": task,
                         "weights": "[" + ", ".join(f"{w:g}" for w in result["weights"]) + "]"})
    return pd.DataFrame(rows, columns=["dataset", "model", "seed", "task", "weights"])
