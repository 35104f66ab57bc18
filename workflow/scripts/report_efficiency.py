"""Snakemake entry: results/tables/efficiency.md (targets, latency, scaling) and the AUC-vs-latency figure."""
from pathlib import Path

from analysis.efficiency import write_efficiency_report
from core.logs import log_to

with log_to(snakemake.log[0]):
    write_efficiency_report(
        long_csv=snakemake.input.long,
        efficiency_csv=snakemake.input.efficiency,
        scaling_csv=snakemake.input.scaling,
        md_path=snakemake.output.md,
        figure_stem=Path(snakemake.output.figure).with_suffix(""),
        reference=snakemake.params.reference,
        baseline=snakemake.params.baseline,
    )
