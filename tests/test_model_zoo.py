"""Method invariants of the baseline models (the registry-driven checks live in test_models.py)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from conftest import tabular_batch, tabular_schema
from models import build_model
from models.aitm import calibrator_penalty
from models.base import BUDGET_TOLERANCE
from models.escm2 import ips_weight
from models.esmm import chain_logits
from models.layers import Gate, mix


def _build(name: str, n_tasks: int = 2, schema: dict | None = None, **hparams):
    torch.manual_seed(0)
    model = build_model(name, schema or tabular_schema(n_tasks), hparams)
    model.eval()
    return model


def _wide_schema(n_tasks: int = 2) -> dict:
    """A schema closer to a real one: 12 categorical fields, 5 dense features."""
    return {**tabular_schema(n_tasks), "categorical": [{"name": f"c{i}", "vocab_size": 40} for i in range(12)],
            "dense": [f"x{i}" for i in range(5)]}


@pytest.mark.parametrize("name, n_gates", [("mmoe", 3), ("omoe", 1), ("ple", 2 * 3 + 1), ("stem", 3)])
def test_gate_weights_are_a_distribution_over_experts(name, n_gates):
    model = _build(name, 3)
    weights = []
    for gate in model.modules():
        if isinstance(gate, Gate):
            gate.register_forward_hook(lambda _m, _i, out: weights.append(out))
    model(tabular_batch(32))
    assert len(weights) == n_gates  # ple: 3 task gates per level, one shared gate below the last level
    for w in weights:
        assert (w >= 0).all() and torch.allclose(w.sum(-1), torch.ones(32))


def test_ple_with_one_level_is_cgc():
    """Task k's tower reads its gate's mixture of task k's experts and the shared experts."""
    model = _build("ple", 3, n_levels=1)
    batch = tabular_batch(32)
    e = model.encoder(batch)
    (cgc,) = model.levels
    assert cgc.shared_gate is None
    shared = cgc.shared_experts(e)
    for k, task in enumerate(model.tasks):
        experts = torch.cat([cgc.task_experts[k](e), shared], dim=1)
        gate = torch.softmax(cgc.task_gates[k].linear(e), dim=-1)
        expected = model.tower[k](torch.einsum("be,bed->bd", gate, experts))
        assert torch.allclose(model(batch)[task], expected, atol=1e-6)


def test_stem_task_loss_trains_only_its_own_and_the_shared_parameters():
    """All Forward, Task-specific Backward: other tasks' experts are read but not trained (with
    more levels, the shared gate below the last level still passes gradient to every task)."""
    model = _build("stem", 3)
    model.train()
    out = model(tabular_batch(32))
    assert torch.isfinite(out["t2"]).all()
    out["t1"].sum().backward()

    def trained(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())

    assert trained(model.task_encoders[1]) and trained(model.encoder)
    assert not trained(model.task_encoders[0]) and not trained(model.task_encoders[2])
    (level,) = model.levels
    assert trained(level.task_experts[1]) and trained(level.shared_experts)
    assert not trained(level.task_experts[0]) and not trained(level.task_experts[2])


def test_mix_is_the_gate_weighted_sum():
    g, x = torch.softmax(torch.randn(4, 3), -1), torch.randn(4, 3, 5)
    assert torch.allclose(mix(g, x), (g.unsqueeze(-1) * x).sum(1))


def test_esmm_ctcvr_never_exceeds_ctr_and_is_the_product():
    model = _build("esmm", 3)
    batch = tabular_batch(64)
    probs = [torch.sigmoid(v) for v in model(batch).values()]
    assert all((later <= earlier + 1e-6).all() for earlier, later in zip(probs, probs[1:]))
    z = [t.double() for t in model.conditional_logits(model.encoder(batch))]
    q = [torch.sigmoid(t) for t in z]
    for got, want in zip(model(batch).values(), [q[0], q[0] * q[1], q[0] * q[1] * q[2]]):
        assert torch.allclose(torch.sigmoid(got.double()), want, atol=1e-6)


def test_chain_logits_are_exact_and_finite_at_extremes():
    z = [torch.tensor([-60.0, 0.0, 3.0, 60.0], dtype=torch.float64), torch.tensor([60.0, -2.0, 0.5, 60.0], dtype=torch.float64)]
    first, second = chain_logits(z)
    assert torch.equal(first, z[0])
    assert torch.isfinite(second).all()
    p = torch.sigmoid(z[0][1:3]) * torch.sigmoid(z[1][1:3])
    assert torch.allclose(second[1:3], torch.logit(p))
    assert second[3] > 30  # p = sigmoid(60)^2: still distinguishable from 1


def test_funnel_models_refuse_tasks_that_cannot_be_a_funnel():
    schema = {**tabular_schema(2), "funnel": False}
    for name in ("esmm", "escm2_ips", "escm2_dr"):
        with pytest.raises(ValueError, match="not a funnel"):
            build_model(name, schema)
    build_model("aitm", schema)  # its calibrator is a soft penalty: the model still applies
    build_model("esmm", {**schema, "funnel": True})


def test_chain_models_need_two_tasks():
    for name in ("esmm", "escm2_ips", "escm2_dr", "aitm"):
        with pytest.raises(ValueError, match="at least 2 ordered tasks"):
            build_model(name, tabular_schema(1))


def test_aitm_calibrator_penalises_only_a_later_step_more_likely_than_the_one_before():
    p1 = torch.tensor([0.9, 0.5, 0.2, 0.2])
    assert calibrator_penalty([p1, p1 * 0.5, p1 * 0.25]) == 0
    assert calibrator_penalty([p1, p1]) == 0
    later = torch.tensor([0.9, 0.7, 0.2, 0.1])
    assert torch.isclose(calibrator_penalty([p1, later]), torch.tensor(0.2 / 4))
    model = _build("aitm", 2)
    logits = torch.logit(torch.stack([p1, later], 1))
    labels = torch.zeros(4, 2)
    aux = model.auxiliary_loss({"t0": logits[:, 0], "t1": logits[:, 1]}, labels)
    assert torch.isclose(aux, torch.tensor(model.cfg.calibrator_weight * 0.2 / 4))
    assert model.auxiliary_loss({"t0": logits[:, 1], "t1": logits[:, 1] - 1}, labels) == 0


def test_escm2_ips_weight_is_click_over_click_propensity_clipped():
    clicked = torch.tensor([1.0, 1.0, 0.0, 1.0])
    p_click = torch.tensor([0.5, 0.01, 0.5, 0.2], requires_grad=True)
    w = ips_weight(clicked, p_click, max_weight=15.0)
    assert torch.allclose(w, torch.tensor([2.0, 15.0, 0.0, 5.0]))
    assert not w.requires_grad


@pytest.mark.parametrize("name", ["escm2_ips", "escm2_dr"])
def test_escm2_risk_weights_clicked_rows_by_inverse_pctr(name):
    model = _build(name, 2)
    batch = tabular_batch(8)
    out = model(batch)
    labels = torch.tensor([[1, 1], [1, 0], [0, 0], [1, 0], [0, 0], [1, 1], [0, 0], [1, 0]], dtype=torch.float32)
    p_click = torch.sigmoid(out["t0"])
    cvr = model.stage_outputs["conditional"][0]
    error = F.binary_cross_entropy_with_logits(cvr, labels[:, 1], reduction="none")
    w = labels[:, 0] / p_click.clamp(min=1 / 15)
    if name == "escm2_ips":
        risk = (w * error).mean()
    else:
        imputed = model.stage_outputs["imputed"][0]
        risk = (imputed + w * (error - imputed)).mean() + (w * (error - imputed) ** 2).mean()
    assert torch.allclose(model.auxiliary_loss(out, labels), 0.5 * risk)
    # the propensity comes from the click logit: changing it on an unclicked row changes nothing
    moved = dict(out, t0=out["t0"] + torch.tensor([0, 0, 3.0, 0, 0, 0, 0, 0]))
    assert torch.allclose(model.auxiliary_loss(moved, labels), model.auxiliary_loss(out, labels))
    moved = dict(out, t0=out["t0"] + torch.tensor([0, 0, 0, -1.0, 0, 0, 0, 0]))
    assert not torch.allclose(model.auxiliary_loss(moved, labels), model.auxiliary_loss(out, labels))
    if name == "escm2_ips":  # a less likely click weighs its error more
        assert model.auxiliary_loss(moved, labels) > model.auxiliary_loss(out, labels)


@pytest.mark.parametrize("n_tasks", [2, 3])
def test_cross_stitch_at_identity_is_single_task(n_tasks):
    single = _build("single_task", n_tasks)
    stitched = _build("cross_stitch", n_tasks, init_self=1.0)
    batch = tabular_batch(32)
    for a, b in zip(single(batch).values(), stitched(batch).values()):
        assert torch.equal(a, b)
    mixed = _build("cross_stitch", n_tasks)  # the paper's (0.9, 0.1) start shares activations
    assert not torch.equal(single(batch)["t1"], mixed(batch)["t1"])
    assert torch.allclose(mixed.alpha[0].sum(1), torch.ones(n_tasks))


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _wide_batch(n: int = 8) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"categorical": torch.randint(0, 40, (n, 12), generator=g), "dense": torch.randn(n, 5, generator=g)}


@pytest.mark.parametrize("name, budget", [
    ("mmoe", 100_000), ("omoe", 400_000), ("ple", 150_000), ("cross_stitch", 400_000), ("shared_bottom", 100_000),
    ("resflow", 150_000), ("esmm", 400_000), ("escm2_dr", 100_000), ("aitm", 150_000)])
def test_param_budget_is_met_within_tolerance(name, budget):
    model = _build(name, schema=_wide_schema(3), param_budget=budget)
    assert abs(_n_params(model) - budget) <= BUDGET_TOLERANCE * budget
    assert model.cfg.param_budget is None  # resolved into the widths the model was built with
    assert torch.isfinite(model(_wide_batch())["t2"]).all()


def test_param_budget_can_name_the_model_to_match():
    schema = _wide_schema(2)
    target = _n_params(_build("resflow", schema=schema))
    model = _build("mmoe", schema=schema, param_budget="resflow")
    assert _n_params(_build("mmoe", schema=schema)) > 2 * target
    assert abs(_n_params(model) - target) <= BUDGET_TOLERANCE * target
    assert model.cfg.expert_hidden[0] < 128 and model.cfg.tower_hidden[0] < 128  # every width scaled alike
    again = _build("mmoe", schema=schema, param_budget="resflow")
    assert torch.equal(model(_wide_batch())["t0"], again(_wide_batch())["t0"])


def test_param_budget_below_the_smallest_model_is_an_error():
    with pytest.raises(ValueError, match="param_budget 1000"):
        _build("mmoe", schema=_wide_schema(2), param_budget=1_000)  # less than the embeddings alone
