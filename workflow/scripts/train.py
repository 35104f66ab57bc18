"""Snakemake entry: train one dataset x model x seed run."""
from pathlib import Path

import torch

from core.logs import log_to
from training.loop import train_run
from training.runtime import claim_cuda_device

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    if snakemake.resources.gpu:
        claim_cuda_device()
    train_run(Path(snakemake.input[0]), Path(snakemake.output.metrics).parent, snakemake.params.run)
