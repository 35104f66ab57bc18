# resflow-bench: download -> prepare -> train -> aggregate. The only entry point.
#   snakemake --cores all                                   the default suite (config/config.yaml)
#   snakemake --cores 2 --configfile config/mirror.yaml     everything from $RESFLOW_DATA_MIRROR
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "config/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/efficiency.smk"


rule all:
    input:
        rules.aggregate.output,
        rules.report_publish.output,
        EFFICIENCY_OUTPUTS,
    default_target: True
