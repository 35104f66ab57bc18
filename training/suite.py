"""The suite config (config/config.yaml) as the library sees it: checks and per-run resolution.

The Snakefile calls ``check_suite`` at load time, so a misspelt key or an unknown dataset or model
stops the run before any job, with a message naming the key.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from analysis.ranking import RankingConfig
from benchmarks.base import dataset_names, get_dataset, task_settings
from core.config import ConfigError, config_hash, from_dict
from models import model_names, resolved_hparams

from .config import TrainingConfig


def check_suite(config: dict[str, Any]) -> None:
    """Validate names and every nested options block of the suite config."""
    for key, known in (("datasets", dataset_names()), ("models", model_names())):
        unknown = [n for n in config[key] if n not in known]
        if unknown:
            raise ConfigError(f"{key}: unknown name(s) {unknown}; known: {known}")
    for key, known in (("dataset_options", dataset_names()), ("model_options", model_names())):
        unknown = [n for n in config.get(key, {}) if n not in known]
        if unknown:
            raise ConfigError(f"{key}: unknown name(s) {unknown}; known: {known}")
    if config.get("reference_model") and config["reference_model"] not in model_names():
        raise ConfigError(f"reference_model: unknown model {config['reference_model']!r}")
    for dataset in config["datasets"]:
        get_dataset(dataset, config.get("dataset_options", {}).get(dataset))
        task_settings(dataset, config.get("dataset_options", {}).get(dataset))
        training_config(config, dataset)
    from_dict(RankingConfig, config.get("ranking"), where="ranking")
    for model in config["models"]:
        for dataset in config["datasets"]:
            model_hparams(config, dataset, model)


def model_hparams(config: dict[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """``model_options.<model>`` overridden by ``dataset_options.<dataset>.model``, defaults filled in."""
    merged = {**config.get("model_options", {}).get(model, {}),
              **config.get("dataset_options", {}).get(dataset, {}).get("model", {})}
    return resolved_hparams(model, merged)


def training_config(config: dict[str, Any], dataset: str) -> TrainingConfig:
    """Global ``training`` overridden by ``dataset_options.<dataset>.training``."""
    merged = {**config.get("training", {}), **config.get("dataset_options", {}).get(dataset, {}).get("training", {})}
    return from_dict(TrainingConfig, merged, where=f"training (dataset {dataset})")


def resolve_run(config: dict[str, Any], dataset: str, model: str, seed: int) -> dict[str, Any]:
    """Everything that determines one run's result, fully resolved (defaults filled in)."""
    entry = config.get("dataset_options", {}).get(dataset)
    return {
        "dataset": dataset,
        "prepare": get_dataset(dataset, entry).options_dict(),
        # gains only matter to the ranking evaluation, not to training
        "tasks": [{k: v for k, v in asdict(t).items() if k != "gain"} for t in task_settings(dataset, entry)],
        "model": model,
        "model_options": model_hparams(config, dataset, model),
        "training": asdict(training_config(config, dataset)),
        "seed": seed,
    }


def run_hash(config: dict[str, Any], dataset: str, model: str, seed: int) -> str:
    return config_hash(resolve_run(config, dataset, model, seed))
