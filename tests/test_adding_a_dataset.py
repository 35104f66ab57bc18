"""docs/adding-a-dataset.md holds true: its example module, added to the ``benchmarks`` package as a
new file, is picked up by the registry, the config checks and the Snakemake rules with no other
edit, and its fixture and test pass."""
from __future__ import annotations

import re
import sys

import pytest
import yaml

from benchmarks import base
from conftest import REPO
from test_workflow import snakemake
from training.suite import check_suite

DOC = (REPO / "docs" / "adding-a-dataset.md").read_text()
MODULE_HEADER = "# benchmarks/coupon_funnel.py\n"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


@pytest.fixture
def new_module(tmp_path, monkeypatch):
    """The doc's module as ``<tmp>/benchmarks/coupon_funnel.py`` on sys.path. ``benchmarks`` is a
    namespace package, so that folder adds the file to the package exactly like a new file in the
    repository would; the registry and sys.modules forget it afterwards."""
    (module,) = [b for b in blocks("python") if b.startswith(MODULE_HEADER)]
    root = tmp_path / "pkg"
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "coupon_funnel.py").write_text(module)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(base, "_DATASETS", dict(base._DATASETS))
    yield root
    sys.modules.pop("benchmarks.coupon_funnel", None)


def test_new_module_is_registered_and_its_config_entry_accepted(new_module):
    assert "coupon_funnel" in base.dataset_names()
    entry = yaml.safe_load(blocks("yaml")[0])
    config = {**yaml.safe_load((REPO / "config" / "config.yaml").read_text()), **entry}
    check_suite(config)
    assert [(t.name, t.pos_weight) for t in base.task_settings("coupon_funnel", entry["dataset_options"]["coupon_funnel"])] \
        == [("click", 1.0), ("redeem", 3.0)]


def test_the_docs_fixture_and_test_pass(new_module, tmp_path):
    (fixture_and_test,) = [b for b in blocks("python") if "def test_coupon_funnel_end_to_end" in b]
    namespace: dict = {}
    exec(compile(fixture_and_test, "docs/adding-a-dataset.md", "exec"), namespace)
    (tmp_path / "case").mkdir()
    namespace["test_coupon_funnel_end_to_end"](tmp_path / "case")


def test_snakemake_dry_run_accepts_the_new_module(new_module, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(new_module))
    entry = yaml.safe_load(blocks("yaml")[0])["dataset_options"]
    work = tmp_path / "work"
    work.mkdir()
    result = snakemake(work, {"datasets": ["coupon_funnel"], "models": ["resflow"], "seeds": [0],
                              "dataset_options": entry}, "-n")
    assert "resources/raw/coupon_funnel/fetch.json" in result.stdout
