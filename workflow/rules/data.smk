# Data stage: fetch official files (mirror first), then prepare them into the processed format.
from benchmarks.base import get_dataset
from benchmarks.fetch import local_availability


checkpoint fetch:
    output:
        "resources/raw/{dataset}/fetch.json",
    params:
        # re-fetch when a missing file appears locally (mirror or resources/raw); nothing else
        availability=lambda w: local_availability(
            get_dataset(w.dataset, config["dataset_options"].get(w.dataset)), "resources/raw"
        ),
        entry=lambda w: config["dataset_options"].get(w.dataset, {}),
        strict=config["strict"],
        verify_checksums=config["verify_checksums"],
    conda:
        "../../environment.yml"
    log:
        "logs/fetch/{dataset}.log",
    benchmark:
        "results/benchmarks/fetch/{dataset}.tsv"
    script:
        "../scripts/fetch.py"


checkpoint prepare:
    input:
        # ancient: a re-fetch that verified the same files does not redo everything downstream
        ancient("resources/raw/{dataset}/fetch.json"),
    output:
        directory("resources/processed/{dataset}"),
    params:
        prepare=lambda w: get_dataset(w.dataset, config["dataset_options"].get(w.dataset)).options_dict(),
    conda:
        "../../environment.yml"
    log:
        "logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    script:
        "../scripts/prepare.py"
