"""Snakemake entry: results/report/ with README.md and copies of the tables and figures it shows."""
from analysis.report import write_published_report
from core.logs import log_to
from training.runtime import git_commit

with log_to(snakemake.log[0]):
    write_published_report(
        out_dir=snakemake.output[0],
        files=[*snakemake.input.datasets, *snakemake.input.across, *snakemake.input.efficiency],
        datasets=snakemake.params.datasets,
        reference=snakemake.params.reference,
        seeds=snakemake.params.seeds,
        command=snakemake.params.command,
        regenerate=snakemake.params.regenerate,
        commit=git_commit(),
        meta_files=snakemake.input.meta,
        status_files=snakemake.input.status,
        fusion_md=snakemake.input.fusion,
        efficiency_md=next((f for f in snakemake.input.efficiency if f.endswith("efficiency.md")), None),
    )
