"""Snakemake entry: Friedman/Nemenyi ranks, critical-difference diagram and improvement heat map."""
from pathlib import Path

from analysis.report import write_across_report
from core.logs import log_to

with log_to(snakemake.log[0]):
    out = snakemake.output
    write_across_report(
        long_csv=snakemake.input.long,
        reference=snakemake.params.reference,
        ranks_stem=Path(out.ranks[0]).with_suffix(""),
        improvement_csv=out.improvement,
        cd_stem=Path(out.cd).with_suffix(""),
        heatmap_stem=Path(out.heatmap).with_suffix(""),
    )
