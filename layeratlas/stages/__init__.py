"""One function per workflow step, callable without Snakemake, one module per stage (as in
workflow/rules/): the scripts in scripts/ only unpack ``snakemake.input/output/params`` and call these."""
