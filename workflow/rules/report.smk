# Report stage: significance tables, figures and the publishable results/report/ (analysis/report.py).
# Regenerate from existing runs without training (README, "Report"; add the --configfile of the run):
#   snakemake report_all --cores 1 --rerun-triggers mtime --forcerun report_dataset report_across \
#     --report results/report.html --report-after-run
# --rerun-triggers mtime: a changed parameter or training script does not retrain existing runs;
# --forcerun: the report is rebuilt even when only analysis code changed.
import os

from analysis.report import suite_command
from benchmarks.fetch import MIRROR_ENV

REFERENCE = config["reference_model"]
SUITE = dict(
    configfiles=workflow.config_settings.configfiles,
    overrides=workflow.config_settings.config,
    mirror=os.environ.get(MIRROR_ENV),
)


report: "../report/workflow.rst"


rule report_dataset:
    input:
        long="results/tables/metrics_long.csv",
        # the applicable runs of this dataset (common.smk: run_files)
        meta=lambda w: [f for f in run_files("meta.json") if f.startswith(f"results/runs/{w.dataset}/")],
        predictions=lambda w: [f for f in run_files("predictions.npz") if f.startswith(f"results/runs/{w.dataset}/")],
        history=lambda w: [f for f in run_files("history.csv") if f.startswith(f"results/runs/{w.dataset}/")],
    output:
        results=multiext("results/tables/{dataset}/results", ".csv", ".md", ".tex"),
        results_html=report(
            "results/tables/{dataset}/results.html",
            caption="../report/results_table.rst",
            category="{dataset}",
            subcategory="Tables",
        ),
        significance=multiext("results/tables/{dataset}/significance", ".csv", ".md", ".tex"),
        significance_html=report(
            "results/tables/{dataset}/significance.html",
            caption="../report/significance_table.rst",
            category="{dataset}",
            subcategory="Tables",
        ),
        intervals=report(
            "results/figures/{dataset}/intervals.png",
            caption="../report/intervals.rst",
            category="{dataset}",
            subcategory="Figures",
        ),
        intervals_pdf="results/figures/{dataset}/intervals.pdf",
        curves=report(
            "results/figures/{dataset}/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="{dataset}",
            subcategory="Figures",
        ),
        curves_pdf="results/figures/{dataset}/learning_curves.pdf",
    params:
        reference=REFERENCE,
    conda:
        "../../environment.yml"
    log:
        "logs/report/{dataset}.log",
    benchmark:
        "results/benchmarks/report/{dataset}.tsv"
    script:
        "../scripts/report_dataset.py"


rule report_across:
    input:
        long="results/tables/metrics_long.csv",
    output:
        ranks=multiext("results/tables/ranks", ".csv", ".md"),
        improvement="results/tables/improvement.csv",
        cd=report(
            "results/figures/critical_difference.png",
            caption="../report/critical_difference.rst",
            category="Across datasets",
        ),
        cd_pdf="results/figures/critical_difference.pdf",
        heatmap=report(
            "results/figures/improvement.png",
            caption="../report/improvement.rst",
            category="Across datasets",
        ),
        heatmap_pdf="results/figures/improvement.pdf",
    params:
        reference=REFERENCE,
    conda:
        "../../environment.yml"
    log:
        "logs/report/across.log",
    benchmark:
        "results/benchmarks/report/across.tsv"
    script:
        "../scripts/report_across.py"


rule report_publish:
    input:
        datasets=lambda w: expand(
            rules.report_dataset.output,
            dataset=available_datasets(),
        ),
        across=rules.report_across.output,
        fusion=rules.aggregate.output.fusion,
        efficiency=EFFICIENCY_REPORT,
        meta=lambda w: run_files("meta.json"),
        status=expand("resources/raw/{dataset}/fetch.json", dataset=DATASETS),
    output:
        directory("results/report"),
    params:
        datasets=lambda w: available_datasets(),
        reference=REFERENCE,
        seeds=SEEDS,
        command=suite_command(**SUITE),
        regenerate=suite_command(
            **SUITE,
            targets=["report_all"],
            options=[
                "--cores", "1", "--rerun-triggers", "mtime", "--forcerun", "report_dataset", "report_across",
                "--report", "results/report.html", "--report-after-run",
            ],
        ),
    conda:
        "../../environment.yml"
    log:
        "logs/report/publish.log",
    benchmark:
        "results/benchmarks/report/publish.tsv"
    script:
        "../scripts/report_publish.py"


rule report_all:
    input:
        rules.report_publish.output,
