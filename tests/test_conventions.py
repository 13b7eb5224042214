"""The workflow follows Snakemake's conventions: `snakemake --lint` finds nothing to say, and the report
holds every output meant for people."""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from pathlib import Path

from tests.conftest import TINY_CONFIG
from tests.snakemake_runs import snakemake


def test_snakemake_lint_reports_nothing(tmp_path):
    result = snakemake(tmp_path, "--lint", "--configfile", str(TINY_CONFIG), check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output
    assert "Congratulations, your workflow is in a good condition!" in output, output


def test_report_zip_holds_every_figure_and_table(tiny_run):
    """`snakemake --report report.zip` includes everything meant for people: every figure and table
    (png, tsv) the run wrote under results/ and each trained model's test metrics. Machine-readable
    copies stay out: parquet, the per-layer JSON rows that results/summary/ merges, layers.csv (= .tsv)."""
    snakemake(tiny_run, "--configfile", str(TINY_CONFIG), "--report", "report.zip")
    with zipfile.ZipFile(tiny_run / "report.zip") as archive:
        # report/data/raw/<hash of the path>/<file name>
        in_report = Counter(Path(name).name for name in archive.namelist() if "/data/raw/" in name)
        # captions are reStructuredText filled from the job: one naming a wildcard its rule lacks renders
        # as docutils' "problematic" marker (the inspection captions once did, after their jobs merged)
        pages = [n for n in archive.namelist() if n.endswith((".js", ".html")) and "/data/raw/" not in n]
        broken = [n for n in pages if re.search(rb'class=\\?"problematic', archive.read(n))]  # JSON-escaped
    assert pages and not broken, f"a caption failed to render in {broken}"
    written = [
        p
        for p in (tiny_run / "results").rglob("*")
        if p.is_file()
        and "benchmarks" not in p.parts
        and (p.suffix in (".png", ".tsv") or p.name == "metrics.json" or "tables" in p.parent.parts)
    ]
    # every table page, now all rendered in one job (rule study_tables), is its own item
    assert sum(p.suffix == ".html" and "tables" in p.parts for p in written) > 20
    assert any(p.name == "metrics.json" for p in written) and len(written) > 40
    missing = [
        str(p.relative_to(tiny_run))
        for name, count in Counter(p.name for p in written).items()
        if in_report[name] < count
        for p in written
        if p.name == name
    ]
    assert not missing, f"written but not in the report (wrap them in report()): {missing}"
