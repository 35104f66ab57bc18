# resflow-bench: download -> prepare -> train -> aggregate. The only entry point.
#   snakemake --cores all                                   the default suite (config/config.yaml)
#   snakemake --cores 2 --configfile config/mirror.yaml     everything from $RESFLOW_DATA_MIRROR
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")


# this checkout's packages (analysis, benchmarks, core, models, training) for the rules and every
# job's script, whichever copy the interpreter has installed
sys.path.insert(0, workflow.basedir)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])))


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "config/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/efficiency.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        # the fetch and prepare checkpoints first: until they ran, Snakemake takes a job whose
        # inputs wait on a checkpoint and whose outputs exist as done, so without these a new
        # dataset over an existing results folder would leave the tables of the old grid
        expand("resources/raw/{dataset}/fetch.json", dataset=DATASETS),
        lambda w: expand("resources/processed/{dataset}", dataset=available_datasets()),
        rules.aggregate.output,
        rules.report_publish.output,
        EFFICIENCY_OUTPUTS,
    default_target: True
