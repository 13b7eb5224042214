import numpy as np
import polars as pl
import pytest
import torch

from layeratlas.export import build_extractor, example_images, export_onnx
from layeratlas.extraction import extract_features, make_session, reduce_features, simple_extract
from layeratlas.models import build_model

SPEC = {
    "architecture": "small_cnn",
    "layers": {"conv1": "max", "pool2": "avg", "relu5": "none", "pool1": "none"},
}


def test_reductions():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(reduce_features(x, "avg"), x.mean(axis=(2, 3)))
    np.testing.assert_array_equal(reduce_features(x, "max"), x[:, :, 1, 1])
    assert reduce_features(x, "none").shape == (2, 12)
    assert reduce_features(x[:, :, 0, 0], "avg").shape == (2, 3)  # already flat: nothing to pool
    with pytest.raises(ValueError, match="choose one of none, avg, max"):
        reduce_features(x, "median")


@pytest.fixture(scope="module")
def small_cnn_onnx(tmp_path_factory):
    model = build_model(SPEC, num_classes=10, seed=0)
    extractor = build_extractor(model, SPEC)
    path = tmp_path_factory.mktemp("onnx") / "extractor.onnx"
    export_onnx(extractor, example_images(2, 8, 1), path)
    return extractor, path


def test_extracted_features_equal_eager_reduced_outputs(small_cnn_onnx, tmp_path):
    extractor, path = small_cnn_onnx
    images = example_images(37, 8, 1, seed=1).numpy()
    index = pl.DataFrame({"sample_id": np.arange(37), "split": ["test"] * 37, "label": np.arange(37) % 10})
    shapes = {"conv1": [6, 28, 28], "pool2": [16, 7, 7], "relu5": [100], "pool1": [16, 14, 14]}
    stats = extract_features(
        make_session(path, 1),
        images,
        SPEC["layers"],
        shapes,
        tmp_path / "f",
        index,
        batch_size=8,
        progress=False,
    )
    assert stats["n_images"] == 37 and stats["providers"][0] == "CPUExecutionProvider"
    with torch.no_grad():
        eager = dict(zip(extractor.layers, extractor(torch.from_numpy(images)), strict=True))
    for layer, how in SPEC["layers"].items():
        stored = np.load(tmp_path / "f" / f"{layer}.npy")
        expected = reduce_features(eager[layer].numpy(), how)
        assert stored.shape == expected.shape and stored.dtype == np.float32
        np.testing.assert_allclose(stored, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())
    assert pl.read_parquet(tmp_path / "f" / "index.parquet").equals(index)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # the temporary folder is gone


def test_failed_extraction_leaves_nothing_behind(small_cnn_onnx, tmp_path):
    _, path = small_cnn_onnx
    images = example_images(4, 8, 1).numpy()
    index = pl.DataFrame({"sample_id": np.arange(3)})
    with pytest.raises(ValueError, match="index has 3 rows for 4 images"):
        extract_features(
            make_session(path, 1), images, {"relu5": "none"}, {"relu5": [100]}, tmp_path / "f", index
        )
    wrong_shapes = {"relu5": [99]}  # metadata that disagrees with the graph
    with pytest.raises(ValueError):
        extract_features(
            make_session(path, 1),
            images,
            {"relu5": "none"},
            wrong_shapes,
            tmp_path / "f",
            pl.DataFrame({"sample_id": np.arange(4)}),
            progress=False,
        )
    assert list(tmp_path.iterdir()) == []


# --- reductions: shape and math ------------------------------------------------------------------------

from layeratlas import extraction  # noqa: E402
from layeratlas.reductions import (  # noqa: E402
    LayerReducer,
    adaptive_pool,
    projection_matrix,
    reduced_dim,
    reduction_errors,
)


@pytest.mark.parametrize("how", ["avg", "max"])
@pytest.mark.parametrize(("hw", "k"), [((7, 7), 3), ((14, 10), 4), ((6, 6), 6), ((5, 9), 1)])
def test_adaptive_pooling_matches_torch(how, hw, k):
    x = np.random.default_rng(0).normal(size=(3, 4, *hw)).astype(np.float32)
    pool = (
        torch.nn.functional.adaptive_avg_pool2d if how == "avg" else torch.nn.functional.adaptive_max_pool2d
    )
    expected = pool(torch.from_numpy(x), k).numpy().reshape(3, -1)
    got = reduce_features(x, {"reduction": f"adaptive_{how}", "size": k})
    assert (
        got.shape == (3, reduced_dim([4, *hw], {"reduction": f"adaptive_{how}", "size": k})) == (3, 4 * k * k)
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # Same windows by hand for one cell: row 1 of 7 -> 3 spans 2..5 (floor(7/3), ceil(14/3)).
    if hw == (7, 7) and how == "avg":
        np.testing.assert_allclose(adaptive_pool(x, 3)[:, 4], x[:, 0, 2:5, 2:5].mean(axis=(1, 2)), rtol=1e-6)


def test_channel_subset_and_flat_shapes():
    x = np.random.default_rng(1).normal(size=(2, 8, 3, 3)).astype(np.float32)
    spec = {"reduction": "channels", "channels": [5, 0, 7]}
    np.testing.assert_array_equal(reduce_features(x, spec), x[:, [5, 0, 7]].reshape(2, -1))
    assert reduced_dim([8, 3, 3], spec) == 27
    np.testing.assert_array_equal(reduce_features(x[:, :, 0, 0], spec), x[:, [5, 0, 7], 0, 0])
    assert reduced_dim([8], spec) == 3
    # The mapping forms of the strings are the same reductions.
    for how in ("none", "avg", "max"):
        np.testing.assert_array_equal(reduce_features(x, {"reduction": how}), reduce_features(x, how))


def test_random_projection_is_seeded_sparse_and_keeps_norms():
    x = np.random.default_rng(2).normal(size=(50, 16, 8, 8)).astype(np.float32)
    spec = {"reduction": "random_projection", "dim": 256, "seed": 3}
    y = reduce_features(x, spec)
    dense = projection_matrix(1024, 256, 3).toarray()
    assert y.shape == (50, 256) and y.dtype == np.float32
    np.testing.assert_allclose(y, x.reshape(50, -1) @ dense, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(y, reduce_features(x, spec))  # same seed, same matrix
    assert not np.allclose(y, reduce_features(x, {**spec, "seed": 4}))
    density = (dense != 0).mean()
    assert 0.5 / 32 < density < 2 / 32  # 1 / sqrt(1024)
    ratio = (y**2).sum(axis=1) / (x.reshape(50, -1) ** 2).sum(axis=1)
    assert abs(ratio.mean() - 1) < 0.1  # squared norms kept in expectation


def test_incremental_pca_matches_pca():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(3)
    x = (
        rng.normal(size=(300, 4)) * [5, 4, 3, 2] @ rng.normal(size=(4, 40))
        + 0.01 * rng.normal(size=(300, 40))
    ).astype(np.float32)
    reducer = LayerReducer({"reduction": "pca", "dim": 4})
    assert not reducer.fitted
    with pytest.raises(ValueError, match="finish_fit"):
        reducer(x)
    for lo in range(0, 300, 3):  # batches smaller than dim are buffered: steps of 6 rows
        reducer.partial_fit(x[lo : lo + 3])
    reducer.finish_fit()
    got = reducer(x)
    expected = PCA(4).fit_transform(x.astype(np.float64))
    assert got.shape == (300, 4)
    for j in range(4):  # components are defined up to sign
        sign = np.sign(np.dot(got[:, j], expected[:, j]))
        np.testing.assert_allclose(
            sign * got[:, j], expected[:, j], rtol=1e-3, atol=1e-3 * np.abs(expected).max()
        )


def test_reduction_errors_name_key_value_and_choices():
    where = "models.m.layers.layer3"
    assert reduction_errors([1024, 14, 14], {"reduction": "adaptive_avg", "size": 2}, where) == []
    assert reduction_errors([2048], "avg", where) == []
    (vector,) = reduction_errors([2048], {"reduction": "adaptive_max", "size": 2}, where)
    assert vector.startswith(where) and "2048" in vector and "(channels, height, width)" in vector
    (big,) = reduction_errors([64, 7, 7], {"reduction": "adaptive_avg", "size": 8}, where)
    assert "size 8" in big and "1 to 7" in big
    (chan,) = reduction_errors([16, 7, 7], {"reduction": "channels", "channels": [0, 16, 20]}, where)
    assert "[16, 20]" in chan and "0 to 15" in chan
    (dim,) = reduction_errors([10], {"reduction": "pca", "dim": 11}, where)
    assert "dim 11" in dim and "1 to 10" in dim


def test_config_check_runs_the_model_for_mapped_layers():
    from layeratlas.checks import layer_errors

    config = {
        "models": {
            "m": {
                "architecture": "small_cnn",
                "layers": {
                    "pool2": {"reduction": "channels", "channels": [3, 16]},
                    "relu5": {"reduction": "adaptive_avg", "size": 2},
                    "pool1": {"reduction": "adaptive_max", "size": 2},
                },
            }
        }
    }
    errors = layer_errors(config)
    assert len(errors) == 2
    assert errors[0].startswith(
        "models.m.layers.pool2: channels [16] do not exist; this layer has 16 channels"
    )
    assert errors[1].startswith("models.m.layers.relu5: adaptive_avg pooling to 2 x 2 needs")


# --- the pipeline --------------------------------------------------------------------------------------

MIXED = {
    "conv1": {"reduction": "adaptive_max", "size": 3},
    "pool2": {"reduction": "channels", "channels": [1, 4]},
    "relu5": {"reduction": "random_projection", "dim": 16, "seed": 1},
    "pool1": "avg",
}
SHAPES = {"conv1": [6, 28, 28], "pool2": [16, 7, 7], "relu5": [100], "pool1": [16, 14, 14]}


def _index(n):
    return pl.DataFrame({"sample_id": np.arange(n), "split": ["test"] * n, "label": np.arange(n) % 10})


@pytest.fixture
def images_on_disk(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, example_images(45, 8, 1, seed=2).numpy())
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize(
    "kwargs", [{}, {"prefetch": 1}, {"io_binding": True}, {"pad_last_batch": True, "prefetch": 3}]
)
def test_pipeline_equals_simple_path_bitwise(small_cnn_onnx, images_on_disk, tmp_path, kwargs):
    _, path = small_cnn_onnx
    session = make_session(path, 1, image_shape=images_on_disk.shape[1:])
    stats = extract_features(
        session, images_on_disk, MIXED, SHAPES, tmp_path / "f", _index(45), 8, False, **kwargs
    )
    expected = extraction.simple_extract(make_session(path, 1), np.asarray(images_on_disk), MIXED, 8)
    for layer in MIXED:
        stored = np.load(tmp_path / "f" / f"{layer}.npy")
        assert stored.shape == (45, reduced_dim(SHAPES[layer], MIXED[layer]))
        np.testing.assert_array_equal(stored, expected[layer])
    assert stats["padded_last_batch"] == bool(kwargs.get("pad_last_batch"))


def test_pca_layer_is_fitted_on_a_sample_then_applied(small_cnn_onnx, images_on_disk, tmp_path):
    _, path = small_cnn_onnx
    layers = {"pool1": {"reduction": "pca", "dim": 5, "fit_samples": 30, "seed": 0}, "relu5": "none"}
    session = make_session(path, 1)
    stats = extract_features(session, images_on_disk, layers, SHAPES, tmp_path / "f", _index(45), 8, False)
    raw = extraction.simple_extract(session, np.asarray(images_on_disk), {"pool1": "none"}, 8)["pool1"]
    rows = np.sort(np.random.default_rng(0).permutation(45)[:30])
    reducer = LayerReducer(layers["pool1"])
    for lo in range(0, 30, 8):
        reducer.partial_fit(raw[rows[lo : lo + 8]])
    reducer.finish_fit()
    stored = np.load(tmp_path / "f" / "pool1.npy")
    np.testing.assert_allclose(stored, reducer(raw), rtol=1e-4, atol=1e-4 * np.abs(stored).max())
    assert stats["layers"]["pool1"]["dim"] == 5 and stats["fit_seconds"] > 0


class _FakeSession:
    """A session whose outputs are big, so that the pipeline's buffers dominate traced memory."""

    def __init__(self, channels=64):
        self.channels = channels

    def get_inputs(self):
        return [type("I", (), {"name": "images"})()]

    def get_outputs(self):
        return [type("O", (), {"name": "map"})()]

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def run(self, names, feeds):
        batch = feeds["images"].astype(np.float32)
        return [
            np.broadcast_to(
                batch.mean(axis=(1, 2, 3))[:, None, None, None], (len(batch), self.channels, 14, 14)
            ).copy()
        ]


def test_peak_memory_does_not_grow_with_the_number_of_images(tmp_path):
    import tracemalloc

    peaks = {}
    for n in (64, 64, 512):  # the first run also traces one-time imports and caches: a warm-up
        path = tmp_path / f"images{n}.npy"
        np.save(path, np.random.default_rng(n).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8))
        images = np.load(path, mmap_mode="r")
        tracemalloc.start()
        extract_features(
            _FakeSession(),
            images,
            {"map": "none"},
            {"map": [64, 14, 14]},
            tmp_path / f"f{n}",
            _index(n),
            16,
            False,
        )
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stored = np.load(tmp_path / f"f{n}" / "map.npy", mmap_mode="r")
        assert stored.shape == (n, 64 * 14 * 14)
        np.testing.assert_allclose(stored[:, 0], np.asarray(images).mean(axis=(1, 2, 3)), rtol=1e-5)
    # At most two batches of layer outputs (one being written, one just computed) plus temporaries exist
    # at once, whatever the number of images; the 512 images' features alone would be 32 batches.
    batch_bytes = 16 * 64 * 14 * 14 * 4
    assert max(peaks.values()) < 3.5 * batch_bytes
    assert peaks[512] < peaks[64] + batch_bytes


def test_gpu_options_fall_back_to_cpu_and_fp16_int8_graphs_run(small_cnn_onnx, tmp_path):
    _, path = small_cnn_onnx
    assert extraction.choose_providers(True) == ["CPUExecutionProvider"] or extraction._cuda_device_visible()
    assert extraction.choose_providers(True, {"provider": "cpu"}) == ["CPUExecutionProvider"]
    trt = extraction._tensorrt_options(
        {
            **extraction.extraction_options(
                {"precision": "fp16", "batch_size": 32, "tensorrt_cache": str(tmp_path)}
            ),
            "_image_shape": (8, 8, 1),
        }
    )
    assert trt["trt_fp16_enable"] and trt["trt_profile_opt_shapes"] == "images:32x8x8x1"
    so = extraction.session_options(64)
    assert 1 <= so.intra_op_num_threads <= extraction.physical_cores()
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError, match="unknown extraction option"):
        extraction.extraction_options({"batchsize": 3})
    images = example_images(32, 8, 1, seed=4).numpy()
    reference = make_session(path, 1).run(None, {"images": images})
    fp16 = make_session(extraction.float16_graph(path), 1).run(None, {"images": images})
    int8_path = extraction.quantize_int8(path, images[:16], tmp_path / "int8.onnx")
    int8 = make_session(int8_path, 1).run(None, {"images": images})
    for ref, half, quant in zip(reference, fp16, int8, strict=True):
        assert half.dtype == np.float32 and quant.dtype == np.float32
        np.testing.assert_allclose(half, ref, atol=3e-3 * np.abs(ref).max())
        assert np.corrcoef(quant.ravel(), ref.ravel())[0, 1] > 0.99


def test_stage_quantises_to_int8_and_keeps_the_graph_beside_the_features(small_cnn_onnx, tmp_path):
    import json

    from layeratlas.data.datasets import ImageDataset, save_dataset
    from layeratlas.stages import extract as stage

    _, path = small_cnn_onnx
    n = 40
    images = example_images(n, 8, 1, seed=5).numpy()
    split = np.array(["train", "test"] * (n // 2))
    save_dataset(ImageDataset("d", images, np.arange(n) % 10, tuple("abcdefghij"), split), tmp_path / "d")
    layers = [
        {"name": "pool2", "shape": [16, 7, 7], "reduction": {"reduction": "adaptive_avg", "size": 2}},
        {"name": "relu5", "shape": [100], "reduction": "none"},
    ]
    (tmp_path / "meta.json").write_text(json.dumps({"layers": layers}))
    out = tmp_path / "features" / "d" / "m"
    stats = stage.extract_features(
        path,
        tmp_path / "meta.json",
        tmp_path / "d",
        out,
        16,
        1,
        {"precision": "int8", "calibration_images": 8},
    )
    assert stats["precision"] == "int8" and stats["layers"]["pool2"]["dim"] == 64
    assert sorted(p.name for p in out.iterdir()) == [
        "extraction.json",
        "extractor.int8.onnx",
        "index.parquet",
        "pool2.npy",
        "relu5.npy",
    ]
    expected = extraction.simple_extract(
        make_session(out / "extractor.int8.onnx", 1), images, {"relu5": "none"}, 16
    )
    np.testing.assert_array_equal(np.load(out / "relu5.npy"), expected["relu5"])
    assert sorted(p.name for p in (tmp_path / "features" / "d").iterdir()) == ["m"]  # nothing left behind


def test_schema_takes_strings_and_mappings_with_clear_errors():
    from layeratlas.config import ConfigError, validate_config

    def config(value):
        return {
            "datasets": {"d": {"source": "sklearn_digits"}},
            "models": {"m": {"architecture": "small_cnn", "layers": {"pool2": value}}},
        }

    checked = validate_config(config({"reduction": "pca", "dim": 8}))
    assert checked["models"]["m"]["layers"]["pool2"] == {
        "reduction": "pca",
        "dim": 8,
        "seed": 0,
        "fit_samples": None,
    }
    assert checked["extraction"]["precision"] == "fp32" and checked["extraction"]["prefetch"] == 2
    assert validate_config(config("max"))["models"]["m"]["layers"]["pool2"] == "max"
    for value, message in [
        ("median", "models.m.layers.pool2: 'median' is not allowed; choose one of 'none', 'avg', 'max'"),
        ({"reduction": "adaptive_avg"}, "models.m.layers.pool2: 'size' is a required property"),
        (
            {"reduction": "channels", "channels": [1, 1]},
            "models.m.layers.pool2.channels: [1, 1] has non-unique",
        ),
        (
            {"reduction": "avg", "k": 2},
            "models.m.layers.pool2: unknown key(s) 'k'; allowed keys: channels, dim,",
        ),
    ]:
        with pytest.raises(ConfigError) as error:
            validate_config(config(value))
        assert message in str(error.value)


def _reciprocal_graph(path) -> None:
    """uint8 NHWC -> 1 / (255 - x): infinite exactly where a pixel is 255."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
            helper.make_node("Sub", ["white", "x"], ["gap"]),
            helper.make_node("Reciprocal", ["gap"], ["inverse"]),
        ],
        "reciprocal",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["n", 2, 2, 1])],
        [helper.make_tensor_value_info("inverse", TensorProto.FLOAT, ["n", 2, 2, 1])],
        [helper.make_tensor("white", TensorProto.FLOAT, [], [255.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # what this onnxruntime reads (onnx writes a newer one by default)
    onnx.save(model, path)


def test_non_finite_features_name_model_layer_and_sample_ids(tmp_path):
    _reciprocal_graph(tmp_path / "g.onnx")
    images = np.zeros((10, 2, 2, 1), np.uint8)
    images[[3, 7], 0, 0, 0] = 255
    index = pl.DataFrame({"sample_id": np.arange(100, 110)})  # ids are not positions (a subset)
    with pytest.raises(
        FloatingPointError, match=r"model net, layer inverse: inf values in 1 of 4 rows, sample ids \[103\]"
    ):
        extract_features(
            make_session(tmp_path / "g.onnx", 1),
            images,
            {"inverse": "none"},
            {"inverse": [2, 2, 1]},
            tmp_path / "f",
            index,
            batch_size=4,
            progress=False,
            model="net",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]  # nothing half-written


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32), "dtype float32"),
        (np.zeros((4, 8, 8, 4), dtype=np.uint8), "4 channels"),
        (np.zeros((4, 1, 8, 8), dtype=np.uint8), "8 channels.*NCHW"),
        (np.zeros((4, 8, 8), dtype=np.uint8), "rank 3"),
    ],
)
def test_extraction_refuses_inputs_the_onnx_graph_would_misread(small_cnn_onnx, tmp_path, bad, expected):
    """The ONNX graph averages whatever axis 3 holds; the feeding code refuses it, naming the layout."""
    _, path = small_cnn_onnx
    session = make_session(path, 1)
    message = rf"expected uint8 images of layout NHWC .* 1 or 3 channels, got .*{expected}"
    with pytest.raises(ValueError, match=message):
        simple_extract(session, bad, {"relu5": "none"})
    index = pl.DataFrame({"sample_id": np.arange(4)})
    with pytest.raises(ValueError, match="model m: images: " + message):
        extract_features(session, bad, {"relu5": "none"}, {"relu5": [100]}, tmp_path / "f", index, model="m")
    assert not (tmp_path / "f").exists()
