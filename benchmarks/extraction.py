"""Extraction throughput: the workflow's path against what a user would otherwise use.

One process, the same images (random uint8, upsampled inside each method to the model's 224 px), the
same model (random-init ResNet-50 by default) and the same layers; each method gets one warm-up batch,
then runs every image. Prints images/s, achieved GFLOP/s (FLOPs of the truncated graph per image from
torch.utils.flop_counter, times images/s) and the highest RSS seen while the method ran.

    python benchmarks/extraction.py --images 256 --threads 2

Methods: the workflow (layeratlas.extraction.extract_features: fed pipeline, reductions, writes);
a bare onnxruntime session on the same graph (default session options, outputs dropped); eager
PyTorch with forward hooks on the full model; the exported TorchScript graph; thingsvision's PyTorch
extractor (when importable, see benchmarks/README.md); and the workflow with the deepest layer alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import flops_per_image, machine, measure, mib, row  # noqa: E402

LAYERS = {"layer3": "avg", "layer4": "avg", "avgpool": "none"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="resnet50")
    parser.add_argument("--images", type=int, default=256, help="images per method (default 256)")
    parser.add_argument("--side", type=int, default=32, help="side of the stored images (CIFAR: 32)")
    parser.add_argument("--input-size", type=int, default=None, help="model input side (default: its own)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--methods",
        default="workflow,bare_onnxruntime,eager_hooks,torchscript,thingsvision,deepest_alone",
        help="comma-separated subset",
    )
    parser.add_argument("--workdir", default=None, help="where graphs and features go (default: a temp dir)")
    args = parser.parse_args()

    import onnxruntime as ort
    import polars as pl
    import torch

    from layeratlas.export import build_extractor, export_onnx, export_torchscript
    from layeratlas.extraction import extract_features, make_session
    from layeratlas.models import build_model
    from layeratlas.models.zoo import input_size

    torch.set_num_threads(args.threads)
    methods = args.methods.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="layeratlas-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = {"architecture": args.architecture, "weights": "none", "layers": LAYERS}
    if args.input_size:
        spec["input_size"] = args.input_size
    size = input_size(spec)
    model = build_model(spec, num_classes=1000, seed=0)
    extractor = build_extractor(model, spec)
    deepest = build_extractor(model, {**spec, "layers": {"avgpool": "none"}})
    example = torch.zeros(2, args.side, args.side, 3, dtype=torch.uint8)
    export_onnx(extractor, example, work / "all.onnx")
    export_onnx(deepest, example, work / "deepest.onnx")
    export_torchscript(extractor, example, work / "all.torchscript.pt")
    gflop = flops_per_image(extractor, example[:1]) / 1e9
    shapes = {k: list(v.shape[1:]) for k, v in zip(LAYERS, extractor(example[:1]), strict=True)}

    rng = np.random.default_rng(0)
    np.save(work / "images.npy", rng.integers(0, 256, (args.images, args.side, args.side, 3), dtype=np.uint8))
    images = np.load(work / "images.npy", mmap_mode="r")
    in_memory = np.asarray(images).copy()
    index = pl.DataFrame({"sample_id": np.arange(args.images)})
    bs, n = args.batch_size, args.images

    print(f"machine: {machine()}")
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, threads {args.threads}")
    print(
        f"{args.architecture} (random init) at {size} px from {args.side} px uint8 images; layers {LAYERS} "
        f"(shapes {shapes}); {gflop:.2f} GFLOP per image; {n} images per method, batch {bs}"
    )
    results = {}

    def batches(array):  # noqa: ANN001, ANN202
        for lo in range(0, n, bs):
            yield array[lo : lo + bs]

    def run_workflow(graph: Path, layers: dict, name: str) -> None:
        session = make_session(graph, args.threads, image_shape=images.shape[1:])
        session.run(None, {"images": in_memory[:bs]})  # warm-up
        with measure() as m:
            extract_features(
                session, images, layers, {k: shapes[k] for k in layers}, work / f"f-{name}", index, bs, False
            )
        results[name] = row(name, n, m, gflop)

    if "workflow" in methods:
        run_workflow(work / "all.onnx", LAYERS, "workflow")
    if "bare_onnxruntime" in methods:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(work / "all.onnx"), options, providers=["CPUExecutionProvider"])
        session.run(None, {"images": in_memory[:bs]})
        with measure() as m:
            for batch in batches(in_memory):
                session.run(None, {"images": batch})
        results["bare_onnxruntime"] = row("bare_onnxruntime", n, m, gflop)
    if "eager_hooks" in methods or "thingsvision" in methods:
        preprocess = extractor.preprocess  # the same in-graph preprocessing, run by torch

    if "eager_hooks" in methods:
        captured = {}
        hooks = [
            model.get_submodule(name).register_forward_hook(
                lambda _m, _i, out, name=name: captured.__setitem__(name, out.detach().numpy())
            )
            for name in LAYERS
        ]
        with torch.inference_mode():
            model(preprocess(torch.from_numpy(in_memory[:bs])))
            with measure() as m:
                for batch in batches(in_memory):
                    model(preprocess(torch.from_numpy(batch)))
        for h in hooks:
            h.remove()
        results["eager_hooks"] = row("eager_hooks", n, m, gflop)
    if "torchscript" in methods:
        scripted = torch.jit.load(str(work / "all.torchscript.pt")).eval()
        with torch.inference_mode():
            scripted(torch.from_numpy(in_memory[:bs]))
            with measure() as m:
                for batch in batches(in_memory):
                    [o.numpy() for o in scripted(torch.from_numpy(batch))]
        results["torchscript"] = row("torchscript", n, m, gflop)
    if "thingsvision" in methods:
        tv = _thingsvision()
        if tv is None:
            print("thingsvision: not importable; see benchmarks/README.md (run_all.sh installs it)")
        else:
            tv_extractor = tv.get_extractor_from_model(model=model, device="cpu", backend="pt")

            def tv_batches():  # noqa: ANN202
                for batch in batches(in_memory):
                    yield preprocess(torch.from_numpy(batch))

            class Batches:  # thingsvision wants len() and iteration
                def __len__(self) -> int:
                    return -(-n // bs)

                def __iter__(self):  # noqa: ANN204
                    return tv_batches()

            tv_extractor.extract_features(
                batches=[preprocess(torch.from_numpy(in_memory[:bs]))], module_names=list(LAYERS)
            )
            with measure() as m:
                tv_extractor.extract_features(
                    batches=Batches(), module_names=list(LAYERS), flatten_acts=False
                )
            results["thingsvision"] = row("thingsvision", n, m, gflop)
    if "deepest_alone" in methods:
        run_workflow(work / "deepest.onnx", {"avgpool": "none"}, "deepest_alone")

    print()
    ips = {k: v["images_per_s"] for k, v in results.items()}

    def ratio(a: str, b: str, target: str) -> None:
        if a in ips and b in ips:
            print(f"{a} / {b}: {ips[a] / ips[b]:.2f}x images/s   (target {target})")

    ratio("workflow", "bare_onnxruntime", ">= 0.90")
    ratio("workflow", "eager_hooks", ">= 1.8")
    ratio("workflow", "thingsvision", ">= 1.8")
    ratio("workflow", "torchscript", "-")
    if "workflow" in ips and "deepest_alone" in ips:
        cost = ips["deepest_alone"] / ips["workflow"]
        print(f"all layers in one pass / deepest layer alone: {cost:.2f}x the time   (target <= 1.15)")
    print(f"peak RSS of the workflow's extraction: {mib(results.get('workflow', {}).get('peak_rss', 0))}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


def _thingsvision():  # noqa: ANN202
    """thingsvision, or None. Its package imports TensorFlow at the top for its Keras backend; only
    its PyTorch extractor is measured here, so a stand-in module is used when TensorFlow is absent
    (thingsvision 2.7 pins numpy<2, torchvision==0.15.2 and tensorflow<2.16, which this environment
    cannot take; run_all.sh installs thingsvision itself with --no-deps beside the project)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        from unittest import mock

        tf = mock.MagicMock(name="tensorflow stand-in")
        tf.config.list_physical_devices.return_value = []
        for name in (
            "tensorflow",
            "tensorflow.keras",
            "tensorflow.keras.applications",
            "tensorflow.keras.layers",
        ):
            sys.modules.setdefault(name, tf if name == "tensorflow" else types.ModuleType(name))
        sys.modules["tensorflow.keras.layers"].Lambda = mock.MagicMock()
    import numpy

    if not hasattr(numpy, "AxisError"):  # thingsvision 2.7 still uses the numpy 1 name
        numpy.AxisError = numpy.exceptions.AxisError
    try:
        import thingsvision
    except Exception as error:  # noqa: BLE001 - report and go on with the other methods
        print(f"thingsvision import failed: {error!r}")
        return None
    return thingsvision


if __name__ == "__main__":
    main()
