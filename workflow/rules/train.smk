# Training stage: one job per dataset x model x seed, writing the run folder of contract 3.


rule train:
    input:
        "resources/processed/{dataset}",
    output:
        metrics="results/runs/{dataset}/{model}/seed{seed}/metrics.json",
        predictions="results/runs/{dataset}/{model}/seed{seed}/predictions.npz",
        history="results/runs/{dataset}/{model}/seed{seed}/history.csv",
        meta="results/runs/{dataset}/{model}/seed{seed}/meta.json",
        resolved="results/runs/{dataset}/{model}/seed{seed}/config.resolved.yaml",
    params:
        run=lambda w: resolve_run(config, w.dataset, w.model, int(w.seed)),
    threads: config["resources"].get("train_threads", 1)
    conda:
        "../../environment.yml"
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    script:
        "../scripts/train.py"
