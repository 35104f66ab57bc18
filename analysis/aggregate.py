"""Collect run folders into ``metrics_long.csv`` (contract 4) and a mean ± std summary table."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from core.io import read_json, write_text

from .ranking import fusion_markdown, fusion_weights, ranking_long
from .tables import UNDEFINED, mean_std_text

LONG_COLUMNS = ["dataset", "model", "seed", "task", "split", "metric", "value"]


class StaleRunError(RuntimeError):
    """Runs were made with another config or other data than the current ones."""


def check_fresh(metrics_files: Iterable[str | Path], expected_hashes: dict[str, str],
                data_sources: dict[str, dict[str, str]]) -> None:
    """Refuse runs whose resolved-config hash or data checksums differ from the current ones.

    ``expected_hashes`` maps ``<dataset>/<model>/seed<N>`` to the hash of the current resolved run
    config; ``data_sources`` maps a dataset to the source checksums of its current processed data.
    """
    stale = []
    for path in map(Path, metrics_files):
        meta = read_json(path.with_name("meta.json"))
        key = f"{meta['dataset']}/{meta['model']}/seed{meta['seed']}"
        if meta["config_hash"] != expected_hashes.get(key):
            stale.append(f"{path.parent}: config hash {meta['config_hash']}, current {expected_hashes.get(key)}")
        elif meta["data_checksums"] != data_sources.get(meta["dataset"]):
            stale.append(f"{path.parent}: trained on other data than resources/processed/{meta['dataset']}")
    if stale:
        raise StaleRunError("refusing to mix stale runs into the tables (delete them or rerun them):\n  "
                            + "\n  ".join(stale))


def collect(metrics_files: Iterable[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long metrics table and one row of run metadata per run (from each run's meta.json)."""
    rows, runs = [], []
    for path in map(Path, metrics_files):
        meta = read_json(path.with_name("meta.json"))
        key = {"dataset": meta["dataset"], "model": meta["model"], "seed": int(meta["seed"])}
        runs.append({**key, "n_params": meta["n_params"], "config_hash": meta["config_hash"],
                     "git_commit": meta["git_commit"], "best_epoch": meta["best_epoch"],
                     "wall_seconds": meta["wall_seconds"]})
        for split, per_task in read_json(path).items():
            for task, metrics in per_task.items():
                rows.extend({**key, "task": task, "split": split, "metric": m, "value": v} for m, v in metrics.items())
    long = pd.DataFrame(rows, columns=LONG_COLUMNS).sort_values(LONG_COLUMNS[:-1], kind="stable", ignore_index=True)
    return long, pd.DataFrame(runs)


def summary_markdown(long: pd.DataFrame, runs: pd.DataFrame, missing: list[dict], metric: str = "auc",
                     oracles: dict[str, dict] | None = None, not_applicable: list[dict] | None = None) -> str:
    """Mean ± std over seeds of the test ``metric`` per dataset x task x model, with parameter counts.

    ``oracles`` maps a dataset to its schema's ``oracle`` entry (synthetic data with known true
    probabilities); its test values are shown as an extra "oracle" row."""
    lines = ["# Summary", ""]
    test = long[(long.split == "test") & (long.metric == metric)]
    for dataset, frame in test.groupby("dataset", sort=True):
        stats = frame.groupby(["model", "task"]).value.agg(["mean", "std", "count"])
        cells = stats.apply(mean_std_text, axis=1)
        table = cells.unstack("task")
        params = runs[runs.dataset == dataset].groupby("model").n_params.first()
        seeds = int(stats["count"].max())
        lines += [f"## {dataset}: test {metric.upper()} (mean ± std over {seeds} seed(s))", "",
                  "| model | " + " | ".join(table.columns) + " | parameters |",
                  "|---" * (len(table.columns) + 2) + "|"]
        lines += [f"| {m} | " + " | ".join(table.loc[m]) + f" | {params.get(m, 0):,} |" for m in table.index]
        oracle = (oracles or {}).get(dataset, {}).get("test")
        if oracle:
            lines.append("| oracle (true probabilities) | "
                         + " | ".join(f"{oracle[t][metric]:.4f}" for t in table.columns) + " | – |")
        lines.append("")
        lines += [_undefined_note(long, dataset, task, metric)
                  for task in table.columns if (table[task] == UNDEFINED).all()]
    if not_applicable:
        lines += ["## Models that do not apply", "", "| dataset | model | reason |", "|---|---|---|"]
        lines += [f"| {n['dataset']} | {n['model']} | {n['reason']} |" for n in not_applicable]
        lines.append("")
    if missing:
        lines += ["## Not run or unverified", "", "| dataset | reason | fix |", "|---|---|---|"]
        lines += [f"| {m['dataset']} | {m['reason']} | {m['fix']} |" for m in missing]
        lines.append("")
    return "\n".join(lines)


def _undefined_note(long: pd.DataFrame, dataset: str, task: str, metric: str) -> str:
    """Why a task's test ``metric`` is undefined in every run (one label only in the test split)."""
    rate = long[(long.dataset == dataset) & (long.split == "test") & (long.task == task)
                & (long.metric == "positive_rate")].value
    why = ("holds no positive label" if (rate == 0).all() else "holds no negative label" if (rate == 1).all()
           else "holds one label only")
    return f"*{task}: test {metric.upper()} undefined in every run: the test split {why}.*\n"


def missing_datasets(status_files: Iterable[str | Path]) -> list[dict]:
    """Datasets whose fetch step found a source missing (with reason and fix) or ran unverified."""
    out = []
    for path in status_files:
        status = read_json(path)
        if not status["verified"]:
            out.append({"dataset": status["dataset"], "reason": "run on UNVERIFIED files (verify_checksums: false)",
                        "fix": "set verify_checksums: true for published results"})
        for item in status["missing"]:
            out.append({"dataset": status["dataset"], "reason": item["reason"].replace("\n", " "),
                        "fix": item["fix"].replace("\n", " ")})
    return out


def aggregate(metrics: Iterable[str], status: Iterable[str], long_csv: str, summary_md: str,
              expected_hashes: dict[str, str], processed: Iterable[str], ranking: Iterable[str], fusion_md: str,
              not_applicable: list[dict]) -> None:
    metrics = list(metrics)
    schemas = [read_json(Path(d) / "schema.json") for d in processed]
    sources = {schema["name"]: schema["sources"] for schema in schemas}
    check_fresh(metrics, expected_hashes, sources)
    long, runs = collect(metrics)
    ranking = list(ranking)
    long = pd.concat([long, ranking_long(ranking)], ignore_index=True).sort_values(
        LONG_COLUMNS[:-1], kind="stable", ignore_index=True)
    write_text(fusion_md, fusion_markdown(long, fusion_weights(ranking)))
    write_text(long_csv, long.to_csv(index=False, float_format="%.10g"))
    oracles = {schema["name"]: schema["oracle"] for schema in schemas if "oracle" in schema}
    write_text(summary_md, summary_markdown(long, runs, missing_datasets(status), oracles=oracles,
                                                  not_applicable=not_applicable))
