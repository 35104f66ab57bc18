"""Significance-marked results tables (Markdown, LaTeX, CSV numbers).

Inputs are :func:`analysis.stats.cell_summary` and
:func:`analysis.stats.paired_comparisons` frames. Per dataset:

* :func:`results_long` -- the raw numbers (mean, std, p-values, marks, per-task
  relative improvements); write it with ``DataFrame.to_csv(path, index=False)``.
* :func:`results_table` -- display table, rows = models, columns = tasks plus
  ``Δ% vs <baseline>`` columns. Cells use Markdown bold (``**x**``) for the
  best mean of a column; :func:`to_markdown` keeps it, :func:`to_latex`
  turns it into ``\\textbf{x}`` and :func:`to_html` into ``<b>x</b>``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.stats import higher_is_better

__all__ = [
    "BASELINES",
    "MARK_BETTER",
    "MARK_WORSE",
    "UNDEFINED",
    "mean_std_text",
    "results_long",
    "results_table",
    "significance_footnote",
    "to_html",
    "to_latex",
    "to_markdown",
]

MARK_BETTER = "†"  # reference significantly better than this model
MARK_WORSE = "‡"  # reference significantly worse than this model
BASELINES = ("shared_bottom", "single_task")
MISSING = "–"
UNDEFINED = "undefined"  # a metric with no value in any seed (e.g. AUC of a task with one test label)


def mean_std_text(stats: pd.Series, decimals: int = 4) -> str:
    """``mean ± std`` over seeds from ``stats`` (mean, std, count of finite values); the mean alone
    for one seed; :data:`UNDEFINED` when no seed has a value."""
    if stats["count"] == 0:
        return UNDEFINED
    if stats["count"] == 1:
        return f"{stats['mean']:.{decimals}f}"
    return f"{stats['mean']:.{decimals}f} ± {stats['std']:.{decimals}f}"

_TEST_COLUMNS = ["mean_diff", "p_ttest", "p_wilcoxon", "p_ttest_holm", "p_wilcoxon_holm", "significant"]
_TEX = {
    "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
    "<": r"$<$", ">": r"$>$", "±": r"$\pm$", "†": r"$^{\dagger}$", "‡": r"$^{\ddagger}$",
    "Δ": r"$\Delta$", "α": r"$\alpha$", "–": "--",
}
_MD = {"_": r"\_", "*": r"\*", "|": r"\|"}
_BOLD = re.compile(r"^\*\*(.*)\*\*(.*)$", re.DOTALL)


def _improvement_column(baseline: str) -> str:
    return f"improvement_vs_{baseline}_pct"


def results_long(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    dataset: str,
    reference: str,
    metric: str = "auc",
    baselines: Sequence[str] = BASELINES,
) -> pd.DataFrame:
    """Numbers behind one dataset's table: one row per (task, model).

    Adds the test columns of ``comparisons`` (NaN for the reference), ``mark``
    (:data:`MARK_BETTER` / :data:`MARK_WORSE` for significant comparisons,
    direction from :func:`higher_is_better`), ``best`` (best mean of the task)
    and, per baseline present, the relative improvement over it in % (positive
    = better).
    """
    s = summary[(summary["dataset"] == dataset) & (summary["metric"] == metric)]
    if s.empty:
        raise ValueError(f"summary has no rows for dataset={dataset!r}, metric={metric!r}")
    c = comparisons[(comparisons["dataset"] == dataset) & (comparisons["metric"] == metric)
                    & (comparisons["reference"] == reference)]
    if c.empty:
        raise ValueError(f"no comparisons against {reference!r} for dataset={dataset!r}, metric={metric!r}")
    if set(s["split"]) != set(c["split"]):
        raise ValueError(f"summary split {set(s['split'])} != comparisons split {set(c['split'])}")

    out = s.merge(c[["task", "model", *_TEST_COLUMNS]], on=["task", "model"], how="left")
    sign = 1.0 if higher_is_better(metric) else -1.0
    significant = out["significant"].eq(True)
    out["significant"] = significant
    out["mark"] = np.select(
        [significant & (sign * out["mean_diff"] > 0), significant & (sign * out["mean_diff"] < 0)],
        [MARK_BETTER, MARK_WORSE], default="")
    best = out.groupby("task")["mean"].transform("max" if sign > 0 else "min")
    out["best"] = out["mean"] == best
    for baseline in baselines:
        base = out[out["model"] == baseline].set_index("task")["mean"]
        if not base.empty:
            b = out["task"].map(base)
            out[_improvement_column(baseline)] = 100.0 * sign * (out["mean"] - b) / b.abs()
    return out.sort_values(["task", "model"], ignore_index=True)


def _cell(row: pd.Series, decimals: int) -> str:
    text = f"{row['mean']:.{decimals}f}"
    if np.isfinite(row["std"]):
        text += f" ± {row['std']:.{decimals}f}"
    if row["best"]:
        text = f"**{text}**"
    return text + row["mark"]


def results_table(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    dataset: str,
    reference: str,
    metric: str = "auc",
    baselines: Sequence[str] = BASELINES,
    decimals: int = 4,
) -> pd.DataFrame:
    """Display table of one dataset: rows = models (reference last), columns =
    tasks with cells ``mean ± std`` + mark (best in ``**bold**``), then one
    ``Δ% vs <baseline>`` column per baseline present: the mean over tasks of
    the relative improvement in % (positive = better)."""
    long = results_long(summary, comparisons, dataset, reference, metric, baselines)
    long["cell"] = long.apply(_cell, axis=1, decimals=decimals)
    table = long.pivot(index="model", columns="task", values="cell").fillna(MISSING)
    for baseline in baselines:
        column = _improvement_column(baseline)
        if column in long:
            mean_improvement = long.groupby("model")[column].mean()
            table[f"Δ% vs {baseline}"] = mean_improvement.map(lambda v: f"{v:+.2f}" if np.isfinite(v) else MISSING)
    order = sorted(m for m in table.index if m != reference) + [m for m in table.index if m == reference]
    table = table.loc[order]
    table.index.name = "model"
    table.columns.name = None
    return table


def significance_footnote(reference: str, metric: str = "auc", split: str = "test", alpha: float = 0.05) -> str:
    """Footnote explaining cells, marks, bold and Δ columns of a results table."""
    direction = "higher" if higher_is_better(metric) else "lower"
    return (
        f"Mean ± std over seeds of {split} {metric} ({direction} is better); bold: best mean per task. "
        f"{MARK_BETTER}/{MARK_WORSE}: {reference} is significantly better/worse than this model "
        f"(paired t-test over common seeds, Holm-adjusted over all comparisons in this table, p < {alpha}). "
        "Δ% vs B: mean over tasks of the relative improvement over model B in % (positive = better)."
    )


def _escape(text: object, mapping: dict[str, str]) -> str:
    return "".join(mapping.get(ch, ch) for ch in str(text))


def to_markdown(table: pd.DataFrame, footnote: str) -> str:
    """Pipe table (labels escaped, cell markup kept) followed by the footnote."""
    header = [table.index.name or "", *table.columns]
    lines = [
        "| " + " | ".join(_escape(h, _MD) for h in header) + " |",
        "|" + "|".join([" --- "] + [" :---: "] * len(table.columns)) + "|",
    ]
    for label, row in table.iterrows():
        cells = [_escape(label, _MD), *(str(v).replace("|", r"\|") for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _escape(footnote, _MD) + "\n"


def _latex_cell(value: object) -> str:
    match = _BOLD.match(str(value))
    if match is None:
        return _escape(value, _TEX)
    return rf"\textbf{{{_escape(match[1], _TEX)}}}" + _escape(match[2], _TEX)


def to_latex(table: pd.DataFrame, footnote: str) -> str:
    """Booktabs ``tabular`` (needs ``\\usepackage{booktabs}``) followed by the
    footnote in ``\\footnotesize``; bold cells become ``\\textbf``."""
    header = [table.index.name or "", *table.columns]
    lines = [
        rf"\begin{{tabular}}{{l{'c' * len(table.columns)}}}",
        r"\toprule",
        " & ".join(_escape(h, _TEX) for h in header) + r" \\",
        r"\midrule",
    ]
    for label, row in table.iterrows():
        lines.append(" & ".join([_escape(label, _TEX), *(_latex_cell(v) for v in row)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "", rf"{{\footnotesize {_escape(footnote, _TEX)}}}"]
    return "\n".join(lines) + "\n"


def _html_cell(value: object) -> str:
    match = _BOLD.match(str(value))
    if match is None:
        return html.escape(str(value))
    return f"<b>{html.escape(match[1])}</b>{html.escape(match[2])}"


def to_html(table: pd.DataFrame, footnote: str) -> str:
    """HTML ``<table>`` (text escaped, bold cells in ``<b>``) followed by the footnote."""
    header = [table.index.name or "", *table.columns]
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for label, row in table.iterrows():
        cells = "".join(f"<td>{_html_cell(v)}</td>" for v in row)
        lines.append(f"<tr><th>{html.escape(str(label))}</th>{cells}</tr>")
    lines += ["</table>", f"<p><small>{html.escape(footnote)}</small></p>"]
    return "\n".join(lines) + "\n"
