"""Figures for the benchmark report, rendered headless with the Agg canvas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import scikit_posthocs as sp
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_critical_difference"]


def plot_critical_difference(
    avg_ranks: pd.Series,
    nemenyi_p: pd.DataFrame,
    path_stem: str | Path,
    alpha: float = 0.05,
) -> tuple[Path, Path]:
    """Critical-difference diagram (average ranks, Nemenyi crossbars for
    pairs not different at ``alpha``) written to ``<path_stem>.png`` and
    ``<path_stem>.pdf``; returns both paths."""
    fig = Figure(figsize=(7.0, 1.0 + 0.3 * len(avg_ranks)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    sp.critical_difference_diagram(
        avg_ranks, nemenyi_p, ax=ax, alpha=alpha,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}",
    )
    ax.set_title("Average rank (1 = best)", fontsize="medium")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = (Path(f"{stem}.png"), Path(f"{stem}.pdf"))
    for path in paths:
        fig.savefig(path, bbox_inches="tight", dpi=200)
    return paths
