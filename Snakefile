# layeratlas: config -> datasets -> models -> exported extractors -> features -> per-layer analyses -> report
import warnings

from snakemake.utils import min_version

min_version("9.0")

# Snakemake's own default resource `disk` (max(2*input.size_mb, 1000)) is evaluated inside its running event
# loop while it builds the DAG for --report, and leaves one unawaited coroutine per job behind
# (snakemake/snakemake#4280): a RuntimeWarning per job. Only that message is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"coroutine 'InputFiles\._predicated_size_files\.<locals>\.sizes' was never awaited",
    category=RuntimeWarning,
)


# The embedded default, unless the user names a config: `--configfile X` then replaces it instead of
# being deep-merged into it (which would silently keep the default's models and datasets).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/comparisons.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/inspect.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/explorer.smk"


rule all:
    default_target: True
    input:
        all_targets(),
