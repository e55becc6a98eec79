"""The V-JEPA masked predictor: a narrow ViT that predicts target-token features from context.

Inputs are the context encoder's tokens and the flat grid indices of the context and target tokens.
Context tokens are projected to the predictor width and get the 3D sin-cos position of their grid
cell; every target cell gets a learnable mask token plus its position. After the transformer, only
the target rows are projected back to the encoder width: predictions for context positions are
never computed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from worldmodel.models.positions import sincos_3d
from worldmodel.models.vit import (VideoViTConfig, check_transformer_config, gather_tokens,
                                   init_transformer_weights, make_blocks)

__all__ = ["PredictorConfig", "MaskedPredictor"]


@dataclass
class PredictorConfig:
    """Shape of a :class:`MaskedPredictor`.

    Attributes:
        dim: predictor width (divisible by ``heads``; even and >= 6 for the 3D sin-cos positions).
        depth: transformer blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        drop_path: stochastic depth rate of the last block.
        num_mask_tokens: distinct learnable mask tokens (V-JEPA uses one per mask family; pick
            one with ``mask_index`` in :meth:`MaskedPredictor.forward`).
    """

    dim: int = 96
    depth: int = 4
    heads: int = 3
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    num_mask_tokens: int = 1

    def __post_init__(self):
        check_transformer_config(self, ("dim", "depth", "heads", "num_mask_tokens"))

    def to_dict(self) -> dict:
        return asdict(self)


class MaskedPredictor(nn.Module):
    """Predicts encoder features at target cells from context tokens (see module docstring).

    Example::

        pred = MaskedPredictor(enc_cfg, PredictorConfig())
        out = pred(z_ctx, ctx_idx, tgt_idx)   # [B, Nc, D], [B, Nc], [B, Nt] -> [B, Nt, D]
    """

    def __init__(self, encoder_cfg: VideoViTConfig, cfg: PredictorConfig | None = None):
        super().__init__()
        self.encoder_cfg = encoder_cfg
        self.cfg = cfg = cfg if cfg is not None else PredictorConfig()
        self.num_tokens = encoder_cfg.num_tokens
        self.in_proj = nn.Linear(encoder_cfg.dim, cfg.dim)
        self.mask_tokens = nn.Parameter(torch.zeros(cfg.num_mask_tokens, 1, cfg.dim))
        self.register_buffer("pos_embed", sincos_3d(*encoder_cfg.grid, cfg.dim), persistent=False)
        self.blocks = make_blocks(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.drop_path)
        self.norm = nn.LayerNorm(cfg.dim)
        self.out_proj = nn.Linear(cfg.dim, encoder_cfg.dim)
        init_transformer_weights(self, self.blocks)
        nn.init.trunc_normal_(self.mask_tokens, std=0.02)

    def forward(self, context_tokens: torch.Tensor, context_idx: torch.Tensor,
                target_idx: torch.Tensor, mask_index: int = 0) -> torch.Tensor:
        """``context_tokens [B, Nc, D]``, ``context_idx [B, Nc]``, ``target_idx [B, Nt]``
        (indices into the encoder's flattened token grid) -> predictions ``[B, Nt, D]``."""
        d = self.encoder_cfg.dim
        if context_tokens.ndim != 3 or context_tokens.shape[-1] != d:
            raise ValueError(f"context_tokens must be [B, Nc, {d}], got "
                             f"{tuple(context_tokens.shape)}")
        b, nc = context_tokens.shape[:2]
        if tuple(context_idx.shape) != (b, nc):
            raise ValueError(f"context_idx must be [B, Nc] = [{b}, {nc}] like context_tokens, "
                             f"got {tuple(context_idx.shape)}")
        if target_idx.ndim != 2 or target_idx.shape[0] != b or target_idx.shape[1] < 1:
            raise ValueError(f"target_idx must be [B={b}, Nt>=1], got {tuple(target_idx.shape)}")
        if not 0 <= mask_index < self.cfg.num_mask_tokens:
            raise ValueError(f"mask_index {mask_index} out of range "
                             f"[0, {self.cfg.num_mask_tokens})")
        pos = self.pos_embed.to(context_tokens.dtype)[None].expand(b, -1, -1)
        x = self.in_proj(context_tokens) + gather_tokens(pos, context_idx)
        m = self.mask_tokens[mask_index].to(x.dtype) + gather_tokens(pos, target_idx)
        x = torch.cat([x, m], dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x[:, nc:])
        return self.out_proj(x)
