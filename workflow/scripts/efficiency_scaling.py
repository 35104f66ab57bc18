"""Snakemake entry: results/tables/scaling.csv (the synthetic funnel at every size, one process per stage)."""
import tempfile
from pathlib import Path

from analysis.efficiency import efficiency_config, run_scaling
from core.io import write_text
from core.logs import log_to

with log_to(snakemake.log[0]):
    cfg = efficiency_config(snakemake.params.efficiency)
    Path(snakemake.params.work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=snakemake.params.work_dir) as work:
        table = run_scaling(snakemake.params.run, cfg, work)
    write_text(snakemake.output[0], table.to_csv(index=False))
    print(table.to_string())
