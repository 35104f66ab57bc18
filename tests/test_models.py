"""Registry-driven model tests: every registered model, no edit needed when a model is added."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from conftest import tabular_batch, tabular_schema
from core.config import ConfigError
from models import build_model, model_config, model_names
from models.resflow import ResFlow


def _build(name: str, n_tasks: int, **hparams):
    """The model, or None when the method cannot take ``n_tasks`` tasks and says so clearly."""
    torch.manual_seed(0)
    try:
        return build_model(name, tabular_schema(n_tasks), hparams)
    except ValueError as exc:
        assert "task" in str(exc), f"{name}: unclear error for {n_tasks} tasks: {exc}"
        return None


@pytest.mark.parametrize("n_tasks", [2, 3])
@pytest.mark.parametrize("name", model_names())
def test_shapes_finite_and_every_parameter_gets_a_gradient(name, n_tasks):
    model = _build(name, n_tasks)
    if model is None:
        return
    batch = tabular_batch(32)
    labels = (torch.rand(32, n_tasks, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    labels = torch.cummin(labels, dim=1).values  # funnel labels: task k implies task k-1
    out = model(batch)
    assert list(out) == [f"t{i}" for i in range(n_tasks)]
    for logits in out.values():
        assert logits.shape == (32,) and torch.isfinite(logits).all()
    loss = sum(F.binary_cross_entropy_with_logits(out[f"t{i}"], labels[:, i]) for i in range(n_tasks))
    extra = model.auxiliary_loss(out, labels)
    (loss + (extra if extra is not None else 0)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"{name}: parameters without gradient: {missing}"


@pytest.mark.parametrize("name", model_names())
def test_same_seed_same_model(name):
    a, b = _build(name, 2), _build(name, 2)
    batch = tabular_batch()
    a.eval(), b.eval()
    for ta, tb in zip(a(batch).values(), b(batch).values()):
        assert torch.equal(ta, tb)


@pytest.mark.parametrize("name", model_names())
def test_unknown_hyperparameter_is_rejected(name):
    with pytest.raises(ConfigError, match="embeding_dim"):
        model_config(name, {"embeding_dim": 8})


def test_resflow_task1_ignores_later_towers_and_task2_trains_tower1():
    model = _build("resflow", 3)
    model.eval()
    batch = tabular_batch()
    before = model(batch)["t0"].detach().clone()
    with torch.no_grad():
        for tower in model.tower[1:]:
            for p in tower.parameters():
                p.add_(torch.randn_like(p))
    assert torch.equal(model(batch)["t0"], before)
    model.zero_grad()
    model(batch)["t1"].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.tower[0].parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.tower[2].parameters())


@pytest.mark.parametrize("variant", ["full", "logits_only"])
def test_resflow_residuals_match_the_formula(variant):
    """h_k^l = f_k^l(h_k^{l-1}) + h_{k-1}^l at every layer (full) or at the logit only."""
    model: ResFlow = _build("resflow", 3, variant=variant, norm="none")
    model.eval()
    batch = tabular_batch()
    e = model.encoder(batch)
    previous, expected = None, []
    for tower in model.tower:
        h, outs = e, []
        for depth, layer in enumerate(tower.layers):
            h = layer(h)
            if previous is not None and (variant == "full" or depth == len(tower.layers) - 1):
                h = h + previous[depth]
            outs.append(h)
        previous = outs
        expected.append(h.squeeze(-1))
    if variant == "logits_only":
        plain = [tower(e) for tower in model.tower]
        assert torch.allclose(expected[2], plain[0] + plain[1] + plain[2], atol=1e-6)
    for got, want in zip(model(batch).values(), expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_single_task_is_resflow_without_residuals():
    torch.manual_seed(0)
    single = build_model("single_task", tabular_schema(2))
    resflow = build_model("resflow", tabular_schema(2))
    resflow.load_state_dict(single.state_dict())
    single.eval(), resflow.eval()
    batch = tabular_batch()
    assert torch.equal(single(batch)["t0"], resflow(batch)["t0"])
    assert not torch.equal(single(batch)["t1"], resflow(batch)["t1"])


def test_resflow_needs_two_tasks():
    with pytest.raises(ValueError, match="at least 2"):
        build_model("resflow", tabular_schema(1))
