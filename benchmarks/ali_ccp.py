"""Ali-CCP (Alibaba Click and Conversion Prediction): tasks click and click-and-purchase (CTCVR).

Dataset: X. Ma et al., *Entire Space Multi-Task Model (ESMM)*, SIGIR 2018; Tianchi dataset 408
(login required). This module reads the ID-encoded form of D. Xi et al., *Modeling the Sequential
Dependence among Audience Multi-step Conversions with Multi-task Learning in Targeted Display
Advertising (AITM)*, KDD 2021, as PaddleRec distributes it: ``ctr_cvr.train`` / ``ctr_cvr.test`` with
the header ``click,purchase,101,121,...,853,301`` (18 ID fields). PaddleRec's sample test file has no
header line; both forms are accepted (a first line that names the columns is a header).

Protocol (AITM): rows with click = 0 and purchase = 1 are dropped from both files and counted in
``schema.json`` ``dropped``; ``val_fraction`` of the remaining train rows (seeded) is validation;
test is the official test file. Tasks in funnel order: ``click`` and ``ctcvr`` = click AND purchase,
both over all impressions. Every ID field is a categorical feature with a train-only vocabulary;
field 101 (user ID) is also the group key for GAUC.

Default loss settings are the ResFlow reference's for Ali-CCP (``e-comm/resflow.py``): pos_weight
100 (click) and 500 (CTCVR), loss = 2 L_click + 1 L_ctcvr; override them in
``dataset_options.ali_ccp.tasks``.

``source: paddlerec_sample`` swaps in PaddleRec's 48 + 50-row AITM sample (pinned checksums) for
tests and offline runs; its test file holds no click-and-purchase row, so its CTCVR test AUC is
undefined.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .base import Benchmark, Source, TaskSpec, register_dataset
from .tabular import check_binary, encode_categorical, read_csv_strict, seeded_split

FIELDS = ["101", "121", "122", "124", "125", "126", "127", "128", "129", "205", "206", "207", "216", "508",
          "509", "702", "853", "301"]
COLUMNS = ["click", "purchase", *FIELDS]
USER_FIELD = "101"
DROP_REASON = "click=0 and purchase=1 (AITM protocol), {} file"
PADDLEREC_BUCKET = "https://paddlerec.bj.bcebos.com/datasets/aitm"
PADDLEREC_SAMPLE = ("https://raw.githubusercontent.com/PaddlePaddle/PaddleRec/"
                    "656326adf3c4117c11ec0eff5e8f61acd8191c2a/models/multitask/aitm/data/sample_data")


@dataclass
class AliCCPOptions:
    #: "full": the AITM files; "paddlerec_sample": PaddleRec's 48 + 50-row sample
    source: Literal["full", "paddlerec_sample"] = "full"
    #: share of the (filtered) train rows held out for validation (seeded)
    val_fraction: float = 0.1
    split_seed: int = 2024
    #: IDs seen fewer times in train map to the unknown id
    min_count: int = 1


@register_dataset
class AliCCP(Benchmark):
    name = "ali_ccp"
    Options = AliCCPOptions
    tasks = (TaskSpec("click", pos_weight=100.0, loss_weight=2.0),
             TaskSpec("ctcvr", pos_weight=500.0, loss_weight=1.0, gain=5.0))  # gain: RESFLOW_SPEC's WR@K example
    description = "Ali-CCP, click and CTCVR (AITM-processed ctr_cvr.train/.test)"

    def sources(self) -> list[Source]:
        if self.options.source == "paddlerec_sample":
            return [
                Source(f"aitm_sample_{split}.csv", urls=(f"{PADDLEREC_SAMPLE}/{split}/{split}.csv",), size=size, sha256=sha,
                       mirror_paths=(f"ali-ccp/paddlerec-aitm-sample/aitm_sample_{split}.csv",))
                for split, size, sha in (
                    ("train", 3244, "9c35217881718d4633c99093c66162400f5aaf25e2c8cc3d97d1a1e9692247a7"),
                    ("test", 3241, "f7be77e45a4a13d3b9714ba8a456ca6dd9ba048a03c2c45d10d07fe86ecc3c2e"),
                )
            ]
        # PaddleRec publishes no size or checksum; fetch.json records the sha256 of what was fetched.
        return [Source(f, urls=(f"{PADDLEREC_BUCKET}/{f}",), mirror_paths=(f"ali-ccp/aitm/{f}",))
                for f in ("ctr_cvr.train", "ctr_cvr.test")]

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        if not 0 < opt.val_fraction < 1:
            raise ValueError(f"dataset_options.ali_ccp.prepare.val_fraction must lie in (0, 1), got {opt.val_fraction}")
        train_file, test_file = (raw_dir / s.filename for s in self.sources())
        train, dropped_train = read_aitm(train_file)
        test, dropped_test = read_aitm(test_file)
        fit, val = seeded_split(len(train), (1 - opt.val_fraction, opt.val_fraction), opt.split_seed)
        parts = {"train": train.iloc[fit], "val": train.iloc[val], "test": test}
        categorical, features = encode_categorical(
            {c: {s: f[c].to_numpy() for s, f in parts.items()} for c in FIELDS}, opt.min_count)
        splits = {
            s: {
                "labels": np.stack([f["click"], f["click"] * f["purchase"]], axis=1).astype(np.float32),
                "categorical": categorical[s],
                "group": f[USER_FIELD].to_numpy(np.int64),
            }
            for s, f in parts.items()
        }
        self.write(raw_dir, out_dir, splits, {
            "input": "tabular", "categorical": features, "dense": [], "group_key": USER_FIELD,
            "dropped": {DROP_REASON.format("train"): dropped_train, DROP_REASON.format("test"): dropped_test},
        })


def read_aitm(path: Path) -> tuple[pd.DataFrame, int]:
    """One AITM file (header line optional), strictly checked; return the rows kept by the AITM
    protocol and the number dropped."""
    frame, first = read_csv_strict(path, COLUMNS, {c: "int64" for c in COLUMNS}, header="optional")
    for c in ("click", "purchase"):
        check_binary(path, c, frame[c].to_numpy(), first_line=first)
    drop = (frame["click"] == 0) & (frame["purchase"] == 1)
    return frame[~drop], int(drop.sum())
