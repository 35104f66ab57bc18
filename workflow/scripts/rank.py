"""Snakemake entry: WR@K and GAUC of additive and multiplicative fusion for one run."""
from analysis.ranking import RankingConfig, ranking_metrics
from core.config import from_dict
from core.io import write_json
from core.logs import log_to

with log_to(snakemake.log[0]):
    cfg = from_dict(RankingConfig, snakemake.params.ranking, where="ranking")
    write_json(snakemake.output[0], ranking_metrics(snakemake.input.predictions, snakemake.params.gains, cfg))
