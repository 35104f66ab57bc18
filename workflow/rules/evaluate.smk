# Ranking evaluation from saved predictions (no retraining): WR@K and GAUC under score fusion.


rule rank:
    input:
        predictions="results/runs/{dataset}/{model}/seed{seed}/predictions.npz",
        meta="results/runs/{dataset}/{model}/seed{seed}/meta.json",
    output:
        "results/runs/{dataset}/{model}/seed{seed}/ranking.json",
    params:
        gains=lambda w: [t.gain for t in task_settings(w.dataset, config["dataset_options"].get(w.dataset))],
        ranking=config["ranking"],
    conda:
        "../../environment.yml"
    log:
        "logs/rank/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/rank/{dataset}/{model}/seed{seed}.tsv"
    script:
        "../scripts/rank.py"
