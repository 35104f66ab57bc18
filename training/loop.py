"""Train one (dataset, model, seed) run: seeded, checkpointed each epoch, selected on validation only.

Writes the run folder of contract 3: ``metrics.json`` (written last), ``predictions.npz`` (val and
test), ``history.csv``, ``meta.json``; the checkpoint is removed when the run completes.
"""
from __future__ import annotations

import copy
import csv
import io
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.nn import functional as F

from analysis.metrics import binary_task_metrics
from benchmarks.base import TaskSpec, align_tasks
from benchmarks.processed import load_schema, load_split
from core.config import config_hash
from core.io import atomic_path, write_json, write_text
from models import build_model

from .config import TrainingConfig
from .data import SplitTensors
from .runtime import configure_determinism, environment, git_commit, seed_everything, select_device

CHECKPOINT = "checkpoint.pt"


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or inf; training stops at once and writes no metrics."""


def train_run(data_dir: Path, run_dir: Path, run: dict[str, Any]) -> dict:
    """Train, select on validation, evaluate val/test, write the run folder; return the metrics.

    ``run`` is the fully resolved run config (``training.suite.resolve_run``); its hash is recorded
    and guards checkpoint resumption.
    """
    started = time.time()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model_name, seed = run["model"], run["seed"]
    tasks = [TaskSpec(**t) for t in run["tasks"]]
    training = TrainingConfig(**run["training"])
    schema = load_schema(data_dir)
    tasks = align_tasks(tasks, schema, str(data_dir))  # the order prepare wrote (task_order option)
    names = [t.name for t in tasks]
    device = select_device(training)
    configure_determinism(training, device)
    seed_everything(seed)

    model = build_model(model_name, schema, run["model_options"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    data = {s: SplitTensors(load_split(data_dir, s), device) for s in ("train", "val", "test")}
    pos_weight = torch.tensor([t.pos_weight for t in tasks], device=device)
    loss_weight = torch.tensor([t.loss_weight for t in tasks], device=device)
    amp = training.amp and device.type == "cuda"
    chash = config_hash(run)

    state = _resume(run_dir / CHECKPOINT, chash, model, optimizer) or {
        "epoch": 0, "best_score": -math.inf, "best_epoch": 0, "bad_epochs": 0, "history": [],
        "best_model": copy.deepcopy(model.state_dict()),
    }
    while state["epoch"] < training.epochs and state["bad_epochs"] < training.patience:
        epoch = state["epoch"] + 1
        model.train()
        t0, total, steps = time.time(), 0.0, 0
        for step, (batch, labels) in enumerate(data["train"].train_batches(training.batch_size, seed, epoch)):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                outputs = model(batch)
            loss = multitask_loss(model, outputs, labels, names, pos_weight, loss_weight, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if training.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), training.grad_clip)
            optimizer.step()
            total += loss.item()
            steps += 1
        val = evaluate(model, data["val"], names, training.eval_batch_size)[0]
        score = _selection_score(val, training.select_metric)
        improved = score > state["best_score"]
        if improved:
            state.update(best_score=score, best_epoch=epoch, bad_epochs=0, best_model=copy.deepcopy(model.state_dict()))
        else:
            state["bad_epochs"] += 1
        state["history"].append({
            "epoch": epoch, "train_loss": total / max(steps, 1), "seconds": round(time.time() - t0, 3),
            **{f"val_{m}_{t}": val[t][m] for t in names for m in ("auc", "logloss")},
        })
        state["epoch"] = epoch
        _save_checkpoint(run_dir / CHECKPOINT, chash, model, optimizer, state)

    model.load_state_dict(state["best_model"])
    metrics, predictions = {}, {}
    for split in ("val", "test"):
        metrics[split], probs = evaluate(model, data[split], names, training.eval_batch_size)
        predictions[f"{split}_probs"] = probs
        predictions[f"{split}_labels"] = data[split].labels.numpy()
        if data[split].group is not None:
            predictions[f"{split}_group"] = data[split].group
    predictions["tasks"] = np.array(names)
    write_text(run_dir / "config.resolved.yaml", yaml.safe_dump(run, sort_keys=True))
    _write_outputs(run_dir, metrics, predictions, state, {
        "dataset": schema["name"], "model": model_name, "seed": seed, "config_hash": chash,
        "data_checksums": schema.get("sources", {}), "git_commit": git_commit(),
        "n_params": sum(p.numel() for p in model.parameters()),
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
        "selection": f"validation mean {training.select_metric}",
        "deterministic": training.deterministic, "amp": amp,
        "training": asdict(training), "tasks": [asdict(t) for t in tasks],
        "wall_seconds": round(time.time() - started, 3), **environment(device),
    })
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    return metrics


def multitask_loss(model, outputs, labels, names, pos_weight, loss_weight, epoch, step) -> torch.Tensor:
    """The training objective: sum over tasks of loss_weight x BCE-with-logits (task pos_weight),
    plus the model's auxiliary loss (AITM's calibrator, ESCM2's regulariser). A non-finite value
    raises :class:`NonFiniteLoss` naming the task, ``epoch`` and batch ``step``. Shared by the
    training loop and the efficiency benchmark, so both time the same step."""
    logits = torch.stack([outputs[t] for t in names], dim=1).float()
    per_task = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight, reduction="none").mean(0)
    bad = ~torch.isfinite(per_task)
    if bad.any():
        task = names[int(bad.nonzero()[0])]
        raise NonFiniteLoss(f"non-finite loss for task {task!r} at epoch {epoch}, batch {step}; "
                            "no metrics were written (lower the learning rate or set training.grad_clip)")
    loss = (per_task * loss_weight).sum()
    extra = model.auxiliary_loss(outputs, labels)
    if extra is not None:
        if not torch.isfinite(extra):
            raise NonFiniteLoss(f"non-finite auxiliary loss of {model.registry_name} at epoch {epoch}, batch {step}")
        loss = loss + extra
    return loss


@torch.no_grad()
def evaluate(model, split: SplitTensors, names: list[str], batch_size: int) -> tuple[dict, np.ndarray]:
    """Metrics per task and the [n, K] probabilities, streamed into one preallocated array."""
    model.eval()
    probs = np.empty((split.n, len(names)), dtype=np.float32)
    for start, batch, _ in split.eval_batches(batch_size):
        out = model(batch)
        block = torch.stack([torch.sigmoid(out[t].float()) for t in names], dim=1)
        probs[start:start + len(block)] = block.cpu().numpy()
    labels = split.labels.numpy()
    metrics = {t: binary_task_metrics(labels[:, i], probs[:, i], split.group) for i, t in enumerate(names)}
    return metrics, probs


def _selection_score(val: dict, metric: str) -> float:
    values = [m[metric] for m in val.values() if not math.isnan(m[metric])]
    if not values:
        return -math.inf
    mean = float(np.mean(values))
    return -mean if metric == "logloss" else mean


def _save_checkpoint(path: Path, chash: str, model, optimizer, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"config_hash": chash, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "rng": torch.get_rng_state(), "state": state}, tmp)


def _resume(path: Path, chash: str, model, optimizer) -> dict | None:
    if not path.exists():
        return None
    ckpt = torch.load(path, weights_only=False)
    if ckpt["config_hash"] != chash:
        path.unlink()  # a checkpoint of another configuration is never resumed
        return None
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"])
    return ckpt["state"]


def _write_outputs(run_dir: Path, metrics: dict, predictions: dict, state: dict, meta: dict) -> None:
    with atomic_path(run_dir / "predictions.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **predictions)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(state["history"][0]) if state["history"] else ["epoch"])
    writer.writeheader()
    writer.writerows(state["history"])
    write_text(run_dir / "history.csv", buf.getvalue())
    write_json(run_dir / "meta.json", meta)
    write_json(run_dir / "metrics.json", metrics)  # last: its presence marks a complete run
