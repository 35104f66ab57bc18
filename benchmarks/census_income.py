"""Census-Income (KDD), UCI dataset 117: the tabular multi-task benchmark of MMoE (Ma et al., KDD 2018).

Tasks (in this order): ``income`` (label ``50000+.``) and ``marital`` (marital status ``Never married``).
Both label columns and the survey's instance weight are excluded from the features.

Protocols:
- ``official``: train = census-income.data; census-income.test halved (seeded) into validation and test.
- ``test_split``: census-income.test alone split into train/validation/test by ``fractions``
  (seeded). For offline runs from a mirror that holds only the official test file; numbers from it
  are not comparable with the official protocol.

Dense columns get a sign-preserving log1p and are standardised with train statistics; categorical
vocabularies are fitted on train only (unseen values map to id 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .base import Benchmark, RawFormatError, Source, TaskSpec, register_dataset
from .tabular import encode_categorical, parse_float, read_lines, seeded_split, split_fields, standardize

BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/census-income-mld"
COLUMNS = [
    "age", "class_of_worker", "detailed_industry_recode", "detailed_occupation_recode", "education",
    "wage_per_hour", "enroll_in_edu_inst_last_wk", "marital_stat", "major_industry_code",
    "major_occupation_code", "race", "hispanic_origin", "sex", "member_of_a_labor_union",
    "reason_for_unemployment", "full_or_part_time_employment_stat", "capital_gains", "capital_losses",
    "dividends_from_stocks", "tax_filer_stat", "region_of_previous_residence",
    "state_of_previous_residence", "detailed_household_and_family_stat",
    "detailed_household_summary_in_household", "instance_weight", "migration_code_change_in_msa",
    "migration_code_change_in_reg", "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer", "family_members_under_18",
    "country_of_birth_father", "country_of_birth_mother", "country_of_birth_self", "citizenship",
    "own_business_or_self_employed", "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits",
    "weeks_worked_in_year", "year", "income",
]
DENSE = ["age", "wage_per_hour", "capital_gains", "capital_losses", "dividends_from_stocks",
         "num_persons_worked_for_employer", "weeks_worked_in_year"]
NOT_FEATURES = {"income", "marital_stat", "instance_weight"}
CATEGORICAL = [c for c in COLUMNS if c not in NOT_FEATURES and c not in DENSE]
INCOME_LABELS = {"- 50000.": 0.0, "50000+.": 1.0}


@dataclass
class CensusOptions:
    protocol: Literal["official", "test_split"] = "official"
    #: train/val/test fractions of the test file under ``test_split``
    fractions: list[float] = field(default_factory=lambda: [0.5, 0.25, 0.25])
    #: seed of the validation/test (and test_split) partition
    split_seed: int = 2024
    #: categorical values seen fewer times in train map to the unknown id
    min_count: int = 1


@register_dataset
class CensusIncome(Benchmark):
    name = "census_income"
    Options = CensusOptions
    tasks = (TaskSpec("income"), TaskSpec("marital"))
    description = "UCI Census-Income (KDD), 2 tasks (MMoE protocol)"

    def sources(self) -> list[Source]:
        test = Source(
            "census-income.test.gz", (f"{BASE_URL}/census-income.test.gz",), size=3_261_416,
            sha256="5ac4cacd3ca9f1ecb10de1a0a41e4ac68fdc419e3fec190f5c0c6cc03b2ea659",
            md5="a8c39dce642efb4d17f28ebe74a3c271",
            mirror_paths=("census-income/uci-official/census-income.test.gz",),
        )
        if self.options.protocol == "test_split":
            return [test]
        # UCI publishes no checksum for the training file and its size was not verified here.
        data = Source("census-income.data.gz", (f"{BASE_URL}/census-income.data.gz",),
                      mirror_paths=("census-income/uci-official/census-income.data.gz",))
        return [data, test]

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        test = read_table(raw_dir / "census-income.test.gz")
        if opt.protocol == "official":
            train = read_table(raw_dir / "census-income.data.gz")
            val_idx, test_idx = seeded_split(len(test), (0.5, 0.5), opt.split_seed)
            parts = {"train": train, "val": test[val_idx], "test": test[test_idx]}
        else:
            if len(opt.fractions) != 3 or min(opt.fractions) <= 0:
                raise ValueError("dataset_options.census_income.prepare.fractions: need 3 positive fractions")
            idx = seeded_split(len(test), tuple(opt.fractions), opt.split_seed)
            parts = dict(zip(("train", "val", "test"), (test[i] for i in idx)))
        col = {c: i for i, c in enumerate(COLUMNS)}
        categorical, features = encode_categorical(
            {c: {s: t[:, col[c]] for s, t in parts.items()} for c in CATEGORICAL}, opt.min_count)
        dense = standardize({c: {s: t[:, col[c]].astype(np.float64) for s, t in parts.items()} for c in DENSE}, log1p=True)
        splits = {
            s: {
                "labels": t[:, [col["income"], col["marital_stat"]]].astype(np.float32),
                "categorical": categorical[s],
                "dense": dense[s],
            }
            for s, t in parts.items()
        }
        self.write(raw_dir, out_dir, splits, {"input": "tabular", "categorical": features, "dense": DENSE})


def read_table(path: Path) -> np.ndarray:
    """Parse a raw Census file into an object array: dense columns as float, the marital column as a
    0/1 flag, income as 0/1, everything else as stripped strings."""
    fields = split_fields(path, read_lines(path), sep=",", n_fields=len(COLUMNS))
    col = {c: i for i, c in enumerate(COLUMNS)}
    table = fields.astype(object)
    for c in DENSE:
        table[:, col[c]] = parse_float(path, c, fields[:, col[c]])
    income = fields[:, col["income"]]
    unknown = ~np.isin(income, list(INCOME_LABELS))
    if unknown.any():
        i = int(np.argmax(unknown))
        raise RawFormatError(f"{path}:{i + 1}: column 'income': label {income[i]!r} not in {list(INCOME_LABELS)}")
    table[:, col["income"]] = np.array([INCOME_LABELS[v] for v in income], dtype=np.float32)
    table[:, col["marital_stat"]] = (fields[:, col["marital_stat"]] == "Never married").astype(np.float32)
    return table
