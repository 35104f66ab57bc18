"""The training loop: seeded determinism, resumption, validation-only selection, numerical faults."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from benchmarks.base import get_dataset
from conftest import census_rows, write_census
from core.io import read_json
from training import loop
from training.suite import resolve_run

SUITE = {
    "datasets": ["census_income"], "models": ["resflow"], "seeds": [0],
    "training": {"epochs": 3, "batch_size": 64, "patience": 5},
    "dataset_options": {"census_income": {"prepare": {"protocol": "test_split"}, "model": {"embedding_dim": 4}}},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("census")
    write_census(root / "raw" / "census-income.test.gz", census_rows(400))
    get_dataset("census_income", SUITE["dataset_options"]["census_income"]).prepare(root / "raw", root / "data")
    return root / "data"


def _train(data_dir, run_dir, model="resflow", seed=0, **training):
    suite = {**SUITE, "training": {**SUITE["training"], **training}}
    return loop.train_run(data_dir, run_dir, resolve_run(suite, "census_income", model, seed))


def test_same_seed_gives_bit_identical_metrics_and_predictions(data_dir, tmp_path):
    a = _train(data_dir, tmp_path / "a")
    b = _train(data_dir, tmp_path / "b")
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert (tmp_path / "a" / "predictions.npz").read_bytes() == (tmp_path / "b" / "predictions.npz").read_bytes()
    c = _train(data_dir, tmp_path / "c", seed=1)
    assert a == b and a != c


def test_run_folder_contract(data_dir, tmp_path):
    _train(data_dir, tmp_path)
    meta = read_json(tmp_path / "meta.json")
    for key in ("config_hash", "git_commit", "packages", "device", "n_params", "seed", "data_checksums", "wall_seconds"):
        assert key in meta
    assert meta["selection"] == "validation mean auc"
    metrics = read_json(tmp_path / "metrics.json")
    assert set(metrics) == {"val", "test"} and set(metrics["test"]) == {"income", "marital"}
    pred = np.load(tmp_path / "predictions.npz")
    assert pred["test_probs"].shape == pred["test_labels"].shape == (100, 2)
    assert list(pred["tasks"]) == ["income", "marital"]
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
    assert not (tmp_path / loop.CHECKPOINT).exists()


def test_resume_from_checkpoint_is_bit_identical(data_dir, tmp_path, monkeypatch):
    full = _train(data_dir, tmp_path / "full")
    # interrupt after the second epoch's checkpoint, as a kill would
    save = loop._save_checkpoint
    calls = []

    def save_then_die(*args):
        save(*args)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _train(data_dir, tmp_path / "resumed")
    assert (tmp_path / "resumed" / loop.CHECKPOINT).exists() and not (tmp_path / "resumed" / "metrics.json").exists()
    monkeypatch.setattr(loop, "_save_checkpoint", save)
    resumed = _train(data_dir, tmp_path / "resumed")
    assert resumed == full
    assert (tmp_path / "full" / "predictions.npz").read_bytes() == (tmp_path / "resumed" / "predictions.npz").read_bytes()


def test_model_selection_never_reads_the_test_split(data_dir, tmp_path):
    poisoned = tmp_path / "poisoned"
    shutil.copytree(data_dir, poisoned)
    labels = np.load(poisoned / "test" / "labels.npy")
    np.save(poisoned / "test" / "labels.npy", 1 - labels)
    a, b = _train(data_dir, tmp_path / "a"), _train(poisoned, tmp_path / "b")
    assert a["val"] == b["val"]
    assert read_json(tmp_path / "a" / "meta.json")["best_epoch"] == read_json(tmp_path / "b" / "meta.json")["best_epoch"]


def test_nan_loss_stops_at_once_naming_step_and_task_and_writes_no_metrics(data_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    dense = np.load(broken / "train" / "dense.npy")
    dense[:, 0] = np.inf  # bypasses the writer's validation, as a corrupted file would
    np.save(broken / "train" / "dense.npy", dense)
    with pytest.raises(loop.NonFiniteLoss, match=r"task 'income' at epoch 1, batch 0"):
        _train(broken, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("grad_clip, clipped", [(None, False), (1.0, True)])
def test_gradients_are_clipped_only_when_config_says_so(data_dir, tmp_path, monkeypatch, grad_clip, clipped):
    calls = []
    real = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, max_norm: calls.append(max_norm) or real(params, max_norm))
    _train(data_dir, tmp_path, epochs=1, grad_clip=grad_clip)
    assert bool(calls) == clipped and all(c == grad_clip for c in calls)


def test_git_commit_is_dirty_for_code_changes_not_for_the_published_report(tmp_path):
    import subprocess

    from training.runtime import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "results" / "report").mkdir(parents=True)
    (tmp_path / "results" / "report" / "README.md").write_text("old report\n")
    (tmp_path / "model.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    head = git_commit(tmp_path)
    assert len(head) == 40
    (tmp_path / "results" / "report" / "README.md").write_text("new report\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "model.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "-dirty"
