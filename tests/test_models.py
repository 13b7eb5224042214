import numpy as np
import pytest
import torch

from layeratlas.models import build_model, get_architecture
from layeratlas.models.layers import UnknownLayerError, layer_names, truncated_graph
from layeratlas.models.preprocess import Preprocess
from layeratlas.models.zoo import load_checkpoint, save_checkpoint


def test_packaged_imagenet_weights_classify_real_photos():
    """The offline EfficientNet-Lite0 weights are the real ImageNet ones: two photos get their classes."""
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the test photos")
    model = build_model({"architecture": "efficientnet_lite0", "weights": "imagenet"})
    arch = get_architecture("efficientnet_lite0")
    preprocess = Preprocess(224, 3, arch.mean, arch.std)
    for image, expected in ((data.chelsea(), 285), (data.coffee(), 967)):  # Egyptian cat, espresso
        with torch.no_grad():
            logits = model(preprocess(torch.from_numpy(image)[None]))
        assert int(logits.argmax()) == expected


def test_preprocess_matches_formula():
    images = torch.tensor([[[[0], [255]], [[51], [102]]]], dtype=torch.uint8)  # 1x2x2x1
    gray = Preprocess(2, 1, [0.5], [0.25])(images)
    expected = (images.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(gray, expected)
    rgb = Preprocess(2, 3, [0.5] * 3, [0.5] * 3)(images)
    assert rgb.shape == (1, 3, 2, 2) and torch.equal(rgb[:, 0], rgb[:, 2])
    colour = torch.randint(0, 256, (2, 5, 5, 3), dtype=torch.uint8)
    torch.testing.assert_close(
        Preprocess(5, 1, [0.0], [1.0])(colour), colour.permute(0, 3, 1, 2).float().mean(1, True) / 255
    )


def test_small_cnn_shapes_follow_the_report():
    arch = get_architecture("small_cnn")
    model = build_model({"architecture": "small_cnn"}, num_classes=10)
    graph = truncated_graph(model, arch, ["conv1", "pool1", "pool2", "relu4", "relu5", "fc3"])
    out = graph(torch.zeros(1, 1, 28, 28))
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
        "conv1": (6, 28, 28),
        "pool1": (16, 14, 14),
        "pool2": (16, 7, 7),
        "relu4": (120,),
        "relu5": (100,),
        "fc3": (10,),
    }


def test_unknown_layer_names_suggest_close_ones():
    arch = get_architecture("efficientnet_lite0")
    model = build_model({"architecture": "efficientnet_lite0"})
    assert {"blocks.4", "global_pool", "conv_head", "blocks.4.2.conv_pwl"} <= set(layer_names(model, arch))
    with pytest.raises(UnknownLayerError, match=r"layer 'block.4' does not exist \(closest: blocks.4"):
        truncated_graph(model, arch, ["block.4"])


def test_new_head_and_checkpoint_round_trip(tmp_path):
    spec = {
        "architecture": "efficientnet_lite0",
        "weights": "imagenet",
        "input_size": 32,
        "layers": {"global_pool": "none"},
        "train": {"dataset": "d", "new_head": True},
    }
    model = build_model(spec, num_classes=7, seed=1)
    assert model.classifier.out_features == 7
    torch.nn.init.normal_(model.classifier.weight)
    save_checkpoint(model, spec, 7, tmp_path / "ckpt.pt")
    back = load_checkpoint(tmp_path / "ckpt.pt")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())


def test_random_init_is_seeded():
    a = build_model({"architecture": "small_cnn"}, 10, seed=5).conv1.weight
    b = build_model({"architecture": "small_cnn"}, 10, seed=5).conv1.weight
    c = build_model({"architecture": "small_cnn"}, 10, seed=6).conv1.weight
    assert torch.equal(a, b) and not torch.equal(a, c)
