"""MultiMNIST: two overlapping MNIST digits per image, one binary task per digit class (10 tasks).

MultiMNIST has no official archive; it is built from MNIST (LeCun et al. 1998) as in Sabour et al.,
*Dynamic Routing Between Capsules*, NeurIPS 2017 (the multi-task use follows Sener & Koltun,
NeurIPS 2018). Construction of one image, seeded (``seed``):

1. draw two distinct digit classes uniformly, then one image of each class uniformly from the
   split's pool of MNIST images;
2. place each 28x28 digit on a (28 + 2 * ``max_shift``)-square black canvas (36x36 by default)
   at an independent uniform integer offset in [0, 2 * ``max_shift``] per axis, i.e. shifted by
   up to ``max_shift`` pixels in each direction from the centre;
3. combine the two by pixel-wise maximum (uint8, no rescaling).

Task ``digit_d`` is 1 when one of the two digits placed has class d, so every image has exactly
two positive tasks. The tasks have no natural order: ``task_order`` (see
``benchmarks.base.TaskOrderOptions``) chooses the order ResFlow's residual flow follows.

Pools (no MNIST image is shared between the pools of different splits):
- ``official``: train and validation from MNIST's 60,000 training images (``val_fraction`` held
  out, seeded), test from the 10,000 test images.
- ``test_only``: the 10,000 test images alone, split into train/val/test pools by
  ``pool_fractions`` (seeded). For offline runs from a mirror that holds only the t10k files;
  numbers from it are not comparable with the official protocol.
"""
from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from core.config import ConfigError

from .base import Benchmark, RawFormatError, Source, TaskOrderOptions, TaskSpec, register_dataset
from .tabular import seeded_split

#: torchvision's mirror first, then TensorFlow's, then the original site
BASE_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: filename -> (bytes, md5, sha256 or None); md5s as published and used by torchvision
FILES = {
    "train-images-idx3-ubyte.gz": (9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873", None),
    "train-labels-idx1-ubyte.gz": (28_881, "d53e105ee54ea40749a09fcbcd1e9432",
                                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (1_648_877, "9fb629c4189551a2d022fa330f9573f3",
                                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (4_542, "ec29112dd5afa0611ce80d1b7f02629c",
                                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
IDX_MAGIC = {"images": 0x0803, "labels": 0x0801}  # unsigned byte data, 3 or 1 dimensions
N_CLASSES = 10


@dataclass
class MultiMNISTOptions(TaskOrderOptions):
    source: Literal["official", "test_only"] = "official"
    #: official: share of the 60,000 training images held out as the validation pool
    val_fraction: float = 1 / 6
    #: test_only: train/val/test shares of the 10,000 test images
    pool_fractions: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    #: composite images per split
    n_train: int = 60_000
    n_val: int = 10_000
    n_test: int = 10_000
    #: each digit is shifted by up to this many pixels per direction (canvas 28 + 2 * max_shift)
    max_shift: int = 4
    #: seed of the pools and of the composition
    seed: int = 0
    #: image encoder shared by every model (models/encoders.py)
    encoder: Literal["cnn", "resnet18"] = "cnn"


@register_dataset
class MultiMNIST(Benchmark):
    name = "multimnist"
    Options = MultiMNISTOptions
    tasks = tuple(TaskSpec(f"digit_{d}") for d in range(N_CLASSES))
    description = "MultiMNIST built from MNIST: two overlapping digits, 10 digit-presence tasks"

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        opt, where = self.options, f"dataset_options.{self.name}.prepare"
        if opt.max_shift < 0:
            raise ConfigError(f"{where}.max_shift: must be >= 0")
        if min(opt.n_train, opt.n_val, opt.n_test) < 1:
            raise ConfigError(f"{where}: n_train, n_val and n_test must be >= 1")
        if not 0 < opt.val_fraction < 1:
            raise ConfigError(f"{where}.val_fraction: must lie in (0, 1)")
        if len(opt.pool_fractions) != 3 or min(opt.pool_fractions) <= 0:
            raise ConfigError(f"{where}.pool_fractions: need 3 positive fractions")

    def sources(self) -> list[Source]:
        names = [n for n in FILES if self.options.source == "official" or n.startswith("t10k")]
        return [
            Source(n, tuple(u + n for u in BASE_URLS), size=FILES[n][0], md5=FILES[n][1], sha256=FILES[n][2],
                   mirror_paths=(f"mnist/{n}",))
            for n in names
        ]

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        test_x, test_y = read_mnist(raw_dir, "t10k")
        if opt.source == "official":
            train_x, train_y = read_mnist(raw_dir, "train")
            train_idx, val_idx = seeded_split(len(train_y), (1 - opt.val_fraction, opt.val_fraction), opt.seed)
            pools = {"train": (train_x[train_idx], train_y[train_idx]), "val": (train_x[val_idx], train_y[val_idx]),
                     "test": (test_x, test_y)}
        else:
            parts = seeded_split(len(test_y), tuple(opt.pool_fractions), opt.seed)
            pools = {s: (test_x[i], test_y[i]) for s, i in zip(("train", "val", "test"), parts)}
        sizes = {"train": opt.n_train, "val": opt.n_val, "test": opt.n_test}
        splits = {}
        for i, (split, (images, labels)) in enumerate(pools.items()):
            canvas, pairs, _ = compose(images, labels, sizes[split], opt.max_shift, np.random.default_rng([opt.seed, 1, i]))
            splits[split] = {"image": canvas[:, None], "labels": presence_labels(labels[pairs])}
        side = canvas.shape[-1]
        self.write(raw_dir, out_dir, splits, {
            "input": "image", "encoder": opt.encoder, "categorical": [], "dense": [],
            "image": {"channels": 1, "height": side, "width": side},
            "pool_sizes": {s: int(len(p[1])) for s, p in pools.items()},
        })


def read_idx(path: Path, kind: Literal["images", "labels"]) -> np.ndarray:
    """An IDX file (gzip-compressed) as uint8 [n, rows, cols] images or [n] labels."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise RawFormatError(f"{path}: file missing") from None
    except (EOFError, OSError, zlib.error) as exc:
        raise RawFormatError(f"{path}: cannot read ({exc}); the file is truncated or corrupt") from None
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RawFormatError(f"{path}: {len(data)} bytes, shorter than the IDX header ({header} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_MAGIC[kind]:
        raise RawFormatError(f"{path}: byte 0: magic number {magic:#06x}, expected {IDX_MAGIC[kind]:#06x} (IDX {kind})")
    shape = tuple(int.from_bytes(data[4 + 4 * d: 8 + 4 * d], "big") for d in range(ndim))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise RawFormatError(f"{path}: header declares shape {shape} ({expected} data bytes), "
                             f"the file holds {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_mnist(raw_dir: Path, prefix: Literal["train", "t10k"]) -> tuple[np.ndarray, np.ndarray]:
    """Images [n, 28, 28] and labels [n] of one MNIST part, checked against each other."""
    images_path = raw_dir / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = raw_dir / f"{prefix}-labels-idx1-ubyte.gz"
    images, labels = read_idx(images_path, "images"), read_idx(labels_path, "labels")
    if len(images) != len(labels):
        raise RawFormatError(f"{images_path}: {len(images)} images, but {labels_path} has {len(labels)} labels")
    bad = labels >= N_CLASSES
    if bad.any():
        i = int(np.argmax(bad))
        raise RawFormatError(f"{labels_path}: record {i} (byte {8 + i}): label {labels[i]} not in 0..9")
    return images, labels


def compose(images: np.ndarray, labels: np.ndarray, n: int, max_shift: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` two-digit images (see the module docstring).

    Returns the canvases uint8 [n, S, S] (S = side + 2 * max_shift), the pool indices of the two
    digits placed [n, 2], and their offsets [n, 2, (row, col)].
    """
    present = np.unique(labels)
    if len(present) < 2:
        raise ValueError(f"a MultiMNIST pool needs digits of at least 2 classes, found {present.tolist()}")
    members = [np.flatnonzero(labels == c) for c in present]
    counts = np.array([len(m) for m in members])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    by_class = np.concatenate(members)
    k = len(present)
    first = rng.integers(0, k, n)
    second = (first + rng.integers(1, k, n)) % k  # a different class, uniformly
    classes = np.stack([first, second], axis=1)
    pairs = by_class[starts[classes] + (rng.random((n, 2)) * counts[classes]).astype(np.int64)]
    offsets = rng.integers(0, 2 * max_shift + 1, (n, 2, 2))
    h, w = images.shape[1:]
    canvas = np.zeros((n, h + 2 * max_shift, w + 2 * max_shift), dtype=np.uint8)
    for digit in range(2):
        for oy in range(2 * max_shift + 1):
            for ox in range(2 * max_shift + 1):
                rows = np.flatnonzero((offsets[:, digit, 0] == oy) & (offsets[:, digit, 1] == ox))
                region = canvas[rows, oy:oy + h, ox:ox + w]
                canvas[rows, oy:oy + h, ox:ox + w] = np.maximum(region, images[pairs[rows, digit]])
    return canvas, pairs, offsets


def presence_labels(pair_labels: np.ndarray) -> np.ndarray:
    """[n, 2] digit classes -> float32 [n, 10] with 1 for each class present."""
    out = np.zeros((len(pair_labels), N_CLASSES), dtype=np.float32)
    rows = np.arange(len(pair_labels))
    out[rows, pair_labels[:, 0]] = 1.0
    out[rows, pair_labels[:, 1]] = 1.0
    return out
