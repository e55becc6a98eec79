"""V-JEPA: self-supervised video pretraining by predicting masked latent tokens.

One training step (see :meth:`VJEPA.forward`):

1. target features: the target encoder (an EMA copy of the encoder, no gradients) encodes the full
   clip; its tokens are layer-normed without affine parameters;
2. for each mask family (:mod:`worldmodel.models.masking`): the encoder sees only the context
   tokens, the predictor predicts the features of the target tokens from them;
3. loss: L1 between predictions and target features, averaged over the target (masked) tokens, then
   over mask families.

After each optimiser step the caller updates the target encoder with :meth:`VJEPA.update_target`
(or :func:`ema_update`) at a momentum from :func:`ema_momentum`.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.models.masking import DEFAULT_MASKS, MaskSpec, sample_batch_masks
from worldmodel.models.predictor import MaskedPredictor, PredictorConfig
from worldmodel.models.vit import VideoViT, VideoViTConfig, gather_tokens

__all__ = ["ema_update", "ema_momentum", "group_indices", "spread_within", "effective_rank",
           "off_diagonal_correlation", "VJEPA"]


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """In place, parameter-wise: ``target = momentum * target + (1 - momentum) * online``.

    Buffers (e.g. fixed position tables) are copied from ``online``. Both modules must have the
    same parameter names and shapes. ``momentum=1`` leaves the parameters unchanged.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    t_params = dict(target.named_parameters())
    o_params = dict(online.named_parameters())
    if t_params.keys() != o_params.keys():
        missing = sorted(set(o_params) ^ set(t_params))[:5]
        raise ValueError(f"ema_update: target and online parameters differ, e.g. {missing}")
    for name, pt in t_params.items():
        po = o_params[name]
        if pt.shape != po.shape:
            raise ValueError(f"ema_update: shape of {name} differs: {tuple(pt.shape)} vs "
                             f"{tuple(po.shape)}")
        if momentum != 1.0:
            pt.mul_(momentum).add_(po.detach().to(pt.dtype), alpha=1.0 - momentum)
    o_bufs = dict(online.named_buffers())
    for name, bt in target.named_buffers():
        if name in o_bufs:
            bt.copy_(o_bufs[name])


def ema_momentum(step: int, total_steps: int, start: float = 0.996, end: float = 1.0,
                 schedule: str = "linear") -> float:
    """EMA momentum at ``step`` of ``total_steps``.

    ``schedule="linear"`` ramps linearly from ``start`` (step 0) to ``end`` (step ``total_steps``;
    clamped beyond), as V-JEPA 1 (0.998 -> 1.0); ``"constant"`` always returns ``start``, as
    V-JEPA 2 (0.99925).
    """
    if schedule == "constant":
        return float(start)
    if schedule != "linear":
        raise ValueError(f"unknown EMA schedule {schedule!r}; use 'linear' or 'constant'")
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    frac = min(max(step / total_steps, 0.0), 1.0)
    return float(start + (end - start) * frac)


def group_indices(groups: torch.Tensor | None, batch: int) -> list[torch.Tensor | slice]:
    """Row selectors of the batch's groups with at least two samples (``groups [B]`` int labels,
    e.g. the dataset each clip comes from); ``None`` = one group, the whole batch."""
    if groups is None:
        return [slice(None)] if batch > 1 else []
    if groups.shape != (batch,):
        raise ValueError(f"groups must be [B={batch}], got {tuple(groups.shape)}")
    labels = torch.unique(groups)
    if len(labels) == 1:                       # one source: the whole batch, no gather
        return [slice(None)] if batch > 1 else []
    rows = [torch.nonzero(groups == g).flatten() for g in labels]
    return [r for r in rows if r.numel() > 1]


@torch.no_grad()
def spread_within(x: torch.Tensor, rows: list[torch.Tensor | slice]) -> float:
    """Across-sample std (no correction) of ``x [B, ...]``, averaged over the other dims and over
    the groups ``rows`` (from :func:`group_indices`); 0 without a group."""
    return sum(float(x[r].std(dim=0, correction=0).mean()) for r in rows) / max(len(rows), 1)


@torch.no_grad()
def effective_rank(x: torch.Tensor, rows: list[torch.Tensor | slice] | None = None) -> float:
    """RankMe effective rank of ``x [B, D]``: ``exp`` of the entropy of its centred singular values'
    distribution (1 when every sample lies on one line, up to ``min(B - 1, D)`` when the spread is
    even over all directions); averaged over the groups ``rows`` (default: the whole batch).

    The dimensional-collapse monitor: features can vary across clips (a healthy std) while all of
    that variation lies along a few directions, which a linear probe cannot untangle.
    """
    rows = [slice(None)] if rows is None else rows
    ranks = []
    for r in rows:
        xr = x[r].double()
        s = torch.linalg.svdvals(xr - xr.mean(dim=0, keepdim=True))
        p = s / s.sum().clamp_min(1e-12)
        ranks.append(float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())))
    return sum(ranks) / max(len(ranks), 1)


def off_diagonal_correlation(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Mean square of the off-diagonal entries of the channel correlation matrix of ``x [B, D]``
    (across samples): 0 when the channels are uncorrelated, 1 when all carry the same signal.

    Scale-free (each channel is standardised first), so it can sit beside a small ``var_gamma``;
    with fewer samples than channels it has a floor above 0 (the matrix has rank < B).
    """
    z = x - x.mean(dim=0, keepdim=True)
    z = z / torch.sqrt(z.pow(2).mean(dim=0, keepdim=True) + eps)
    corr = z.T @ z / x.shape[0]
    d = corr.shape[0]
    off = corr - torch.diag(torch.diagonal(corr))
    return off.pow(2).sum() / (d * (d - 1))


class VJEPA(nn.Module):
    """Encoder + EMA target encoder + masked predictor, with the V-JEPA loss.

    Args:
        encoder_cfg: the video ViT (the ``encoder`` and its EMA copy ``target_encoder``).
        predictor_cfg: the masked predictor.
        mask_specs: mask families; each gets its own encoder and predictor pass per step.
        var_weight: weight of an optional anti-collapse term (0 = off, the V-JEPA recipe). It is a
            VICReg-style hinge on the spread across the batch of the *context encoder's* features,
            mean-pooled over each sample's context tokens: ``mean_c relu(var_gamma - std_c)``, with
            ``std_c = sqrt(var over samples + 1e-4)`` of channel ``c``. It pushes every channel
            of the pooled features to vary across clips by at least ``var_gamma``, which keeps the
            EMA targets from collapsing to a clip-independent constant. Needs batches of >= 2.
            With ``groups`` (see :meth:`forward`) the spread is taken within each group, so that
            features telling the groups apart (which task a clip is from) cannot satisfy it.
        var_gamma: the hinge's target standard deviation (the encoder's final LayerNorm makes
            per-token features roughly unit-scale; pooled features vary less, so values well
            below 1, e.g. 0.1-0.5, are a gentler start).
        cov_weight: weight of an optional decorrelation term (0 = off) on the same pooled
            features: :func:`off_diagonal_correlation` within each group, VICReg's covariance term
            made scale-free. The variance hinge alone can be met by every channel carrying the same
            few signals (dimensional collapse, seen in :func:`effective_rank`); this spreads the
            variation over many directions.
        freeze_patch_embed: keep the encoder's patch embedding at its random initialisation (MoCo
            v3's frozen random patch projection): only the transformer blocks learn.
        freeze_blocks: keep the encoder's first ``freeze_blocks`` transformer blocks at their random
            initialisation too (0 = none; the encoder's depth = nothing learns but the predictor).
        target_layers: how many of the target encoder's last blocks make the target: each block's
            tokens are layer-normed and the ``target_layers`` results averaged (data2vec's
            top-K targets); 1 = the final output only, the V-JEPA recipe.

    Example::

        model = VJEPA(vit_config("tiny"), PredictorConfig())
        loss, stats = model(frames, generator)   # frames [B, T, C, H, W] float
        loss.backward(); opt.step(); opt.zero_grad()
        model.update_target(ema_momentum(step, total))
    """

    def __init__(self, encoder_cfg: VideoViTConfig | None = None,
                 predictor_cfg: PredictorConfig | None = None,
                 mask_specs: Sequence[MaskSpec] = DEFAULT_MASKS,
                 var_weight: float = 0.0, var_gamma: float = 1.0, target_layers: int = 1,
                 cov_weight: float = 0.0, freeze_patch_embed: bool = False,
                 freeze_blocks: int = 0):
        super().__init__()
        encoder_cfg = encoder_cfg if encoder_cfg is not None else VideoViTConfig()
        predictor_cfg = predictor_cfg if predictor_cfg is not None else PredictorConfig()
        if isinstance(mask_specs, MaskSpec):
            mask_specs = [mask_specs]
        mask_specs = tuple(mask_specs)
        if not mask_specs or not all(isinstance(s, MaskSpec) for s in mask_specs):
            raise ValueError(f"mask_specs must be a non-empty list of MaskSpec, got {mask_specs!r}")
        if var_weight < 0 or var_gamma <= 0:
            raise ValueError(f"need var_weight >= 0 and var_gamma > 0, got {var_weight}, "
                             f"{var_gamma}")
        self.encoder_cfg = encoder_cfg
        self.predictor_cfg = predictor_cfg
        self.mask_specs = mask_specs
        self.var_weight = float(var_weight)
        self.var_gamma = float(var_gamma)
        if cov_weight < 0:
            raise ValueError(f"need cov_weight >= 0, got {cov_weight}")
        self.cov_weight = float(cov_weight)
        if not 1 <= int(target_layers) <= encoder_cfg.depth:
            raise ValueError(f"target_layers must be in [1, encoder depth={encoder_cfg.depth}], "
                             f"got {target_layers}")
        self.target_layers = int(target_layers)
        if not 0 <= int(freeze_blocks) <= encoder_cfg.depth:
            raise ValueError(f"freeze_blocks must be in [0, encoder depth={encoder_cfg.depth}], "
                             f"got {freeze_blocks}")
        self.encoder = VideoViT(encoder_cfg)
        self.freeze_patch_embed, self.freeze_blocks = bool(freeze_patch_embed), int(freeze_blocks)
        if self.freeze_patch_embed:
            self.encoder.patch_embed.requires_grad_(False)
        for block in self.encoder.blocks[:self.freeze_blocks]:
            block.requires_grad_(False)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_encoder.requires_grad_(False)
        self.target_encoder.eval()
        self.predictor = MaskedPredictor(encoder_cfg, predictor_cfg)

    def train(self, mode: bool = True):
        """Like ``nn.Module.train``, but the target encoder always stays in eval mode."""
        super().train(mode)
        self.target_encoder.eval()
        return self

    @property
    def grid(self) -> tuple[int, int, int]:
        return self.encoder.grid

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """EMA step of the target encoder towards the encoder."""
        ema_update(self.target_encoder, self.encoder, momentum)

    @torch.no_grad()
    def target_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Layer-normed (no affine) target-encoder tokens of the full clip ``[B, N, D]``, averaged
        over the last ``target_layers`` blocks (1: the final output only)."""
        layers = self.target_encoder.forward_layers(frames, self.target_layers)
        return torch.stack([F.layer_norm(h, (h.shape[-1],)) for h in layers]).mean(dim=0)

    def forward(self, frames: torch.Tensor, generator: torch.Generator | None = None,
                masks: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                groups: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """V-JEPA loss of a batch of clips ``frames [B, T, C, H, W]`` (float, normalised).

        Args:
            generator: CPU ``torch.Generator`` for the masks (reproducible steps).
            masks: optional precomputed ``[(context_idx, target_idx), ...]``, one per mask spec
                (as returned by :func:`sample_batch_masks`); ``generator`` is then unused.
            groups: optional ``[B]`` int labels of the clips' sources (the dataset of a mixed
                passive set). The collapse guard and ``target_std`` then measure the spread within
                each source: across a mixed batch, a feature that only says which task a clip is
                from would look healthy while each task's clips collapse to one point.

        Returns:
            ``(loss, stats)``: the scalar loss (mean over mask families of the L1 over target
            tokens) and detached floats: ``loss``, ``loss_spec{i}``, ``target_std`` (std across the
            batch of the layer-normed target features, averaged over tokens and channels: a
            collapse monitor, 0 when collapsed; within each source with ``groups``),
            ``target_rank`` (:func:`effective_rank` of the clip-pooled target features: the
            dimensional-collapse monitor), ``pred_std``
            (same for the predictions),
            ``context_tokens_spec{i}``, ``target_tokens_spec{i}``, and ``var_loss`` / ``cov_loss``
            when the anti-collapse terms are on.
        """
        self.encoder.check_frames(frames)
        b = frames.shape[0]
        if masks is None:
            masks = sample_batch_masks(self.grid, self.mask_specs, b, generator)
        elif len(masks) != len(self.mask_specs):
            raise ValueError(f"got {len(masks)} masks for {len(self.mask_specs)} mask specs")

        rows = group_indices(groups.to(frames.device) if groups is not None else None, b)
        targets = self.target_features(frames)
        stats: dict[str, float] = {"target_std": spread_within(targets, rows),
                                   "target_rank": effective_rank(targets.mean(dim=1), rows)}
        losses, var_losses, cov_losses, pred_stds = [], [], [], []
        for i, (ctx_idx, tgt_idx) in enumerate(masks):
            ctx_idx = ctx_idx.to(frames.device)
            tgt_idx = tgt_idx.to(frames.device)
            z = self.encoder(frames, keep=ctx_idx)
            mask_index = i % self.predictor_cfg.num_mask_tokens
            pred = self.predictor(z, ctx_idx, tgt_idx, mask_index=mask_index)
            loss_i = (pred - gather_tokens(targets, tgt_idx)).abs().mean()
            losses.append(loss_i)
            stats[f"loss_spec{i}"] = float(loss_i.detach())
            stats[f"context_tokens_spec{i}"] = float(ctx_idx.shape[1])
            stats[f"target_tokens_spec{i}"] = float(tgt_idx.shape[1])
            if rows:
                pred_stds.append(spread_within(pred.detach(), rows))
            pooled = z.mean(dim=1)
            if self.var_weight > 0 and rows:
                var_losses.append(torch.stack([
                    F.relu(self.var_gamma - torch.sqrt(pooled[r].var(dim=0) + 1e-4)).mean()
                    for r in rows]).mean())
            if self.cov_weight > 0 and rows:
                cov_losses.append(torch.stack([off_diagonal_correlation(pooled[r])
                                               for r in rows]).mean())
        loss = torch.stack(losses).mean()
        stats["pred_std"] = sum(pred_stds) / len(pred_stds) if pred_stds else 0.0
        if var_losses:
            var_loss = torch.stack(var_losses).mean()
            stats["var_loss"] = float(var_loss.detach())
            loss = loss + self.var_weight * var_loss
        if cov_losses:
            cov_loss = torch.stack(cov_losses).mean()
            stats["cov_loss"] = float(cov_loss.detach())
            loss = loss + self.cov_weight * cov_loss
        stats["loss"] = float(loss.detach())
        return loss, stats
