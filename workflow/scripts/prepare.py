"""Snakemake entry: prepare one dataset's verified raw files into the processed format."""
from pathlib import Path

from benchmarks.base import get_dataset
from core.logs import log_to

with log_to(snakemake.log[0]):
    dataset = get_dataset(snakemake.wildcards.dataset, {"prepare": snakemake.params.prepare})
    dataset.prepare(Path(snakemake.input[0]).parent, Path(snakemake.output[0]))
