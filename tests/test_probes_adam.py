"""fit_linear_adam in numpy against the torch implementation it replaced (issue 22: importing torch was
1.6 of a linear_adam job's 4 CPU-seconds). The seeded random numbers are torch's to the bit; the float32
arithmetic agrees to its rounding, so histories, predictions and weights match within the stated
tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from layeratlas.analysis.probes import AdamSteps, TorchStream, fit_linear_adam

torch = pytest.importorskip("torch")

# float32 BLAS / exp in another order: after 30 epochs of the default protocol the losses and top-class
# probabilities agree to ~1e-6; lr 0.05 moves further (2e-5 seen), inside these bounds.
LOSS_RTOL = 1e-5
SCORE_ATOL = 1e-4


def torch_linear_adam(train, train_labels, test, test_labels, epochs, lr, batch_size, seed):  # noqa: ANN001, ANN201, PLR0913
    """The torch implementation fit_linear_adam replaced (torch.optim.Adam instead of its copy)."""
    torch.set_num_threads(1)  # as it ran: more threads only spin on batches of 64 rows
    classes, y_tr = np.unique(train_labels, return_inverse=True)
    lookup = {int(c): i for i, c in enumerate(classes)}
    y_te = np.array([lookup.get(int(c), -1) for c in test_labels])
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    x_tr = torch.from_numpy(((train - mean) / std).astype(np.float32))
    x_te = torch.from_numpy(((test - mean) / std).astype(np.float32))
    t_tr, t_te = torch.from_numpy(y_tr), torch.from_numpy(y_te)
    generator = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(x_tr.shape[1], len(classes))
    with torch.no_grad():
        bound = 1 / np.sqrt(x_tr.shape[1])
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    rows = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x_tr), generator=generator)
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            optimiser.zero_grad()
            loss = loss_fn(layer(x_tr[idx]), t_tr[idx])
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()) * len(idx))
        with torch.no_grad():
            train_acc = float((layer(x_tr).argmax(1) == t_tr).float().mean())
            test_acc = float((layer(x_te).argmax(1) == t_te).float().mean())
        rows.append((epoch, sum(losses) / len(x_tr), train_acc, test_acc))
    with torch.no_grad():
        score, best = torch.softmax(layer(x_te), dim=1).max(dim=1)
    return rows, classes[best.numpy()], score.numpy().astype(np.float64)


def _digits(seed: int):  # noqa: ANN202
    """scikit-learn's 8x8 digits (bundled, offline), split 3:1, float32 as the extracted features."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    return x[:1350], y[:1350], x[1350:], y[1350:]


@pytest.mark.parametrize(("seed", "lr", "batch_size", "epochs"), [(0, 1e-3, 64, 30), (7, 0.05, 50, 8)])
def test_numpy_adam_is_the_torch_fit(seed, lr, batch_size, epochs):
    xtr, ytr, xte, yte = _digits(seed)
    ours = fit_linear_adam(xtr, ytr, xte, yte, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    rows, prediction, score = torch_linear_adam(xtr, ytr, xte, yte, epochs, lr, batch_size, seed)
    history = ours.history
    assert history["epoch"].to_list() == [r[0] for r in rows]
    # accuracies are counts of the same predictions: equal, not close
    assert history["train_accuracy"].to_list() == [r[2] for r in rows]
    assert history["test_accuracy"].to_list() == [r[3] for r in rows]
    np.testing.assert_allclose(history["train_loss"].to_numpy(), [r[1] for r in rows], rtol=LOSS_RTOL)
    np.testing.assert_array_equal(ours.test_prediction, prediction)
    np.testing.assert_allclose(ours.test_score, score, rtol=0, atol=SCORE_ATOL)
    assert history["test_accuracy"][-1] > 0.9  # it learned: the comparison is not between two no-ops


def test_stream_draws_torch_generator_numbers_to_the_bit():
    for seed, shape, bound, n in [(0, (10, 3136), 1 / np.sqrt(3136), 1350), (12345, (3, 7), 0.5, 2)]:
        generator = torch.Generator().manual_seed(seed)
        weight = torch.empty(shape).uniform_(-bound, bound, generator=generator)
        perms = [torch.randperm(n, generator=generator).numpy() for _ in range(2)]
        stream = TorchStream(seed)
        assert np.array_equal(stream.uniform(shape, -bound, bound), weight.numpy())
        assert all(np.array_equal(stream.randperm(n), p) for p in perms)
    assert not np.array_equal(TorchStream(1).randperm(50), TorchStream(2).randperm(50))


def test_adam_steps_are_torch_adam():
    """One parameter, the same gradients: AdamSteps' weights are torch.optim.Adam's to float32 rounding."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 7)).astype(np.float32)
    grads = rng.normal(size=(40, 4, 7)).astype(np.float32)
    ours, param = AdamSteps(start.copy(), lr=0.01), torch.nn.Parameter(torch.from_numpy(start.copy()))
    theirs = torch.optim.Adam([param], lr=0.01)
    for g in grads:
        ours.step(g)
        param.grad = torch.from_numpy(g)
        theirs.step()
    np.testing.assert_allclose(ours.param, param.detach().numpy(), rtol=0, atol=1e-6)
    assert np.abs(ours.param - start).max() > 0.1  # 40 steps of lr 0.01 moved it
