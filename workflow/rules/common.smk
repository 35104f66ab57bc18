# Shared helpers of the rules: config checks at load time and the grid of available runs.
import json

from benchmarks.fetch import mirror_from_env
from core.config import ConfigError
from training.suite import check_suite, resolve_run, run_hash

config["seeds"] = [int(s) for s in config["seeds"]]
try:
    check_suite(config)
except (ConfigError, KeyError) as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None

DATASETS = config["datasets"]
MODELS = config["models"]
SEEDS = config["seeds"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    seed=r"\d+",


def fetch_status(dataset):
    """Read the fetch checkpoint of ``dataset`` (the DAG waits for it)."""
    with open(checkpoints.fetch.get(dataset=dataset).output[0]) as fh:
        return json.load(fh)


def available_datasets():
    return [d for d in DATASETS if fetch_status(d)["available"]]


def run_files(name):
    """``name`` (e.g. metrics.json) of every run of every available dataset."""
    return [
        f"results/runs/{d}/{m}/seed{s}/{name}"
        for d in available_datasets()
        for m in MODELS
        for s in SEEDS
    ]
