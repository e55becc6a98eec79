"""Fixed (non-learned) sine-cosine position embeddings for video token grids.

Tokens of a video ViT are laid out on a ``(t, h, w)`` grid and flattened t-major, then h, then w:
token ``n = ti * h * w + hi * w + wi``. This is the order of ``Conv3d(...).flatten(2)`` on a
``[B, C, T, H, W]`` input, which is what :class:`worldmodel.models.vit.VideoViT` uses.
"""
from __future__ import annotations

import torch

_BASE = 10000.0


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sine-cosine features of 1D ``positions`` (any shape ``[...]``) -> ``[..., dim]``.

    The first ``dim // 2`` channels are ``sin(pos * w_i)``, the rest ``cos(pos * w_i)``, with
    frequencies ``w_i = 1 / 10000 ** (i / (dim / 2))``. ``dim`` must be even.
    """
    if dim <= 0 or dim % 2:
        raise ValueError(f"sincos_1d needs a positive even dim, got {dim}")
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float64, device=positions.device)
    freqs = 1.0 / (_BASE ** (steps / half))
    angles = positions.to(torch.float64)[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def split_3d(dim: int) -> tuple[int, int, int]:
    """Channels of ``(time, height, width)`` in a ``dim``-wide 3D table, each even: the ``dim / 2``
    sin/cos pairs are shared out as evenly as possible, extras going to height then width (equal
    thirds when ``dim % 6 == 0``; e.g. 1024 -> (340, 342, 342)). ``dim`` must be even and >= 6."""
    if dim < 6 or dim % 2:
        raise ValueError(f"3D sin-cos positions need an even dim >= 6 (3 axes x sin/cos), "
                         f"got {dim}")
    base, rem = divmod(dim // 2, 3)
    return 2 * base, 2 * (base + (rem > 0)), 2 * (base + (rem > 1))


def sincos_3d(grid_t: int, grid_h: int, grid_w: int, dim: int) -> torch.Tensor:
    """3D sine-cosine position table of shape ``[grid_t * grid_h * grid_w, dim]`` (float32).

    The channels are split in three parts (time, height, width; see :func:`split_3d`: equal thirds
    when ``dim`` is divisible by 6), each a :func:`sincos_1d` of that axis' integer coordinate.
    Rows follow the t-major, then h, then w token order.
    """
    for name, n in (("grid_t", grid_t), ("grid_h", grid_h), ("grid_w", grid_w)):
        if int(n) < 1:
            raise ValueError(f"sincos_3d: {name} must be >= 1, got {n}")
    d_t, d_h, d_w = split_3d(dim)
    tt, hh, ww = torch.meshgrid(torch.arange(grid_t), torch.arange(grid_h), torch.arange(grid_w),
                                indexing="ij")
    emb = torch.cat([sincos_1d(tt.reshape(-1), d_t), sincos_1d(hh.reshape(-1), d_h),
                     sincos_1d(ww.reshape(-1), d_w)], dim=-1)
    return emb.to(torch.float32)
