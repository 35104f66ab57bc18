"""CelebA: 40 binary face attributes (or a configured subset) as tasks, official partition.

Z. Liu, P. Luo, X. Wang, X. Tang, *Deep Learning Face Attributes in the Wild*, ICCV 2015. Used
as a 40-task multi-label benchmark by Sener & Koltun, NeurIPS 2018.

Sources (torchvision's CelebA layout and md5s): ``img_align_celeba.zip`` (aligned 178x218 JPEGs
under ``img_align_celeba/``), ``list_attr_celeba.txt`` (line 1: image count; line 2: the 40
attribute names; then ``<image> <40 values in {-1, 1}>``) and ``list_eval_partition.txt``
(``<image> <0 train | 1 val | 2 test>``). They are on Google Drive, whose confirmation pages
and download quotas a plain HTTP client cannot pass, so they are manual downloads (the fix
printed by the fetch step names the Drive file ids) or come from the mirror.

``source: huggingface`` reads a copy from the Hugging Face Hub (or a local path) through the
optional ``datasets`` library instead (``pip install datasets``; not in requirements.txt); the
copy's splits are mapped by ``hf_splits``, must have the official partition sizes, and pass the
same label and image checks, giving the same processed output.

Preparation, once: each image's central square (178x178) is cut out and resized to
``image_size`` (bilinear, antialiased), stored uint8 [n, 3, S, S]. Labels: value > 0 -> 1.
The tasks have no natural order; ``task_order`` (``benchmarks.base.TaskOrderOptions``) sets it.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

import numpy as np

from core.config import ConfigError

from .base import Benchmark, RawFormatError, Source, TaskOrderOptions, TaskSpec, register_dataset
from .tabular import read_lines

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
SPLITS = ("train", "val", "test")
#: images per split of the official partition (list_eval_partition.txt: 0, 1, 2)
OFFICIAL_SPLIT_SIZES = {"train": 162_770, "val": 19_867, "test": 19_962}
IMAGES_ZIP, ATTR_FILE, PARTITION_FILE = "img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt"
#: filename -> (md5 as pinned by torchvision, Google Drive file id)
FILES = {
    IMAGES_ZIP: ("00d2c5bc6d35e252742224ab0c1e8fcb", "0B7EVK8r0v71pZjFTYXZWM3FlRnM"),
    ATTR_FILE: ("75e246fa4810816ffd6ee81facbd244c", "0B7EVK8r0v71pblRyaVFSWGxPY0U"),
    PARTITION_FILE: ("d32c9cbf5e040fd4025c592c306e6668", "0B7EVK8r0v71pY0NSMzRuSXJEVkk"),
}


@dataclass
class CelebAOptions(TaskOrderOptions):
    source: Literal["official", "huggingface"] = "official"
    #: attribute names used as tasks, in this order; null = all 40 in the official order
    attributes: list[str] | None = None
    #: side of the square images after preparation
    image_size: int = 64
    #: image encoder shared by every model (models/encoders.py)
    encoder: Literal["cnn", "resnet18"] = "resnet18"
    #: huggingface: the Hub dataset id (or a local path) passed to datasets.load_dataset
    hf_dataset: str = "flwrlabs/celeba"
    #: huggingface: split names of the copy for train, val and test
    hf_splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "val": "valid", "test": "test"})


@register_dataset
class CelebA(Benchmark):
    name = "celeba"
    Options = CelebAOptions
    tasks = tuple(TaskSpec(a) for a in ATTRIBUTES)
    description = "CelebA aligned faces, 40 binary attributes (official partition)"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        where = f"dataset_options.{self.name}.prepare"
        chosen = self.options.attributes
        if chosen is not None:
            unknown = [a for a in chosen if a not in ATTRIBUTES]
            if unknown or not chosen or len(set(chosen)) != len(chosen):
                raise ConfigError(f"{where}.attributes: need distinct CelebA attribute names; unknown {unknown}; "
                                 f"known: {list(ATTRIBUTES)}")
            self.tasks = tuple(TaskSpec(a) for a in chosen)
        if self.options.image_size < 8:
            raise ConfigError(f"{where}.image_size: at least 8, got {self.options.image_size}")
        if sorted(self.options.hf_splits) != sorted(SPLITS):
            raise ConfigError(f"{where}.hf_splits: need exactly the keys {list(SPLITS)}")

    def sources(self) -> list[Source]:
        if self.options.source == "huggingface":
            return []  # read through the datasets library at preparation
        return [
            Source(name, md5=md5, mirror_paths=(f"celeba/{name}",), manual=(
                f"download {name} from the CelebA Google Drive (file id {drive_id}, e.g. `gdown {drive_id}`; "
                "listed at http://mmlab.ie.cuhk.edu.hk/projects/CelebA.html), or set "
                "dataset_options.celeba.prepare.source: huggingface (needs `pip install datasets`)"))
            for name, (md5, drive_id) in FILES.items()
        ]

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        names = [t.name for t in self.tasks]
        if self.options.source == "official":
            splits = read_official(raw_dir, names, self.options.image_size)
        else:
            splits = read_huggingface(self.options.hf_dataset, self.options.hf_splits, names, self.options.image_size)
        s = self.options.image_size
        self.write(raw_dir, out_dir, splits, {
            "input": "image", "encoder": self.options.encoder, "categorical": [], "dense": [],
            "image": {"channels": 3, "height": s, "width": s},
        })


def read_official(raw_dir: Path, attributes: list[str], size: int) -> dict[str, dict[str, np.ndarray]]:
    """The three splits from the official files: partition, attributes and the image zip."""
    partition_path, attr_path, zip_path = raw_dir / PARTITION_FILE, raw_dir / ATTR_FILE, raw_dir / IMAGES_ZIP
    for path in (partition_path, attr_path, zip_path):
        if not path.is_file():
            raise RawFormatError(f"{path}: file missing (the official CelebA files are {list(FILES)})")
    partition = read_partition(partition_path)
    header, rows = read_attributes(attr_path)
    columns = [header.index(a) for a in attributes]
    labels = {}
    for line, (image, values) in rows.items():
        if image in labels:
            raise RawFormatError(f"{attr_path}:{line}: image {image!r} listed twice")
        if image not in partition:
            raise RawFormatError(f"{attr_path}:{line}: image {image!r} is not in {partition_path}")
        labels[image] = values[columns]
    splits = {}
    with zipfile.ZipFile(zip_path) as archive:
        members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
        for image, (line, _) in partition.items():
            if image not in labels:
                raise RawFormatError(f"{partition_path}:{line}: image {image!r} has no row in {attr_path}")
            if image not in members:
                raise RawFormatError(f"{partition_path}:{line}: image {image!r} is not in {zip_path}")
        for k, split in enumerate(SPLITS):
            images = [image for image, (_, part) in partition.items() if part == k]
            if not images:
                raise RawFormatError(f"{partition_path}: no image in the {split} partition ({k})")
            items = ((f"{zip_path}:{members[i]}", archive.read(members[i])) for i in images)
            splits[split] = {"image": decode_images(items, len(images), size),
                             "labels": np.stack([labels[i] for i in images]).astype(np.float32)}
    return splits


def read_partition(path: Path) -> dict[str, tuple[int, int]]:
    """``image -> (line, partition)`` from list_eval_partition.txt (partition 0, 1 or 2)."""
    out = {}
    for line, text in enumerate(read_lines(path), start=1):
        fields = text.split()
        if len(fields) != 2:
            raise RawFormatError(f"{path}:{line}: expected 2 fields (image, partition), found {len(fields)}")
        if fields[1] not in ("0", "1", "2"):
            raise RawFormatError(f"{path}:{line}: column 'partition': {fields[1]!r} not in ['0', '1', '2']")
        if fields[0] in out:
            raise RawFormatError(f"{path}:{line}: image {fields[0]!r} listed twice")
        out[fields[0]] = (line, int(fields[1]))
    return out


def read_attributes(path: Path) -> tuple[list[str], dict[int, tuple[str, np.ndarray]]]:
    """The attribute names and ``line -> (image, 0/1 values)`` rows of list_attr_celeba.txt."""
    lines = read_lines(path)
    if len(lines) < 3:
        raise RawFormatError(f"{path}: expected a count line, a header line and data lines; found {len(lines)} lines")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise RawFormatError(f"{path}:1: expected the number of images, found {lines[0].strip()!r}") from None
    header = lines[1].split()
    missing = [a for a in ATTRIBUTES if a not in header]
    if missing or len(header) != len(ATTRIBUTES):
        raise RawFormatError(f"{path}:2: expected the {len(ATTRIBUTES)} CelebA attribute names, "
                             f"found {len(header)} names (missing {missing})")
    if len(lines) - 2 != count:
        raise RawFormatError(f"{path}:1: declares {count} images, the file has {len(lines) - 2} data lines")
    rows = [text.split() for text in lines[2:]]
    for i, fields in enumerate(rows):
        if len(fields) != len(header) + 1:
            raise RawFormatError(f"{path}:{i + 3}: expected {len(header) + 1} fields (image and {len(header)} "
                                 f"attributes), found {len(fields)}")
    images = [fields[0] for fields in rows]
    text_values = np.array([fields[1:] for fields in rows])
    try:
        values = text_values.astype(np.int64)
    except ValueError:
        for (i, j), v in np.ndenumerate(text_values):
            if not v.lstrip("+-").isdigit():
                raise RawFormatError(f"{path}:{i + 3}: column {header[j]!r}: {str(v)!r} is not an integer") from None
        raise
    binary = to_binary(values, header, lambda i: f"{path}:{i + 3}")
    return header, {i + 3: (image, binary[i]) for i, image in enumerate(images)}


def to_binary(values: np.ndarray, names: list[str], where: Callable[[int], str]) -> np.ndarray:
    """Labels coded {-1, 1} (official) or {0, 1} -> uint8 0/1; the first other value (or a file
    mixing -1 and 0) names its row (``where(row)``) and column."""
    allowed = [-1, 1] if (values == -1).any() else [0, 1]
    bad = ~np.isin(values, allowed)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise RawFormatError(f"{where(i)}: column {names[j]!r}: label {values[i, j]} not in {allowed}")
    return (values > 0).astype(np.uint8)


def decode_images(items: Iterable[tuple[str, bytes]], n: int, size: int) -> np.ndarray:
    """``n`` (where, JPEG/PNG bytes) -> uint8 [n, 3, size, size]: central square, bilinear
    resize. A file that does not decode names ``where``."""
    from PIL import Image, UnidentifiedImageError

    out = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, (where, item) in enumerate(items):
        try:
            image = Image.open(io.BytesIO(item)).convert("RGB")
            w, h = image.size
            s = min(w, h)
            box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
            image = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise RawFormatError(f"{where}: cannot decode the image ({exc})") from None
        out[i] = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    return out


def read_huggingface(dataset: str, split_names: dict[str, str], attributes: list[str],
                     size: int) -> dict[str, dict[str, np.ndarray]]:
    """The three splits from a Hugging Face copy (columns ``image`` and one per attribute)."""
    try:
        import datasets
    except ImportError:
        raise ImportError("dataset_options.celeba.prepare.source: huggingface needs the optional "
                          "`datasets` package: pip install datasets") from None
    splits = {}
    for split in SPLITS:
        where = f"{dataset}[{split_names[split]}]"
        data = datasets.load_dataset(dataset, split=split_names[split])
        missing = [c for c in ("image", *attributes) if c not in data.column_names]
        if missing:
            raise RawFormatError(f"{where}: columns {missing} missing; found {data.column_names}")
        if len(data) != OFFICIAL_SPLIT_SIZES[split]:
            raise RawFormatError(f"{where}: {len(data)} images, the official {split} partition has "
                                 f"{OFFICIAL_SPLIT_SIZES[split]}; this copy does not follow the official partition")
        values = np.stack([np.asarray(data[a]).astype(np.int64) for a in attributes], axis=1)
        labels = to_binary(values, attributes, lambda i: f"{where} row {i}")
        # undecoded bytes, so that the images go through the same decoding as the official files
        raw = data.select_columns(["image"]).cast_column("image", datasets.Image(decode=False))
        items = ((f"{where} row {i}", _image_bytes(row["image"])) for i, row in enumerate(raw))
        splits[split] = {"image": decode_images(items, len(data), size), "labels": labels.astype(np.float32)}
    return splits


def _image_bytes(image: dict[str, Any]) -> bytes:
    """The encoded file of an undecoded ``datasets.Image`` value (inline bytes or a local path)."""
    return image["bytes"] if image.get("bytes") is not None else Path(image["path"]).read_bytes()
