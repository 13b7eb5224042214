"""The report at study scale (issue 24), reproducible: a 100-class image folder run end to end.

    python benchmarks/scale_study.py --out DIR                 # data, config, run, report (~25 min, 2 cores)
    python benchmarks/scale_study.py --out DIR --report-only   # rebuild the report rules and report.html

Writes into DIR: ``data/`` (a 100-class image folder in the ``image_folder`` layout, 32 x 32 RGB, 40
images per class = 4,000, PNG with every fourth image a JPEG; class names 14-29 characters such as
``yellow_ochre_triangle_checker``), ``study.yaml`` (small_cnn trained 8 epochs; EfficientNet-Lite0 with
ImageNet weights as it is and fine-tuned, both at 64 px; 3 layers each; the default config's analyses),
``run/`` (the workflow's folder) and ``report.html``. Prints report.html's size, the wall and CPU seconds
of ``snakemake --report`` and the 10 largest items of the report.

The images carry their class in three visible factors (colour, shape, fill pattern) with jitter in
position, size, hue and background noise, so the networks learn something and classes sharing two of
three factors are confusable, as in a real fine-grained dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

COLOURS = {  # name -> RGB; ten colours, some close pairs (confusable on purpose)
    "yellow_ochre": (204, 163, 36),
    "lemon": (240, 228, 66),
    "crimson": (200, 20, 60),
    "burnt_orange": (204, 85, 0),
    "forest_green": (34, 120, 34),
    "teal": (0, 128, 128),
    "navy_blue": (20, 30, 120),
    "sky_blue": (110, 180, 235),
    "violet": (140, 60, 200),
    "slate_grey": (112, 128, 144),
}
SHAPES = ("triangle", "circle", "square", "diamond", "bar")
PATTERNS = ("checker", "solid")
REPORT_RULES = (  # rules of workflow/rules/report.smk and explorer.smk
    "report_atlas",
    "report_compare",
    "dataset_overview",
    "study_tables",
    "comparisons",  # the paired tests' page is written by the job that makes their table
    "front_page",
    "embedding_explorer",
)


def class_names() -> list[str]:
    """100 names ``colour_shape_pattern`` (14-29 characters)."""
    return [f"{c}_{s}_{p}" for c in COLOURS for s in SHAPES for p in PATTERNS]


def draw(name: str, rng: np.random.Generator, size: int = 32):  # noqa: ANN201 - a PIL image
    """One image of class ``name``: a jittered shape of its colour and pattern on a noisy background."""
    from PIL import Image, ImageDraw

    colour, shape, pattern = name.rsplit("_", 2)
    rgb = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 12, 3), 0, 255).astype(int)
    background = rng.integers(60, 200, 3)
    img = np.clip(background + rng.normal(0, 18, (size, size, 3)), 0, 255).astype(np.uint8)
    mask_img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask_img)
    r = rng.uniform(7, 12)
    cx, cy = rng.uniform(r + 1, size - r - 1, 2)
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=255)
    elif shape == "circle":
        d.ellipse(box, fill=255)
    elif shape == "square":
        d.rectangle(box, fill=255)
    elif shape == "diamond":
        d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=255)
    else:  # a horizontal bar
        d.rectangle([cx - r, cy - r / 3, cx + r, cy + r / 3], fill=255)
    mask = np.asarray(mask_img) > 0
    if pattern == "checker":
        yy, xx = np.mgrid[:size, :size]
        mask &= ((yy // 3 + xx // 3) % 2) == 0
    img[mask] = rgb
    return Image.fromarray(img)


def write_folder(folder: Path, per_class: int = 40, seed: int = 0) -> int:
    """The image folder (skipped where it is complete); the number of images."""
    rng = np.random.default_rng(seed)
    n = 0
    for name in class_names():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = draw(name, rng)
            path = folder / name / (f"{i:03d}.jpg" if i % 4 == 3 else f"{i:03d}.png")
            if not path.exists():
                image.save(path, quality=92) if path.suffix == ".jpg" else image.save(path)
            n += 1
    return n


def study_config(data: Path) -> dict:
    layers_eff = {"blocks.2": "avg", "blocks.4": "avg", "global_pool": "none"}
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return {
        "seed": 0,
        "datasets": {
            "shapes100": {
                "source": "image_folder",
                "path": str(data),
                "split": {"train": 0.6, "val": 0.15, "test": 0.25},
            }
        },
        "models": {
            "small_cnn": {
                "architecture": "small_cnn",
                "layers": {"pool1": "max", "pool2": "max", "relu5": "none"},
                # the default config's recipe (SGD 0.05, momentum 0.9): without momentum it learnt 14% here
                "train": {"dataset": "shapes100", "epochs": 8, "lr": 0.05, "momentum": 0.9},
            },
            "efficientnet_lite0": {
                "architecture": "efficientnet_lite0",
                "weights": "imagenet",
                "input_size": 64,
                "layers": layers_eff,
            },
            "efficientnet_lite0_finetuned": {
                "architecture": "efficientnet_lite0",
                "weights": "imagenet",
                "input_size": 64,
                "layers": layers_eff,
                "train": {
                    "dataset": "shapes100",
                    "epochs": 2,
                    "optimizer": "adam",
                    "lr": 0.001,
                    "new_head": True,
                    "trainable": ["blocks.6", "conv_head", "bn2"],
                },
            },
        },
        "analyses": default["analyses"],
    }


def snakemake(out: Path, extra: list[str], nice: int) -> tuple[float, float]:
    """Run Snakemake in ``out/run``; (wall seconds, CPU seconds of it and its jobs)."""
    command = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(out / "run")]
    command += ["--configfile", str(out / "study.yaml"), *extra]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "LAYERATLAS_OFFLINE": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - start, cpu


def report_items(report: Path, run: Path) -> list[tuple[int, str]]:
    """(bytes on disk, path) of every result that report.html embeds, largest first."""
    keys = set(re.findall(r'"([^"{}]+)": \{"name": ', report.read_text(errors="replace")))
    items = [((run / k).stat().st_size, k) for k in keys if (run / k).is_file()]
    return sorted(items, reverse=True)


SHOTS = {  # screenshot -> (result shown, its kind); the layer: the fine-tuned network's last one
    "atlas": ("results/report/shapes100/atlas.png", "img"),
    "class_variance_heatmap": (
        "results/analysis/shapes100/efficientnet_lite0_finetuned/global_pool/class_variance_heatmap.png",
        "img",
    ),
    "probe_confusion": (
        "results/analysis/shapes100/efficientnet_lite0_finetuned/global_pool/confusion.png",
        "img",
    ),
    "dataset_examples": ("results/report/datasets/shapes100/samples.png", "img"),
    "explorer": ("results/explorer/shapes100.html", "html"),
}
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def screenshots(
    report: Path, folder: Path, width: int = 1600, height: int = 1100, scale: float = 0.8
) -> None:
    """Headless Chromium shots of report.html showing each of ``SHOTS`` as its own button would (Snakemake's
    ``app.setView``), scaled by ``scale`` (1,280 px wide) and saved in 256 colours (enough for a
    screenshot of a figure; a third of the bytes)."""
    import shutil

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        driver.get(report.as_uri())
        wait(
            lambda: driver.execute_script(
                "return typeof app !== 'undefined' && typeof results !== 'undefined'"
            )
        )
        for name, (path, kind) in SHOTS.items():
            driver.execute_script(
                "app.setView({navbarMode: 'resultinfo', resultPath: arguments[0], content: arguments[1],"
                " contentPath: results[arguments[0]].data_uri});",
                path,
                kind,
            )
            if kind == "img":
                wait(
                    lambda: driver.execute_script(
                        "const i = document.querySelector('main img, div.p-3 img');"
                        "return i && i.complete && i.naturalWidth > 0"
                    )
                )
            else:  # the explorer: wait until Bokeh has drawn inside the pane
                frame = wait(lambda: driver.find_elements("tag name", "iframe"))[0]
                driver.switch_to.frame(frame)
                wait(lambda: driver.execute_script("return !!(window.Bokeh && Bokeh.documents.length)"), 120)
                time.sleep(3)
                driver.switch_to.default_content()
            time.sleep(1)
            png = folder / f"{name}.png"
            driver.save_screenshot(str(png))
            with Image.open(png) as shot:
                size = (round(shot.width * scale), round(shot.height * scale))
                image = shot.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                png, optimize=True
            )
            print(f"{png}: {png.stat().st_size / 1e3:,.0f} kB")
    finally:
        driver.quit()


def wait(condition, timeout: float = 60.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError("report.html did not show the result in time")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder of the study (made if missing)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--report-only", action="store_true", help="rerun only the report rules, then report.html")
    p.add_argument(
        "--screenshots", type=Path, help="only take the screenshots of DIR/report.html into this folder"
    )
    args = p.parse_args()
    out = args.out.resolve()
    if args.screenshots:
        screenshots(out / "report.html", args.screenshots)
        return
    out.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    n = write_folder(out / "data")
    (out / "study.yaml").write_text(yaml.safe_dump(study_config(out / "data"), sort_keys=False))
    print(f"{n:,} images of {len(class_names())} classes in {out / 'data'}", flush=True)
    run_args = ["--cores", str(args.cores), "--resources", "gpu=1"]
    if args.report_only:  # the upstream results stay; the report rules' own outputs are remade
        run_args = ["--forcerun", *REPORT_RULES, *run_args]
        run_args = ["--rerun-triggers", "mtime", *run_args]
    wall, cpu = snakemake(out, run_args, args.nice)
    print(f"workflow: {wall:,.0f} s wall, {cpu:,.0f} CPU s", flush=True)
    report = out / "report.html"
    wall, cpu = snakemake(out, ["--report", str(report)], args.nice)
    print(f"snakemake --report: {wall:,.1f} s wall, {cpu:,.1f} CPU s; load average {os.getloadavg()[0]:.1f}")
    print(f"report.html: {report.stat().st_size / 1e6:,.1f} MB ({report.stat().st_size:,} bytes)")
    items = report_items(report, out / "run")
    print(f"{len(items)} items; the 10 largest:")
    for size, key in items[:10]:
        print(f"  {size / 1e6:6.2f} MB  {key}")
    print(json.dumps({"report_bytes": report.stat().st_size, "items": len(items)}))


if __name__ == "__main__":
    main()
