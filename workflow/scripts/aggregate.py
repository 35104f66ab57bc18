"""Snakemake entry: collect every run into metrics_long.csv and write the summary tables."""
from analysis.aggregate import aggregate
from core.logs import log_to

with log_to(snakemake.log[0]):
    aggregate(
        metrics=snakemake.input.metrics,
        status=snakemake.input.status,
        long_csv=snakemake.output.long,
        summary_md=snakemake.output.summary,
        expected_hashes=snakemake.params.expected_hashes,
        processed=snakemake.input.processed,
        ranking=snakemake.input.ranking,
        fusion_md=snakemake.output.fusion,
        not_applicable=snakemake.params.not_applicable,
    )
