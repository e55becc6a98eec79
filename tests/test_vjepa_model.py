"""Behaviour of the V-JEPA model components (`worldmodel/models/`): 3D positions, masking, the video
ViT encoder, the masked predictor, EMA and the JEPA objective. CPU only, small shapes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from worldmodel.models import (DEFAULT_MASKS, LONG_RANGE, SHORT_RANGE, VIT_PRESETS, VJEPA,
                               MaskedPredictor, MaskSpec, PredictorConfig, VideoViT,
                               VideoViTConfig, count_parameters, effective_rank, ema_momentum,
                               ema_update, group_indices, off_diagonal_correlation,
                               sample_batch_masks, sample_mask, sincos_3d, vit_config)




def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_vit_cfg(**kw) -> VideoViTConfig:
    base = dict(image_size=32, num_frames=2, tubelet=2, patch=8, dim=48, depth=2, heads=2)
    return VideoViTConfig(**{**base, **kw})


# --------------------------------------------------------------------------- positions

def test_sincos_3d_shape_and_distinct_rows():
    pos = sincos_3d(2, 4, 5, 48)
    assert pos.shape == (2 * 4 * 5, 48) and pos.dtype == torch.float32
    dist = torch.cdist(pos, pos) + torch.eye(len(pos)) * 1e3
    assert dist.min() > 1e-3  # every grid cell gets its own code
    # t-major order: the first h*w rows are time slot 0, the same as a single-slot table
    torch.testing.assert_close(pos[:20], sincos_3d(1, 4, 5, 48))
    # 1024 (ViT-L) is not a multiple of 6 but still works (uneven even split of channels)
    assert sincos_3d(1, 2, 2, 1024).shape == (4, 1024)
    with pytest.raises(ValueError, match="even"):
        sincos_3d(1, 2, 2, 7)


# --------------------------------------------------------------------------- masking

def masked_fraction(grid, spec, n=400, seed=0) -> float:
    g = gen(seed)
    return torch.stack([sample_mask(grid, spec, g).float().mean() for _ in range(n)]).mean().item()


def test_mask_ratios_follow_the_spec():
    # One block covers about spatial_scale of the grid.
    for scale in (0.15, 0.3, 0.7):
        assert masked_fraction((1, 16, 16), MaskSpec(1, scale), n=100) == pytest.approx(scale,
                                                                                        abs=0.03)
    # Unions on an 8x8 grid: 8 x 0.15 overlap to ~0.64, 2 x 0.7 to ~0.81 (measured); a sampler that
    # ignored the scale or the block count would land far outside these bands.
    short = masked_fraction((1, 8, 8), SHORT_RANGE)
    long = masked_fraction((1, 8, 8), LONG_RANGE)
    assert 0.55 < short < 0.75, short
    assert 0.72 < long < 0.90, long
    assert long > short


def test_context_and_target_are_disjoint_and_cover_the_grid():
    grid = (2, 8, 8)
    for spec in DEFAULT_MASKS:
        # batch of 1: no trimming, so context + target is the whole grid
        (ctx, tgt), = sample_batch_masks(grid, [spec], 1, gen(1))
        assert torch.cat([ctx[0], tgt[0]]).sort().values.tolist() == list(range(128))
        # batch: still disjoint after trimming to equal counts
        (ctx, tgt), = sample_batch_masks(grid, [spec], 16, gen(2))
        for c, t in zip(ctx.tolist(), tgt.tolist()):
            assert not set(c) & set(t)
            assert len(set(c)) == len(c) and len(set(t)) == len(t)
            assert len(c) >= 1 and len(t) >= 1


def test_blocks_are_tubes_through_time():
    m = sample_mask((4, 8, 8), SHORT_RANGE, gen(3)).view(4, 64)
    assert all(torch.equal(m[0], m[i]) for i in range(1, 4))
    # temporal_scale 0.5: a single block spans 2 consecutive of 4 slots
    for seed in range(10):
        m = sample_mask((4, 8, 8), MaskSpec(1, 0.2, temporal_scale=0.5), gen(seed)).view(4, 64)
        slots = m.any(1).nonzero().squeeze(1).tolist()
        assert len(slots) == 2 and slots[1] == slots[0] + 1


def test_single_blocks_are_rectangles_with_aspect_ratio_in_range():
    spec = MaskSpec(1, 0.2, aspect_ratio=(0.5, 2.0))
    g = gen(4)
    ratios = []
    for _ in range(200):
        m = sample_mask((1, 16, 16), spec, g).view(16, 16)
        rows, cols = m.any(1).nonzero().squeeze(1), m.any(0).nonzero().squeeze(1)
        h, w = rows.numel(), cols.numel()
        assert m.sum() == h * w  # the mask is exactly its bounding box
        ratios.append(h / w)
    assert min(ratios) >= 0.5 and max(ratios) <= 2.0
    assert min(ratios) < 1 < max(ratios)  # both wide and tall blocks occur


def test_batch_masks_equal_counts_and_determinism():
    grid = (1, 8, 8)
    out = sample_batch_masks(grid, DEFAULT_MASKS, 8, gen(5))
    assert len(out) == 2
    for ctx, tgt in out:
        assert ctx.dtype == tgt.dtype == torch.long
        assert ctx.shape[0] == tgt.shape[0] == 8  # [B, Nc] and [B, Nt]: equal counts per row
        assert ctx.min() >= 0 and tgt.max() < 64
    again = sample_batch_masks(grid, DEFAULT_MASKS, 8, gen(5))
    other = sample_batch_masks(grid, DEFAULT_MASKS, 8, gen(6))
    assert all(torch.equal(a, b) for pa, pb in zip(out, again) for a, b in zip(pa, pb))
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(out, other))


def test_mask_always_leaves_context():
    # blocks as large as the grid: resampling cannot help, blocks get dropped / a token freed
    (ctx, tgt), = sample_batch_masks((1, 4, 4), [MaskSpec(3, 1.0)], 4, gen(7))
    assert ctx.shape[1] >= 1 and tgt.shape[1] >= 1
    with pytest.raises(ValueError, match="num_blocks"):
        MaskSpec(0, 0.1)
    with pytest.raises(ValueError, match="spatial_scale"):
        MaskSpec(2, 1.5)


# --------------------------------------------------------------------------- ViT

def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="patch"):
        VideoViTConfig(image_size=60, patch=8)
    with pytest.raises(ValueError, match="tubelet"):
        VideoViTConfig(num_frames=3, tubelet=2)
    with pytest.raises(ValueError, match="heads"):
        VideoViTConfig(dim=96, heads=5)
    with pytest.raises(ValueError, match="unknown ViT size"):
        vit_config("huge")
    cfg = vit_config("small", image_size=128, patch=16)
    assert (cfg.dim, cfg.depth, cfg.heads, cfg.grid) == (384, 12, 6, (1, 8, 8))


def test_preset_parameter_counts():
    counts = {}
    for size in VIT_PRESETS:
        with torch.device("meta"):  # no memory, no init cost
            counts[size] = count_parameters(VideoViT(vit_config(size)))
    print("encoder parameters:", counts)
    assert counts["tiny"] < counts["small"] < counts["base"] < counts["large"]
    assert counts["tiny"] < 5e6
    assert 80e6 < counts["base"] < 90e6


def test_vit_output_shapes_with_and_without_keep():
    vit = VideoViT(vit_config("tiny")).eval()  # 64x64, 2 frames, tubelet 2, patch 8
    assert vit.grid == (1, 8, 8) and vit.num_tokens == 64
    x = torch.randn(2, 2, 3, 64, 64)
    assert vit(x).shape == (2, 64, 192)
    keep = torch.tensor([[0, 5, 9], [63, 1, 2]])
    assert vit(x, keep=keep).shape == (2, 3, 192)


def tubelet_slice(cfg: VideoViTConfig, token: int):
    t, h, w = cfg.grid
    ti, rest = divmod(token, h * w)
    hi, wi = divmod(rest, w)
    p, k = cfg.patch, cfg.tubelet
    return (slice(ti * k, (ti + 1) * k), slice(None), slice(hi * p, (hi + 1) * p),
            slice(wi * p, (wi + 1) * p))


def test_dropped_tokens_do_not_influence_kept_tokens():
    torch.manual_seed(0)
    cfg = small_vit_cfg(num_frames=4)  # grid (2, 4, 4)
    vit = VideoViT(cfg).eval()
    x = torch.randn(1, 4, 3, 32, 32)
    keep = torch.tensor([[0, 3, 6, 17, 30]])
    with torch.no_grad():
        ref = vit(x, keep=keep)
        dropped = x.clone()
        dropped[(0, *tubelet_slice(cfg, 20))] += 5.0  # token 20 is not kept
        torch.testing.assert_close(vit(dropped, keep=keep), ref, rtol=0, atol=1e-6)
        kept = x.clone()
        kept[(0, *tubelet_slice(cfg, 17))] += 5.0  # token 17 is kept: everything moves
        assert (vit(kept, keep=keep) - ref).abs().amax(-1).min() > 1e-3


def test_encode_frames_encodes_each_frame_on_its_own():
    torch.manual_seed(0)
    vit = VideoViT(small_vit_cfg()).eval()
    x = torch.randn(2, 3, 3, 32, 32)  # 3 frames: not a multiple of the tubelet, still fine
    with torch.no_grad():
        z = vit.encode_frames(x)
        assert z.shape == (2, 3, 16, 48)
        # same as encoding a clip made of the frame repeated to fill a tubelet
        clip = x[:, 1:2].expand(-1, 2, -1, -1, -1)
        torch.testing.assert_close(z[:, 1], vit(clip), rtol=1e-4, atol=1e-4)
        # frame 1 changes -> only frame 1's features change
        x2 = x.clone()
        x2[:, 1] = torch.randn_like(x2[:, 1])
        z2 = vit.encode_frames(x2)
    torch.testing.assert_close(z2[:, [0, 2]], z[:, [0, 2]])
    assert (z2[:, 1] - z[:, 1]).abs().max() > 1e-2


def test_wrong_frame_shapes_raise_clear_errors():
    vit = VideoViT(small_vit_cfg())
    with pytest.raises(ValueError, match=r"32x32.*got \(1, 2, 3, 64, 64\)"):
        vit(torch.randn(1, 2, 3, 64, 64))
    with pytest.raises(ValueError, match="1 channels, expected 3"):
        vit(torch.randn(1, 2, 1, 32, 32))
    with pytest.raises(ValueError, match="5 dims"):
        vit(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="clips have 4 frames, expected 2"):
        vit(torch.randn(1, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="float"):
        vit(torch.zeros(1, 2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="channels"):  # time-third layout [B, C, T, H, W]
        vit.encode_frames(torch.randn(1, 3, 2, 32, 32))


# --------------------------------------------------------------------------- predictor

def test_predictor_predicts_only_target_positions():
    torch.manual_seed(0)
    cfg = small_vit_cfg()
    pred = MaskedPredictor(cfg, PredictorConfig(dim=24, depth=1, heads=2))
    ctx_idx, tgt_idx = torch.tensor([[0, 1, 2], [4, 5, 6]]), torch.tensor([[8, 9], [3, 15]])
    z = torch.randn(2, 3, 48)
    out = pred(z, ctx_idx, tgt_idx)
    assert out.shape == (2, 2, 48)  # one prediction per target index, none for the context
    # mask tokens differ only by their position, so swapping target indices swaps the outputs
    torch.testing.assert_close(pred(z, ctx_idx, tgt_idx.flip(1)), out.flip(1))
    with pytest.raises(ValueError, match="context_idx"):
        pred(torch.randn(2, 3, 48), ctx_idx[:, :2], tgt_idx)


# --------------------------------------------------------------------------- EMA

def test_ema_update_math():
    torch.manual_seed(0)
    target, online = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), \
        nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    online[1].running_mean.fill_(0.7)
    old = {k: v.clone() for k, v in target.named_parameters()}
    m = 0.9
    ema_update(target, online, m)
    for name, p in target.named_parameters():
        expected = m * old[name] + (1 - m) * dict(online.named_parameters())[name]
        torch.testing.assert_close(p, expected, rtol=1e-6, atol=1e-7)
    assert torch.equal(target[1].running_mean, online[1].running_mean)  # buffers copied
    frozen = {k: v.clone() for k, v in target.named_parameters()}
    ema_update(target, online, 1.0)
    assert all(torch.equal(p, frozen[k]) for k, p in target.named_parameters())


def test_ema_momentum_schedules():
    assert ema_momentum(0, 100) == pytest.approx(0.996)
    assert ema_momentum(50, 100) == pytest.approx(0.998)
    assert ema_momentum(100, 100) == pytest.approx(1.0)
    assert ema_momentum(500, 100) == pytest.approx(1.0)
    assert ema_momentum(0, 100, start=0.998, end=1.0) == pytest.approx(0.998)
    assert ema_momentum(70, 100, start=0.99925, schedule="constant") == 0.99925
    with pytest.raises(ValueError):
        ema_momentum(0, 10, schedule="cosine")


# --------------------------------------------------------------------------- V-JEPA

def moving_squares(n: int, size: int = 32, frames: int = 2, seed: int = 0) -> torch.Tensor:
    """``n`` clips of one coloured square moving on black, normalised to [-1, 1]."""
    g = gen(seed)
    out = torch.zeros(n, frames, 3, size, size)
    for i in range(n):
        s = int(torch.randint(6, 12, (), generator=g))
        color = torch.rand(3, generator=g)
        x, y = torch.randint(0, size - s, (2,), generator=g).tolist()
        vx, vy = torch.randint(-3, 4, (2,), generator=g).tolist()
        for f in range(frames):
            xf, yf = min(max(x + f * vx, 0), size - s), min(max(y + f * vy, 0), size - s)
            out[i, f, :, yf:yf + s, xf:xf + s] = color[:, None, None]
    return (out - 0.5) / 0.5


def small_vjepa(**kw) -> VJEPA:
    return VJEPA(small_vit_cfg(), PredictorConfig(dim=24, depth=2, heads=2), **kw)


def test_vjepa_loss_falls_and_target_encoder_gets_no_gradient():
    torch.manual_seed(0)
    data = moving_squares(32)
    model = small_vjepa()
    params = [p for p in model.parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in model.target_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.04)
    g, steps, losses = gen(0), 60, []
    for step in range(steps):
        loss, stats = model(data, g)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None for p in model.target_encoder.parameters())
        opt.step()
        model.update_target(ema_momentum(step, steps, start=0.99))
        losses.append(stats["loss"])
    assert set(stats) >= {"loss", "loss_spec0", "loss_spec1", "target_std", "pred_std"}
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"V-JEPA loss {first:.3f} -> {last:.3f}, target_std {stats['target_std']:.3f}")
    assert last < 0.7 * first


def test_vjepa_loss_counts_masked_tokens_only():
    torch.manual_seed(0)
    model = small_vjepa()
    x = moving_squares(4)
    masks = sample_batch_masks(model.grid, model.mask_specs, 4, gen(1))
    loss, stats = model(x, masks=masks)
    # By hand: L1 on the target tokens of each mask family, averaged over families.
    with torch.no_grad():
        targets = torch.nn.functional.layer_norm(model.target_encoder(x), (48,))
        by_hand = []
        for ctx, tgt in masks:
            pred = model.predictor(model.encoder(x, keep=ctx), ctx, tgt)
            assert pred.shape == (4, tgt.shape[1], 48)  # no predictions for context positions
            by_hand.append((pred - torch.gather(targets, 1, tgt[..., None].expand(-1, -1, 48)))
                           .abs().mean())
    torch.testing.assert_close(loss.detach(), torch.stack(by_hand).mean())
    # Scrambling the target features outside the target sets leaves the loss unchanged.
    outside = torch.ones(4, 16, dtype=torch.bool)
    for _, tgt in masks:
        outside.scatter_(1, tgt, False)
    real = model.target_features

    def scrambled(frames):
        return real(frames) + 100.0 * outside[..., None]

    model.target_features = scrambled
    loss2, _ = model(x, masks=masks)
    torch.testing.assert_close(loss2, loss)


def test_top_k_layer_targets_average_the_last_blocks_layer_normed():
    torch.manual_seed(0)
    model = small_vjepa()
    x = moving_squares(3)
    enc = model.target_encoder
    layers = enc.forward_layers(x, 2)
    torch.testing.assert_close(layers[-1], enc(x))          # the last one is the encoder's output
    with torch.no_grad():                                  # by hand: the first of 2 blocks
        h1 = enc.blocks[0](enc.embed(x))
    torch.testing.assert_close(layers[0], h1)
    ln = lambda h: torch.nn.functional.layer_norm(h, (h.shape[-1],))
    torch.testing.assert_close(model.target_features(x), ln(enc(x)))   # default: final only
    model.target_layers = 2
    torch.testing.assert_close(model.target_features(x), (ln(h1) + ln(enc(x))) / 2)
    with pytest.raises(ValueError, match="target_layers"):
        VJEPA(small_vit_cfg(), PredictorConfig(dim=24, depth=1, heads=2), target_layers=3)
    with pytest.raises(ValueError, match="last must be"):
        enc.forward_layers(x, 0)


def test_collapse_guard_within_sources_sees_a_mixed_batch_collapse_per_task():
    """Two sources, each clip identical to the others of its source: across the whole batch the
    features vary (they say which source: a dark scene, a bright one), within each source not."""
    torch.manual_seed(0)
    model = small_vjepa(var_weight=1.0, var_gamma=0.5)
    x = torch.cat([torch.full((3, 2, 3, 32, 32), -0.8), torch.full((3, 2, 3, 32, 32), 0.8)])
    sources = torch.tensor([0, 0, 0, 1, 1, 1])
    # the same context and targets for every clip, so identical clips get identical features
    masks = [(c[:1].expand(6, -1), t[:1].expand(6, -1))
             for c, t in sample_batch_masks(model.grid, model.mask_specs, 6, gen(1))]
    _, mixed = model(x, masks=masks)
    _, grouped = model(x, masks=masks, groups=sources)
    # Within a source every channel's spread is sqrt(0 + 1e-4) = 0.01: the hinge is at its maximum.
    assert grouped["var_loss"] == pytest.approx(0.5 - 0.01, abs=1e-5)
    assert grouped["target_std"] == pytest.approx(0.0, abs=1e-6)
    assert mixed["target_std"] > 0.01
    assert mixed["var_loss"] < grouped["var_loss"]
    # One source: identical to no groups; a singleton source is left out of the spread.
    torch.testing.assert_close(model(x, masks=masks, groups=torch.zeros(6, dtype=torch.long))[0],
                               model(x, masks=masks)[0])
    assert [r.tolist() for r in group_indices(torch.tensor([2, 0, 2, 1]), 4)] == [[0, 2]]
    with pytest.raises(ValueError, match="groups must be"):
        model(x, masks=masks, groups=torch.zeros(5, dtype=torch.long))


def test_vjepa_anti_collapse_term_and_shape_errors():
    torch.manual_seed(0)
    model = small_vjepa(var_weight=1.0, var_gamma=0.5)
    loss, stats = model(moving_squares(4), gen(0))
    assert stats["var_loss"] > 0 and torch.isfinite(loss)
    loss.backward()
    assert model.encoder.patch_embed.weight.grad is not None
    assert "var_loss" not in small_vjepa()(moving_squares(4), gen(0))[1]  # off by default
    with pytest.raises(ValueError, match="expected 32x32"):
        model(torch.randn(2, 2, 3, 64, 64), gen(0))


def test_effective_rank_counts_the_directions_the_samples_spread_along():
    torch.manual_seed(0)
    line = torch.randn(100, 1) * torch.randn(1, 16)          # every sample on one line
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-3)
    iso = torch.randn(4000, 8)                               # even spread over 8 directions
    assert 7.5 < effective_rank(iso) <= 8.0
    two = torch.cat([torch.randn(50, 1) * torch.tensor([[1.0, 0, 0]]),      # dominated by one
                     torch.zeros(50, 3)]) + torch.randn(100, 3) * 0.01
    assert effective_rank(two) < 1.2
    # the average over groups: rank 1 in one group, ~8 in the other
    x = torch.cat([line[:, :8], iso[:100]])
    rows = group_indices(torch.tensor([0] * 100 + [1] * 100), 200)
    expected = (effective_rank(line[:, :8]) + effective_rank(iso[:100])) / 2
    assert effective_rank(x, rows) == pytest.approx(expected)


def test_off_diagonal_correlation_is_one_for_copied_channels_and_scale_free():
    torch.manual_seed(0)
    signal = torch.randn(64, 1)
    assert float(off_diagonal_correlation(signal * torch.rand(1, 12) + 0.5, eps=0.0)) == \
        pytest.approx(1.0, abs=1e-3)                         # every channel the same signal
    independent = torch.randn(4096, 12)
    assert float(off_diagonal_correlation(independent)) < 0.005
    # scale-free: shrinking the features (as a small var_gamma allows) leaves it unchanged
    x = torch.randn(64, 12) @ torch.randn(12, 12)
    torch.testing.assert_close(off_diagonal_correlation(x * 0.01, eps=0.0),
                               off_diagonal_correlation(x, eps=0.0))


def test_decorrelation_term_adds_to_the_loss_and_lowers_correlation_when_trained():
    torch.manual_seed(0)
    x = moving_squares(8)
    masks = sample_batch_masks(small_vjepa().grid, small_vjepa().mask_specs, 8, gen(1))
    plain = small_vjepa()
    model = small_vjepa(cov_weight=2.0)
    model.load_state_dict(plain.state_dict())
    base, base_stats = plain(x, masks=masks)
    loss, stats = model(x, masks=masks)
    assert "cov_loss" not in base_stats and 0 < stats["cov_loss"] <= 1
    assert float(loss.detach()) == pytest.approx(float(base.detach()) + 2.0 * stats["cov_loss"],
                                                rel=1e-5)
    assert 1.0 <= stats["target_rank"] <= 7.0                 # at most B - 1 directions
    # gradient steps on the term alone decorrelate the pooled context features
    opt = torch.optim.Adam(model.encoder.parameters(), lr=1e-3)
    first = None
    for _ in range(30):
        z = model.encoder(x, keep=masks[1][0]).mean(dim=1)
        term = off_diagonal_correlation(z)
        first = float(term.detach()) if first is None else first
        opt.zero_grad(); term.backward(); opt.step()
    assert float(term.detach()) < 0.7 * first
    with pytest.raises(ValueError, match="cov_weight"):
        small_vjepa(cov_weight=-1.0)


def test_frozen_patch_embedding_stays_at_its_random_init_while_blocks_learn():
    torch.manual_seed(0)
    model = small_vjepa(freeze_patch_embed=True)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(3):
        loss, _ = model(moving_squares(4), gen(step))
        opt.zero_grad(); loss.backward(); opt.step()
        model.update_target(0.5)
    after = model.encoder.state_dict()
    for name in ("patch_embed.weight", "patch_embed.bias"):
        assert torch.equal(after[name], before[name])
        assert torch.equal(model.target_encoder.state_dict()[name], before[name])
    assert not torch.equal(after["blocks.0.attn.qkv.weight"], before["blocks.0.attn.qkv.weight"])
    assert small_vjepa().encoder.patch_embed.weight.requires_grad      # off by default
    first = small_vjepa(freeze_blocks=1).encoder.blocks                # the first block only
    assert not any(p.requires_grad for p in first[0].parameters())
    assert all(p.requires_grad for p in first[1].parameters())
    with pytest.raises(ValueError, match="freeze_blocks"):
        small_vjepa(freeze_blocks=3)                                   # depth is 2
