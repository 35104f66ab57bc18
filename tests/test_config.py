"""Config checks: strict dataclasses and the suite checks run by the Snakefile at load time."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.config import ConfigError, config_hash, from_dict
from training.suite import check_suite, resolve_run


@dataclass
class Toy:
    lr: float = 1e-3
    epochs: int = 3
    widths: list[int] = field(default_factory=lambda: [4])
    clip: float | None = None


def test_from_dict_rejects_unknown_keys_and_names_them():
    with pytest.raises(ConfigError, match=r"training: unknown key\(s\) \['lrr'\]"):
        from_dict(Toy, {"lrr": 1}, where="training")


@pytest.mark.parametrize("data, key", [({"epochs": "3"}, "epochs"), ({"lr": True}, "lr"),
                                       ({"widths": [1, "a"]}, r"widths\[1\]"), ({"clip": "x"}, "clip")])
def test_from_dict_rejects_wrong_types(data, key):
    with pytest.raises(ConfigError, match=key):
        from_dict(Toy, data, where="t")


def test_from_dict_accepts_ints_for_floats_and_null_for_optional():
    assert from_dict(Toy, {"lr": 1, "clip": None}, where="t") == Toy(lr=1, clip=None)


def _suite(**overrides):
    return {"datasets": ["census_income"], "models": ["resflow"], "seeds": [0], **overrides}


@pytest.mark.parametrize("overrides, message", [
    ({"datasets": ["census_incme"]}, "datasets: unknown name"),
    ({"models": ["resflw"]}, "models: unknown name"),
    ({"model_options": {"resflow": {"variantt": "full"}}}, r"model_options.resflow: unknown key"),
    ({"training": {"epoch": 3}}, r"training \(dataset census_income\): unknown key"),
    ({"dataset_options": {"census_income": {"prepare": {"protocl": "x"}}}}, r"census_income.prepare: unknown key"),
    ({"dataset_options": {"census_income": {"tasks": {"incme": {}}}}}, r"unknown task"),
])
def test_check_suite_names_the_bad_key(overrides, message):
    with pytest.raises((ConfigError, KeyError), match=message):
        check_suite(_suite(**overrides))


def test_resolved_run_is_complete_and_hash_changes_with_any_setting():
    base = resolve_run(_suite(), "census_income", "resflow", 0)
    assert base["training"]["epochs"] and base["model_options"]["variant"] == "full"
    assert base["tasks"][0] == {"name": "income", "pos_weight": 1.0, "loss_weight": 1.0}
    other = resolve_run(_suite(training={"lr": 0.01}), "census_income", "resflow", 0)
    assert config_hash(base) != config_hash(other)
    per_dataset = resolve_run(_suite(dataset_options={"census_income": {"model": {"embedding_dim": 4}}}),
                              "census_income", "resflow", 0)
    assert per_dataset["model_options"]["embedding_dim"] == 4
