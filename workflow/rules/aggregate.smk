# Aggregation: every run -> results/tables/metrics_long.csv -> summary tables.


rule aggregate:
    input:
        metrics=lambda w: run_files("metrics.json"),
        meta=lambda w: run_files("meta.json"),
        ranking=lambda w: run_files("ranking.json"),
        status=expand("resources/raw/{dataset}/fetch.json", dataset=DATASETS),
        processed=lambda w: expand("resources/processed/{dataset}", dataset=available_datasets()),
    output:
        long="results/tables/metrics_long.csv",
        summary="results/tables/summary.md",
        fusion="results/tables/fusion.md",
    params:
        not_applicable=lambda w: [
            {"dataset": d, "model": m, "reason": reason} for d, m, reason in grid() if reason
        ],
        # the current resolved-config hash of every run: stale runs are refused, not mixed in
        expected_hashes=lambda w: {
            f"{d}/{m}/seed{s}": run_hash(config, d, m, s)
            for d in available_datasets()
            for m in MODELS
            for s in SEEDS
        },
    conda:
        "../../environment.yml"
    log:
        "logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    script:
        "../scripts/aggregate.py"
