"""Snakemake entry: results/tables/efficiency.csv (every model on every available dataset, and the targets)."""
import pandas as pd

from analysis.efficiency import efficiency_config, measure_suite
from core.io import write_text
from core.logs import log_to

with log_to(snakemake.log[0]):
    cfg = efficiency_config(snakemake.params.efficiency)
    data_dirs = {folder.rstrip("/").split("/")[-1]: folder for folder in snakemake.input.processed}
    table = measure_suite(data_dirs, snakemake.params.runs, cfg, pd.read_csv(snakemake.input.scaling))
    write_text(snakemake.output[0], table.to_csv(index=False))
    print(table.to_string())
