# Aggregation: every run -> results/tables/metrics_long.csv -> summary tables.


rule aggregate:
    input:
        metrics=lambda w: run_files("metrics.json"),
        meta=lambda w: run_files("meta.json"),
        status=expand("resources/raw/{dataset}/fetch.json", dataset=DATASETS),
    output:
        long="results/tables/metrics_long.csv",
        summary="results/tables/summary.md",
    params:
        datasets=DATASETS,
        models=MODELS,
        seeds=SEEDS,
    conda:
        "../../environment.yml"
    log:
        "logs/aggregate.log",
    script:
        "../scripts/aggregate.py"
