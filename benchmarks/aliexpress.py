"""AliExpress (AE): search impressions of one country, tasks click and click-and-purchase (CTCVR).

Dataset: P. Li et al., *Improving Multi-Scenario Learning to Rank in E-commerce by Exploiting Task
Relationships in the Label Space*, CIKM 2020; Tianchi dataset 74690 (login required). This module
reads the processed per-country CSVs of MTReclib (easezyc/Multitask-Recommendation-Library), the
form most users hold: ``AliExpress_<CC>/{train,test}.csv`` with the columns ``search_id,
categorical_1..16, numerical_1..63, click, conversion``.

Tasks, in funnel order (RESFLOW_SPEC "Task semantics"): ``click`` over all impressions, and
``ctcvr`` = click AND conversion over all impressions (plain BCE, no ESMM product).

Protocol: official train/test files; validation is ``val_fraction`` of the train file's
``search_id`` groups (seeded), so one search never straddles train and validation; the test file is
never touched before evaluation. Categorical vocabularies and the numerical statistics
(standardisation, or quantile buckets as in the ResFlow reference's ``ae_bucketize.py``) come from
the train split only. ``search_id`` is the group key (GAUC, ranking metrics), never a feature.

Registry keys: ``aliexpress_nl``, ``aliexpress_es``, ``aliexpress_fr``, ``aliexpress_us`` (manual
download) and ``aliexpress_sample``: the real 1,000 + 1,000-row sample that reczoo/FuxiCTR ships as
``data/tiny_mtl`` (country not stated), fetched with pinned checksums.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from .base import Benchmark, Source, TaskSpec, register_dataset
from .tabular import check_binary, encode_categorical, grouped_split, quantile_buckets, read_csv_strict, standardize

CATEGORICAL = [f"categorical_{i}" for i in range(1, 17)]
NUMERICAL = [f"numerical_{i}" for i in range(1, 64)]
LABELS = ["click", "conversion"]
COLUMNS = ["search_id", *CATEGORICAL, *NUMERICAL, *LABELS]
KINDS = {"search_id": "int64", **{c: "int64" for c in CATEGORICAL + LABELS}, **{c: "float32" for c in NUMERICAL}}
MTRECLIB_DRIVE = "https://drive.google.com/drive/folders/1F0TqvMJvv-2pIeOKUw9deEtUxyYqXK6Y"


@dataclass
class AliExpressOptions:
    #: share of the train file's search_id groups held out for validation (seeded)
    val_fraction: float = 0.1
    split_seed: int = 2024
    #: numerical columns: standardised with train mean/std (dense), or quantile-bucketised on
    #: train into categorical ids
    numerical: Literal["standardize", "bucketize"] = "standardize"
    #: number of train-quantile buckets under ``bucketize``
    n_buckets: int = 100
    #: categorical values seen fewer times in train map to the unknown id
    min_count: int = 1


class AliExpress(Benchmark):
    """One country of AE (subclasses set ``name`` and ``country``)."""

    Options = AliExpressOptions
    tasks = (TaskSpec("click"), TaskSpec("ctcvr", gain=5.0))  # gain: RESFLOW_SPEC's WR@K example (v_purchase = 5)
    country: ClassVar[str]

    def sources(self) -> list[Source]:
        folder = f"AliExpress_{self.country}"
        return [
            Source(f, mirror_paths=(f"aliexpress/{folder}/{f}",), manual=(
                f"download {folder}/{f} of MTReclib's processed AliExpress data ({MTRECLIB_DRIVE}), built from "
                f"Tianchi dataset 74690 (https://tianchi.aliyun.com/dataset/74690, login required; no checksums are "
                f"published), or keep it in a mirror as $RESFLOW_DATA_MIRROR/aliexpress/{folder}/{f}"))
            for f in ("train.csv", "test.csv")
        ]

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        if not 0 < opt.val_fraction < 1:
            raise ValueError(f"dataset_options.{self.name}.prepare.val_fraction must lie in (0, 1), got {opt.val_fraction}")
        train, test = read_ae(raw_dir / "train.csv"), read_ae(raw_dir / "test.csv")
        fit, val = grouped_split(train["search_id"].to_numpy(), (1 - opt.val_fraction, opt.val_fraction), opt.split_seed)
        parts = {"train": train.iloc[fit], "val": train.iloc[val], "test": test}
        columns = lambda names: {c: {s: f[c].to_numpy() for s, f in parts.items()} for c in names}  # noqa: E731
        categorical, features = encode_categorical(columns(CATEGORICAL), opt.min_count)
        dense_names: list[str] = []
        if opt.numerical == "standardize":
            dense, dense_names = standardize(columns(NUMERICAL)), NUMERICAL
        else:
            buckets, bucket_features = quantile_buckets(columns(NUMERICAL), opt.n_buckets)
            categorical = {s: np.concatenate([categorical[s], buckets[s]], axis=1) for s in parts}
            features += bucket_features
        splits = {}
        for s, f in parts.items():
            click, conversion = f["click"].to_numpy(), f["conversion"].to_numpy()
            splits[s] = {
                "labels": np.stack([click, click * conversion], axis=1).astype(np.float32),
                "categorical": categorical[s],
                "group": f["search_id"].to_numpy(np.int64),
                **({"dense": dense[s]} if dense_names else {}),
            }
        self.write(raw_dir, out_dir, splits, {
            "input": "tabular", "categorical": features, "dense": dense_names, "group_key": "search_id",
        })


def read_ae(path: Path) -> pd.DataFrame:
    """One MTReclib AE file, strictly checked (header, types, finite values, 0/1 labels)."""
    frame, first = read_csv_strict(path, COLUMNS, KINDS)
    for c in LABELS:
        check_binary(path, c, frame[c].to_numpy(), first_line=first)
    return frame


@register_dataset
class AliExpressNL(AliExpress):
    name = "aliexpress_nl"
    country = "NL"
    description = "AliExpress NL: click and CTCVR (MTReclib processed CSVs)"


@register_dataset
class AliExpressES(AliExpress):
    name = "aliexpress_es"
    country = "ES"
    description = "AliExpress ES: click and CTCVR (MTReclib processed CSVs)"


@register_dataset
class AliExpressFR(AliExpress):
    name = "aliexpress_fr"
    country = "FR"
    description = "AliExpress FR: click and CTCVR (MTReclib processed CSVs)"


@register_dataset
class AliExpressUS(AliExpress):
    name = "aliexpress_us"
    country = "US"
    description = "AliExpress US: click and CTCVR (MTReclib processed CSVs)"


FUXICTR = "https://raw.githubusercontent.com/reczoo/FuxiCTR/b885db9fc95fa34743786aee2b2febc1c398d53f/data/tiny_mtl"


@register_dataset
class AliExpressSample(AliExpress):
    """reczoo/FuxiCTR ``data/tiny_mtl`` at commit b885db9f: 1,000 train and 1,000 test rows of AE in
    the MTReclib format, country not stated. For tests and offline runs, not for results."""

    name = "aliexpress_sample"
    description = "AliExpress sample (FuxiCTR tiny_mtl, 1,000 + 1,000 rows, country unknown)"

    def sources(self) -> list[Source]:
        pinned = {
            "train.csv": (478_064, "6e7737d079d08541ea02d0ef3f89dcf1b278adb9a7ea044a02f17cffbe5faa86"),
            "test.csv": (483_831, "b33ee1ab22b47df3c143c23786ccd072f00881435b60f820325917a37b56b634"),
        }
        return [
            Source(f, urls=(f"{FUXICTR}/{f}",), size=size, sha256=sha,
                   mirror_paths=(f"aliexpress/fuxictr-tiny_mtl/{f}",))
            for f, (size, sha) in pinned.items()
        ]
