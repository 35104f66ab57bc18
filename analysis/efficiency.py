"""Efficiency benchmark: model size, training throughput, inference latency, peak memory, scaling.

Every number is measured on the machine that runs it, with ``torch.set_num_threads(threads)``
fixed (``efficiency.threads``), ``time.perf_counter`` clocks (after ``torch.cuda.synchronize`` on
CUDA) and warm-up calls that are not timed. Per dataset and model (``measure_dataset``):

- ``params``: every parameter, the shared encoder included (as ``n_params`` in a run's meta.json).
- ``train_rows_per_s``: whole epochs (at least ``min_steps`` steps) on the real data path
  (``training.data.SplitTensors`` over the first ``train_rows`` rows of the memory-mapped train
  split, the run's batch size and seeded order) with the training loop's step under the run's
  deterministic-kernel setting: forward, weighted BCE + auxiliary loss (``training.loop.multitask_loss``),
  backward, gradient clipping when configured, Adam, ``loss.item()``.
- ``train_peak_mib`` / ``inference_peak_mib``: on CPU the process's peak resident set during that
  model's training / one forward pass at the largest batch size. Free heap memory is first handed
  back (glibc ``malloc_trim``), the high-water mark reset through ``/proc/self/clear_refs``
  (Linux), and the peak read with ``resource.getrusage`` afterwards; it counts the interpreter,
  torch and the loaded split too, and the note gives the resident size at the reset. Where the
  reset is unavailable the note says "since process start". On CUDA:
  ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
- ``latency_median_ms`` / ``latency_p99_ms`` at each of ``batch_sizes`` (default 1, 512, 8192):
  one forward pass in eval mode under ``torch.inference_mode`` on a batch already on the device
  (test rows, repeated cyclically when the split is smaller). All models of a dataset are freshly
  built and timed round-robin, one call each per round in a rotating order, so background load
  hits them alike;
  ``latency_calls`` rounds, or fewer (at least ``MIN_CALLS``) once ``latency_seconds`` have passed
  for that batch size. p99 is numpy's interpolated percentile: with fewer than 100 calls it lies
  between the two slowest calls.

The targets of issue 8, measured in the same run (``TARGETS``; a missed target is reported with its
value, never dropped):

1. ``epoch_time_ratio_real_vs_in_memory``: the target model's epoch on the real path over the same
   forward/backward passes on the same batches materialised in a list beforehand.
2. ``throughput_ratio_vs_per_row_loader``: epoch time of the common reference, a per-row
   ``torch.utils.data.Dataset`` (``PerRowDataset``) + ``DataLoader`` with default collate, over the
   real path; same model, rows, order and batch size. For both ratios three identical copies of
   the model (same seed) train in lockstep, one per path, interleaved step by step in a rotating
   order; a path's epoch time is the sum of its steps, each timed from fetching the batch to the
   end of the optimiser step, over ``repeats`` epochs (more for small splits: at least
   ``min_steps`` steps). ``throughput_ratio_bound_vs_per_row_loader`` (per-row over in-memory) is
   the most any data path could reach.
3. ``latency_ratio_vs_baseline``: every model's latency over the baseline's (``latency_baseline``,
   Single-Task: ResFlow's towers without the residual links), the median of the per-round ratios;
   the target applies to the target model at batch 512 and 8192, the other rows (MMoE, PLE, ...)
   show the extra cost of each architecture.
4. Scaling (``run_scaling``): the synthetic funnel prepared at each of ``scaling.rows`` in its own
   process, then trained in another; time per trained row at the largest size over that at the
   smallest, and the peak resident memory of both processes at the largest size.
"""
from __future__ import annotations

import copy
import ctypes
import dataclasses
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from analysis.figures import plot_auc_vs_latency, plot_not_drawn
from analysis.tables import to_markdown
from benchmarks.base import TaskSpec, align_tasks, get_dataset
from benchmarks.processed import load_schema, load_split
from core.config import ConfigError, from_dict
from core.io import write_text
from models import build_model, model_names
from training.config import TrainingConfig
from training.data import FEATURES, SplitTensors
from training.loop import multitask_loss
from training.runtime import configure_determinism, seed_everything, select_device

COLUMNS = ["dataset", "model", "measurement", "batch_size", "value", "unit", "target", "passed", "note"]
SCALING_COLUMNS = ["rows", "train_rows", "model", "batch_size", "steps", "rows_trained", "prepare_seconds",
                   "prepare_peak_rss_mib", "load_seconds", "train_seconds", "us_per_row", "train_peak_rss_mib"]
#: measurement -> (comparison, limit) of the issue's targets
TARGETS = {
    "epoch_time_ratio_real_vs_in_memory": ("<=", 1.15),
    "throughput_ratio_vs_per_row_loader": (">=", 3.0),
    "latency_ratio_vs_baseline": ("<=", 1.10),
    "time_per_row_ratio_largest_vs_smallest": ("<=", 1.5),
    "peak_rss_gib_at_largest": ("<", 4.0),
}
#: batch sizes at which the latency target applies
LATENCY_TARGET_BATCHES = (512, 8192)
#: fewest timed latency calls per model and batch size, whatever the time budget
MIN_CALLS = 5
SCALING_DATASET = "synthetic_funnel"
#: the checkout this module belongs to (the scaling child processes import from it)
REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger(__name__)


@dataclass
class ScalingConfig:
    #: the model trained at every size
    model: str = "resflow"
    #: total rows of the synthetic funnel (train + val + test) at each size
    rows: list[int] = field(default_factory=lambda: [100_000, 1_000_000, 10_000_000])
    #: training steps timed per size, drawn from the seeded order of the whole train split;
    #: null = one full epoch
    steps: int | None = 300


@dataclass
class EfficiencyConfig:
    #: add results/tables/efficiency.csv and scaling.csv to the default target
    enabled: bool = False
    #: models to measure; null = every registered model
    models: list[str] | None = None
    #: torch intra-op threads of every measurement
    threads: int = 1
    batch_sizes: list[int] = field(default_factory=lambda: [1, 512, 8192])
    #: untimed calls (latency) or steps (training) before timing
    warmup: int = 2
    #: timed latency calls per model and batch size (at most)
    latency_calls: int = 50
    #: time budget per batch size for the latency rounds (at least MIN_CALLS rounds run)
    latency_seconds: float = 20.0
    #: rows of the measured training epochs (the first rows of the train split); null = all
    train_rows: int | None = 20_000
    #: every timed training measurement covers whole epochs and at least this many steps
    min_steps: int = 50
    #: epochs per data path for targets 1 and 2 (at least; see min_steps)
    repeats: int = 3
    #: the model of targets 1-3
    target_model: str = "resflow"
    #: the model the latency ratios divide by
    latency_baseline: str = "single_task"
    scaling: ScalingConfig = field(default_factory=ScalingConfig)


def efficiency_config(data: dict[str, Any] | None) -> EfficiencyConfig:
    """The ``efficiency:`` config block as a dataclass; unknown keys and models are errors."""
    data = dict(data or {})
    scaling = from_dict(ScalingConfig, data.pop("scaling", None), where="efficiency.scaling")
    cfg = dataclasses.replace(from_dict(EfficiencyConfig, data, where="efficiency"), scaling=scaling)
    known = model_names()
    for name in [*(cfg.models or []), cfg.target_model, cfg.latency_baseline, cfg.scaling.model]:
        if name not in known:
            raise ConfigError(f"efficiency: unknown model {name!r}; known: {known}")
    if min(cfg.threads, cfg.repeats, cfg.min_steps, *cfg.batch_sizes, *cfg.scaling.rows) < 1 or not cfg.batch_sizes:
        raise ConfigError("efficiency: threads, repeats, min_steps, batch_sizes and scaling.rows must be >= 1")
    return cfg


# -- the reference data path and the training step ----------------------------------------------

class PerRowDataset(Dataset):
    """The common per-row approach (target 2's reference): ``__getitem__`` returns one row, the
    ``DataLoader``'s default collate stacks the rows of a batch."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.features = {k: torch.from_numpy(np.array(arrays[k])) for k in FEATURES if k in arrays}
        self.labels = torch.from_numpy(np.array(arrays["labels"]))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {k: v[i] for k, v in self.features.items()}, self.labels[i]


def per_row_loader(dataset: PerRowDataset, batch_size: int, order: torch.Tensor, device: torch.device) -> DataLoader:
    """Batches of ``dataset`` in ``order`` (an epoch's permutation), as such code usually builds them."""
    return DataLoader(dataset, batch_size=batch_size, sampler=order.tolist(), pin_memory=device.type == "cuda")


class Trainer:
    """One model's training step as ``training.loop.train_run`` takes it, restartable from the same
    initial weights (so every timed epoch does identical arithmetic)."""

    def __init__(self, run: dict[str, Any], schema: dict[str, Any], device: torch.device) -> None:
        self.training = TrainingConfig(**run["training"])
        tasks = align_tasks([TaskSpec(**t) for t in run["tasks"]], schema, schema.get("name", "dataset"))
        self.names = [t.name for t in tasks]
        self.device = device
        self.amp = self.training.amp and device.type == "cuda"
        # the run's deterministic-kernel settings; the thread count stays efficiency.threads
        configure_determinism(dataclasses.replace(self.training, threads=None), device)
        seed_everything(run["seed"])
        self.model = build_model(run["model"], schema, run["model_options"]).to(device)
        self.initial = copy.deepcopy(self.model.state_dict())
        self.pos_weight = torch.tensor([t.pos_weight for t in tasks], device=device)
        self.loss_weight = torch.tensor([t.loss_weight for t in tasks], device=device)
        self.reset()

    def reset(self) -> None:
        self.model.load_state_dict(self.initial)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.training.lr,
                                          weight_decay=self.training.weight_decay)

    def step(self, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> float:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = self.model(batch)
        loss = multitask_loss(self.model, outputs, labels, self.names, self.pos_weight, self.loss_weight, 0, 0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.training.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.training.grad_clip)
        self.optimizer.step()
        return loss.item()

    def epoch(self, batches: Iterable[tuple[dict, torch.Tensor]], max_steps: int | None = None) -> tuple[float, int]:
        """Seconds and rows of training on ``batches`` (at most ``max_steps`` of them)."""
        _sync(self.device)
        start, rows = time.perf_counter(), 0
        for i, (batch, labels) in enumerate(batches):
            if max_steps is not None and i == max_steps:
                break
            self.step(batch, labels)
            rows += len(labels)
        _sync(self.device)
        return time.perf_counter() - start, rows


# -- measurements -------------------------------------------------------------------------------

def measure_dataset(schema: dict[str, Any], train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                    runs: dict[str, dict[str, Any]], cfg: EfficiencyConfig) -> pd.DataFrame:
    """The rows of efficiency.csv for one dataset: every model of ``runs`` (model -> resolved run
    config, ``training.suite.resolve_run``), then targets 1-3."""
    torch.set_num_threads(cfg.threads)
    dataset = schema["name"]
    device = select_device(TrainingConfig(**next(iter(runs.values()))["training"]))
    train = _head(train, cfg.train_rows)
    split, test_split = SplitTensors(train, device), SplitTensors(test, device)
    rows: list[dict] = []

    def add(model: str, measurement: str, value: float, unit: str, batch_size: int | None = None, note: str = ""):
        rows.append({"dataset": dataset, "model": model, "measurement": measurement, "batch_size": batch_size,
                     "value": value, "unit": unit, "note": note})

    measured = []
    for model, run in runs.items():
        try:
            trainer = Trainer(run, schema, device)
        except ValueError as exc:  # the model does not apply to this dataset (e.g. not a funnel)
            add(model, "not_measured", math.nan, "", note=str(exc))
            continue
        measured.append(model)
        log.info("%s / %s: training epoch and peak memory", dataset, model)
        batch_size, seed = trainer.training.batch_size, run["seed"]
        add(model, "params", sum(p.numel() for p in trainer.model.parameters()), "count")
        memory_note = _reset_peak(device)
        for batch, labels in _take(split.train_batches(batch_size, seed, 0), cfg.warmup):
            trainer.step(batch, labels)
        trainer.reset()
        epochs = _epochs_for(split.n, batch_size, cfg.min_steps)
        timed = [trainer.epoch(split.train_batches(batch_size, seed, e)) for e in range(1, epochs + 1)]
        seconds, n = sum(t for t, _ in timed), sum(r for _, r in timed)
        add(model, "train_rows_per_s", n / seconds, "rows/s", batch_size, f"{epochs} epoch(s) of {split.n} rows")
        add(model, "train_peak_mib", _peak_mib(device), "MiB", batch_size, memory_note)
        memory_note = _reset_peak(device)
        trainer.model.eval()
        with torch.inference_mode():
            trainer.model(test_split.take(torch.arange(max(cfg.batch_sizes)) % test_split.n)[0])
        add(model, "inference_peak_mib", _peak_mib(device), "MiB", max(cfg.batch_sizes), memory_note)
        del trainer

    log.info("%s: latency of %s, round-robin", dataset, measured)
    fresh = {m: build_model(m, schema, runs[m]["model_options"]).to(device) for m in measured}
    latency = measure_latency(fresh, test_split, cfg)
    del fresh
    for (model, batch_size), ms in latency.items():
        note = f"{len(ms)} calls"
        add(model, "latency_median_ms", float(np.median(ms)), "ms", batch_size, note)
        add(model, "latency_p99_ms", float(np.percentile(ms, 99)), "ms", batch_size, note)
    if cfg.latency_baseline in measured:
        for (model, batch_size), ms in latency.items():
            ratio = float(np.median(ms / latency[cfg.latency_baseline, batch_size]))
            target = model == cfg.target_model and batch_size in LATENCY_TARGET_BATCHES
            rows.append(_target_row(dataset, model, "latency_ratio_vs_baseline", ratio, batch_size,
                                    f"median of the per-round ratios to {cfg.latency_baseline}", target))
    if cfg.target_model in measured:
        rows += data_path_targets(schema, train, runs[cfg.target_model], cfg, device)
    return pd.DataFrame(rows, columns=COLUMNS)


def measure_latency(models: dict[str, torch.nn.Module], split: SplitTensors,
                    cfg: EfficiencyConfig) -> dict[tuple[str, int], np.ndarray]:
    """Milliseconds per forward pass, per (model, batch size), timed round-robin (module docstring);
    element i of every array is round i."""
    device = split.device
    out = {}
    with torch.inference_mode():
        for model in models.values():
            model.eval()
        for batch_size in cfg.batch_sizes:
            batch, _ = split.take(torch.arange(batch_size) % split.n)
            for model in models.values():
                for _ in range(cfg.warmup):
                    model(batch)
            times: dict[str, list[float]] = {name: [] for name in models}
            started = time.perf_counter()
            names = list(models)
            for call in range(cfg.latency_calls):
                for name in names[call % len(names):] + names[:call % len(names)]:
                    model = models[name]
                    _sync(device)
                    t = time.perf_counter()
                    model(batch)
                    _sync(device)
                    times[name].append((time.perf_counter() - t) * 1e3)
                if call + 1 >= MIN_CALLS and time.perf_counter() - started > cfg.latency_seconds:
                    break
            out.update({(name, batch_size): np.array(ms) for name, ms in times.items()})
    return out


def data_path_targets(schema: dict[str, Any], train: dict[str, np.ndarray], run: dict[str, Any],
                      cfg: EfficiencyConfig, device: torch.device) -> list[dict]:
    """Targets 1 and 2 for one model: the real path, batches already in memory and the per-row
    reference, each training its own copy of the model, interleaved step by step (module
    docstring); plus the rate of each loader alone."""
    dataset, model = schema["name"], run["model"]
    log.info("%s / %s: epochs on the real, in-memory and per-row paths", dataset, model)
    split = SplitTensors(train, device)
    reference = PerRowDataset(train)
    trainers = {p: Trainer(run, schema, device) for p in ("real", "in_memory", "per_row")}
    batch_size, seed = trainers["real"].training.batch_size, run["seed"]
    in_memory = list(split.train_batches(batch_size, seed, 1))
    paths: dict[str, Callable[[], Iterable]] = {
        "real": lambda: split.train_batches(batch_size, seed, 1),
        "in_memory": lambda: in_memory,
        "per_row": lambda: per_row_loader(reference, batch_size, split.epoch_order(seed, 1), device),
    }
    for trainer in trainers.values():
        for batch, labels in in_memory[:cfg.warmup]:
            trainer.step(batch, labels)
        trainer.reset()
    names = list(paths)
    epochs = max(cfg.repeats, _epochs_for(split.n, batch_size, cfg.min_steps))
    seconds = dict.fromkeys(names, 0.0)
    for _ in range(epochs):
        batches = {p: iter(make()) for p, make in paths.items()}
        for step in range(len(in_memory)):
            for path in names[step % 3:] + names[:step % 3]:  # no path always goes first
                _sync(device)
                start = time.perf_counter()
                trainers[path].step(*next(batches[path]))
                _sync(device)
                seconds[path] += time.perf_counter() - start
    epoch = {p: t / epochs for p, t in seconds.items()}
    loader = dict.fromkeys(names, math.inf)
    for _ in range(cfg.repeats):
        for path, make in paths.items():
            start = time.perf_counter()
            for _batch in make():
                pass
            loader[path] = min(loader[path], time.perf_counter() - start)
    note = f"mean of {epochs} interleaved epochs of {split.n} rows, batch {batch_size}"
    rows = [{"dataset": dataset, "model": model, "measurement": f"epoch_seconds_{p}", "batch_size": batch_size,
             "value": epoch[p], "unit": "s", "note": note} for p in names]
    rows += [{"dataset": dataset, "model": model, "measurement": f"loader_only_rows_per_s_{p}",
              "batch_size": batch_size, "value": split.n / loader[p], "unit": "rows/s",
              "note": f"iterating the batches without training, fastest of {cfg.repeats}"} for p in ("real", "per_row")]
    rows.append(_target_row(dataset, model, "epoch_time_ratio_real_vs_in_memory", epoch["real"] / epoch["in_memory"],
                            batch_size, note))
    rows.append(_target_row(dataset, model, "throughput_ratio_vs_per_row_loader", epoch["per_row"] / epoch["real"],
                            batch_size, note))
    rows.append({"dataset": dataset, "model": model, "measurement": "throughput_ratio_bound_vs_per_row_loader",
                 "batch_size": batch_size, "value": epoch["per_row"] / epoch["in_memory"], "unit": "ratio",
                 "note": "the most any data path can reach: per-row reference over batches already in memory"})
    return rows


def _target_row(dataset: str, model: str, measurement: str, value: float, batch_size: int | None,
                note: str, is_target: bool = True) -> dict:
    op, limit = TARGETS[measurement]
    passed = (value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit) if is_target else None
    return {"dataset": dataset, "model": model, "measurement": measurement, "batch_size": batch_size,
            "value": value, "unit": "ratio" if "ratio" in measurement else "GiB",
            "target": f"{op} {limit}" if is_target else "", "passed": passed, "note": note}


def measure_suite(data_dirs: dict[str, str | Path], runs: dict[str, dict[str, dict[str, Any]]],
                  cfg: EfficiencyConfig, scaling: pd.DataFrame | None = None) -> pd.DataFrame:
    """efficiency.csv: ``measure_dataset`` for every dataset (``runs``: dataset -> model -> run
    config), plus the scaling targets when a scaling table is given."""
    frames = []
    for dataset, folder in data_dirs.items():
        schema = load_schema(folder)
        frames.append(measure_dataset(schema, load_split(folder, "train"), load_split(folder, "test"),
                                      runs[dataset], cfg))
    if scaling is not None:
        frames.append(pd.DataFrame(scaling_targets(scaling), columns=COLUMNS))
    return pd.concat(frames, ignore_index=True)


def scaling_targets(scaling: pd.DataFrame) -> list[dict]:
    """Target 4 from scaling.csv: time per row at the largest size over the smallest, and the
    larger of the prepare and train peak RSS at the largest size."""
    small, large = scaling.loc[scaling["rows"].idxmin()], scaling.loc[scaling["rows"].idxmax()]
    peak = max(large["prepare_peak_rss_mib"], large["train_peak_rss_mib"]) / 1024
    model = str(large["model"])
    return [
        _target_row(SCALING_DATASET, model, "time_per_row_ratio_largest_vs_smallest",
                    float(large["us_per_row"] / small["us_per_row"]), int(large["batch_size"]),
                    f"{int(large['rows'])} rows over {int(small['rows'])} rows (scaling.csv)"),
        _target_row(SCALING_DATASET, model, "peak_rss_gib_at_largest", float(peak), int(large["batch_size"]),
                    f"max of the prepare and train processes at {int(large['rows'])} rows (scaling.csv)"),
    ]


# -- scaling: one process per size and stage ----------------------------------------------------

def run_scaling(run: dict[str, Any], cfg: EfficiencyConfig, work_dir: str | Path) -> pd.DataFrame:
    """scaling.csv: the funnel at every size of ``cfg.scaling.rows``, prepared in one child process
    and trained (``cfg.scaling.steps`` steps of ``run``) in another, so each peak RSS is that size's."""
    out = []
    for rows in sorted(cfg.scaling.rows):
        folder = Path(work_dir) / f"{SCALING_DATASET}_{rows}"
        log.info("scaling: %d rows", rows)
        prepare = {**run["prepare"], "rows": rows}
        prepared = _child("prepare", {"prepare": prepare, "folder": str(folder)})
        trained = _child("train", {"run": run, "folder": str(folder / "processed"), "threads": cfg.threads,
                                   "steps": cfg.scaling.steps, "warmup": cfg.warmup})
        out.append({"rows": rows, "model": run["model"], "prepare_seconds": prepared["seconds"],
                    "prepare_peak_rss_mib": prepared["peak_rss_mib"], **trained})
        shutil.rmtree(folder, ignore_errors=True)
    return pd.DataFrame(out, columns=SCALING_COLUMNS)


def _child(stage: str, spec: dict[str, Any]) -> dict[str, Any]:
    # the child imports this checkout's packages, whatever the interpreter has installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "analysis.efficiency", stage, json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"scaling {stage} failed ({spec.get('prepare') or spec['folder']}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare_stage(spec: dict[str, Any]) -> dict[str, Any]:
    folder = Path(spec["folder"])
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    get_dataset(SCALING_DATASET, {"prepare": spec["prepare"]}).prepare(folder / "raw", folder / "processed")
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": _process_peak_mib()}


def _train_stage(spec: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(spec["threads"])
    run, steps = spec["run"], spec["steps"]
    device = select_device(TrainingConfig(**run["training"]))
    start = time.perf_counter()
    split = SplitTensors(load_split(spec["folder"], "train"), device)
    load_seconds = time.perf_counter() - start
    trainer = Trainer(run, load_schema(spec["folder"]), device)
    batch_size, seed = trainer.training.batch_size, run["seed"]
    for batch, labels in _take(split.train_batches(batch_size, seed, 0), spec["warmup"]):
        trainer.step(batch, labels)
    trainer.reset()
    seconds, rows = trainer.epoch(split.train_batches(batch_size, seed, 1), steps)
    return {"train_rows": split.n, "batch_size": batch_size, "steps": -(-rows // batch_size),
            "rows_trained": rows, "load_seconds": load_seconds, "train_seconds": seconds,
            "us_per_row": seconds / rows * 1e6, "train_peak_rss_mib": _process_peak_mib()}


# -- the report's view --------------------------------------------------------------------------

def auc_latency_frame(metrics_long: pd.DataFrame, efficiency: pd.DataFrame, batch_size: int = 512) -> pd.DataFrame:
    """``dataset, model, test_auc, latency_ms``: mean test AUC over tasks and seeds
    (metrics_long.csv) beside the median latency at ``batch_size`` (efficiency.csv), for
    ``analysis.figures.plot_auc_vs_latency``."""
    auc = metrics_long[(metrics_long["split"] == "test") & (metrics_long["metric"] == "auc")]
    auc = auc.groupby(["dataset", "model"], as_index=False)["value"].mean().rename(columns={"value": "test_auc"})
    lat = efficiency[(efficiency["measurement"] == "latency_median_ms") & (efficiency["batch_size"] == batch_size)]
    lat = lat[["dataset", "model", "value"]].rename(columns={"value": "latency_ms"})
    return auc.merge(lat, on=["dataset", "model"], how="inner")


#: what each target measures, for the report
TARGET_LABELS = {
    "epoch_time_ratio_real_vs_in_memory": "1. epoch time, real data path / batches already in memory",
    "throughput_ratio_vs_per_row_loader": "2. throughput, real data path / per-row Dataset + DataLoader",
    "latency_ratio_vs_baseline": "3. inference latency, {model} / {baseline}",
    "time_per_row_ratio_largest_vs_smallest": "4a. time per row, largest / smallest funnel",
    "peak_rss_gib_at_largest": "4b. peak resident memory at the largest funnel (GiB)",
}


def targets_frame(efficiency: pd.DataFrame, baseline: str = "single_task") -> pd.DataFrame:
    """One row per target measurement of efficiency.csv: target, dataset, model, batch size,
    measured value, limit and whether it holds ("held" / "MISSED"); target 2 carries the bound
    (the most any data path could reach on that model) beside it."""
    rows = efficiency[efficiency["target"].fillna("").astype(str) != ""]
    bound = efficiency[efficiency["measurement"] == "throughput_ratio_bound_vs_per_row_loader"]
    bound = bound.set_index(["dataset", "model"])["value"]
    out = []
    for r in rows.itertuples():
        label = TARGET_LABELS[r.measurement].format(model=r.model, baseline=baseline)
        note = ""
        if r.measurement == "throughput_ratio_vs_per_row_loader" and (r.dataset, r.model) in bound.index:
            note = f"bound {bound[(r.dataset, r.model)]:.2f}"
        out.append({"target": label, "dataset": r.dataset, "model": r.model,
                    "batch": "" if pd.isna(r.batch_size) else int(r.batch_size), "measured": f"{r.value:.3f}",
                    "limit": r.target, "holds": "held" if str(r.passed) == "True" else "MISSED", "note": note})
    columns = ["target", "dataset", "model", "batch", "measured", "limit", "holds", "note"]
    return pd.DataFrame(out, columns=columns).sort_values(["target", "dataset"], kind="stable", ignore_index=True)


def latency_frame(efficiency: pd.DataFrame, batch_size: int = 512) -> pd.DataFrame:
    """Per model (the index): median latency (ms) at ``batch_size`` and its ratio to the latency
    baseline, one column pair per dataset."""
    cols = {}
    for dataset, block in efficiency.groupby("dataset", sort=True):
        at = block[block["batch_size"] == batch_size].pivot_table(index="model", columns="measurement",
                                                                  values="value", aggfunc="first")
        if "latency_median_ms" not in at:
            continue
        cols[f"{dataset} ms"] = at["latency_median_ms"].map("{:.3f}".format)
        cols[f"{dataset} ratio"] = at["latency_ratio_vs_baseline"].map("{:.2f}".format)
    return pd.DataFrame(cols).fillna("n/a").rename_axis("model")


def efficiency_markdown(efficiency: pd.DataFrame, scaling: pd.DataFrame, baseline: str = "single_task") -> str:
    """The report's efficiency section: the targets with measured values (a missed target is shown,
    never hidden), latency per model and dataset, and the scaling table."""
    targets = targets_frame(efficiency, baseline)
    missed = targets[targets["holds"] == "MISSED"]
    held = sorted(set(targets["target"]) - set(missed["target"]))
    shown = scaling.assign(us_per_row=scaling["us_per_row"].map("{:.2f}".format),
                           prepare_peak_rss_mib=scaling["prepare_peak_rss_mib"].map("{:.0f}".format),
                           train_peak_rss_mib=scaling["train_peak_rss_mib"].map("{:.0f}".format))
    shown = shown.set_index("rows")[["model", "batch_size", "rows_trained", "us_per_row", "prepare_peak_rss_mib",
                                     "train_peak_rss_mib"]]
    return "\n".join([
        "### Targets", "",
        f"Held everywhere: {', '.join(held) or 'none'}. "
        f"Missed somewhere: {', '.join(sorted(set(missed['target']))) or 'none'}.", "",
        to_markdown(targets.set_index("target"),
                    "Target 2's bound is the per-row reference's epoch time over the same passes on batches already "
                    "in memory: the most any data path can reach on that model and machine (when the model's own "
                    "compute dominates the epoch, no loader can reach 3x)."),
        "### Inference latency at batch 512", "",
        to_markdown(latency_frame(efficiency),
                    f"Median of timed forward passes; ratio = the model's latency over {baseline}'s."),
        "### Scaling on the synthetic funnel", "",
        to_markdown(shown, "Time per trained row and peak resident memory of the prepare and train processes."),
    ])


def write_efficiency_report(long_csv: str | Path, efficiency_csv: str | Path, scaling_csv: str | Path,
                            md_path: str | Path, figure_stem: str | Path, reference: str | None = None,
                            baseline: str = "single_task") -> None:
    """``efficiency.md`` and the test-AUC-against-latency figure (the ``report_efficiency`` rule)."""
    efficiency, scaling = pd.read_csv(efficiency_csv), pd.read_csv(scaling_csv)
    write_text(md_path, efficiency_markdown(efficiency, scaling, baseline))
    frame = auc_latency_frame(pd.read_csv(long_csv), efficiency)
    if frame.empty:
        plot_not_drawn("no (dataset, model) has both a test AUC and a measured latency", figure_stem)
    else:
        plot_auc_vs_latency(frame, figure_stem, reference=reference)


# -- helpers ------------------------------------------------------------------------------------

def _epochs_for(n: int, batch_size: int, min_steps: int) -> int:
    """Whole epochs of ``n`` rows that make at least ``min_steps`` steps."""
    return max(1, -(-min_steps // -(-n // batch_size)))


def _head(arrays: dict[str, np.ndarray], n: int | None) -> dict[str, np.ndarray]:
    return arrays if n is None else {k: v[:n] for k, v in arrays.items()}


def _take(iterator: Iterator, n: int) -> Iterator:
    for i, item in enumerate(iterator):
        if i == n:
            return
        yield item


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> str:
    """Reset the peak-memory counter; return how the following peak is to be read."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "torch.cuda.max_memory_allocated"
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand free heap memory back, so RSS is what is in use
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the resident high-water mark
        status = Path("/proc/self/status").read_text()
    except OSError:
        return "peak RSS of the process since process start"
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024
    return f"peak RSS of the process since reset (RSS at reset {rss:.0f} MiB)"


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _process_peak_mib()


def _process_peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


if __name__ == "__main__":  # the child processes of run_scaling: python -m analysis.efficiency STAGE SPEC
    stage, spec = sys.argv[1], json.loads(sys.argv[2])
    result = {"prepare": _prepare_stage, "train": _train_stage}[stage](spec)
    print(json.dumps(result))
