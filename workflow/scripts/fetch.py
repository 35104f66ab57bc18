"""Snakemake entry: fetch the official files of one dataset and write its status (fetch.json)."""
import logging
from pathlib import Path

from benchmarks.base import get_dataset
from benchmarks.fetch import fetch_dataset
from core.io import write_json
from core.logs import log_to

with log_to(snakemake.log[0]):
    out = Path(snakemake.output[0])
    dataset = get_dataset(snakemake.wildcards.dataset, snakemake.params.entry)
    status = fetch_dataset(dataset, out.parent, strict=snakemake.params.strict,
                           verify_checksums=snakemake.params.verify_checksums)
    if not status["verified"]:
        logging.warning("checksums NOT verified (verify_checksums: false)")
    for item in status["missing"]:
        logging.warning("not available: %s\nFix: %s", item["reason"], item["fix"])
    write_json(out, status)
