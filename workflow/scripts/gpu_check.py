"""GPU check: train a tiny config on CUDA twice; report throughput and whether deterministic mode holds.

Usage: python workflow/scripts/gpu_check.py [--models resflow mmoe] [--rows 200000] [--epochs 3]
                                            [--batch-size 1024] [--amp] [--device cuda|cpu]

Data: a seeded synthetic tabular dataset shaped like AliExpress (16 categorical fields, 63 dense
features, tasks click -> ctcvr with ctcvr a subset of click), written in the processed format to a
temporary folder. Each run is ``training.loop.train_run``, as in the pipeline, with
``deterministic: true``: ``torch.use_deterministic_algorithms(True)`` (an operation without a
deterministic CUDA kernel raises RuntimeError) and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS
needs for reproducible results on CUDA >= 10.2 (PyTorch notes, "Reproducibility"). Both runs of a
model use seed 0; deterministic mode holds when their validation and test predictions and metrics
are bit-identical.

Throughput is training rows per second of an epoch, which includes its validation pass, as the
median over epochs 2.. (epoch 1 includes CUDA start-up) or epoch 1 alone when ``--epochs 1``.

Exit status: 0 deterministic mode holds for every model; 1 it does not (or deterministic mode
raised); 2 no CUDA device. ``--device cpu`` runs the same check on the CPU as a baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

# before anything can initialise cuBLAS (the training runtime sets it too, with setdefault)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.base import TaskSpec  # noqa: E402
from benchmarks.processed import write_processed  # noqa: E402
from models import resolved_hparams  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.loop import train_run  # noqa: E402

VOCAB = [1000] * 4 + [100] * 12
N_DENSE = 63


def synthetic_dataset(out_dir: Path, rows: int, seed: int = 0) -> int:
    """Write train (``rows``), val and test (``rows // 10`` each); return the train row count."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=N_DENSE) / np.sqrt(N_DENSE)
    effects = [rng.normal(size=v) for v in VOCAB[:4]]

    def split(n: int) -> dict[str, np.ndarray]:
        cat = np.stack([rng.integers(1, v, n) for v in VOCAB], axis=1)
        dense = rng.normal(size=(n, N_DENSE)).astype(np.float32)
        score = dense @ weights + sum(e[cat[:, i]] for i, e in enumerate(effects))
        click = rng.random(n) < 1 / (1 + np.exp(-(score - 2.0)))
        buy = click & (rng.random(n) < 1 / (1 + np.exp(-(0.5 * score - 1.0))))
        return {"labels": np.stack([click, buy], axis=1).astype(np.float32), "categorical": cat, "dense": dense}

    write_processed(out_dir, {"train": split(rows), "val": split(rows // 10), "test": split(rows // 10)}, {
        "name": "gpu_check", "input": "tabular", "group_key": None,
        "categorical": [{"name": f"c{i}", "vocab_size": v} for i, v in enumerate(VOCAB)],
        "dense": [f"d{i}" for i in range(N_DENSE)],
        "tasks": [{"name": "click"}, {"name": "ctcvr"}],
    })
    return rows


def run_once(data_dir: Path, run_dir: Path, model: str, args: argparse.Namespace) -> dict:
    """One pipeline training run; its predictions, metrics and epoch times."""
    training = TrainingConfig(epochs=args.epochs, patience=args.epochs, batch_size=args.batch_size,
                              device=args.device, deterministic=True, amp=args.amp)
    run = {"dataset": "gpu_check", "prepare": {}, "tasks": [asdict(TaskSpec("click")), asdict(TaskSpec("ctcvr"))],
           "model": model, "model_options": resolved_hparams(model, {}), "training": asdict(training), "seed": 0}
    started = time.perf_counter()
    metrics = train_run(data_dir, run_dir, run)
    wall = time.perf_counter() - started
    with np.load(run_dir / "predictions.npz") as npz:
        probs = {k: npz[k] for k in ("val_probs", "test_probs")}
    epochs = pd.read_csv(run_dir / "history.csv")["seconds"].tolist()
    return {"metrics": metrics, "probs": probs, "epoch_seconds": epochs, "wall": wall}


def identical(a: dict, b: dict) -> tuple[bool, float]:
    """Bit-identical predictions and metrics; and the largest absolute prediction difference."""
    same = (all(a["probs"][k].tobytes() == b["probs"][k].tobytes() for k in a["probs"])
            and json.dumps(a["metrics"], sort_keys=True) == json.dumps(b["metrics"], sort_keys=True))
    diff = max(float(np.max(np.abs(a["probs"][k].astype(np.float64) - b["probs"][k]))) for k in a["probs"])
    return same, diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["resflow"])
    parser.add_argument("--rows", type=int, default=200_000, help="training rows (val and test: a tenth each)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (training.amp)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: the same check as a baseline")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, "
              f"built for CUDA {torch.version.cuda or 'none: a CPU-only build'}, "
              f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}). "
              "Run this on a machine with an NVIDIA GPU, or pass --device cpu for the CPU baseline.", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device: {args.device} ({name}); torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version()}; amp {args.amp}; batch {args.batch_size}; epochs {args.epochs}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as tmp:
        data_dir = Path(tmp) / "data"
        rows = synthetic_dataset(data_dir, args.rows)
        for model in args.models:
            try:
                first, second = (run_once(data_dir, Path(tmp) / model / str(i), model, args) for i in (1, 2))
            except RuntimeError as exc:  # e.g. an operation with no deterministic implementation on CUDA
                print(f"{model}: deterministic mode raised: {exc}")
                failed = True
                continue
            same, diff = identical(first, second)
            seconds = first["epoch_seconds"][1:] or first["epoch_seconds"]
            print(f"{model}: {rows / statistics.median(seconds):,.0f} training rows/s (epoch incl. validation), "
                  f"run {first['wall']:.1f} s; two runs bit-identical: {'yes' if same else 'NO'}"
                  + ("" if same else f" (max |difference| of predictions {diff:.3g})"))
            failed |= not same
    print("deterministic mode holds" if not failed else "deterministic mode DOES NOT hold (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
