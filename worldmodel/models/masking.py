"""V-JEPA multi-block spatio-temporal masking.

A mask over a ``(t, h, w)`` token grid is the union of ``num_blocks`` blocks. Each block is a
rectangle of about ``spatial_scale * h * w`` tokens with an aspect ratio (height / width) drawn in
``aspect_ratio``, at a random position, extended as a tube through ``temporal_scale`` of the time
slots (all of them for 1.0). The union is the *target* (what the predictor must predict); the rest
is the *context* (what the context encoder sees).

V-JEPA uses two mask families per clip, each with its own predictor pass: "short range" (8 blocks at
scale 0.15) and "long range" (2 blocks at scale 0.7): :data:`SHORT_RANGE`, :data:`LONG_RANGE`.

Token indices follow the flattened t-major, then h, then w order of
:mod:`worldmodel.models.positions`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["MaskSpec", "SHORT_RANGE", "LONG_RANGE", "DEFAULT_MASKS", "block_size",
           "sample_mask", "sample_batch_masks"]

Grid = tuple[int, int, int]


@dataclass(frozen=True)
class MaskSpec:
    """One mask family.

    Attributes:
        num_blocks: blocks whose union is the target.
        spatial_scale: fraction of the ``h * w`` grid area covered by each block.
        aspect_ratio: range ``(low, high)`` of block height / width, drawn log-uniformly.
        temporal_scale: fraction of the time slots a block's tube spans (1.0: all of them).
    """

    num_blocks: int
    spatial_scale: float
    aspect_ratio: tuple[float, float] = (0.75, 1.5)
    temporal_scale: float = 1.0

    def __post_init__(self):
        if isinstance(self.num_blocks, bool) or not isinstance(self.num_blocks, int) \
                or self.num_blocks < 1:
            raise ValueError(f"MaskSpec.num_blocks must be a positive int, got {self.num_blocks!r}")
        if not 0.0 < self.spatial_scale <= 1.0:
            raise ValueError(f"MaskSpec.spatial_scale must be in (0, 1], got {self.spatial_scale}")
        if len(self.aspect_ratio) != 2:
            raise ValueError(f"MaskSpec.aspect_ratio must be (low, high), got {self.aspect_ratio}")
        lo, hi = self.aspect_ratio
        if not 0.0 < lo <= hi:
            raise ValueError(f"MaskSpec.aspect_ratio must satisfy 0 < low <= high, got "
                             f"{self.aspect_ratio}")
        object.__setattr__(self, "aspect_ratio", (float(lo), float(hi)))
        if not 0.0 < self.temporal_scale <= 1.0:
            raise ValueError(f"MaskSpec.temporal_scale must be in (0, 1], got "
                             f"{self.temporal_scale}")


SHORT_RANGE = MaskSpec(8, 0.15)
LONG_RANGE = MaskSpec(2, 0.7)
DEFAULT_MASKS: tuple[MaskSpec, ...] = (SHORT_RANGE, LONG_RANGE)


def _check_grid(grid) -> Grid:
    if len(grid) != 3 or any(int(n) < 1 for n in grid):
        raise ValueError(f"grid must be (t, h, w) of positive ints, got {tuple(grid)}")
    return int(grid[0]), int(grid[1]), int(grid[2])


def _uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _randint(high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in ``[0, high)``."""
    return int(torch.randint(high, (), generator=generator))


def block_size(h: int, w: int, spec: MaskSpec, aspect: float) -> tuple[int, int]:
    """Integer block ``(height, width)`` on an ``h x w`` grid for a drawn ``aspect`` (height/width).

    The ideal real-valued block has area ``spatial_scale * h * w`` and the drawn aspect ratio.
    Among the floor/ceil roundings of its sides (clipped to the grid) we keep those whose ratio lies
    in ``spec.aspect_ratio`` and take the one closest in area; if none does (very small blocks),
    the one closest in ratio.
    """
    area = spec.spatial_scale * h * w
    bh, bw = math.sqrt(area * aspect), math.sqrt(area / aspect)
    cands = {(min(max(a, 1), h), min(max(b, 1), w))
             for a in (math.floor(bh), math.ceil(bh)) for b in (math.floor(bw), math.ceil(bw))}
    lo, hi = spec.aspect_ratio
    eps = 1e-9
    ok = [c for c in cands if lo - eps <= c[0] / c[1] <= hi + eps]
    pool = ok or list(cands)

    def key(c):
        d_area = abs(math.log(c[0] * c[1] / area))
        d_ratio = abs(math.log(c[0] / c[1] / aspect))
        return (d_area, d_ratio, c) if ok else (d_ratio, d_area, c)

    return min(pool, key=key)


def _sample_block(grid: Grid, spec: MaskSpec, generator) -> torch.Tensor:
    t, h, w = grid
    lo, hi = spec.aspect_ratio
    aspect = math.exp(math.log(lo) + _uniform(generator) * (math.log(hi) - math.log(lo)))
    bh, bw = block_size(h, w, spec, aspect)
    bt = min(t, max(1, round(spec.temporal_scale * t)))
    t0 = _randint(t - bt + 1, generator)
    y0 = _randint(h - bh + 1, generator)
    x0 = _randint(w - bw + 1, generator)
    block = torch.zeros(t, h, w, dtype=torch.bool)
    block[t0:t0 + bt, y0:y0 + bh, x0:x0 + bw] = True
    return block


def sample_mask(grid, spec: MaskSpec, generator: torch.Generator | None = None,
                max_tries: int = 20) -> torch.Tensor:
    """One mask ``BoolTensor [t*h*w]`` (True = target) for a token ``grid`` ``(t, h, w)``.

    If the union of the blocks covers every token (no context left), the whole draw is repeated up
    to ``max_tries`` times; after that, blocks of the last draw are dropped (last first) until at
    least one context token remains. So the mask always has >= 1 target and >= 1 context token
    (for grids of >= 2 tokens).
    """
    grid = _check_grid(grid)
    n = grid[0] * grid[1] * grid[2]
    if n < 2:
        raise ValueError(f"a mask needs a grid of at least 2 tokens, got {grid}")
    blocks: list[torch.Tensor] = []
    for _ in range(max(1, max_tries)):
        blocks = [_sample_block(grid, spec, generator) for _ in range(spec.num_blocks)]
        union = torch.stack(blocks).any(0)
        if not bool(union.all()):
            return union.reshape(-1)
    while len(blocks) > 1:
        blocks.pop()
        union = torch.stack(blocks).any(0)
        if not bool(union.all()):
            return union.reshape(-1)
    # A single block covers the whole grid (e.g. spatial_scale=1): free one random token.
    union = blocks[0].reshape(-1).clone()
    union[_randint(n, generator)] = False
    return union


def _random_subset(idx: torch.Tensor, k: int, generator) -> torch.Tensor:
    """``k`` entries of ``idx`` chosen at random, returned in ascending order."""
    if idx.numel() == k:
        return idx
    pick = torch.randperm(idx.numel(), generator=generator)[:k]
    return idx[pick].sort().values


def sample_batch_masks(grid, specs, batch: int, generator: torch.Generator | None = None
                       ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per mask family, context and target token indices for a batch.

    Returns a list (one entry per spec, in order) of ``(context_idx [B, Nc], target_idx [B, Nt])``
    LongTensors (on the CPU, each row ascending). Each sample gets its own mask; to stack them,
    every row is trimmed at random to the batch minimum count (context and target separately,
    as V-JEPA's collator does). Trimming only drops tokens, so context and target stay disjoint;
    dropped context tokens are simply not seen, dropped target tokens not predicted.
    """
    grid = _check_grid(grid)
    if isinstance(specs, MaskSpec):
        specs = [specs]
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    out = []
    for spec in specs:
        masks = [sample_mask(grid, spec, generator) for _ in range(batch)]
        ctx = [(~m).nonzero().squeeze(1) for m in masks]
        tgt = [m.nonzero().squeeze(1) for m in masks]
        n_ctx = min(c.numel() for c in ctx)
        n_tgt = min(t.numel() for t in tgt)
        ctx_idx = torch.stack([_random_subset(c, n_ctx, generator) for c in ctx])
        tgt_idx = torch.stack([_random_subset(t, n_tgt, generator) for t in tgt])
        out.append((ctx_idx, tgt_idx))
    return out
