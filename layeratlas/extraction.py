"""Feature extraction through onnxruntime: batches of uint8 images in, one ``.npy`` per layer out.

One forward pass of one truncated graph gives every chosen layer of a model. The pass is a pipeline of
three threads: a loader reads the next uint8 batches while the session runs (preprocessing is inside
the graph, so a batch is just bytes), and a writer reduces and writes the previous batch's layers while
the next one runs. onnxruntime releases the GIL inside ``run``, so the three overlap.

Memory does not grow with the dataset: at most ``prefetch`` input batches and two batches of layer
outputs exist at once, each layer streams into its ``.npy`` with plain sequential file writes (a
memory map would keep every written page resident in the process until the kernel evicts it, so its
RSS would grow with the file), and the images are read with ``pread`` rather than through the
memory map for the same reason. The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import polars as pl
from tqdm.auto import tqdm

from layeratlas.devices import maybe_nvidia_gpu
from layeratlas.finite import require_finite
from layeratlas.io import remove_stale
from layeratlas.reductions import (
    SIMPLE,
    LayerReducer,
    ReductionValue,
    parse_reduction,
    reduce_features,
    reduced_dim,
    reduction_errors,
)

log = logging.getLogger(__name__)

REDUCTIONS = SIMPLE  # the string forms; layeratlas.reductions.KINDS lists every kind
__all__ = [
    "REDUCTIONS",
    "extract_features",
    "extraction_options",
    "make_session",
    "reduce_features",
    "reduced_dim",
]

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


EXPECTED_LAYOUT = "uint8 images of layout NHWC (batch, height, width, channels) with 1 or 3 channels"


def check_images(images: Any, where: str = "images") -> None:
    """Refuse what the exported extractors would misread: a rank other than 4, a channel axis (the last)
    other than 1 or 3, or a dtype other than uint8, with a message naming the expected layout."""
    shape, dtype = tuple(images.shape), str(images.dtype).replace("torch.", "")
    problem = None
    if len(shape) != 4:
        problem = f"rank {len(shape)} (shape {shape})"
    elif shape[3] not in (1, 3):
        hint = " (this looks like NCHW: move the channel axis last)" if shape[1] in (1, 3) else ""
        problem = f"{shape[3]} channels in the last axis (shape {shape}){hint}"
    elif dtype != "uint8":
        hint = " (floats in [0, 1] would be read as near-black: scale to 0..255 and cast)"
        problem = f"dtype {dtype}{hint if dtype.startswith('float') else ''}"
    if problem:
        raise ValueError(f"{where}: expected {EXPECTED_LAYOUT}, got {problem}")


def extraction_options(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``options`` over the defaults of the config schema's ``extraction`` block (its single source)."""
    from layeratlas.config import load_schema

    props = load_schema()["properties"]["extraction"]["properties"]
    merged = {key: sub.get("default") for key, sub in props.items()}
    unknown = sorted(k for k in set(options or {}) - set(merged) if not k.startswith("_"))  # _: internal
    if unknown:
        raise ValueError(f"unknown extraction option(s) {unknown}; allowed: {', '.join(sorted(merged))}")
    merged.update(options or {})
    return merged


def physical_cores() -> int:
    """Physical cores this process may use: hyper-threads share one core's vector units, so a second
    onnxruntime thread on a sibling only adds contention for FP32 convolutions."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or os.cpu_count() or 1
        logical = psutil.cpu_count(logical=True) or physical
    except ImportError:  # psutil comes with the usual scientific stack, but is not a declared dependency
        physical = logical = os.cpu_count() or 1
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    return max(1, min(physical, allowed * physical // max(logical, 1) or 1))


def choose_providers(prefer_gpu: bool = True, options: Mapping[str, Any] | None = None) -> list[Any]:
    """Execution providers in priority order, each a name or (name, provider options).

    TensorRT (when asked for and installed) before CUDA (when this build has it and a GPU is visible),
    CPU always last as the fallback for any node the others do not take.
    """
    opts = extraction_options(options)
    available = ort.get_available_providers()
    if opts["provider"] == "cpu" or not prefer_gpu or "CUDAExecutionProvider" not in available:
        return ["CPUExecutionProvider"]
    if not _cuda_device_visible():
        return ["CPUExecutionProvider"]
    cuda = {
        "device_id": 0,
        # EXHAUSTIVE benchmarks every cuDNN algorithm once per input shape and caches the winner; with
        # pad_last_batch every batch has one shape, so the search runs once. HEURISTIC skips the search.
        "cudnn_conv_algo_search": opts["cudnn_conv_algo_search"],
        "cudnn_conv_use_max_workspace": "1",  # lets cuDNN pick the fastest algorithms (more workspace)
        "do_copy_in_default_stream": True,
        "arena_extend_strategy": "kSameAsRequested",  # fixed batch shapes: no power-of-two overshoot
    }
    providers: list[Any] = []
    if opts["tensorrt"] and "TensorrtExecutionProvider" in available:
        providers.append(("TensorrtExecutionProvider", _tensorrt_options(opts)))
    return [*providers, ("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]


def _tensorrt_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    cache = Path(opts.get("tensorrt_cache") or Path(tempfile.gettempdir()) / "layeratlas-trt-cache")
    cache.mkdir(parents=True, exist_ok=True)
    trt = {
        "device_id": 0,
        "trt_fp16_enable": opts["precision"] == "fp16",
        # Engines take minutes to build; the cache keys them by graph and shapes.
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": True,
    }
    shape = opts.get("_image_shape")
    if shape:  # one optimisation profile: batches of 1 .. batch_size images of the dataset's size
        h, w, c = shape
        name, bs = opts.get("_input_name", "images"), opts["batch_size"]
        trt["trt_profile_min_shapes"] = f"{name}:1x{h}x{w}x{c}"
        trt["trt_profile_opt_shapes"] = f"{name}:{bs}x{h}x{w}x{c}"
        trt["trt_profile_max_shapes"] = f"{name}:{bs}x{h}x{w}x{c}"
    return trt


def _cuda_device_visible() -> bool:
    # onnxruntime-gpu lists the CUDA provider even on machines without a GPU; ask torch (whose wheels
    # also carry the CUDA libraries onnxruntime needs) whether a device is really there, unless the
    # machine has no NVIDIA device at all (torch's import alone was ~1.5 CPU-s of every CPU extraction).
    if not maybe_nvidia_gpu():
        return False
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        ort.preload_dlls()
        return True
    except Exception:  # noqa: BLE001 - any failure here just means "use the CPU"
        return False


def session_options(threads: int, options: Mapping[str, Any] | None = None) -> ort.SessionOptions:
    """onnxruntime session options for one extraction job that has ``threads`` cores."""
    opts = extraction_options(options)
    so = ort.SessionOptions()
    # One intra-op thread per physical core the job was given (the rule's threads), no more: a
    # convolution saturates a core's FMA units, so extra threads only time-share them. One inter-op
    # thread and sequential execution: a CNN is a chain, there are no independent branches to overlap.
    so.intra_op_num_threads = opts["intra_op_threads"] or max(1, min(threads, physical_cores()))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # "all" adds the layout optimisations (NCHWc blocked convolutions on x86) to the constant folding
    # and Conv+BN+ReLU fusions of "extended": the fastest CPU kernels.
    so.graph_optimization_level = _OPT_LEVELS[opts["graph_optimization"]]
    # The arena keeps freed buffers for the next run; with the same batch shape every run, memory
    # patterns let onnxruntime plan one allocation per run instead of one per tensor.
    so.enable_cpu_mem_arena = bool(opts["memory_arena"])
    so.enable_mem_pattern = bool(opts["memory_arena"])
    # Spinning threads wait for work without sleeping; that steals the loader's and writer's core on a
    # small machine, and gains little with large convolutions between synchronisation points.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if opts["spinning"] else "0")
    shape = opts.get("_image_shape")
    if shape:
        # Fixing the image height, width and channels (the batch stays free) lets the optimiser fold the
        # in-graph resize and channel handling into constants.
        for dim, value in zip(("height", "width", "channels"), shape, strict=True):
            so.add_free_dimension_override_by_name(dim, int(value))
    so.log_severity_level = 3
    return so


def make_session(
    onnx_path: str | os.PathLike | bytes,
    threads: int,
    prefer_gpu: bool = True,
    options: Mapping[str, Any] | None = None,
    image_shape: Sequence[int] | None = None,
) -> ort.InferenceSession:
    """An inference session for an exported extractor (a path, or the serialised graph as bytes).

    ``image_shape`` (height, width, channels) of the dataset fixes those input axes in the graph.
    With ``precision: fp16`` on a GPU the graph is converted to float16 inside (uint8 in, float32 out).
    """
    opts = extraction_options(options)
    if image_shape is not None:
        opts["_image_shape"] = tuple(int(s) for s in image_shape)
    providers = choose_providers(prefer_gpu, opts)
    model: str | bytes = onnx_path if isinstance(onnx_path, bytes) else str(onnx_path)
    on_gpu = providers[0] != "CPUExecutionProvider"
    if opts["precision"] == "fp16":
        if on_gpu:
            model = float16_graph(model)
        else:  # onnxruntime's CPU kernels are float32: an fp16 graph would only add casts
            log.warning("precision fp16 needs a GPU; running the float32 graph on the CPU")
    session = ort.InferenceSession(model, session_options(threads, opts), providers=providers)
    log.info("onnxruntime %s, providers in use: %s", ort.__version__, session.get_providers())
    return session


def float16_graph(model: str | os.PathLike | bytes) -> bytes:
    """The graph with float16 weights and activations; uint8 input and float32 outputs kept."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    return convert_float_to_float16(proto, keep_io_types=True).SerializeToString()


def quantize_int8(
    onnx_path: str | os.PathLike,
    calibration_images: np.ndarray,
    out_path: str | os.PathLike,
    batch_size: int = 16,
    per_channel: bool = True,
) -> Path:
    """Static int8 quantisation (onnxruntime.quantization, QDQ format) of the convolutions and matrix
    products, with activation ranges calibrated (min/max) on ``calibration_images`` (uint8 NHWC).

    The in-graph preprocessing stays float. Weights use 7 bits (``reduce_range``): on x86 without
    VNNI (AVX2 only, like this machine) the u8 x s8 kernels can otherwise saturate.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    input_name = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.starts = iter(range(0, len(calibration_images), batch_size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            lo = next(self.starts, None)
            if lo is None:
                return None
            return {input_name: np.ascontiguousarray(calibration_images[lo : lo + batch_size])}

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as work:
        tmp, source = Path(work) / "int8.onnx", str(onnx_path)
        try:  # onnxruntime's recommended pre-processing: shape inference and graph optimisation
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(source, str(Path(work) / "pre.onnx"), skip_symbolic_shape=True)
            source = str(Path(work) / "pre.onnx")
        except Exception as error:  # noqa: BLE001 - optional; quantising the graph as it is works too
            log.warning("int8 pre-processing skipped: %s", error)
        import onnx

        # The in-graph resize is two MatMuls too: kept in float, so the images enter the network as
        # the float graph sees them (quantising them would cost grey levels).
        resize = [n.name for n in onnx.load(source).graph.node if n.name.startswith("/preprocess/")]
        quantize_static(
            source,
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv", "Gemm", "MatMul"],
            nodes_to_exclude=resize,
            per_channel=per_channel,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, out_path)
    return out_path


# --- the pipeline ------------------------------------------------------------------------------------


class _ImageReader:
    """Reads rows of uint8 images. A whole ``.npy`` memory map is read with ``pread`` (no pages stay
    mapped into the process), anything else by slicing."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.fd = None
        filename = getattr(images, "filename", None)
        if isinstance(images, np.memmap) and filename and images.flags.c_contiguous:
            offset = int(getattr(images, "offset", 0))
            if os.path.getsize(filename) == offset + images.nbytes:
                self.fd = os.open(filename, os.O_RDONLY)
                self.offset = offset
                self.row_bytes = images.nbytes // max(len(images), 1)

    def read(self, lo: int, hi: int) -> np.ndarray:
        if self.fd is None:
            return np.ascontiguousarray(self.images[lo:hi])
        nbytes = (hi - lo) * self.row_bytes
        buf = bytearray(nbytes)
        got = os.preadv(self.fd, [buf], self.offset + lo * self.row_bytes)
        if got != nbytes:
            raise OSError(f"short read from {self.images.filename}: {got} of {nbytes} bytes")
        return np.frombuffer(buf, dtype=self.images.dtype).reshape((hi - lo, *self.images.shape[1:]))

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(self.images[rows])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _NpyWriter:
    """Appends float32 rows to a ``.npy`` of known shape with sequential writes."""

    def __init__(self, path: Path, n: int, dim: int) -> None:
        self.path, self.n, self.dim, self.rows = path, n, dim, 0
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        header = {"descr": "<f4", "fortran_order": False, "shape": (n, dim)}
        np.lib.format.write_array_header_1_0(self.file, header)

    def write(self, rows: np.ndarray) -> None:
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape}, expected (*, {self.dim})")
        if self.rows + len(rows) > self.n:
            raise ValueError(f"{self.path.name}: more than {self.n} rows")
        self.file.write(np.ascontiguousarray(rows, dtype="<f4").data)
        self.rows += len(rows)

    def close(self) -> None:
        self.file.close()
        if self.rows != self.n:
            raise ValueError(f"{self.path.name}: {self.rows} rows written, expected {self.n}")


class _Runner:
    """One batch through the session: plain ``run``, or I/O binding (inputs copied to the device once,
    outputs fetched once); a short batch padded to ``pad_to`` rows keeps one input shape."""

    def __init__(self, session: ort.InferenceSession, outputs: list[str], io_binding: bool, pad_to: int):
        self.session, self.outputs, self.pad_to = session, outputs, pad_to
        self.input_name = session.get_inputs()[0].name
        self.binding = session.io_binding() if io_binding else None
        on_gpu = session.get_providers()[0] != "CPUExecutionProvider"
        self.device = "cuda" if on_gpu else "cpu"

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        n = len(batch)
        if self.pad_to and n < self.pad_to:
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.pad_to - n, axis=0)])
        if self.binding is None:
            outputs = self.session.run(self.outputs, {self.input_name: batch})
        else:
            self.binding.bind_cpu_input(self.input_name, batch)
            for name in self.outputs:
                self.binding.bind_output(name, self.device)
            self.session.run_with_iobinding(self.binding)
            outputs = self.binding.copy_outputs_to_cpu()
            self.binding.clear_binding_inputs()
            self.binding.clear_binding_outputs()
        return [o[:n] for o in outputs] if len(batch) != n else list(outputs)


def run_pipeline(
    read: Callable[[int], np.ndarray],
    n_batches: int,
    run: Callable[[np.ndarray], list[np.ndarray]],
    consume: Callable[[int, np.ndarray, list[np.ndarray]], None],
    prefetch: int = 2,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Batches ``read(i)`` -> ``run`` -> ``consume(i, batch, outputs)``, with up to ``prefetch`` reads
    ahead in a loader thread and ``consume`` of batch i in a writer thread while batch i+1 runs.

    Returns the seconds the session waited for input and for the writer (both ~0 when fed well).
    Errors in any thread stop the pipeline and are raised here.
    """
    waited_read = waited_write = 0.0
    with (
        ThreadPoolExecutor(1, "layeratlas-load") as loader,
        ThreadPoolExecutor(1, "layeratlas-write") as writer,
    ):
        ahead: collections.deque[Future] = collections.deque()
        next_read = 0
        pending: Future | None = None
        try:
            for i in range(n_batches):
                while next_read < n_batches and len(ahead) < max(1, prefetch):
                    ahead.append(loader.submit(read, next_read))
                    next_read += 1
                t = time.perf_counter()
                batch = ahead.popleft().result()
                waited_read += time.perf_counter() - t
                outputs = run(batch)
                t = time.perf_counter()
                if pending is not None:
                    pending.result()  # at most one batch of outputs waits for the writer
                waited_write += time.perf_counter() - t
                pending = writer.submit(consume, i, batch, outputs)
                del outputs, batch
                if on_batch is not None:
                    on_batch(i)
            if pending is not None:
                pending.result()
        finally:
            for future in ahead:
                future.cancel()
    return {"seconds_waiting_for_images": waited_read, "seconds_waiting_for_writer": waited_write}


def _check_finite(what: str, value: np.ndarray, sample_ids: np.ndarray) -> None:
    """Stop on NaN/inf before it is written, naming the model, layer and the images' sample ids."""
    require_finite(value.reshape(len(value), -1), f"non-finite features of {what}", sample_ids)


def _fit_reducers(
    reducers: Mapping[str, LayerReducer],
    reader: _ImageReader,
    n: int,
    make_runner: Callable[[list[str]], _Runner],
    batch_size: int,
    prefetch: int,
    sample_ids: np.ndarray,
    label: str = "",
) -> float:
    """First pass for the reductions that are fitted (incremental PCA), on a seeded sample of images."""
    to_fit = {name: r for name, r in reducers.items() if r.reduction.needs_fit}
    if not to_fit:
        return 0.0
    start = time.perf_counter()
    want = [r.reduction.fit_samples or n for r in to_fit.values()]
    seed = next(iter(to_fit.values())).reduction.seed
    rows = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, max(want))])
    limits = {name: min(n, r.reduction.fit_samples or n) for name, r in to_fit.items()}
    runner = make_runner(list(to_fit))
    starts = list(range(0, len(rows), batch_size))

    def read(i: int) -> np.ndarray:
        return reader.take(rows[starts[i] : starts[i] + batch_size])

    def consume(i: int, batch: np.ndarray, outputs: list[np.ndarray]) -> None:
        for (name, reducer), value in zip(to_fit.items(), outputs, strict=True):
            take = max(0, min(len(value), limits[name] - starts[i]))
            if take:
                _check_finite(
                    f"{label}layer {name}", value[:take], sample_ids[rows[starts[i] : starts[i] + take]]
                )
                reducer.partial_fit(value[:take])

    bar = tqdm(total=len(rows), desc="fit pca", unit="img", mininterval=5, disable=len(rows) < 2 * batch_size)
    m = len(rows)
    run_pipeline(
        read,
        len(starts),
        runner,
        consume,
        prefetch,
        lambda i: bar.update(min(m, starts[i] + batch_size) - starts[i]),
    )
    bar.close()
    for reducer in to_fit.values():
        reducer.finish_fit()
    return time.perf_counter() - start


def extract_features(
    session: ort.InferenceSession,
    images: np.ndarray,
    layers: Mapping[str, ReductionValue],
    shapes: Mapping[str, list[int]],
    out_dir: str | os.PathLike,
    index: pl.DataFrame,
    batch_size: int = 64,
    progress: bool = True,
    *,
    prefetch: int = 2,
    pad_last_batch: bool | None = None,
    io_binding: bool = False,
    extra_stats: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, str | os.PathLike] | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Run every image through ``session`` once and write into ``out_dir``: ``<layer>.npy`` per layer,
    ``index.parquet`` (one row per sample, same order) and ``extraction.json`` (throughput, provider).

    ``layers`` maps layer name -> reduction (see layeratlas.reductions); ``shapes`` gives each layer's
    per-sample output shape (from the export metadata). ``pad_last_batch`` (default: on a GPU only)
    pads a short last batch to ``batch_size`` rows so the session sees one input shape.
    ``extra_files`` (name -> path) are moved into the folder with the features (e.g. the int8 graph).
    Non-finite features stop the run with ``model``, the layer and the images' sample ids.
    """
    check_images(images, f"model {model}: images" if model else "images")
    if index.height != len(images):
        raise ValueError(f"index has {index.height} rows for {len(images)} images")
    errors = [e for name, how in layers.items() for e in reduction_errors(shapes[name], how, f"layer {name}")]
    if errors:
        raise ValueError("; ".join(errors))
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir.parent, f".{out_dir.name}.*")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp_dir.chmod(0o755)
    n = len(images)
    sample_ids = index["sample_id"].to_numpy() if "sample_id" in index.columns else np.arange(n)
    label = f"model {model}, " if model else ""
    on_gpu = session.get_providers()[0] != "CPUExecutionProvider"
    pad_to = batch_size if (on_gpu if pad_last_batch is None else pad_last_batch) else 0
    reader = _ImageReader(images)
    writers: dict[str, _NpyWriter] = {}
    try:
        reducers = {name: LayerReducer(how) for name, how in layers.items()}
        dims = {name: reduced_dim(shapes[name], how) for name, how in layers.items()}
        output_names = [o.name for o in session.get_outputs()]
        wanted = [name for name in output_names if name in layers]
        missing = sorted(set(layers) - set(wanted))
        if missing:
            raise ValueError(f"layers {missing} are not outputs of the graph (outputs: {output_names})")

        def make_runner(names: list[str]) -> _Runner:
            return _Runner(session, names, io_binding, pad_to)

        fit_seconds = _fit_reducers(reducers, reader, n, make_runner, batch_size, prefetch, sample_ids, label)
        writers = {name: _NpyWriter(tmp_dir / f"{name}.npy", n, dims[name]) for name in layers}
        starts = list(range(0, n, batch_size))
        bar = tqdm(total=n, desc="extract", unit="img", disable=not progress, mininterval=5)

        def read(i: int) -> np.ndarray:
            return reader.read(starts[i], min(n, starts[i] + batch_size))

        def consume(i: int, batch: np.ndarray, outputs: list[np.ndarray]) -> None:
            for name, value in zip(wanted, outputs, strict=True):
                _check_finite(f"{label}layer {name}", value, sample_ids[starts[i] : starts[i] + len(value)])
                feats = reducers[name](value)
                writers[name].write(feats)

        start = time.perf_counter()
        waits = run_pipeline(
            read,
            len(starts),
            make_runner(wanted),
            consume,
            prefetch,
            on_batch=lambda i: bar.update(min(n, starts[i] + batch_size) - starts[i]),
        )
        seconds = time.perf_counter() - start
        bar.close()
        for writer in writers.values():
            writer.close()
        stats = {
            "n_images": n,
            "seconds": seconds,
            "images_per_second": n / seconds if seconds > 0 else float("nan"),
            "providers": session.get_providers(),
            "batch_size": batch_size,
            "padded_last_batch": bool(pad_to) and n % batch_size != 0,
            "io_binding": io_binding,
            **{k: round(v, 3) for k, v in waits.items()},
            "fit_seconds": fit_seconds,
            "layers": {name: {"reduction": how, "dim": dims[name]} for name, how in layers.items()},
            **dict(extra_stats or {}),
        }
        index.write_parquet(tmp_dir / "index.parquet")
        for name, path in (extra_files or {}).items():
            shutil.move(path, tmp_dir / name)
        (tmp_dir / "extraction.json").write_text(json.dumps(stats, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp_dir, out_dir)
    finally:
        reader.close()
        for writer in writers.values():
            if not writer.file.closed:
                writer.file.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return stats


def simple_extract(
    session: ort.InferenceSession,
    images: np.ndarray,
    layers: Mapping[str, ReductionValue],
    batch_size: int = 64,
) -> dict[str, np.ndarray]:
    """The plain reference path: one batch at a time, no threads, results in memory (for tests and
    benchmarks; pca layers are not supported here)."""
    check_images(images)
    names = [o.name for o in session.get_outputs() if o.name in layers]
    input_name = session.get_inputs()[0].name
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for lo in range(0, len(images), batch_size):
        outputs = session.run(names, {input_name: np.ascontiguousarray(images[lo : lo + batch_size])})
        for name, value in zip(names, outputs, strict=True):
            parts[name].append(reduce_features(value, parse_reduction(layers[name])))
    return {name: np.concatenate(p) for name, p in parts.items()}
