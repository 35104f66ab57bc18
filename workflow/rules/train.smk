# Training stage: one job per dataset x model x seed, writing the run folder of contract 3.
import torch

from training.suite import training_config

# What the training jobs of each dataset ask the scheduler for (config `resources`): the request of
# its size class, and `gpu` GPUs (auto: 1 when this process sees CUDA) unless it trains on cpu.
_SIZE = {d: config["resources"]["dataset_size"].get(d, "small") for d in DATASETS}
_UNKNOWN = {d: s for d, s in _SIZE.items() if s not in config["resources"]["sizes"]}
if _UNKNOWN:
    raise WorkflowError("resources.dataset_size: " + ", ".join(f"{d}: {s!r}" for d, s in _UNKNOWN.items())
                        + f" is not a class of resources.sizes ({', '.join(config['resources']['sizes'])})")
TRAIN_REQUEST = {d: config["resources"]["sizes"][s] for d, s in _SIZE.items()}
_GPU = config["resources"]["gpu"]
TRAIN_GPUS = {
    d: 0 if training_config(config, d).device == "cpu" else int(torch.cuda.is_available()) if _GPU == "auto" else int(_GPU)
    for d in DATASETS
}


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
    resources:
        gpu=lambda w: TRAIN_GPUS[w.dataset],
        # retries (--retries, the SLURM profile) get attempt x the memory and wall time
        mem_mb=lambda w, attempt: TRAIN_REQUEST[w.dataset]["mem_mb"] * attempt,
        runtime=lambda w, attempt: TRAIN_REQUEST[w.dataset]["runtime"] * attempt,
        cpus_per_task=lambda w: TRAIN_REQUEST[w.dataset]["cpus_per_task"],
    conda:
        "../../environment.yml"
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    script:
        "../scripts/train.py"
