"""Seeds, devices and the record of the software a run used."""
from __future__ import annotations

import fcntl
import os
import platform
import random
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from .config import TrainingConfig

RECORDED_PACKAGES = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "snakemake")
_HELD_DEVICE_LOCKS = []  # open lock files of claimed CUDA devices, released when the process exits


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def select_device(cfg: TrainingConfig) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is available")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def claim_cuda_device(lock_dir: str | None = None) -> int | None:
    """Make a free CUDA device current when this process sees several; return its index.

    Local runs start at most one training job per device (workflow/profiles/local); each job takes
    the first device whose lock file (``<tmp>/resflow-cuda-<uuid>.lock``, fcntl) it can hold. A job
    that sees one device (a SLURM job with --gpus=1) or none keeps it as is and returns None.
    """
    if not torch.cuda.is_available() or torch.cuda.device_count() < 2:
        return None
    for index in range(torch.cuda.device_count()):
        uuid = torch.cuda.get_device_properties(index).uuid
        lock = open(os.path.join(lock_dir or tempfile.gettempdir(), f"resflow-cuda-{uuid}.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        _HELD_DEVICE_LOCKS.append(lock)
        torch.cuda.set_device(index)
        return index
    raise RuntimeError("every CUDA device is held by another training job: run at most one per device "
                       "(snakemake --profile workflow/profiles/local)")


def configure_determinism(cfg: TrainingConfig, device: torch.device) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda" and cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(cfg.deterministic, warn_only=False)
    torch.backends.cudnn.benchmark = not cfg.deterministic


def git_commit(repo: Path | None = None) -> str:
    """HEAD of the checkout, with ``-dirty`` when a tracked file outside ``results/`` changed (the
    committed report under results/report/ is rewritten by every suite run; it is not code)."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(device: torch.device) -> dict:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(),
    }
