"""MultiMNIST and CelebA on tiny fixtures in the official raw formats; image encoders on every model."""
from __future__ import annotations

import gzip
import io
import json
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from benchmarks import celeba as celeba_module
from benchmarks.base import RawFormatError, get_dataset, task_settings
from benchmarks.fetch import fetch_dataset
from benchmarks.multimnist import compose, presence_labels, read_idx
from benchmarks.processed import load_schema, load_split
from models import build_model, model_names
from models.encoders import build_encoder, image_pixels

SIDE = 28


# --------------------------------------------------------------------------- MNIST fixture
def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file as MNIST ships it: gzip, big-endian magic (0x0803 images, 0x0801 labels) and dims."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def fixture_digits(values: range) -> tuple[np.ndarray, np.ndarray]:
    """One 28x28 "digit" per value: a 12x12 centred square of that (unique) intensity, so every
    pixel of a composite names the MNIST image it came from. Image i has class i % 10."""
    values = np.array(values)
    images = np.zeros((len(values), SIDE, SIDE), dtype=np.uint8)
    images[:, 8:20, 8:20] = values[:, None, None]
    return images, (np.arange(len(values)) % 10).astype(np.uint8)


@pytest.fixture
def mnist_raw(tmp_path: Path) -> Path:
    """train-* with intensities 1..100, t10k-* with 150..209."""
    raw = tmp_path / "raw"
    for prefix, values in (("train", range(1, 101)), ("t10k", range(150, 210))):
        images, labels = fixture_digits(values)
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return raw


def prepare_mnist(raw: Path, out: Path, **options) -> Path:
    base = {"n_train": 300, "n_val": 100, "n_test": 100}
    get_dataset("multimnist", {"prepare": {**base, **options}}).prepare(raw, out)
    return out


def visible_images(canvas: np.ndarray) -> set[int]:
    return set(np.unique(canvas).tolist()) - {0}


def test_compose_places_two_digits_of_distinct_classes_and_labels_them():
    images, labels = fixture_digits(range(1, 41))
    canvas, pairs, offsets = compose(images, labels, 200, 4, np.random.default_rng(0))
    assert canvas.shape == (200, 36, 36) and canvas.dtype == np.uint8
    assert (labels[pairs[:, 0]] != labels[pairs[:, 1]]).all()
    assert offsets.min() >= 0 and offsets.max() <= 8
    for i in range(200):
        expected = np.zeros((36, 36), dtype=np.uint8)
        for d in range(2):
            (oy, ox) = offsets[i, d]
            placed = np.zeros_like(expected)
            placed[oy:oy + SIDE, ox:ox + SIDE] = images[pairs[i, d]]
            expected = np.maximum(expected, placed)
        assert np.array_equal(canvas[i], expected)
    y = presence_labels(labels[pairs])
    assert (y.sum(1) == 2).all()
    assert all(set(np.flatnonzero(y[i])) == set(labels[pairs[i]]) for i in range(200))


def test_multimnist_is_deterministic_per_seed(mnist_raw, tmp_path):
    a = prepare_mnist(mnist_raw, tmp_path / "a", seed=3)
    b = prepare_mnist(mnist_raw, tmp_path / "b", seed=3)
    c = prepare_mnist(mnist_raw, tmp_path / "c", seed=4)
    for split in ("train", "val", "test"):
        sa, sb, sc = (load_split(p, split) for p in (a, b, c))
        assert np.array_equal(sa["image"], sb["image"]) and np.array_equal(sa["labels"], sb["labels"])
        assert not np.array_equal(sa["image"], sc["image"])


@pytest.mark.parametrize("source", ["official", "test_only"])
def test_multimnist_labels_match_the_digits_placed_and_pools_are_disjoint(mnist_raw, tmp_path, source):
    out = prepare_mnist(mnist_raw, tmp_path / "out", source=source)
    schema = load_schema(out)
    assert schema["input"] == "image" and schema["encoder"] == "cnn"
    assert schema["image"] == {"channels": 1, "height": 36, "width": 36}
    assert [t["name"] for t in schema["tasks"]] == [f"digit_{d}" for d in range(10)]
    seen = {}
    for split in ("train", "val", "test"):
        arrays = load_split(out, split)
        assert arrays["image"].shape == (len(arrays["labels"]), 1, 36, 36)
        assert (arrays["labels"].sum(1) == 2).all()
        complete = 0
        for canvas, y in zip(arrays["image"][:, 0], arrays["labels"]):
            # intensity v belongs to image v-1 (train) or v-150 (t10k); its class is that index % 10
            classes = {(v - (150 if v >= 150 else 1)) % 10 for v in visible_images(canvas)}
            assert classes <= set(np.flatnonzero(y))
            complete += classes == set(np.flatnonzero(y))
        assert complete >= 0.9 * len(arrays["labels"])  # a digit is hidden only when both share an offset
        seen[split] = set().union(*(visible_images(c) for c in arrays["image"][:, 0]))
    assert not (seen["train"] & seen["val"]) and not (seen["train"] & seen["test"]) and not (seen["val"] & seen["test"])
    if source == "official":
        assert max(seen["train"] | seen["val"]) <= 100 and min(seen["test"]) >= 150
        assert schema["pool_sizes"] == {"train": 83, "val": 17, "test": 60}
    else:
        assert min(seen["train"] | seen["val"] | seen["test"]) >= 150
        assert sum(schema["pool_sizes"].values()) == 60


def test_multimnist_test_only_needs_only_the_t10k_files():
    names = [s.filename for s in get_dataset("multimnist", {"prepare": {"source": "test_only"}}).sources()]
    assert names == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    official = get_dataset("multimnist").sources()
    assert len(official) == 4 and all(s.md5 and s.size and s.urls for s in official)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"not gzip at all"), "truncated or corrupt"),
    (lambda p: write_idx(p, np.zeros((5, SIDE), dtype=np.uint8)), "magic number"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-7])), "declares shape"),
])
def test_multimnist_bad_idx_files_are_named_and_nothing_is_written(mnist_raw, tmp_path, damage, message):
    damage(mnist_raw / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(RawFormatError, match=rf"t10k-images-idx3-ubyte\.gz.*{message}"):
        prepare_mnist(mnist_raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_multimnist_label_outside_0_9_names_the_record(mnist_raw, tmp_path):
    labels = read_idx(mnist_raw / "t10k-labels-idx1-ubyte.gz", "labels").copy()
    labels[7] = 11
    write_idx(mnist_raw / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(RawFormatError, match=r"t10k-labels-idx1-ubyte\.gz: record 7 .*label 11"):
        prepare_mnist(mnist_raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- task order
def test_task_order_reorders_label_columns_and_schema(mnist_raw, tmp_path):
    given = prepare_mnist(mnist_raw, tmp_path / "given")
    base = {s: load_split(given, s)["labels"] for s in ("train", "val", "test")}
    names = [f"digit_{d}" for d in range(10)]
    rates = base["train"].mean(0)
    for order, expected in (("frequency", [names[i] for i in np.argsort(-rates, kind="stable")]), ("random", None)):
        out = prepare_mnist(mnist_raw, tmp_path / order, task_order=order, task_order_seed=5)
        schema = load_schema(out)
        got = [t["name"] for t in schema["tasks"]]
        assert schema["task_order"] == order and sorted(got) == names
        if expected is not None:
            assert got == expected
        else:
            assert got == [names[i] for i in np.random.default_rng(5).permutation(10)]
        for split in ("train", "val", "test"):
            labels = load_split(out, split)["labels"]
            for k, name in enumerate(got):
                assert np.array_equal(labels[:, k], base[split][:, names.index(name)])


def test_task_order_is_recorded_in_the_run_metadata(mnist_raw, tmp_path):
    from training.loop import train_run

    out = prepare_mnist(mnist_raw, tmp_path / "data", task_order="random", task_order_seed=1, n_train=64, n_val=32, n_test=32)
    order = [t["name"] for t in load_schema(out)["tasks"]]
    run = {"dataset": "multimnist", "model": "resflow", "seed": 0, "prepare": {}, "model_options": {},
           "tasks": [{"name": f"digit_{d}", "pos_weight": 1.0, "loss_weight": 1.0 + d} for d in range(10)],
           "training": {"epochs": 1, "batch_size": 32, "eval_batch_size": 64, "threads": 1}}
    threads = torch.get_num_threads()  # the run sets one thread (fast on a busy machine); restore it after
    try:
        train_run(out, tmp_path / "run", run)
    finally:
        torch.set_num_threads(threads)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert [t["name"] for t in meta["tasks"]] == order
    assert all(t["loss_weight"] == 1.0 + int(t["name"][-1]) for t in meta["tasks"])  # settings follow the names
    assert list(np.load(tmp_path / "run" / "predictions.npz")["tasks"]) == order


# --------------------------------------------------------------------------- image encoders
def image_schema(encoder: str, channels: int, side: int, n_tasks: int = 3) -> dict:
    return {"name": "toy_images", "input": "image", "encoder": encoder, "categorical": [], "dense": [],
            "image": {"channels": channels, "height": side, "width": side},
            "tasks": [{"name": f"t{i}"} for i in range(n_tasks)], "group_key": None}


# The encoder is one module shared by every model: all models with the CNN, ResNet-18 with two.
@pytest.mark.parametrize("name, encoder, channels, side",
                         [(name, "cnn", 1, 36) for name in model_names()]
                         + [(name, "resnet18", 3, 32) for name in ("resflow", "mmoe")])
def test_every_model_trains_on_image_input(name, encoder, channels, side):
    torch.manual_seed(0)
    schema = image_schema(encoder, channels, side)
    try:
        model = build_model(name, schema)
    except ValueError as exc:  # a method that cannot take these tasks says so clearly
        assert "task" in str(exc), f"{name}: unclear error: {exc}"
        return
    batch = {"image": torch.randint(0, 256, (6, channels, side, side), dtype=torch.uint8)}
    labels = torch.cummin((torch.rand(6, 3, generator=torch.Generator().manual_seed(1)) < 0.6).float(), dim=1).values
    out = model(batch)
    assert list(out) == ["t0", "t1", "t2"] and all(o.shape == (6,) and torch.isfinite(o).all() for o in out.values())
    loss = sum(F.binary_cross_entropy_with_logits(out[f"t{i}"], labels[:, i]) for i in range(3))
    extra = model.auxiliary_loss(out, labels)
    (loss + (extra if extra is not None else 0)).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: parameters without a finite gradient: {missing}"
    first_conv = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.grad.abs().sum() > 0


def test_image_encoders_scale_uint8_to_unit_floats_and_are_chosen_by_the_schema():
    pixels = image_pixels({"image": torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)})
    assert torch.allclose(pixels.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))
    assert type(build_encoder(image_schema("cnn", 1, 36), 8, "none")).__name__ == "SmallCNN"
    resnet = build_encoder(image_schema("resnet18", 3, 32), 8, "none")
    assert type(resnet).__name__ == "ResNet18" and resnet.out_dim == 512
    with pytest.raises(ValueError, match="no encoder"):
        build_encoder(image_schema("vit", 3, 32), 8, "none")


# --------------------------------------------------------------------------- CelebA fixture
CELEBA_IMAGES = [f"{i:06d}.jpg" for i in range(1, 13)]
CELEBA_PARTITION = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def jpeg_bytes(seed: int, size=(22, 27)) -> bytes:
    """A small non-square RGB JPEG (like the 178x218 aligned faces, scaled down)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def attribute_values(n: int) -> np.ndarray:
    return np.where(np.random.default_rng(7).random((n, 40)) < 0.3, 1, -1)


def write_celeba(raw: Path, images: dict[str, bytes] | None = None, attr_lines: list[str] | None = None) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    images = images or {name: jpeg_bytes(i) for i, name in enumerate(CELEBA_IMAGES)}
    with zipfile.ZipFile(raw / "img_align_celeba.zip", "w") as zf:
        zf.writestr("img_align_celeba/", b"")
        for name, data in images.items():
            zf.writestr(f"img_align_celeba/{name}", data)
    values = attribute_values(len(CELEBA_IMAGES))
    if attr_lines is None:
        attr_lines = [str(len(CELEBA_IMAGES)), " ".join(celeba_module.ATTRIBUTES) + " "]
        attr_lines += [f"{name} " + " ".join(f"{v:2d}" for v in row) for name, row in zip(CELEBA_IMAGES, values)]
    (raw / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (raw / "list_eval_partition.txt").write_text(
        "".join(f"{name} {p}\n" for name, p in zip(CELEBA_IMAGES, CELEBA_PARTITION)))
    return raw


def default_attr_lines() -> list[str]:
    values = attribute_values(len(CELEBA_IMAGES))
    return [str(len(CELEBA_IMAGES)), " ".join(celeba_module.ATTRIBUTES)] + [
        f"{name} " + " ".join(str(v) for v in row) for name, row in zip(CELEBA_IMAGES, values)]


def prepare_celeba(raw: Path, out: Path, **options) -> Path:
    get_dataset("celeba", {"prepare": {"image_size": 16, **options}}).prepare(raw, out)
    return out


def test_celeba_official_layout_gives_resized_images_labels_and_partition(tmp_path):
    out = prepare_celeba(write_celeba(tmp_path / "raw"), tmp_path / "out")
    schema = load_schema(out)
    assert schema["rows"] == {"train": 6, "val": 3, "test": 3}
    assert schema["encoder"] == "resnet18" and schema["image"] == {"channels": 3, "height": 16, "width": 16}
    assert [t["name"] for t in schema["tasks"]] == list(celeba_module.ATTRIBUTES)
    values = attribute_values(len(CELEBA_IMAGES))
    test = load_split(out, "test")
    assert test["image"].shape == (3, 3, 16, 16) and test["image"].dtype == np.uint8
    assert np.array_equal(test["labels"], (values[9:] > 0).astype(np.float32))
    # the central square of image 10, resized: the same pixels PIL gives
    original = Image.open(io.BytesIO(jpeg_bytes(9))).convert("RGB")
    expected = original.resize((16, 16), Image.Resampling.BILINEAR, box=(0, 2, 22, 24))
    assert np.array_equal(test["image"][0], np.asarray(expected).transpose(2, 0, 1))


def test_celeba_attribute_subset_sets_the_tasks(tmp_path):
    config = {"prepare": {"attributes": ["Smiling", "Male"], "image_size": 16}}
    assert [t.name for t in task_settings("celeba", config)] == ["Smiling", "Male"]
    out = tmp_path / "out"
    get_dataset("celeba", config).prepare(write_celeba(tmp_path / "raw"), out)
    values = attribute_values(len(CELEBA_IMAGES))
    cols = [celeba_module.ATTRIBUTES.index(a) for a in ("Smiling", "Male")]
    assert [t["name"] for t in load_schema(out)["tasks"]] == ["Smiling", "Male"]
    assert np.array_equal(load_split(out, "train")["labels"], (values[:6, cols] > 0).astype(np.float32))
    with pytest.raises(ValueError, match="Smiles"):
        get_dataset("celeba", {"prepare": {"attributes": ["Smiles"]}})


def _attr_with(line: int, edit) -> list[str]:
    lines = default_attr_lines()
    lines[line - 1] = edit(lines[line - 1])
    return lines


@pytest.mark.parametrize("setup, message", [
    (lambda raw: write_celeba(raw, images={**{n: jpeg_bytes(i) for i, n in enumerate(CELEBA_IMAGES)},
                                           "000005.jpg": b"\xff\xd8 not a jpeg"}),
     r"img_align_celeba\.zip:img_align_celeba/000005\.jpg: cannot decode"),
    (lambda raw: write_celeba(raw, attr_lines=_attr_with(5, lambda s: s.rsplit(" ", 1)[0])),
     r"list_attr_celeba\.txt:5: expected 41 fields.*found 40"),
    (lambda raw: write_celeba(raw, attr_lines=_attr_with(6, lambda s: s[:-2] + " 2")),
     r"list_attr_celeba\.txt:6: column 'Young': label 2 not in \[-1, 1\]"),
    (lambda raw: write_celeba(raw, attr_lines=_attr_with(4, lambda s: s.replace("-1", "0", 1))),
     r"list_attr_celeba\.txt:4: column '.*': label 0 not in \[-1, 1\]"),
    (lambda raw: write_celeba(raw, attr_lines=_attr_with(7, lambda s: s.replace("-1", "x", 1))),
     r"list_attr_celeba\.txt:7: column '.*': 'x' is not an integer"),
    (lambda raw: write_celeba(raw, attr_lines=_attr_with(1, lambda s: "13")),
     r"list_attr_celeba\.txt:1: declares 13 images"),
    (lambda raw: (write_celeba(raw), (raw / "list_eval_partition.txt").unlink()),
     r"list_eval_partition\.txt: file missing"),
    (lambda raw: (write_celeba(raw), (raw / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 3\n")),
     r"list_eval_partition\.txt:2: column 'partition'"),
])
def test_celeba_bad_input_names_file_and_line_and_writes_nothing(tmp_path, setup, message):
    setup(tmp_path / "raw")
    with pytest.raises(RawFormatError, match=message):
        prepare_celeba(tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_celeba_accepts_0_1_labels(tmp_path):
    lines = default_attr_lines()
    lines[2:] = [ln.replace("-1", "0") for ln in lines[2:]]
    a = prepare_celeba(write_celeba(tmp_path / "a"), tmp_path / "out_a")
    b = prepare_celeba(write_celeba(tmp_path / "b", attr_lines=lines), tmp_path / "out_b")
    assert np.array_equal(load_split(a, "train")["labels"], load_split(b, "train")["labels"])


class FakeHubDataset:
    """The slice of ``datasets.Dataset`` that the Hugging Face reader uses."""

    def __init__(self, columns: dict[str, list]) -> None:
        self.columns = columns
        self.column_names = list(columns)

    def __len__(self) -> int:
        return len(self.columns["image"])

    def __getitem__(self, column: str) -> list:
        return self.columns[column]

    def select_columns(self, names: list[str]) -> "FakeHubDataset":
        return FakeHubDataset({n: self.columns[n] for n in names})

    def cast_column(self, name: str, feature) -> "FakeHubDataset":
        assert name == "image" and feature == ("Image", False)
        return self

    def __iter__(self):
        for i in range(len(self)):
            yield {n: v[i] for n, v in self.columns.items()}


def test_celeba_from_a_hugging_face_copy_equals_the_official_preparation(tmp_path, monkeypatch):
    values = attribute_values(len(CELEBA_IMAGES)) > 0  # the Hub copy stores booleans
    splits = {}
    for name, k in (("train", 0), ("valid", 1), ("test", 2)):
        rows = [i for i, p in enumerate(CELEBA_PARTITION) if p == k]
        columns = {"image": [{"bytes": jpeg_bytes(i), "path": None} for i in rows], "celeb_id": rows}
        columns |= {a: [bool(values[i, j]) for i in rows] for j, a in enumerate(celeba_module.ATTRIBUTES)}
        splits[name] = FakeHubDataset(columns)
    calls = []
    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda path, split: calls.append((path, split)) or splits[split]
    fake.Image = lambda decode=True: ("Image", decode)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    monkeypatch.setattr(celeba_module, "OFFICIAL_SPLIT_SIZES", {"train": 6, "val": 3, "test": 3})

    hub = get_dataset("celeba", {"prepare": {"source": "huggingface", "image_size": 16}})
    assert hub.sources() == []
    hub.prepare(tmp_path / "raw_hub", tmp_path / "hub")
    official = prepare_celeba(write_celeba(tmp_path / "raw"), tmp_path / "official")
    assert calls == [("flwrlabs/celeba", "train"), ("flwrlabs/celeba", "valid"), ("flwrlabs/celeba", "test")]
    for split in ("train", "val", "test"):
        a, b = load_split(official, split), load_split(tmp_path / "hub", split)
        assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["labels"], b["labels"])

    monkeypatch.setattr(celeba_module, "OFFICIAL_SPLIT_SIZES", {"train": 7, "val": 3, "test": 3})
    with pytest.raises(RawFormatError, match=r"flwrlabs/celeba\[train\]: 6 images.*official"):
        hub.prepare(tmp_path / "raw_hub", tmp_path / "hub2")


def test_celeba_without_files_is_not_run_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("RESFLOW_DATA_MIRROR", raising=False)
    status = fetch_dataset(get_dataset("celeba"), tmp_path / "raw", strict=False)
    assert not status["available"]
    assert [m["file"] for m in status["missing"]] == ["img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt"]
    assert all("gdown" in m["fix"] and "huggingface" in m["fix"] for m in status["missing"])
