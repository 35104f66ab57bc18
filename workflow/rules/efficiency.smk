# Efficiency benchmark (analysis/efficiency.py): parameters, training throughput, inference latency
# and peak memory of every model on every available dataset, the issue-8 targets, and scaling on
# the synthetic funnel; report_efficiency turns them into results/tables/efficiency.md and the
# test-AUC-against-latency figure. The two measuring jobs reserve every core so no other job
# disturbs the timings; torch uses efficiency.threads of them.
#   RESFLOW_DATA_MIRROR=../shared/data snakemake efficiency --cores 2 --configfile config/mirror.yaml
from analysis.efficiency import SCALING_DATASET, efficiency_config
from models import model_names

try:
    EFFICIENCY = efficiency_config(config.get("efficiency"))
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration: {exc}") from None

EFFICIENCY_MODELS = EFFICIENCY.models or model_names()
EFFICIENCY_OUTPUTS = ["results/tables/efficiency.csv", "results/tables/scaling.csv"] if EFFICIENCY.enabled else []


rule efficiency_scaling:
    output:
        "results/tables/scaling.csv",
    params:
        efficiency=config.get("efficiency", {}),
        run=lambda w: resolve_run(config, SCALING_DATASET, EFFICIENCY.scaling.model, SEEDS[0]),
        work_dir="resources/efficiency",
    threads: lambda w: workflow.cores
    conda:
        "../../environment.yml"
    log:
        "logs/efficiency/scaling.log",
    benchmark:
        "results/benchmarks/efficiency/scaling.tsv"
    script:
        "../scripts/efficiency_scaling.py"


rule efficiency_models:
    input:
        processed=lambda w: expand("resources/processed/{dataset}", dataset=available_datasets()),
        scaling=rules.efficiency_scaling.output[0],
    output:
        "results/tables/efficiency.csv",
    params:
        efficiency=config.get("efficiency", {}),
        runs=lambda w: {
            d: {m: resolve_run(config, d, m, SEEDS[0]) for m in EFFICIENCY_MODELS}
            for d in available_datasets()
        },
    threads: lambda w: workflow.cores
    conda:
        "../../environment.yml"
    log:
        "logs/efficiency/models.log",
    benchmark:
        "results/benchmarks/efficiency/models.tsv"
    script:
        "../scripts/efficiency_models.py"


rule efficiency:
    input:
        rules.efficiency_models.output,
        rules.efficiency_scaling.output,


rule report_efficiency:
    input:
        long=rules.aggregate.output.long,
        efficiency=rules.efficiency_models.output[0],
        scaling=rules.efficiency_scaling.output[0],
    output:
        md="results/tables/efficiency.md",
        figure=report(
            "results/figures/auc_vs_latency.png",
            caption="../report/auc_vs_latency.rst",
            category="Efficiency",
        ),
        figure_pdf="results/figures/auc_vs_latency.pdf",
    params:
        reference=config["reference_model"],
        baseline=EFFICIENCY.latency_baseline,
    conda:
        "../../environment.yml"
    log:
        "logs/report/efficiency.log",
    benchmark:
        "results/benchmarks/report/efficiency.tsv"
    script:
        "../scripts/report_efficiency.py"


# what the published report shows of the benchmark when it is part of the suite (report.smk)
EFFICIENCY_REPORT = [*EFFICIENCY_OUTPUTS, *rules.report_efficiency.output] if EFFICIENCY.enabled else []
