"""A 2-D wavelet scattering network (kymatio's Scattering2D) as fixed convolutions, so that it traces
and exports to TorchScript and ONNX like every other model.

kymatio computes each wavelet convolution in the Fourier domain on the reflect-padded image (periodic
convolution), then subsamples in Fourier (= keeping every k-th pixel in space). Here each of kymatio's
Morlet filters (``kymatio.scattering2d.filter_bank``, at every resolution it uses) is turned into its
spatial kernel by an inverse FFT, and the periodic convolution becomes a strided ``conv2d`` over a
circularly padded input. The arithmetic is the same up to float32 round-off; ``tests/test_zoo.py``
checks the outputs against kymatio's own ``ScatteringTorch2D``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn


def _spatial(filter_hat: np.ndarray) -> np.ndarray:
    """Cross-correlation kernel equivalent to periodic convolution with the filter ``filter_hat``.

    y[n] = sum_k h[k] x[n - k] (mod M) is ``conv2d`` over x circularly padded by M-1 before, with
    kernel w[t] = h[M-1-t].
    """
    h = np.fft.ifft2(filter_hat)
    return h[::-1, ::-1].copy()


def _circular_pad(x: torch.Tensor) -> torch.Tensor:
    """Pad by (size - 1) rows and columns before, wrapping around (slices export to ONNX)."""
    x = torch.cat([x[..., 1:, :], x], dim=-2)
    return torch.cat([x[..., :, 1:], x], dim=-1)


class Scattering2D(nn.Module):
    """Scattering coefficients of order 0, 1 and 2 (kymatio's order), per input channel.

    (N, C, M, M) -> (N, C * K, M / 2^J, M / 2^J) with K = 1 + L*J + L^2 * J*(J-1)/2 (81 for J=2, L=8);
    channel c's K coefficients are contiguous, as in kymatio's (N, C, K, ...) output flattened.
    """

    def __init__(self, size: int, J: int = 2, L: int = 8, in_channels: int = 1) -> None:  # noqa: N803
        super().__init__()
        self.in_channels = in_channels
        from kymatio.scattering2d.filter_bank import filter_bank
        from kymatio.scattering2d.utils import compute_padding

        if size < 2**J:
            raise ValueError(
                f"scattering: input size {size} is smaller than 2^J = {2**J}; "
                "lower options.J or raise input_size"
            )
        self.size, self.J, self.L = size, J, L
        padded, _ = compute_padding(size, size, J)
        self.pad_before = (padded - size) // 2
        self.pad_after = (padded - size + 1) // 2
        self.out_side = padded // 2**J - 2  # kymatio crops one coefficient at each border
        if self.pad_before >= size:
            raise ValueError(
                f"scattering: input size {size} is too small for J={J} (kymatio's reflection padding is "
                f"{self.pad_before} px); lower options.J or raise input_size"
            )
        filters = filter_bank(padded, padded, J, L)
        phi, psi = filters["phi"], filters["psi"]
        # Low-pass at each resolution j: real kernel (the Gaussian is real and symmetric).
        for j in range(J):
            k = _spatial(phi["levels"][j])
            self.register_buffer(f"phi_{j}", torch.tensor(k.real, dtype=torch.float32)[None, None])
        # Wavelets of scale j2 at resolution res (res <= j2): real and imaginary kernels interleaved.
        for j2 in range(J):
            for res in range(max(j2, 1)):  # first order at resolution 0, second at j1 < j2
                ks = []
                for p in psi:
                    if p["j"] == j2:
                        k = _spatial(p["levels"][res])
                        ks += [k.real, k.imag]
                self.register_buffer(
                    f"psi_{j2}_{res}", torch.tensor(np.stack(ks), dtype=torch.float32)[:, None]
                )
        self.n_coefficients = 1 + L * J + L * L * J * (J - 1) // 2

    # Channel counts are passed as Python ints (not read from x.shape) so that FX tracing and ONNX
    # export see fixed group counts.
    def _lowpass(self, x: torch.Tensor, res: int, channels: int) -> torch.Tensor:
        """Low-pass of every channel of x (at resolution ``res``), subsampled to 2^J, border cropped."""
        weight = getattr(self, f"phi_{res}").expand(channels, -1, -1, -1)
        y = nn.functional.conv2d(_circular_pad(x), weight, stride=2 ** (self.J - res), groups=channels)
        return y[..., 1:-1, 1:-1]

    def _wavelet_modulus(self, x: torch.Tensor, j2: int, res: int, channels: int) -> torch.Tensor:
        """|x * psi_(j2, theta)| for every channel of x and angle: (B, C, h, w) -> (B, C*L, h', w')."""
        weight = getattr(self, f"psi_{j2}_{res}").repeat(channels, 1, 1, 1)
        y = nn.functional.conv2d(_circular_pad(x), weight, stride=2 ** (j2 - res), groups=channels)
        y = y.unflatten(1, (channels * self.L, 2))
        return torch.sqrt(y[:, :, 0] ** 2 + y[:, :, 1] ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, self.size, self.size)
        x = nn.functional.pad(
            x, (self.pad_before, self.pad_after, self.pad_before, self.pad_after), "reflect"
        )
        order0 = [self._lowpass(x, 0, 1)]
        order1, order2 = [], []
        for j1 in range(self.J):
            u1 = self._wavelet_modulus(x, j1, 0, 1)  # (BC, L, ...) at resolution j1
            order1.append(self._lowpass(u1, j1, self.L))
            per_j2 = []
            for j2 in range(j1 + 1, self.J):
                u2 = self._wavelet_modulus(u1, j2, j1, self.L)  # (BC, L*L, ...), theta1 major
                s2 = self._lowpass(u2, j2, self.L * self.L)
                per_j2.append(s2.unflatten(1, (self.L, self.L)))
            if per_j2:
                # kymatio's order: (j1, theta1) major, then (j2, theta2).
                order2.append(torch.stack(per_j2, dim=2).flatten(1, 3))
        out = torch.cat(order0 + order1 + order2, dim=1)
        return out.reshape(-1, self.in_channels * self.n_coefficients, self.out_side, self.out_side)


class ScatteringNet(nn.Sequential):
    """Fixed scattering features and a linear classifier on top (the only trainable part)."""

    def __init__(
        self, size: int, num_classes: int = 10, in_channels: int = 1, J: int = 2, L: int = 8
    ) -> None:  # noqa: N803
        scattering = Scattering2D(size, J=J, L=L, in_channels=in_channels)
        side = scattering.out_side
        super().__init__(
            OrderedDict(
                scattering=scattering,
                flatten=nn.Flatten(),
                fc=nn.Linear(in_channels * scattering.n_coefficients * side * side, num_classes),
            )
        )
