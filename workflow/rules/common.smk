# Shared helpers of the rules: config checks at load time and the grid of available runs.
import json
import os

from benchmarks.base import task_settings
from core.config import ConfigError
from models import incompatibility
from training.suite import check_suite, model_hparams, resolve_run, run_hash

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


def grid():
    """(dataset, model, reason) for every available dataset and model; reason is None when the
    model applies to the dataset, else why not (e.g. the method needs funnel tasks)."""
    out = []
    for d in available_datasets():
        with open(os.path.join(checkpoints.prepare.get(dataset=d).output[0], "schema.json")) as fh:
            schema = json.load(fh)
        for m in MODELS:
            out.append((d, m, incompatibility(m, schema, model_hparams(config, d, m))))
    return out


def run_files(name):
    """``name`` (e.g. metrics.json) of every applicable run of every available dataset."""
    return [
        f"results/runs/{d}/{m}/seed{s}/{name}"
        for d, m, reason in grid()
        if reason is None
        for s in SEEDS
    ]
