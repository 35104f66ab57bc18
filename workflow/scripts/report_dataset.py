"""Snakemake entry: significance tables and figures of one dataset."""
from pathlib import Path

from analysis.report import write_dataset_report
from core.logs import log_to

with log_to(snakemake.log[0]):
    out = snakemake.output
    write_dataset_report(
        long_csv=snakemake.input.long,
        meta_files=snakemake.input.meta,
        dataset=snakemake.wildcards.dataset,
        reference=snakemake.params.reference,
        results_stem=Path(out.results_html).with_suffix(""),
        significance_stem=Path(out.significance_html).with_suffix(""),
        intervals_stem=Path(out.intervals).with_suffix(""),
        curves_stem=Path(out.curves).with_suffix(""),
    )
