"""Significance-tested tables, figures and the publishable README of a benchmark run.

One function per Snakemake rule of ``workflow/rules/report.smk``:

* :func:`write_dataset_report` -- per dataset: the results table (mean ± std over seeds, best in
  bold, significance marks, Δ% over Shared-Bottom and Single-Task) and the significance table
  (effect sizes with intervals beside paired t, Wilcoxon and DeLong p-values) as CSV, Markdown,
  LaTeX and HTML; point-and-interval and learning-curve figures.
* :func:`write_across_report` -- across datasets: Friedman test over (dataset, task) blocks with
  Nemenyi post-hoc and the critical-difference diagram (Demšar 2006, JMLR 7), and a heat map of the
  reference model's improvement over every other model.
* :func:`write_published_report` -- ``results/report/``: copies of the tables and figures and a
  ``README.md`` showing them, naming the command, configuration and commit that produced them.

Reads ``metrics_long.csv`` (contract 4) and each run's ``meta.json``, ``predictions.npz`` and
``history.csv`` (contract 3); the tests themselves live in :mod:`analysis.stats` (DeLong test:
DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44(3)), the table layout in :mod:`analysis.tables`
and the plots in :mod:`analysis.figures`.
"""

from __future__ import annotations

import html
import json
import shlex
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.aggregate import missing_datasets
from analysis.figures import (
    plot_critical_difference,
    plot_improvement_heatmap,
    plot_intervals,
    plot_learning_curves,
    plot_not_drawn,
)
from analysis.stats import (
    cell_summary,
    combine_pvalues_over_seeds,
    delong_test,
    friedman_blocks,
    friedman_test,
    higher_is_better,
    holm,
    paired_comparisons,
)
from analysis.tables import (
    BASELINES,
    MARK_BETTER,
    MARK_WORSE,
    MISSING,
    results_long,
    results_table,
    significance_footnote,
    to_html,
    to_latex,
    to_markdown,
)
from core.io import read_json, write_text

__all__ = [
    "ALPHA",
    "PRIMARY_METRIC",
    "TABLE_METRICS",
    "DatasetResults",
    "Ranking",
    "combine_delong",
    "dataset_results",
    "delong_per_seed",
    "improvement_frame",
    "learning_history",
    "rank_models",
    "read_runs",
    "suite_command",
    "write_across_report",
    "write_dataset_report",
    "write_published_report",
]

PRIMARY_METRIC = "auc"  # DeLong's test, the CD diagram and the heat map use it
TABLE_METRICS = ("auc", "gauc", "logloss")  # tabulated when present in metrics_long
METRIC_LABELS = {"auc": "AUC", "gauc": "GAUC", "logloss": "log loss"}
ALPHA = 0.05

Section = tuple[str, pd.DataFrame, str]  # (heading, display table, footnote)


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _md(text: str) -> str:
    """``text`` safe in a Markdown table cell (model names hold underscores)."""
    return text.replace("_", r"\_").replace("|", r"\|")


# --------------------------------------------------------------------------- #
# Runs
# --------------------------------------------------------------------------- #
def read_runs(meta_files: Iterable[str | Path]) -> pd.DataFrame:
    """One row per run folder (from its ``meta.json``): dataset, model, seed, folder and metadata."""
    rows = []
    for path in map(Path, meta_files):
        meta = read_json(path)
        rows.append({"dataset": meta["dataset"], "model": meta["model"], "seed": int(meta["seed"]),
                     "folder": str(path.parent), "git_commit": meta["git_commit"], "n_params": meta["n_params"],
                     "epochs_run": meta["epochs_run"], "best_epoch": meta["best_epoch"],
                     "wall_seconds": meta["wall_seconds"], "device": meta.get("device", ""),
                     "tasks": [t["name"] for t in meta["tasks"]]})
    columns = ["dataset", "model", "seed", "folder", "git_commit", "n_params", "epochs_run", "best_epoch",
               "wall_seconds", "device", "tasks"]
    return pd.DataFrame(rows, columns=columns).sort_values(["dataset", "model", "seed"], ignore_index=True)


def _test_predictions(folder: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    with np.load(Path(folder) / "predictions.npz") as npz:
        return [str(t) for t in npz["tasks"]], npz["test_probs"], npz["test_labels"]


def learning_history(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's ``history.csv`` as ``model, seed, epoch, series, value`` with the series
    "training loss" and "validation AUC: <task>"."""
    frames = []
    for run in runs.itertuples():
        history = pd.read_csv(Path(run.folder) / "history.csv")
        series = {"train_loss": "training loss"}
        series |= {c: f"validation AUC: {c.removeprefix('val_auc_')}" for c in history if c.startswith("val_auc_")}
        long = history.melt(id_vars="epoch", value_vars=list(series), var_name="series", value_name="value")
        frames.append(long.assign(series=long["series"].map(series), model=run.model, seed=run.seed))
    columns = ["model", "seed", "epoch", "series", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------- #
# DeLong's test per seed, combined over seeds
# --------------------------------------------------------------------------- #
def delong_per_seed(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """DeLong's test of the reference against every other model, per seed and task, on the test rows.

    ``runs`` are one dataset's runs (:func:`read_runs`). Rows with a missing (non-finite) label are
    left out; a task whose test rows hold fewer than two positives or negatives is skipped. Two
    runs whose test labels differ are an error: the test needs the same rows.
    """
    rows = []
    for ref in runs[runs["model"] == reference].itertuples():
        tasks, ref_probs, labels = _test_predictions(ref.folder)
        for other in runs[(runs["model"] != reference) & (runs["seed"] == ref.seed)].itertuples():
            other_tasks, probs, other_labels = _test_predictions(other.folder)
            if other_tasks != tasks or not np.array_equal(other_labels, labels, equal_nan=True):
                raise ValueError(f"{other.folder} and {ref.folder} hold different test rows or tasks; "
                                 "DeLong's test needs the same test rows")
            for k, task in enumerate(tasks):
                keep = np.isfinite(labels[:, k])
                y = labels[keep, k]
                if min(int((y == 1).sum()), int((y == 0).sum())) < 2:
                    continue
                _, _, z, p = delong_test(y, ref_probs[keep, k], probs[keep, k])
                rows.append({"task": task, "model": other.model, "seed": ref.seed, "delong_z": z, "delong_p": p})
    return pd.DataFrame(rows, columns=["task", "model", "seed", "delong_z", "delong_p"])


def combine_delong(per_seed: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per (task, model): number of seeds, seeds where DeLong alone finds the reference better
    (z > 0, p < ``alpha``) or worse, the Fisher combination of the per-seed p-values and its Holm
    adjustment over all rows (one dataset = one family)."""
    columns = ["task", "model", "delong_seeds", "delong_better", "delong_worse", "p_delong", "p_delong_holm"]
    if per_seed.empty:
        return pd.DataFrame(columns=columns)
    significant = per_seed["delong_p"] < alpha
    out = (per_seed.assign(better=significant & (per_seed["delong_z"] > 0),
                           worse=significant & (per_seed["delong_z"] < 0))
           .groupby(["task", "model"], sort=True)
           .agg(delong_seeds=("seed", "count"), delong_better=("better", "sum"), delong_worse=("worse", "sum"),
                p_delong=("delong_p", combine_pvalues_over_seeds))
           .reset_index())
    out["p_delong_holm"] = holm(out["p_delong"])
    return out[columns]


# --------------------------------------------------------------------------- #
# One dataset: results and significance tables
# --------------------------------------------------------------------------- #
@dataclass
class DatasetResults:
    """Tables of one dataset. ``numbers``: :func:`analysis.tables.results_long` of every metric;
    ``comparisons``: one row per (metric, task, other model) with effect size, p-values and mark;
    ``results`` / ``significance``: display sections; ``note``: why nothing was tested, if so."""

    numbers: pd.DataFrame
    comparisons: pd.DataFrame
    results: list[Section] = field(default_factory=list)
    significance: list[Section] = field(default_factory=list)
    note: str = ""


def _untested(summary: pd.DataFrame, reference: str) -> pd.DataFrame:
    """A comparisons frame with no test results (NaN) for every cell of ``summary``, so that
    :func:`analysis.tables.results_table` renders means without marks."""
    return summary[["dataset", "task", "model", "metric", "split"]].assign(
        reference=reference, n_pairs=0, mean_diff=np.nan, ci95_low=np.nan, ci95_high=np.nan, p_ttest=np.nan,
        p_wilcoxon=np.nan, p_ttest_holm=np.nan, p_wilcoxon_holm=np.nan, significant=False)


def _p(value: float) -> str:
    if not np.isfinite(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _effect(row: pd.Series, decimals: int) -> str:
    text = f"{row['mean_diff']:+.{decimals}f}" if np.isfinite(row["mean_diff"]) else MISSING
    if np.isfinite(row["ci95_low"]):
        text += f" [{row['ci95_low']:+.{decimals}f}, {row['ci95_high']:+.{decimals}f}]"
    return text + row["mark"]


def significance_table_footnote(reference: str, metric: str, alpha: float = ALPHA, delong: bool = False) -> str:
    """Footnote of a significance table: effect size, tests, correction and marks."""
    direction = "higher" if higher_is_better(metric) else "lower"
    text = (
        f"Δ = {reference} minus the model, in test {_label(metric)} ({direction} is better): mean over the "
        f"paired seeds with its 95% t interval. p-values are Holm-adjusted over all comparisons in this table. "
        f"Paired t-test over common seeds: {MARK_BETTER}/{MARK_WORSE} = {reference} significantly better/worse "
        f"(p < {alpha}). Wilcoxon signed-rank test, two-sided (with n seeds its smallest possible p is 2^(1-n), "
        "0.0625 for 5). "
    )
    if delong:
        text += (
            "DeLong: DeLong's test of the two AUCs on the same test rows per seed, combined over seeds with "
            "Fisher's method; seeds share the test rows, so read this p as descriptive (anti-conservative). "
            f"DeLong +/-: seeds where DeLong alone finds {reference} better/worse (p < {alpha}). "
        )
    return text + "n: paired seeds."


def _significance_display(comparisons: pd.DataFrame, metric: str, decimals: int) -> pd.DataFrame:
    rows = comparisons[comparisons["metric"] == metric]
    table = pd.DataFrame({
        "task": rows["task"], "model": rows["model"],
        "Δ [95% CI]": [_effect(r, decimals) for _, r in rows.iterrows()],
        "p t-test": rows["p_ttest_holm"].map(_p), "p Wilcoxon": rows["p_wilcoxon_holm"].map(_p),
    })
    if metric == PRIMARY_METRIC and "p_delong_holm" in rows:
        table["p DeLong"] = rows["p_delong_holm"].map(_p)
        table["DeLong +/-"] = [f"{int(b)}/{int(w)}" if np.isfinite(b) else MISSING
                               for b, w in zip(rows["delong_better"], rows["delong_worse"])]
    table["n"] = rows["n_pairs"].astype(int).astype(str)
    return table.set_index("task")


def dataset_results(
    long: pd.DataFrame,
    dataset: str,
    reference: str,
    delong: pd.DataFrame | None = None,
    alpha: float = ALPHA,
    decimals: int = 4,
) -> DatasetResults:
    """Results and significance tables of ``dataset`` for every metric of :data:`TABLE_METRICS`
    with a finite value; ``delong`` (:func:`combine_delong`) joins the primary metric's comparisons.
    Undefined values (NaN, e.g. GAUC when no group holds both classes) show as missing cells."""
    data = long[(long["dataset"] == dataset) & (long["split"] == "test") & np.isfinite(long["value"])]
    metrics = [m for m in TABLE_METRICS if m in set(data["metric"])]
    if not metrics:
        raise ValueError(f"no test rows of {list(TABLE_METRICS)} for dataset {dataset!r}")
    data = data[data["metric"].isin(metrics)]
    summary = cell_summary(data)
    models = sorted(set(data["model"]))
    tested = reference in models and len(models) > 1
    note = "" if tested else (f"No significance tests: they compare the reference model {reference} with "
                              f"the others, and this dataset has runs of {', '.join(models)} only.")
    numbers, comparisons, results, significance = [], [], [], []
    for metric in metrics:
        if tested:
            comp = paired_comparisons(data, reference, metric=metric, alpha=alpha)
        else:
            comp = _untested(summary[summary["metric"] == metric], reference)
        numbers.append(results_long(summary, comp, dataset, reference, metric))
        heading = f"Test {_label(metric)}"
        results.append((heading, results_table(summary, comp, dataset, reference, metric, decimals=decimals),
                        significance_footnote(reference, metric, alpha=alpha)))
        if not tested:
            continue
        marks = numbers[-1][["task", "model", "mark"]]
        comp = comp.merge(marks, on=["task", "model"], how="left")
        use_delong = metric == PRIMARY_METRIC and delong is not None
        if use_delong:
            comp = comp.merge(delong, on=["task", "model"], how="left")
        comparisons.append(comp)
        significance.append((f"{heading}: {reference} against each model",
                             _significance_display(comp, metric, decimals),
                             significance_table_footnote(reference, metric, alpha, delong=use_delong)))
    comparisons = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame()
    return DatasetResults(pd.concat(numbers, ignore_index=True), comparisons, results, significance, note)


def _html_document(title: str, body: str) -> str:
    style = ("body{font-family:sans-serif;font-size:14px} table{border-collapse:collapse;margin:8px 0}"
             "th,td{border:1px solid #ccc;padding:3px 8px;text-align:center} small{color:#444}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{style}</style></head>\n<body>\n{body}</body></html>\n")


def write_table_files(stem: str | Path, sections: Sequence[Section], numbers: pd.DataFrame, note: str = "") -> None:
    """``<stem>.csv`` (``numbers``) and ``<stem>.md/.tex/.html`` (every section: heading, table, footnote)."""
    write_text(f"{stem}.csv", numbers.to_csv(index=False, float_format="%.10g"))
    md, tex, body = [], [], []
    if note:
        md.append(note + "\n")
        tex.append(f"% {note}\n")
        body.append(f"<p>{html.escape(note)}</p>\n")
    for heading, table, footnote in sections:
        md.append(f"**{heading}**\n\n{to_markdown(table, footnote)}")
        tex.append(f"% {heading}\n{to_latex(table, footnote)}")
        body.append(f"<h4>{html.escape(heading)}</h4>\n{to_html(table, footnote)}")
    write_text(f"{stem}.md", "\n".join(md))
    write_text(f"{stem}.tex", "\n".join(tex))
    write_text(f"{stem}.html", _html_document(Path(stem).name, "\n".join(body)))


def write_dataset_report(
    long_csv: str | Path,
    meta_files: Iterable[str | Path],
    dataset: str,
    reference: str,
    results_stem: str | Path,
    significance_stem: str | Path,
    intervals_stem: str | Path,
    curves_stem: str | Path,
    alpha: float = ALPHA,
) -> None:
    """All tables and figures of one dataset (the ``report_dataset`` rule). Only the dataset's tasks
    (as each run's ``meta.json`` lists them) are tabulated; rows of fused scores have their own table."""
    runs = read_runs(meta_files)
    runs = runs[runs["dataset"] == dataset]
    long = pd.read_csv(long_csv)
    long = long[(long["dataset"] == dataset) & long["task"].isin(set().union(*runs["tasks"]))]
    delong = combine_delong(delong_per_seed(runs, reference), alpha)
    res = dataset_results(long, dataset, reference, delong, alpha)
    write_table_files(results_stem, res.results, res.numbers, res.note)
    write_table_files(significance_stem, res.significance, res.comparisons, res.note)
    metric = PRIMARY_METRIC if PRIMARY_METRIC in set(long["metric"]) else res.numbers["metric"].iloc[0]
    values = long[(long["split"] == "test") & (long["metric"] == metric)]
    plot_intervals(values, res.numbers[res.numbers["metric"] == metric], intervals_stem, _label(metric), reference)
    plot_learning_curves(learning_history(runs), curves_stem, reference)


# --------------------------------------------------------------------------- #
# Across datasets
# --------------------------------------------------------------------------- #
def improvement_frame(long: pd.DataFrame, reference: str, metric: str = PRIMARY_METRIC,
                      alpha: float = ALPHA) -> pd.DataFrame:
    """Relative improvement (%, positive = better) of the reference's mean over every other model's,
    per dataset and task, with the other model's significance mark and Holm-adjusted t-test p."""
    rows = []
    data = long[(long["split"] == "test") & (long["metric"] == metric)]
    for dataset, block in data.groupby("dataset", sort=True):
        others = sorted(set(block["model"]) - {reference})
        if reference not in set(block["model"]) or not others:
            continue
        numbers = results_long(cell_summary(block), paired_comparisons(block, reference, metric, alpha=alpha),
                               dataset, reference, metric, baselines=others)
        ref = numbers[numbers["model"] == reference].set_index("task")
        for row in numbers[numbers["model"] != reference].itertuples():
            rows.append({"dataset": dataset, "task": row.task, "model": row.model,
                         "improvement_pct": ref.loc[row.task, f"improvement_vs_{row.model}_pct"],
                         "mark": row.mark, "p_ttest_holm": row.p_ttest_holm})
    return pd.DataFrame(rows, columns=["dataset", "task", "model", "improvement_pct", "mark", "p_ttest_holm"])


@dataclass
class Ranking:
    """Friedman/Nemenyi result over (dataset, task) blocks, or ``reason`` why there is none."""

    metric: str
    statistic: float = float("nan")
    p: float = float("nan")
    ranks: pd.Series | None = None
    nemenyi: pd.DataFrame | None = None
    n_blocks: int = 0
    reason: str = ""
    left_out: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """Average rank and Nemenyi p-value against every model, one row per model (best first)."""
        if self.ranks is None:
            return pd.DataFrame(columns=["model", "avg_rank"])
        nemenyi = self.nemenyi.loc[self.ranks.index, self.ranks.index].add_prefix("p_nemenyi_vs_")
        return pd.concat([self.ranks, nemenyi], axis=1).rename_axis("model").reset_index()

    def markdown(self) -> str:
        label = _label(self.metric)
        if self.ranks is None:
            return f"No Friedman test or critical-difference diagram on test {label}: {self.reason}.\n"
        lines = [f"Friedman test on the mean test {label} per (dataset, task) block: {self.n_blocks} blocks, "
                 f"{len(self.ranks)} models, χ² = {self.statistic:.3f}, p = {_p(self.p)}. Average ranks "
                 "(1 = best); Nemenyi post-hoc p-values in `ranks.csv`."
                 + (f" The test needs every model in every block; left out: {'; '.join(map(_md, self.left_out))}."
                    if self.left_out else ""), "",
                 "| model | average rank |", "| --- | :---: |"]
        lines += [f"| {_md(model)} | {rank:.2f} |" for model, rank in self.ranks.items()]
        return "\n".join(lines) + "\n"


def rank_models(long: pd.DataFrame, metric: str = PRIMARY_METRIC) -> Ranking:
    """Friedman test with Nemenyi post-hoc (:func:`analysis.stats.friedman_test`), or the reason
    it cannot run (too few models or blocks, no rows)."""
    try:
        blocks, left_out = friedman_blocks(long, metric=metric)
    except ValueError as exc:
        return Ranking(metric, reason=str(exc))
    statistic, p, ranks, nemenyi = friedman_test(blocks, metric)
    return Ranking(metric, statistic, p, ranks, nemenyi, len(blocks), left_out=left_out)


def write_across_report(
    long_csv: str | Path,
    reference: str,
    ranks_stem: str | Path,
    improvement_csv: str | Path,
    cd_stem: str | Path,
    heatmap_stem: str | Path,
    alpha: float = ALPHA,
) -> None:
    """Friedman/Nemenyi ranks, the critical-difference diagram and the improvement heat map (the
    ``report_across`` rule); a figure that cannot be drawn says why instead."""
    long = pd.read_csv(long_csv)
    ranking = rank_models(long)
    write_text(f"{ranks_stem}.csv", ranking.frame().to_csv(index=False, float_format="%.10g"))
    write_text(f"{ranks_stem}.md", ranking.markdown())
    if ranking.ranks is None:
        plot_not_drawn(ranking.reason, cd_stem)
    else:
        title = (f"Average rank on test {_label(ranking.metric)} over {ranking.n_blocks} (dataset, task) blocks "
                 f"(1 = best); Friedman p = {_p(ranking.p)}, Nemenyi α = {alpha}")
        plot_critical_difference(ranking.ranks, ranking.nemenyi, cd_stem, alpha=alpha, title=title)
    improvement = improvement_frame(long, reference, alpha=alpha)
    write_text(improvement_csv, improvement.to_csv(index=False, float_format="%.10g"))
    if improvement.empty:
        plot_not_drawn(f"no dataset has runs of {reference} and another model", heatmap_stem)
    else:
        plot_improvement_heatmap(improvement, heatmap_stem, reference, _label(PRIMARY_METRIC))


# --------------------------------------------------------------------------- #
# The published report
# --------------------------------------------------------------------------- #
def suite_command(
    configfiles: Sequence[str | Path] = (),
    overrides: Mapping[str, object] | None = None,
    mirror: str | None = None,
    cwd: str | Path = ".",
    options: Sequence[str] = ("--cores", "all"),
    targets: Sequence[str] = (),
) -> str:
    """The shell command that runs this suite: ``snakemake`` with ``options``, the ``--configfile``
    files (relative to ``cwd`` when inside it) and the ``--config`` overrides, with the mirror
    variable in front when set."""
    cwd = Path(cwd).resolve()
    args = ["snakemake", *targets, *options]
    paths = [Path(p).resolve() for p in configfiles]
    if paths:
        args += ["--configfile", *(str(p.relative_to(cwd) if p.is_relative_to(cwd) else p) for p in paths)]
    if overrides:
        args.append("--config")
        args += [f"{key}={json.dumps(value, separators=(',', ':'))}" for key, value in overrides.items()]
    command = shlex.join(args)
    return f"RESFLOW_DATA_MIRROR={shlex.quote(mirror)} {command}" if mirror else command


def _copy(files: Iterable[str | Path], root: Path, out_dir: Path) -> None:
    for path in map(Path, files):
        target = out_dir / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _runs_markdown(runs: pd.DataFrame) -> str:
    stats = runs.groupby("model").agg(seeds=("seed", "count"), n_params=("n_params", "first"),
                                      epochs=("epochs_run", "mean"), best=("best_epoch", "mean"),
                                      wall=("wall_seconds", "mean"), device=("device", "first"))
    lines = ["| model | seeds | parameters | epochs run (mean) | best epoch (mean) | wall time per run (s) | device |",
             "| --- | :---: | ---: | :---: | :---: | ---: | --- |"]
    lines += [f"| {_md(m)} | {r.seeds} | {r.n_params:,} | {r.epochs:.1f} | {r.best:.1f} | "
              f"{r.wall:.1f} | {r.device} |" for m, r in stats.iterrows()]
    return "\n".join(lines) + "\n"


def _figure_markdown(caption: str, png: str) -> str:
    return f"![{caption}]({png})\n\n*{caption}* ([PDF]({png.removesuffix('.png')}.pdf))\n"


def write_published_report(
    out_dir: str | Path,
    files: Iterable[str | Path],
    datasets: Sequence[str],
    reference: str,
    seeds: Sequence[int],
    command: str,
    regenerate: str,
    commit: str,
    meta_files: Iterable[str | Path],
    status_files: Iterable[str | Path],
    fusion_md: str | Path | None = None,
    efficiency_md: str | Path | None = None,
    root: str | Path = "results",
) -> Path:
    """Copy ``files`` (tables and figures under ``root``; HTML tables are for the Snakemake report
    only and stay behind) into ``out_dir`` with the same layout and write ``out_dir/README.md``
    showing them; returns the README path."""
    out_dir, root = Path(out_dir), Path(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy([f for f in files if Path(f).suffix != ".html"], root, out_dir)
    runs = read_runs(meta_files)
    missing = missing_datasets(status_files)
    run_commits = sorted(set(runs["git_commit"]))
    models = sorted(set(runs["model"]), key=lambda m: (m != reference, m))
    seed_text = ", ".join(map(str, seeds))
    baselines = " and ".join(b for b in BASELINES)
    lines = [
        "# resflow-bench: significance-tested results",
        "",
        f"Test metrics of {', '.join(models) or 'no model'} on {', '.join(datasets) or 'no dataset'}, "
        f"{len(seeds)} seed(s) per dataset x model ({seed_text}); reference model: **{reference}**.",
        "",
        "| | |",
        "| --- | --- |",
        f"| produced by | `{command}` |",
        f"| regenerate this report from the existing runs (no training) | `{regenerate}` |",
        f"| code commit (report) | `{commit}` |",
        f"| code commit(s) (runs) | {', '.join(f'`{c}`' for c in run_commits) or MISSING} |",
        f"| generated | {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |",
        "",
        "Configuration: `config/config.yaml` merged with the config files in the command; every run's fully "
        "resolved configuration is in `results/runs/<dataset>/<model>/seed<N>/config.resolved.yaml`.",
        "",
        "## How to read it",
        "",
        "- Every dataset x model cell is trained once per seed; the model is selected on the validation split "
        "and evaluated once on the test split.",
        f"- Results tables: mean ± std over seeds; bold: best mean per task; {MARK_BETTER}/{MARK_WORSE}: "
        f"{reference} significantly better/worse than that model (paired t-test over seeds, Holm-adjusted over "
        f"the comparisons of the table, p < {ALPHA}). Δ% vs {baselines}: mean over tasks of the relative "
        "improvement over that baseline (positive = better).",
        f"- Significance tables: effect size (mean paired difference with its 95% t interval) beside the "
        "Holm-adjusted p-values of the paired t-test and the Wilcoxon signed-rank test, and for AUC DeLong's "
        "test per seed on the shared test rows, combined over seeds with Fisher's method (descriptive: seeds "
        "share the test rows).",
        "- Across datasets: Friedman test over (dataset, task) blocks with the Nemenyi post-hoc and the "
        "critical-difference diagram (Demšar 2006); models joined by a bar are not significantly different.",
        "- Numbers behind every table: the `.csv` files next to it; LaTeX (booktabs): the `.tex` files.",
        "",
    ]
    if missing:
        lines += ["## Not run or unverified", "", "| dataset | reason | fix |", "| --- | --- | --- |"]
        lines += [f"| {m['dataset']} | {m['reason']} | {m['fix']} |" for m in missing]
        lines.append("")
    if not datasets:
        lines += ["No dataset has runs, so there are no tables.", ""]
    for dataset in datasets:
        tables, figures = f"tables/{dataset}", f"figures/{dataset}"
        lines += [
            f"## {dataset}", "",
            "### Results", "", (out_dir / tables / "results.md").read_text(),
            f"Files: [CSV]({tables}/results.csv), [LaTeX]({tables}/results.tex).", "",
            "### Significance", "", (out_dir / tables / "significance.md").read_text(),
            f"Files: [CSV]({tables}/significance.csv), [LaTeX]({tables}/significance.tex).", "",
            "### Figures", "",
            _figure_markdown(f"{dataset}: test AUC per task; grey dots are seeds, bars the mean with its 95% t "
                             "interval", f"{figures}/intervals.png"),
            _figure_markdown(f"{dataset}: learning curves, mean ± std over seeds",
                             f"{figures}/learning_curves.png"),
            "### Runs", "", _runs_markdown(runs[runs["dataset"] == dataset]),
        ]
    ranks = (out_dir / "tables" / "ranks.md").read_text()
    lines += ["## Across datasets", "", ranks]
    if pd.read_csv(out_dir / "tables" / "ranks.csv").shape[0]:
        lines.append(_figure_markdown(f"Critical-difference diagram (Nemenyi, α = {ALPHA})",
                                      "figures/critical_difference.png"))
    if pd.read_csv(out_dir / "tables" / "improvement.csv").shape[0]:
        lines.append(_figure_markdown(f"Relative improvement (%) of {reference}'s mean test AUC over each model; "
                                      f"{MARK_BETTER}/{MARK_WORSE} as in the tables", "figures/improvement.png"))
        lines.append("Numbers: [improvement.csv](tables/improvement.csv).\n")
    else:
        lines.append(f"No improvement heat map: no dataset has runs of {reference} and another model.\n")
    fusion = Path(fusion_md).read_text() if fusion_md else ""
    if "## " in fusion:  # the fusion table has at least one dataset with a group key
        lines += ["## Ranking: additive vs multiplicative score fusion", "",
                  fusion.split("\n", 1)[1].replace("\n## ", "\n### ")]
    if efficiency_md:
        lines += ["## Efficiency", "",
                  "Measured on the machine that produced this report (`analysis/efficiency.py`): "
                  "[efficiency.csv](tables/efficiency.csv), [scaling.csv](tables/scaling.csv).", "",
                  Path(efficiency_md).read_text(),
                  _figure_markdown("Mean test AUC over tasks and seeds against the median inference latency at "
                                   f"batch 512; {reference} in red", "figures/auc_vs_latency.png")]
    readme = out_dir / "README.md"
    write_text(readme, "\n".join(lines))
    return readme
