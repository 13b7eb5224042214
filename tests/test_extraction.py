import numpy as np
import polars as pl
import pytest
import torch

from layeratlas.export import build_extractor, example_images, export_onnx
from layeratlas.extraction import extract_features, make_session, reduce_features
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
