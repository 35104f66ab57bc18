"""Logging for Snakemake jobs: everything (including a traceback) goes to the rule's log file."""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def log_to(path: str) -> Iterator[None]:
    """Send logging, warnings and stdout/stderr to ``path``; log an exception before re-raising it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            yield
        except BaseException as exc:
            traceback.print_exc(file=fh)
            print(f"{type(exc).__name__}: {exc}", file=sys.__stderr__)
            raise
        finally:
            root.removeHandler(handler)
