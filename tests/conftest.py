"""Shared fixtures: tiny raw files written in the official formats, and a tiny schema."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from benchmarks.census_income import COLUMNS, DENSE

REPO = Path(__file__).resolve().parents[1]


def census_rows(n: int, seed: int = 0) -> list[str]:
    """``n`` lines in the official census-income format (42 fields separated by ', ').

    Labels depend on the features, so models can learn something from the fixture.
    """
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        age = int(rng.integers(16, 90))
        education = str(rng.choice(["Bachelors degree(BA AB BS)", "High school graduate", "Masters degree(MA MS MEng MEd MSW MBA)", "Children"]))
        rich = education.startswith(("Bachelors", "Masters")) and rng.random() < 0.6
        married = age > 30 and rng.random() < 0.8
        row = {c: str(rng.choice(["Not in universe", "Private", "Self-employed", "?"])) for c in COLUMNS}
        row.update({c: str(int(rng.integers(0, 5000))) if c != "age" else str(age) for c in DENSE})
        row.update({
            "education": education, "instance_weight": f"{rng.uniform(100, 3000):.2f}",
            "marital_stat": "Married-civilian spouse present" if married else "Never married",
            "year": str(rng.choice([94, 95])), "income": "50000+." if rich else "- 50000.",
        })
        lines.append(", ".join(row[c] for c in COLUMNS))
    return lines


def write_census(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


@pytest.fixture
def census_mirror(tmp_path: Path) -> Path:
    """A mirror folder holding a tiny census-income.test.gz and census-income.data.gz."""
    mirror = tmp_path / "mirror"
    write_census(mirror / "census_income" / "census-income.test.gz", census_rows(600, seed=1))
    write_census(mirror / "census_income" / "census-income.data.gz", census_rows(600, seed=2))
    return mirror


def tabular_schema(n_tasks: int) -> dict:
    return {
        "name": "toy", "input": "tabular",
        "categorical": [{"name": "a", "vocab_size": 7}, {"name": "b", "vocab_size": 4}],
        "dense": ["x", "y"],
        "tasks": [{"name": f"t{i}"} for i in range(n_tasks)],
        "group_key": None,
        "funnel": True,  # tabular_batch callers draw funnel labels
    }


def tabular_batch(n: int = 16, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        "categorical": torch.stack([torch.randint(0, 7, (n,), generator=g), torch.randint(0, 4, (n,), generator=g)], 1),
        "dense": torch.randn(n, 2, generator=g),
    }
