"""Peak RSS of the workflow's extraction against the number of images, for a big map without pooling.

A cheap graph with the output shape of ResNet-50's layer3 at 224 px (1024 x 14 x 14 per image, stored
flat: 784 KiB per image; a 1 x 1 convolution of the image, so the disk, not the network, is the
bottleneck) runs through layeratlas.extraction.extract_features once per size, each in a fresh child
process whose peak RSS (ru_maxrss from wait4) is reported. The features are deleted after each run.

    python benchmarks/memory.py --sizes 5000,20000     # writes ~4 GB, then ~16 GB (deleted after)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, mib  # noqa: E402

SHAPE = (1024, 14, 14)


def build_graph(path: Path) -> None:
    import torch
    from torch import nn

    class Cheap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, SHAPE[0], 1)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.conv(images.permute(0, 3, 1, 2).float() / 255.0)

    torch.manual_seed(0)
    with torch.no_grad():
        torch.onnx.export(
            Cheap().eval(),
            (torch.zeros(2, SHAPE[1], SHAPE[2], 3, dtype=torch.uint8),),
            str(path),
            input_names=["images"],
            output_names=["layer3"],
            dynamic_axes={"images": {0: "batch"}, "layer3": {0: "batch"}},
            opset_version=18,
            dynamo=False,
        )


def child(n: int, graph: Path, work: Path, batch_size: int, threads: int) -> None:
    import polars as pl

    from layeratlas.extraction import extract_features, make_session

    rng = np.random.default_rng(n)
    np.save(work / "images.npy", rng.integers(0, 256, (n, SHAPE[1], SHAPE[2], 3), dtype=np.uint8))
    images = np.load(work / "images.npy", mmap_mode="r")
    session = make_session(graph, threads, image_shape=images.shape[1:])
    stats = extract_features(
        session,
        images,
        {"layer3": "none"},
        {"layer3": list(SHAPE)},
        work / "features",
        pl.DataFrame({"sample_id": np.arange(n)}),
        batch_size,
        progress=False,
    )
    size = (work / "features" / "layer3.npy").stat().st_size
    print(
        f"  child: {n} images in {stats['seconds']:.1f} s ({stats['images_per_second']:.0f} img/s), "
        f"layer3.npy {size / 2**30:.2f} GiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--workdir", default=None, help="needs free disk: 784 KiB per image (default: temp)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(
            args.child, Path(args.workdir) / "graph.onnx", Path(args.workdir), args.batch_size, args.threads
        )
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="layeratlas-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    build_graph(work / "graph.onnx")
    sizes = [int(s) for s in args.sizes.split(",")]
    per_image = int(np.prod(SHAPE)) * 4
    print(f"machine: {machine()}")
    print(
        f"layer {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} without pooling: {per_image / 2**10:.0f} KiB per image"
    )
    peaks = {}
    for n in sizes:
        free = shutil.disk_usage(work).free
        if free < 1.05 * n * per_image:
            print(f"{n} images: skipped, needs {n * per_image / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free")
            continue
        start = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--workdir",
                str(work),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
            ]
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        shutil.rmtree(work / "features", ignore_errors=True)
        if proc.returncode:
            raise SystemExit(f"child for {n} images failed ({proc.returncode})")
        peaks[n] = usage.ru_maxrss * 1024  # KiB on Linux
        features = n * per_image
        print(
            f"{n:>7} images: peak RSS {mib(peaks[n]):>10}  (features written: {features / 2**30:.1f} GiB; "
            f"{time.perf_counter() - start:.0f} s with start-up)",
            flush=True,
        )
    if len(peaks) >= 2:
        lo, hi = min(peaks), max(peaks)
        print(f"peak RSS {hi} / {lo} images: {peaks[hi] / peaks[lo]:.3f}x   (target <= 1.2)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
