"""The README's first command, measured: the default config run end to end in a fresh folder.

    python benchmarks/default_run.py                      # run config/config.yaml in a fresh folder
    python benchmarks/default_run.py --numba-cache fresh  # with an empty numba cache (a fresh machine)
    python benchmarks/default_run.py --run DIR            # only read a finished run in DIR
    python benchmarks/default_run.py -- --scheduler greedy  # anything after -- goes to Snakemake

Prints the wall time and CPU seconds (user + sys of Snakemake and every job), the job count, the sum of
the jobs' seconds (from Snakemake's metadata, .snakemake/metadata: one record per output file, with the
job's start and end), the most expensive rules and, per rule, the share of a job's seconds spent before
its first line of work: Snakemake's preparation, the interpreter's start and the imports, up to the
"work starts" line that `layeratlas.logs.log_to_file` writes into every job's log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JOB_ENDS = re.compile(r"job ends after ([0-9.]+) CPU-s")
WORK_STARTS = re.compile(r"work starts at ([0-9.]+) \(epoch s\); interpreter started ([0-9.]+) s before")


@dataclass
class Job:
    rule: str
    start: float
    end: float
    log: str | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


def run(
    folder: Path,
    config: Path,
    cores: int,
    numba_cache: str | None,
    nice: int,
    checks_cache: str | None = None,
    extra: list[str] = (),
) -> tuple[float, float, float]:
    """Run the workflow in ``folder``; (wall seconds, CPU seconds of Snakemake and all its jobs, CPU
    seconds of the Snakemake process alone: scheduling, job preparation, file checks)."""
    env = dict(os.environ)
    if numba_cache:
        env["NUMBA_CACHE_DIR"] = numba_cache
    if checks_cache:  # the config checks' cache of model builds (layeratlas.checks.check_cache_dir)
        env["LAYERATLAS_CHECKS_CACHE"] = checks_cache
    command = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(folder)]
    command += ["--configfile", str(config), "--cores", str(cores), "--resources", "gpu=1"]
    command += ["--workflow-profile", str(ROOT / "profiles" / "default"), "--quiet", "rules", *extra]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    own = 0.0
    while process.poll() is None:  # Snakemake's own CPU seconds (all its threads, not its jobs)
        own = own_cpu(process.pid) or own
        time.sleep(0.25)
    wall = time.perf_counter() - start
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, own


def own_cpu(pid: int) -> float | None:
    """user + sys seconds of process ``pid`` itself (every thread, none of its children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jobs(folder: Path) -> list[Job]:
    """One entry per job: the metadata records of a job's outputs share its rule, hash and log (their
    start times differ by microseconds)."""
    seen: dict[tuple, Job] = {}
    for path in (folder / ".snakemake" / "metadata").iterdir():
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("starttime") is None or record.get("endtime") is None:
            continue
        log = (record.get("log") or [None])[0]
        key = (record["rule"], record.get("job_hash"), log)
        job = seen.setdefault(key, Job(record["rule"], record["starttime"], record["endtime"], log))
        job.start, job.end = min(job.start, record["starttime"]), max(job.end, record["endtime"])
    return sorted(seen.values(), key=lambda j: j.start)


def startup(folder: Path, job: Job) -> tuple[float, float] | None:
    """(seconds from Snakemake's start of the job to its first line of work, of which the interpreter's
    own start and imports), from the job log's "work starts" line; None when the log has none."""
    if not job.log:
        return None
    try:
        with open(folder / job.log) as f:
            head = f.read(4000)
    except OSError:
        return None
    if not (match := WORK_STARTS.search(head)):
        return None
    work, interpreter = float(match[1]), float(match[2])
    return work - job.start, interpreter


def logged_cpu(folder: Path, job: Job) -> float | None:
    """The job's CPU seconds (user + sys, with its children) from the "job ends" line that
    `layeratlas.logs.log_to_file` writes last into every job's log; None when the log has none."""
    if not job.log:
        return None
    try:
        with open(folder / job.log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 4000, 0))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    found = JOB_ENDS.findall(tail)
    return float(found[-1]) if found else None


def rule_cpu(folder: Path) -> dict[str, list[float]]:
    """CPU seconds (user + sys) of each job of the rules with a `benchmark:` file, by rule, from
    results/benchmarks/<rule>/**.tsv (its cpu_time column)."""
    found: dict[str, list[float]] = defaultdict(list)
    root = folder / "results" / "benchmarks"
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rows = path.read_text().splitlines()
        header, last = rows[0].split("\t"), rows[-1].split("\t")
        if "cpu_time" in header and len(rows) > 1:
            found[path.relative_to(root).parts[0]].append(float(last[header.index("cpu_time")]))
    return found


Span = tuple[float, float, list[str]]


def concurrency(found: list[Job], cores: int) -> tuple[dict[int, float], list[Span]]:
    """Seconds from the first job's start to the last one's end during which 0, 1, ... jobs ran (capped at
    ``cores``), and the spans of at least 2 s with fewer jobs than ``cores`` (start and end, relative to
    the first start, with the rules running): where the run's wall time exceeds its CPU seconds / cores.
    One sweep over the jobs' starts and ends (a study has thousands of jobs)."""
    events = sorted((t, i) for i, j in enumerate(found) for t in (j.start, j.end))
    first = events[0][0]
    seconds: dict[int, float] = defaultdict(float)
    spans: list[Span] = []
    running: dict[int, str] = {}
    for k, (t, i) in enumerate(events):
        if i in running:  # its end (a job starts before it ends)
            del running[i]
        else:
            running[i] = found[i].rule
        if k + 1 == len(events) or events[k + 1][0] == t:
            continue  # more starts and ends at this instant
        a, b = t - first, events[k + 1][0] - first
        seconds[min(len(running), cores)] += b - a
        if len(running) < cores:
            rules = [running[i] for i in sorted(running)]  # in the order the jobs started
            if spans and abs(spans[-1][1] - a) < 1e-6 and spans[-1][2] == rules:
                spans[-1] = (spans[-1][0], b, rules)
            else:
                spans.append((a, b, rules))
    return dict(seconds), [s for s in spans if s[1] - s[0] >= 2]


def summary(
    folder: Path,
    wall: float | None,
    cpu: float | None,
    own: float | None = None,
    started: float | None = None,
    cores: int = 2,
) -> str:
    found = jobs(folder)
    lines = []
    if wall is not None:
        lines.append(f"wall time: {wall:.0f} s ({wall / 60:.1f} min)")
        if started is not None:  # Snakemake's start (imports, config checks, DAG) and its end
            first, last = min(j.start for j in found), max(j.end for j in found)
            lines.append(
                f"  before the first job starts: {first - started:.1f} s; after the last one ends: "
                f"{started + wall - last:.1f} s"
            )
    if cpu is not None:
        lines.append(f"CPU seconds (user + sys, Snakemake and every job): {cpu:.0f} s")
        if own is not None:
            lines.append(f"  of which the Snakemake process itself (scheduling, job prep): {own:.0f} s")
    else:
        span = max(j.end for j in found) - min(j.start for j in found)
        lines.append(f"first job start to last job end: {span:.0f} s ({span / 60:.1f} min)")
    total = sum(j.seconds for j in found)
    lines.append(f"jobs: {len(found)}; job-second sum: {total:.0f} s")
    seconds, spans = concurrency(found, cores)
    lines.append(
        f"seconds with N jobs running (N capped at {cores} cores): "
        + ", ".join(f"{n}: {s:.0f}" for n, s in sorted(seconds.items()))
    )
    for a, b, running in spans:
        alone = ", ".join(running) or "-"
        lines.append(f"  fewer jobs than cores {a:6.1f}-{b:6.1f} s ({b - a:4.1f} s): {alone}")
    by_rule: dict[str, list[Job]] = defaultdict(list)
    for job in found:
        by_rule[job.rule].append(job)
    ranked = sorted(by_rule.items(), key=lambda item: -sum(j.seconds for j in item[1]))
    lines.append("five most expensive rules (job-seconds):")
    for rule, js in ranked[:5]:
        s = sum(j.seconds for j in js)
        lines.append(f"  {rule}: {len(js)} jobs, {s:.0f} s ({s / len(js):.1f} s/job)")
    lines.append("every rule: jobs, s/job, median share before the first line of work (of which interpreter")
    lines.append("start + imports, median s; the rest is Snakemake's preparation of the job):")
    measured = []
    for rule, js in ranked:
        pre = [(p, j.seconds) for j in js if (p := startup(folder, j))]
        s = sum(j.seconds for j in js)
        text = f"  {rule:<24} {len(js):>3} x {s / len(js):5.1f} s"
        if pre:
            shares = [p[0] / max(seconds, 1e-9) for p, seconds in pre]
            text += f"   before work {100 * statistics.median(shares):3.0f}%"
            text += f" (median {statistics.median(p[0] for p, _ in pre):.1f} s,"
            text += f" interpreter + imports {statistics.median(p[1] for p, _ in pre):.1f} s)"
            measured += [(p[0], seconds) for p, seconds in pre]
        lines.append(text)
    logged: dict[str, list[float]] = defaultdict(list)
    for job in found:
        if (seconds := logged_cpu(folder, job)) is not None:
            logged[job.rule].append(seconds)
    if logged:
        n, total = sum(map(len, logged.values())), sum(map(sum, logged.values()))
        lines.append(f"CPU seconds of every job, from its log ({n} jobs, {total:.0f} s; jobs x CPU-s/job):")
        for rule, cpus in sorted(logged.items(), key=lambda item: -sum(item[1])):
            lines.append(f"  {rule:<24} {len(cpus):>3} x {sum(cpus) / len(cpus):5.1f} = {sum(cpus):6.1f}")
    elif cpu_by_rule := rule_cpu(folder):
        lines.append("CPU seconds of the rules with a benchmark file (jobs x CPU-s/job = CPU-s):")
        for rule, cpus in sorted(cpu_by_rule.items(), key=lambda item: -sum(item[1])):
            lines.append(f"  {rule:<24} {len(cpus):>3} x {sum(cpus) / len(cpus):5.1f} = {sum(cpus):6.1f}")
    if measured:
        before = sum(p for p, _ in measured)
        lines.append(
            f"all jobs with a 'work starts' line ({len(measured)}): {before:.0f} of "
            f"{sum(s for _, s in measured):.0f} job-seconds before the first line of work "
            f"({100 * before / sum(s for _, s in measured):.0f}%)"
        )
    return "\n".join(lines)


def reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop (30 million additions) in a fresh interpreter: the same
    machine ran it in 4.7-5.4 s on an afternoon when the default run took 240-257 s (session 7), so wall
    times measured on different days compare only through it."""
    code = (
        "import time\nt = time.process_time()\nx = 0\n"
        "for i in range(30_000_000): x += i\nprint(time.process_time() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--run", type=Path, help="only read the finished run in this folder")
    parser.add_argument("--folder", type=Path, help="run here (default: a fresh temporary folder)")
    parser.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--nice", type=int, default=0, help="run Snakemake under nice -n N")
    parser.add_argument(
        "--numba-cache",
        default=None,
        help="NUMBA_CACHE_DIR for the run; 'fresh': an empty one (default: the user's, as the README's)",
    )
    parser.add_argument(
        "--checks-cache",
        default="fresh",
        help="where the config checks keep their model builds; 'fresh' (default): an empty folder, as on "
        "a fresh machine; 'user': the user's (~/.cache/layeratlas/checks)",
    )
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if extra or "--" in argv else 0)])
    print(f"machine: {machine()}")
    if args.run:
        print(f"run: {args.run} (read only)")
        print(summary(args.run, None, None))
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="layeratlas-default-run-"))
    numba_cache = args.numba_cache
    if numba_cache == "fresh":
        numba_cache = tempfile.mkdtemp(prefix="layeratlas-numba-")
    cache = numba_cache or "default"
    print(f"run: {folder}; config {args.configfile}; {args.cores} cores; numba cache {cache}")
    checks_cache = None if args.checks_cache == "user" else args.checks_cache
    if checks_cache == "fresh":
        checks_cache = tempfile.mkdtemp(prefix="layeratlas-checks-")
    print(f"config checks' cache: {checks_cache or 'the user one'}")
    if extra:
        print(f"Snakemake arguments added: {' '.join(extra)}")
    started = time.time()
    wall, cpu, own = run(folder, args.configfile, args.cores, numba_cache, args.nice, checks_cache, extra)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(summary(folder, wall, cpu, own, started, args.cores))
    print(f"machine speed after the run: the reference loop took {reference_seconds():.2f} CPU-s")


if __name__ == "__main__":
    main()
