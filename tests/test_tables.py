"""Tests of analysis.tables on constructed results with known marks and bold cells."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.stats import cell_summary, paired_comparisons
from analysis.tables import (
    MARK_BETTER,
    MARK_WORSE,
    results_long,
    results_table,
    significance_footnote,
    to_latex,
    to_markdown,
)

SEEDS = [0, 1, 2, 3, 4]
NOISE = [0.0004, -0.0003, 0.0002, -0.0001, -0.0002]  # sums to 0
JITTER = [0.01, -0.01, 0.02, -0.02, 0.0]  # sums to 0: paired t statistic exactly 0


def make_long(levels: dict[tuple[str, str], list[float] | float], metric: str) -> pd.DataFrame:
    """One dataset "kr"; {(task, model): per-seed values, or a level plus NOISE
    rotated by the entry's position (so paired differences are not constant)."""
    rows = []
    for i, ((task, model), vals) in enumerate(levels.items()):
        vals = vals if isinstance(vals, list) else list(vals + np.roll(NOISE, i % 5))
        rows += [{"dataset": "kr", "model": model, "seed": s, "task": task, "split": "test",
                  "metric": metric, "value": v} for s, v in zip(SEEDS, vals)]
    return pd.DataFrame(rows)


def inputs(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return cell_summary(df), paired_comparisons(df, reference="resflow", metric=metric)


@pytest.fixture
def one_significant() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Only mmoe on ctr differs significantly (resflow better); single_task is identical to resflow."""
    ref = [0.78 + e for e in NOISE]
    levels = {}
    for task in ("ctr", "cvr"):
        levels |= {
            (task, "resflow"): ref,
            (task, "single_task"): ref,
            (task, "shared_bottom"): [r + j for r, j in zip(ref, JITTER)],
            (task, "mmoe"): 0.77 if task == "ctr" else [r - j for r, j in zip(ref, JITTER)],
        }
    return inputs(make_long(levels, "auc"), "auc")


def direction_case(metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """resflow best on ctr, mmoe best on cvr, for a higher- or lower-is-better metric.

    shared_bottom sits at 0.50; resflow is 10% (ctr) and 20% (cvr) better than it.
    """
    if metric == "auc":
        levels = {"resflow": (0.55, 0.60), "mmoe": (0.53, 0.62), "shared_bottom": (0.50, 0.50),
                  "single_task": (0.52, 0.51)}
    else:
        levels = {"resflow": (0.45, 0.40), "mmoe": (0.47, 0.38), "shared_bottom": (0.50, 0.50),
                  "single_task": (0.48, 0.49)}
    df = make_long({(task, model): v[i] for model, v in levels.items() for i, task in enumerate(("ctr", "cvr"))},
                   metric)
    return inputs(df, metric)


def marked_cells(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    return {(model, task): cell[-1] for model, row in table.iterrows() for task, cell in row.items()
            if cell[-1] in (MARK_BETTER, MARK_WORSE)}


def bold_cells(table: pd.DataFrame) -> dict[str, list[str]]:
    return {task: sorted(table.index[table[task].str.startswith("**")]) for task in ("ctr", "cvr")}


def test_marks_exactly_the_significant_cell(one_significant):
    summary, comparisons = one_significant
    assert comparisons["significant"].sum() == 1
    long = results_long(summary, comparisons, "kr", "resflow")
    marked = long[long["mark"] != ""]
    assert marked[["task", "model", "mark"]].values.tolist() == [["ctr", "mmoe", MARK_BETTER]]
    table = results_table(summary, comparisons, "kr", "resflow")
    assert marked_cells(table) == {("mmoe", "ctr"): MARK_BETTER}
    assert long.loc[long["model"] == "single_task", "p_ttest_holm"].eq(1.0).all()


@pytest.mark.parametrize("metric", ["auc", "logloss"])
def test_bold_and_marks_follow_metric_direction(metric):
    summary, comparisons = direction_case(metric)
    table = results_table(summary, comparisons, "kr", "resflow", metric=metric)
    assert bold_cells(table) == {"ctr": ["resflow"], "cvr": ["mmoe"]}
    marks = marked_cells(table)
    assert marks[("mmoe", "cvr")] == MARK_WORSE  # mmoe beats resflow on cvr
    assert marks[("mmoe", "ctr")] == MARK_BETTER
    assert marks[("shared_bottom", "cvr")] == MARK_BETTER
    assert not any(model == "resflow" for model, _ in marks)


@pytest.mark.parametrize("metric", ["auc", "logloss"])
def test_relative_improvement_columns(metric):
    summary, comparisons = direction_case(metric)
    table = results_table(summary, comparisons, "kr", "resflow", metric=metric)
    assert list(table.columns) == ["ctr", "cvr", "Δ% vs shared_bottom", "Δ% vs single_task"]
    assert list(table.index) == ["mmoe", "shared_bottom", "single_task", "resflow"]
    assert table.loc["resflow", "Δ% vs shared_bottom"] == "+15.00"  # mean of +10% and +20%
    assert table.loc["shared_bottom", "Δ% vs shared_bottom"] == "+0.00"
    assert table.loc["single_task", "Δ% vs shared_bottom"].startswith("+")
    assert table.loc["shared_bottom", "Δ% vs single_task"].startswith("-")


def test_missing_baseline_has_no_column_and_missing_cell_is_dashed():
    summary, comparisons = direction_case("auc")
    keep = (summary["model"] != "single_task") & ~((summary["model"] == "mmoe") & (summary["task"] == "cvr"))
    table = results_table(summary[keep], comparisons, "kr", "resflow")
    assert "Δ% vs single_task" not in table.columns
    assert table.loc["mmoe", "cvr"] == "–"


def test_cell_format():
    summary, comparisons = direction_case("auc")
    table = results_table(summary, comparisons, "kr", "resflow", decimals=3)
    assert table.loc["resflow", "ctr"] == "**0.550 ± 0.000**"
    assert table.loc["mmoe", "ctr"] == "0.530 ± 0.000" + MARK_BETTER


def test_split_mismatch_is_rejected():
    summary, comparisons = direction_case("auc")
    with pytest.raises(ValueError, match="split"):
        results_table(summary, comparisons.assign(split="val"), "kr", "resflow")


def test_markdown_writer():
    summary, comparisons = direction_case("auc")
    table = results_table(summary, comparisons, "kr", "resflow")
    footnote = significance_footnote("resflow", "auc")
    md = to_markdown(table, footnote)
    lines = md.strip().split("\n")
    assert lines[0] == r"| model | ctr | cvr | Δ% vs shared\_bottom | Δ% vs single\_task |"
    assert all(line.count(" | ") == 4 for line in lines[:6])
    assert r"| shared\_bottom |" in md
    assert "| **0.5500 ± 0.0003** |" in md
    assert lines[-1].startswith("Mean ± std") and r"paired t-test" in lines[-1]


def test_latex_writer():
    summary, comparisons = direction_case("auc")
    table = results_table(summary, comparisons, "kr", "resflow")
    tex = to_latex(table, significance_footnote("resflow", "auc"))
    assert tex.startswith("\\begin{tabular}{lcccc}\n\\toprule\n")
    assert r"\textbf{0.5500 $\pm$ 0.0003}" in tex
    assert r"shared\_bottom" in tex and r"$^{\dagger}$" in tex and r"$^{\ddagger}$" in tex
    assert "**" not in tex and "±" not in tex and "†" not in tex
    assert re.search(r"(?<!\\)[_%]", tex) is None
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().split("\n")
    assert len(body) == 4 and all(row.count(" & ") == 4 and row.endswith(r" \\") for row in body)
