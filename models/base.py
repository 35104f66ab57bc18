"""What every model shares: the config fields of the encoder and towers, and the encoder itself."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .encoders import build_encoder
from .layers import Activation, Norm, Tower


@dataclass
class ModelConfig:
    """Hyper-parameters common to all models (defaults: the ResFlow e-commerce reference code)."""

    embedding_dim: int = 32
    #: normalisation of the concatenated input ("batch", "affine" or "none")
    input_norm: Norm = "batch"
    #: hidden widths of each task tower (the logit layer is added on top)
    tower_hidden: list[int] = field(default_factory=lambda: [128, 64])
    activation: Activation = "prelu"
    norm: Norm = "batch"
    dropout: float = 0.0
    #: parameter matching for fair comparisons (see ``fit_param_budget``): a total parameter count,
    #: or the registry name of a model whose count to match; null = widths exactly as configured
    param_budget: int | str | None = None


#: config fields ending in this suffix are hidden-layer widths, the ones ``param_budget`` scales
WIDTH_SUFFIX = "_hidden"
#: ``param_budget`` is met to within this relative error (or a ValueError says why not)
BUDGET_TOLERANCE = 0.01


def _scaled_widths(cfg: ModelConfig, factor: float, last_tower_width: int | None = None) -> dict[str, list[int]]:
    widths = {f.name: [max(1, round(w * factor)) for w in getattr(cfg, f.name)]
              for f in dataclasses.fields(cfg) if f.name.endswith(WIDTH_SUFFIX)}
    if last_tower_width is not None:
        widths["tower_hidden"] = [*widths["tower_hidden"][:-1], last_tower_width]
    return widths


def _count(model_cls: type, schema: dict[str, Any], cfg: ModelConfig) -> int:
    with torch.device("meta"):  # no memory, no random numbers drawn
        return sum(p.numel() for p in model_cls(schema, cfg).parameters())


def _closest(count: Callable[[Any], int], lo: Any, hi: Any, target: int) -> Any:
    """The argument in [lo, hi] whose count is closest to ``target`` (``count`` non-decreasing);
    integers when ``lo`` and ``hi`` are."""
    integer = isinstance(lo, int)
    for _ in range(30):
        if integer and hi - lo <= 1:
            break
        mid = (lo + hi) // 2 if integer else (lo + hi) / 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda x: abs(count(x) - target))


def fit_param_budget(model_cls: type, schema: dict[str, Any], cfg: ModelConfig) -> dict[str, list[int]]:
    """Hidden widths that bring ``model_cls`` on ``schema`` to ``cfg.param_budget`` parameters.

    Every ``*_hidden`` width of the config (towers, experts, bottoms) is multiplied by one common
    factor, so the model keeps its shape and only its size changes; then the towers' last hidden
    width alone is adjusted (up to 4x the widest layer), the knob whose one-unit step moves the
    count least. A budget given
    as a model name is that model's parameter count on the same schema, built with its own
    defaults except the encoder and layer settings (embedding_dim, input_norm, activation, norm,
    dropout), which are taken from ``cfg``. Counts include the shared encoder, as ``n_params``
    in a run's meta.json does. Misses by more than ``BUDGET_TOLERANCE`` are errors.
    """
    budget = cfg.param_budget
    if isinstance(budget, str):
        from .registry import build_model  # the registry imports the model modules, which import this one
        shared = {k: getattr(cfg, k) for k in ("embedding_dim", "input_norm", "activation", "norm", "dropout")}
        with torch.device("meta"):
            budget = sum(p.numel() for p in build_model(budget, schema, shared).parameters())
    free = dataclasses.replace(cfg, param_budget=None)

    @functools.lru_cache(maxsize=None)
    def count(factor: float, last: int | None = None) -> int:
        return _count(model_cls, schema, dataclasses.replace(free, **_scaled_widths(cfg, factor, last)))

    lo, hi = 1.0, 1.0
    while count(hi) < budget and hi < 2**20:
        hi *= 2
    while count(lo) > budget and lo > 2**-20:
        lo /= 2
    factor = _closest(count, lo, hi, budget)
    widths = _scaled_widths(cfg, factor)
    if widths["tower_hidden"]:
        widest = max(w for ws in widths.values() for w in ws)
        last = _closest(lambda w: count(factor, w), 1, 4 * widest + 1, budget)
        widths = _scaled_widths(cfg, factor, last)
    reached = _count(model_cls, schema, dataclasses.replace(free, **widths))
    if abs(reached - budget) > BUDGET_TOLERANCE * budget:
        raise ValueError(f"param_budget {cfg.param_budget!r} = {budget:,} parameters cannot be met within "
                         f"{BUDGET_TOLERANCE:.0%} by scaling the hidden widths (closest: {reached:,})")
    return widths


class MultiTaskModel(nn.Module):
    """Base class: owns the encoder and the task list; ``forward(batch) -> {task: logits}``.

    Subclasses implement ``heads(e) -> list of logits`` (one [batch] tensor per task, in order).
    Methods that add a loss term of their own override ``auxiliary_loss``.
    """

    registry_name = "base"

    def __init__(self, schema: dict[str, Any], cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.param_budget is not None:
            # resolved in place, before the subclass reads its widths: cfg becomes the built config
            for name, widths in fit_param_budget(type(self), schema, cfg).items():
                setattr(cfg, name, widths)
            cfg.param_budget = None
        self.cfg = cfg
        self.tasks = [t["name"] for t in schema["tasks"]]
        self.encoder = build_encoder(schema, cfg.embedding_dim, cfg.input_norm)

    def towers(self, in_dim: int, n: int | None = None) -> nn.ModuleList:
        """``n`` (default: one per task) identical towers, as the shared config describes them."""
        c = self.cfg
        return nn.ModuleList(
            Tower(in_dim, c.tower_hidden, c.activation, c.norm, c.dropout) for _ in range(n or len(self.tasks))
        )

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(zip(self.tasks, self.heads(self.encoder(batch))))

    def auxiliary_loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor | None:
        """Extra loss terms that are part of the method (none by default)."""
        return None
