"""Time gauc and weighted_recall_at_ks on synthetic data (seeded).

Usage: python workflow/scripts/bench_metrics.py [--rows 10000000] [--groups 1000000]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from analysis.metrics import gauc, weighted_recall_at_ks  # noqa: E402

KS = (5, 10, 20, 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    groups = rng.integers(0, args.groups, args.rows)
    scores = rng.random(args.rows).astype(np.float32)  # float32 gives some ties
    labels = (rng.random(args.rows) < scores).astype(np.int8)
    gains = labels * rng.exponential(1.0, args.rows)

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"rows={args.rows} groups={args.groups} seed={args.seed}")
    t0 = time.perf_counter()
    g = gauc(labels, scores, groups)
    t1 = time.perf_counter()
    wr = weighted_recall_at_ks(gains, scores, groups, KS)
    t2 = time.perf_counter()
    print(f"gauc                  {t1 - t0:6.2f} s  value={g:.6f}")
    values = ", ".join(f"{v:.4f}" for v in wr.values())
    print(f"weighted_recall_at_ks {t2 - t1:6.2f} s  ks={KS} values={values}")


if __name__ == "__main__":
    main()
