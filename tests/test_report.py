"""The report stage: analysis/report.py on constructed runs, and the report rules on the real Snakefile."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.report import (
    combine_delong,
    dataset_results,
    delong_per_seed,
    improvement_frame,
    learning_history,
    rank_models,
    read_runs,
    suite_command,
    write_across_report,
    write_dataset_report,
    write_published_report,
    write_table_files,
)
from analysis.tables import MARK_BETTER, MARK_WORSE, to_html
from conftest import REPO

SEEDS = [0, 1, 2, 3, 4]
NOISE = np.array([0.0004, -0.0003, 0.0002, -0.0001, -0.0002])


def metrics_long(levels: dict[tuple[str, str, str], float], metrics=("auc", "logloss")) -> pd.DataFrame:
    """{(dataset, task, model): level} -> metrics_long rows; each cell gets the level plus a rotation
    of NOISE per seed (logloss: 1 - level), so equal levels differ only by noise."""
    rows = []
    for i, ((dataset, task, model), level) in enumerate(levels.items()):
        for metric in metrics:
            base = level if metric == "auc" else 1.0 - level
            values = base + np.roll(NOISE, i)
            rows += [{"dataset": dataset, "model": model, "seed": s, "task": task, "split": "test",
                      "metric": metric, "value": v} for s, v in zip(SEEDS, values)]
    return pd.DataFrame(rows)


def suite(datasets=("kr",), models=("resflow", "shared_bottom", "single_task", "mmoe")) -> pd.DataFrame:
    """resflow 0.75 everywhere; mmoe 0.70 (clearly worse); the baselines equal to resflow up to noise."""
    levels = {(d, t, m): (0.70 if m == "mmoe" else 0.75) for d in datasets for t in ("ctr", "cvr") for m in models}
    return metrics_long(levels)


# --- one dataset: results and significance tables ------------------------------------

def test_results_and_significance_mark_exactly_the_significant_cells():
    res = dataset_results(suite(), "kr", "resflow")
    auc = res.numbers[res.numbers["metric"] == "auc"]
    marked = auc[auc["mark"] != ""]
    assert sorted(marked["model"]) == ["mmoe", "mmoe"] and set(marked["mark"]) == {MARK_BETTER}
    # mmoe's logloss is higher (worse): resflow is better there too, the mark follows the direction
    loss = res.numbers[res.numbers["metric"] == "logloss"]
    assert set(loss.loc[loss["mark"] != "", "model"]) == {"mmoe"} and set(loss["mark"]) == {"", MARK_BETTER}
    heading, table, footnote = res.results[0]
    assert heading == "Test AUC" and "Δ% vs shared_bottom" in table and "Δ% vs single_task" in table
    assert table.loc["mmoe", "ctr"].endswith(MARK_BETTER) and MARK_BETTER in footnote
    # significance rows: effect size with interval, p-values, DeLong columns for AUC only
    heading, sig, footnote = res.significance[0]
    assert list(sig.columns) == ["model", "Δ [95% CI]", "p t-test", "p Wilcoxon", "n"]  # no DeLong given
    mmoe = sig[sig["model"] == "mmoe"]
    assert all(re.fullmatch(r"\+0\.0500 \[\+0\.04\d\d, \+0\.05\d\d\]" + MARK_BETTER, c) for c in mmoe["Δ [95% CI]"])
    assert (mmoe["p t-test"] == "<0.001").all() and "Holm" in footnote
    comparisons = res.comparisons
    assert (comparisons["significant"] == (comparisons["mark"] != "")).all()


def test_delong_columns_join_the_auc_significance_table():
    delong = pd.DataFrame({"task": ["ctr", "cvr"], "model": ["mmoe", "mmoe"], "delong_seeds": [5, 5],
                           "delong_better": [5, 4], "delong_worse": [0, 0], "p_delong": [1e-6, 0.02],
                           "p_delong_holm": [2e-6, 0.02]})
    res = dataset_results(suite(), "kr", "resflow", delong=delong)
    _, auc, footnote = res.significance[0]
    _, loss, _ = res.significance[1]
    assert "p DeLong" in auc and "DeLong +/-" in auc and "p DeLong" not in loss
    assert auc.loc[auc["model"] == "mmoe", "DeLong +/-"].tolist() == ["5/0", "4/0"]
    assert auc.loc[auc["model"] == "single_task", "p DeLong"].tolist() == ["–", "–"]
    assert "Fisher" in footnote


def test_a_dataset_without_comparisons_gets_plain_tables_and_a_note():
    res = dataset_results(suite(models=("resflow",)), "kr", "resflow")
    assert "No significance tests" in res.note and res.significance == [] and res.comparisons.empty
    _, table, _ = res.results[0]
    assert table.loc["resflow", "ctr"].startswith("**0.7500") and (res.numbers["mark"] == "").all()


def test_undefined_values_are_missing_cells_not_nan():
    long = suite()
    gauc = long[long["metric"] == "auc"].assign(metric="gauc")
    gauc.loc[(gauc["task"] == "cvr") & (gauc["model"] == "mmoe"), "value"] = np.nan
    res = dataset_results(pd.concat([long, gauc]), "kr", "resflow")
    heading, table, _ = res.results[1]
    assert heading == "Test GAUC" and table.loc["mmoe", "cvr"] == "–" and table.loc["mmoe", "ctr"] != "–"
    assert not table.apply(lambda col: col.str.contains("nan")).any().any()


def test_table_files_carry_bold_marks_and_footnote(tmp_path):
    res = dataset_results(suite(), "kr", "resflow")
    write_table_files(tmp_path / "results", res.results, res.numbers)
    md = (tmp_path / "results.md").read_text()
    assert "**Test AUC**" in md and "**Test log loss**" in md and MARK_BETTER in md and "Holm" in md
    tex = (tmp_path / "results.tex").read_text()
    assert r"\textbf{" in tex and r"$^{\dagger}$" in tex and "**" not in tex
    html = (tmp_path / "results.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<b>0.7500" in html
    assert pd.read_csv(tmp_path / "results.csv").shape[0] == len(res.numbers)


def test_to_html_escapes_and_bolds():
    table = pd.DataFrame({"a<b": ["**0.5 ± 0.1**†", "x&y"]}, index=pd.Index(["m1", "m2"], name="model"))
    html = to_html(table, "note <1>")
    assert "<th>a&lt;b</th>" in html and "<td><b>0.5 ± 0.1</b>†</td>" in html and "<td>x&amp;y</td>" in html
    assert html.strip().endswith("<p><small>note &lt;1&gt;</small></p>")


# --- DeLong over seeds on saved predictions ------------------------------------------

def write_run(root: Path, dataset: str, model: str, seed: int, probs: np.ndarray, labels: np.ndarray,
              epochs: int = 3) -> Path:
    """A run folder of contract 3 with meta.json, predictions.npz and history.csv."""
    folder = root / "runs" / dataset / model / f"seed{seed}"
    folder.mkdir(parents=True)
    tasks = ["ctr", "cvr"]
    np.savez(folder / "predictions.npz", test_probs=probs, test_labels=labels, tasks=np.array(tasks))
    history = {"epoch": range(1, epochs + 1), "train_loss": np.linspace(1, 0.5, epochs), "seconds": 1.0}
    history |= {f"val_{m}_{t}": np.linspace(0.6, 0.7, epochs) for t in tasks for m in ("auc", "logloss")}
    pd.DataFrame(history).to_csv(folder / "history.csv", index=False)
    meta = {"dataset": dataset, "model": model, "seed": seed, "git_commit": "abc", "n_params": 10,
            "epochs_run": epochs, "best_epoch": epochs, "wall_seconds": 1.5, "device": "cpu",
            "tasks": [{"name": t} for t in tasks]}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder / "meta.json"


def prediction_runs(root: Path, seeds=(0, 1, 2)) -> list[Path]:
    """resflow scores carry the label (good), mmoe scores are noise, single_task copies resflow."""
    rng = np.random.default_rng(0)
    labels = (rng.random((400, 2)) < 0.3).astype(np.float32)
    metas = []
    for seed in seeds:
        good = np.clip(0.5 * labels + 0.7 * rng.random(labels.shape), 0, 1).astype(np.float32)
        metas.append(write_run(root, "kr", "resflow", seed, good, labels))
        metas.append(write_run(root, "kr", "single_task", seed, good, labels))
        metas.append(write_run(root, "kr", "mmoe", seed, rng.random(labels.shape).astype(np.float32), labels))
    return metas


def test_delong_over_seeds_separates_a_better_model_from_an_identical_one(tmp_path):
    runs = read_runs(prediction_runs(tmp_path))
    per_seed = delong_per_seed(runs, "resflow")
    assert len(per_seed) == 3 * 2 * 2  # seeds x tasks x other models
    combined = combine_delong(per_seed).set_index(["task", "model"])
    assert (combined["delong_seeds"] == 3).all()
    mmoe, same = combined.xs("mmoe", level="model"), combined.xs("single_task", level="model")
    assert (mmoe["p_delong"] < 1e-6).all() and (mmoe["delong_better"] == 3).all() and (mmoe["delong_worse"] == 0).all()
    assert (same["p_delong"] == 1.0).all() and (same["delong_better"] == 0).all()
    assert (combined["p_delong_holm"] >= combined["p_delong"]).all()


def test_delong_refuses_runs_with_different_test_rows(tmp_path):
    metas = prediction_runs(tmp_path, seeds=(0,))
    folder = Path(metas[-1]).parent
    with np.load(folder / "predictions.npz") as npz:
        arrays = dict(npz)
    arrays["test_labels"] = 1.0 - arrays["test_labels"]
    np.savez(folder / "predictions.npz", **arrays)
    with pytest.raises(ValueError, match="different test rows"):
        delong_per_seed(read_runs(metas), "resflow")


def test_learning_history_reads_loss_and_validation_auc(tmp_path):
    history = learning_history(read_runs(prediction_runs(tmp_path, seeds=(0,))))
    assert set(history["series"]) == {"training loss", "validation AUC: ctr", "validation AUC: cvr"}
    assert len(history) == 3 * 3 * 3  # runs x series x epochs


# --- across datasets -----------------------------------------------------------------

def test_improvement_is_signed_by_metric_direction_and_marked():
    frame = improvement_frame(suite(datasets=("d1", "d2")), "resflow").set_index(["dataset", "task", "model"])
    mmoe = frame.xs("mmoe", level="model")
    assert np.allclose(mmoe["improvement_pct"], 100 * (0.75 - 0.70) / 0.70, atol=0.1)
    assert (mmoe["mark"] == MARK_BETTER).all()
    assert (frame.xs("single_task", level="model")["mark"] == "").all()


def test_friedman_needs_three_models_and_two_blocks():
    too_few = rank_models(suite(models=("resflow", "mmoe")))
    assert too_few.ranks is None and "2 models" in too_few.reason
    assert "No Friedman test" in too_few.markdown() and too_few.frame().empty
    ranking = rank_models(suite(datasets=("d1", "d2")))
    assert ranking.n_blocks == 4 and ranking.ranks.index[-1] == "mmoe" and 0 <= ranking.p < 1
    frame = ranking.frame()
    assert list(frame.columns[:2]) == ["model", "avg_rank"] and "p_nemenyi_vs_mmoe" in frame
    assert "χ²" in ranking.markdown()


def test_across_report_says_why_a_figure_is_not_drawn(tmp_path):
    long_csv = tmp_path / "long.csv"
    suite(models=("resflow", "mmoe")).to_csv(long_csv, index=False)
    write_across_report(long_csv, "resflow", tmp_path / "ranks", tmp_path / "improvement.csv",
                        tmp_path / "cd", tmp_path / "heat")
    assert "No Friedman test" in (tmp_path / "ranks.md").read_text()
    for stem in ("cd", "heat"):
        assert (tmp_path / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"


# --- the published report ------------------------------------------------------------

def test_suite_command_names_config_files_overrides_and_mirror(tmp_path):
    (tmp_path / "config").mkdir()
    configs = [tmp_path / "config" / "mirror.yaml", tmp_path / "small.yaml"]
    command = suite_command(configs, {"seeds": [0, 1], "models": ["resflow"]}, mirror="../shared/data", cwd=tmp_path)
    assert command == ("RESFLOW_DATA_MIRROR=../shared/data snakemake --cores all --configfile config/mirror.yaml "
                       "small.yaml --config 'seeds=[0,1]' 'models=[\"resflow\"]'")
    assert suite_command(cwd=tmp_path, targets=["report_all"], options=["--cores", "1"]) == \
        "snakemake report_all --cores 1"


def test_published_report_shows_every_table_and_figure_it_links(tmp_path):
    root = tmp_path / "results"
    metas = prediction_runs(root, seeds=(0, 1, 2))
    long = metrics_long({("kr", t, m): lvl for t in ("ctr", "cvr")
                         for m, lvl in (("resflow", 0.75), ("single_task", 0.75), ("mmoe", 0.70))})
    long = long[long["seed"] < 3]
    fused = long[long["task"] == "ctr"].assign(task="fused_additive", metric="gauc")  # not a task of the runs
    long = pd.concat([long, fused])
    long_csv = root / "tables" / "metrics_long.csv"
    long_csv.parent.mkdir(parents=True)
    long.to_csv(long_csv, index=False)
    tables, figures = root / "tables", root / "figures"
    write_dataset_report(long_csv, metas, "kr", "resflow", tables / "kr" / "results", tables / "kr" / "significance",
                         figures / "kr" / "intervals", figures / "kr" / "learning_curves")
    write_across_report(long_csv, "resflow", tables / "ranks", tables / "improvement.csv",
                        figures / "critical_difference", figures / "improvement")
    status = tmp_path / "fetch.json"
    status.write_text(json.dumps({"dataset": "kr", "verified": True, "missing": []}))
    files = [p for p in root.rglob("*") if p.is_file() and "runs" not in p.parts and p != long_csv]
    out = tmp_path / "report"
    readme = write_published_report(out, files, ["kr"], "resflow", [0, 1, 2], "snakemake --cores all",
                                     "snakemake report_all", "deadbeef", metas, [status], root=root).read_text()
    assert "`snakemake --cores all`" in readme and "`deadbeef`" in readme and "`snakemake report_all`" in readme
    assert "p DeLong" in readme and MARK_BETTER in readme and "**0.75" in readme and "fused" not in readme
    assert "Friedman test on the mean test AUC" in readme and "figures/critical_difference.png" in readme
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert {"figures/kr/intervals.png", "figures/kr/learning_curves.pdf", "tables/kr/results.tex"} <= set(links)
    assert all((out / link).is_file() for link in links)
    assert not list(out.rglob("*.html"))


# --- the report rules on the real Snakefile ------------------------------------------

REPORT_SUITE = {  # esmm needs funnel tasks: the grid skips it on census, and so must the report
    "datasets": ["census_income"], "models": ["resflow", "single_task", "shared_bottom", "esmm"], "seeds": [0, 1, 2],
    "verify_checksums": False,  # the fixture is not the official file
    "training": {"epochs": 1, "batch_size": 128},
    "dataset_options": {"census_income": {"model": {"embedding_dim": 4}}},
}


@pytest.mark.slow
def test_report_rules_end_to_end_and_regeneration_without_training(tmp_path, census_mirror):
    from test_workflow import snakemake

    snakemake(tmp_path, REPORT_SUITE, mirror=census_mirror)
    tables, figures, report = (tmp_path / "results" / d for d in ("tables", "figures", "report"))
    significance = pd.read_csv(tables / "census_income" / "significance.csv")
    assert len(significance) == 2 * 2 * 2  # metrics (auc, logloss) x tasks x other applicable models
    assert not (tmp_path / "results/runs/census_income/esmm").exists()
    assert significance[["p_ttest_holm", "p_wilcoxon_holm"]].notna().all().all()
    assert significance.loc[significance["metric"] == "auc", "p_delong"].between(0, 1).all()
    assert (significance["significant"] == significance["mark"].isin([MARK_BETTER, MARK_WORSE])).all()
    md = (tables / "census_income" / "significance.md").read_text()
    assert "p DeLong" in md and f"{MARK_BETTER}/{MARK_WORSE}" in md
    for stem in ("census_income/intervals", "census_income/learning_curves", "critical_difference", "improvement"):
        assert (figures / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (figures / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"

    readme = (report / "README.md").read_text()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert commit and f"`{commit}" in readme
    assert f"`RESFLOW_DATA_MIRROR={census_mirror} snakemake --cores all --configfile tiny.yaml`" in readme
    assert "figures/critical_difference.png" in readme  # 3 models x 2 tasks: the CD diagram is drawn
    assert all((report / link).is_file() for link in re.findall(r"\]\(([^)]+)\)", readme))

    html = snakemake(tmp_path, REPORT_SUITE, "--report", str(tmp_path / "report.html"), mirror=census_mirror)
    assert (tmp_path / "report.html").stat().st_size > 0, html.stderr[-2000:]

    # the README's regeneration command, on a config whose training settings changed: under the
    # default rerun triggers every run would retrain; this command rebuilds only the report
    regenerate = re.search(r"regenerate this report.*?\| `(.+?)` \|", readme)[1]
    args = shlex.split(regenerate)[2:]  # drop the mirror variable and "snakemake"
    args = args[:args.index("--configfile")]  # the helper passes the config file
    changed = {**REPORT_SUITE, "training": {"epochs": 2, "batch_size": 128}}
    before = (report / "README.md").stat().st_mtime_ns
    result = snakemake(tmp_path, changed, *args, mirror=census_mirror)
    log = result.stdout + result.stderr
    assert "rule report_dataset:" in log and "rule train:" not in log
    assert (report / "README.md").stat().st_mtime_ns > before and (tmp_path / "results/report.html").is_file()
