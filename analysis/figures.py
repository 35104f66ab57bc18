"""Figures for the benchmark report, rendered headless with the Agg canvas.

Every function writes ``<path_stem>.png`` and ``<path_stem>.pdf`` and returns both paths. Seaborn
draws onto explicit axes inside a local style context, so nothing changes global matplotlib state.
Critical-difference diagrams follow Demšar (2006, JMLR 7).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs as sp
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

__all__ = [
    "plot_auc_vs_latency",
    "plot_critical_difference",
    "plot_improvement_heatmap",
    "plot_intervals",
    "plot_learning_curves",
    "plot_not_drawn",
]

_STYLE = {"style": "whitegrid"}
_REFERENCE_COLOR = "#c44e52"
_OTHER_COLOR = "#4c72b0"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path_stem: str | Path) -> tuple[Path, Path]:
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = (Path(f"{stem}.png"), Path(f"{stem}.pdf"))
    for path in paths:
        fig.savefig(path, bbox_inches="tight", dpi=200)
    return paths


def plot_critical_difference(
    avg_ranks: pd.Series,
    nemenyi_p: pd.DataFrame,
    path_stem: str | Path,
    alpha: float = 0.05,
    title: str = "Average rank (1 = best)",
) -> tuple[Path, Path]:
    """Critical-difference diagram (average ranks, Nemenyi crossbars for
    pairs not different at ``alpha``)."""
    fig = _figure(7.0, 1.0 + 0.3 * len(avg_ranks))
    ax = fig.add_subplot()
    sp.critical_difference_diagram(
        avg_ranks, nemenyi_p, ax=ax, alpha=alpha,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}",
    )
    ax.set_title(title, fontsize="medium")
    return _save(fig, path_stem)


def plot_not_drawn(reason: str, path_stem: str | Path) -> tuple[Path, Path]:
    """A figure that says, in words, why the intended figure could not be drawn."""
    fig = _figure(6.0, 1.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, textwrap.fill(f"Not drawn: {reason}", 80), ha="center", va="center", fontsize="small")
    return _save(fig, path_stem)


def _model_order(models, reference: str | None) -> list[str]:
    """Models sorted by name with the reference first."""
    return sorted(set(models), key=lambda m: (m != reference, m))


def plot_intervals(
    values: pd.DataFrame,
    summary: pd.DataFrame,
    path_stem: str | Path,
    metric: str,
    reference: str | None = None,
) -> tuple[Path, Path]:
    """One panel per task: every seed's value (grey dots) and the mean with its 95% t interval per model.

    ``values`` has columns ``task, model, value`` (one row per seed), ``summary`` the
    :func:`analysis.stats.cell_summary` rows (``task, model, mean, ci95_low, ci95_high``) of one
    dataset and metric; ``metric`` names it on the axis. The reference model is drawn in red.
    """
    tasks = sorted(summary["task"].unique())
    models = _model_order(summary["model"], reference)
    y = np.arange(len(models))
    with sns.axes_style(**_STYLE):
        fig = _figure(1.0 + 3.2 * len(tasks), 1.2 + 0.4 * len(models))
        axes = fig.subplots(1, len(tasks), sharey=True, squeeze=False)[0]
        for ax, task in zip(axes, tasks):
            sns.stripplot(data=values[values["task"] == task], x="value", y="model", order=models, ax=ax,
                          color="0.65", size=3.5, jitter=0.12)
            cell = summary[summary["task"] == task].set_index("model").reindex(models)
            low = (cell["mean"] - cell["ci95_low"]).fillna(0.0)
            high = (cell["ci95_high"] - cell["mean"]).fillna(0.0)
            colors = [_REFERENCE_COLOR if m == reference else _OTHER_COLOR for m in models]
            for i, color in enumerate(colors):
                ax.errorbar(cell["mean"].iloc[i], y[i], xerr=[[low.iloc[i]], [high.iloc[i]]], fmt="o",
                            color=color, capsize=3, markersize=5, zorder=3)
            ax.set_title(task, fontsize="medium")
            ax.set_xlabel(f"test {metric}")
            ax.set_ylabel("")
    return _save(fig, path_stem)


def plot_learning_curves(
    history: pd.DataFrame, path_stem: str | Path, reference: str | None = None
) -> tuple[Path, Path]:
    """One panel per series (e.g. training loss, validation AUC of a task) against the epoch.

    ``history`` has columns ``model, seed, epoch, series, value``; lines are the mean over seeds
    with a band of one standard deviation (seeds that stopped early leave the later epochs).
    """
    panels = list(dict.fromkeys(history["series"]))
    models = _model_order(history["model"], reference)
    palette = dict(zip(models, sns.color_palette(n_colors=len(models))))
    ncols = min(len(panels), 4)
    nrows = -(-len(panels) // ncols)
    with sns.axes_style(**_STYLE):
        fig = _figure(0.6 + 3.3 * ncols, 0.8 + 2.7 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, panel in zip(axes, panels):
            sns.lineplot(data=history[history["series"] == panel], x="epoch", y="value", hue="model",
                         hue_order=models, palette=palette, errorbar="sd", err_kws={"alpha": 0.12}, marker="o",
                         markersize=3, ax=ax, legend=False)
            ax.set_title(panel, fontsize="medium")
            ax.set_ylabel("")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        fig.tight_layout()
        handles = [Line2D([], [], color=palette[m], marker="o") for m in models]
        fig.legend(handles, models, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _save(fig, path_stem)


def plot_improvement_heatmap(
    frame: pd.DataFrame,
    path_stem: str | Path,
    reference: str,
    metric: str,
) -> tuple[Path, Path]:
    """Heat map of the reference model's relative improvement (%) over every other model.

    ``frame`` has columns ``dataset, task, model, improvement_pct, mark``; rows of the map are
    (dataset, task) blocks, columns the other models, cells the improvement with its mark;
    ``metric`` names the metric in the colour-bar label.
    """
    rows = frame.assign(block=frame["dataset"] + " / " + frame["task"])
    values = rows.pivot(index="block", columns="model", values="improvement_pct")
    labels = rows.assign(label=[f"{v:+.2f}{m}" if np.isfinite(v) else "" for v, m in
                                zip(rows["improvement_pct"], rows["mark"])]).pivot(
        index="block", columns="model", values="label").reindex_like(values).fillna("")
    finite = values.to_numpy()[np.isfinite(values.to_numpy())]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    fig = _figure(1.8 + 1.1 * values.shape[1], 1.0 + 0.45 * values.shape[0])
    ax = fig.add_subplot()
    sns.heatmap(values, annot=labels, fmt="", cmap="vlag_r", center=0.0, vmin=-limit, vmax=limit,
                linewidths=0.5, ax=ax, cbar_kws={"label": f"% improvement of {reference} (test {metric})"})
    ax.set_xlabel("compared with")
    ax.set_ylabel("dataset / task")
    return _save(fig, path_stem)


def plot_auc_vs_latency(
    frame: pd.DataFrame,
    path_stem: str | Path,
    batch_size: int = 512,
    reference: str | None = None,
) -> tuple[Path, Path]:
    """Test AUC against inference latency, one panel per dataset, one labelled point per model.

    ``frame`` has columns ``dataset, model, test_auc, latency_ms`` (mean test AUC over tasks and
    seeds, median latency at ``batch_size``: :func:`analysis.efficiency.auc_latency_frame`).
    Latency is on a log axis; the reference model is drawn in red.
    """
    if frame.empty:
        raise ValueError("no (dataset, model) has both a test AUC and a latency")
    datasets = sorted(frame["dataset"].unique())
    with sns.axes_style(**_STYLE):
        fig = _figure(0.6 + 3.6 * len(datasets), 3.4)
        axes = fig.subplots(1, len(datasets), squeeze=False)[0]
        for ax, dataset in zip(axes, datasets):
            for row in frame[frame["dataset"] == dataset].itertuples():
                color = _REFERENCE_COLOR if row.model == reference else _OTHER_COLOR
                ax.scatter(row.latency_ms, row.test_auc, color=color, s=25, zorder=3)
                ax.annotate(row.model, (row.latency_ms, row.test_auc), textcoords="offset points",
                            xytext=(4, 3), fontsize="x-small")
            ax.set_xscale("log")
            ax.set_title(dataset, fontsize="medium")
            ax.set_xlabel(f"median latency at batch {batch_size} (ms)")
            ax.set_ylabel("test AUC (mean over tasks)")
        fig.tight_layout()
    return _save(fig, path_stem)
