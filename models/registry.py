"""Model registry: ``@register_model(name, Config)`` on a class, ``build_model(name, schema, hparams)``.

Every module in the ``models`` package is imported on first use, so a new model file is picked
up with no edit elsewhere.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import nn

from core.config import from_dict
from core.registry import import_all

from .layers import init_weights

_MODELS: dict[str, tuple[type[nn.Module], type]] = {}
_NOT_MODELS = {"layers", "encoders", "registry", "base"}


def register_model(name: str, config_cls: type) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def wrap(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = (cls, config_cls)
        cls.registry_name = name
        return cls
    return wrap


def _discover() -> None:
    import_all(__package__, _NOT_MODELS)


def model_names() -> list[str]:
    _discover()
    return sorted(_MODELS)


def model_config(name: str, hparams: dict[str, Any] | None = None) -> Any:
    """The model's hyper-parameter dataclass, filled from ``hparams`` (unknown keys are errors)."""
    _discover()
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; registered models: {sorted(_MODELS)}")
    return from_dict(_MODELS[name][1], hparams, where=f"model_options.{name}")


def build_model(name: str, schema: dict[str, Any], hparams: dict[str, Any] | None = None) -> nn.Module:
    """Build and initialise model ``name`` for a dataset ``schema`` (see benchmarks contract 1)."""
    cfg = model_config(name, hparams)
    model = _MODELS[name][0](schema, cfg)
    init_weights(model)
    return model


def incompatibility(name: str, schema: dict[str, Any], hparams: dict[str, Any] | None = None) -> str | None:
    """Why model ``name`` cannot be built for this dataset schema (e.g. it needs funnel tasks), or None."""
    try:
        with torch.device("meta"):  # no memory for large tables: only the checks run
            build_model(name, schema, hparams)
    except ValueError as exc:
        return str(exc)
    return None


def resolved_hparams(name: str, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    return dataclasses.asdict(model_config(name, hparams))
