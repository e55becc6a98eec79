"""The action-conditioned world model: block-causal predictor, training on a frozen encoder,
cached rollouts, the planner protocol, and clear errors."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY_ENCODER, ac_train_config, small_collect
from envs.collect import collect
from planners.protocol import Latent, WorldModel
from worldmodel.ac_train import ACTrainConfig, build_encoder, train_world_model
from worldmodel.models.ac_predictor import ACPredictor, ACPredictorConfig, block_causal_mask
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint
from worldmodel.world_model import load_world_model

SMALL = ACPredictorConfig(latent_dim=16, latent_tokens=4, action_dim=2, proprio_dim=3, dim=32,
                          depth=2, heads=2)


def _inputs(b=3, t=4, cfg=SMALL, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, t, cfg.latent_tokens, cfg.latent_dim, generator=g),
            torch.randn(b, t, cfg.action_dim, generator=g),
            torch.randn(b, t, cfg.proprio_dim, generator=g))


_train_cfg = ac_train_config


@pytest.fixture(scope="module")
def trained(reach_data, tmp_path_factory):
    """A world model trained for 60 steps on the 32x32 Reach data (random tiny encoder)."""
    out = tmp_path_factory.mktemp("world_model")
    return out, train_world_model(_train_cfg(reach_data, out))


def test_push_models_step_five_control_steps_unless_told(tmp_path):
    # Push's default frameskip: one model step is a chunk of 5 env actions; stride=N overrides it
    data = collect(small_collect(tmp_path / "push", env={"name": "push", "image_size": 32},
                                 policy={"name": "scripted"}, episodes=4))
    default = train_world_model(_train_cfg(data, tmp_path / "m5", steps=2, projection=8))
    model = load_world_model(default["checkpoint"], device="cpu")
    assert model.meta["stride"] == 5 and model.action_dim == 5 * 2
    told = train_world_model(_train_cfg(data, tmp_path / "m1", steps=2, projection=8, stride=1))
    assert load_world_model(told["checkpoint"], device="cpu").action_dim == 2


def test_reach_models_step_every_control_step_by_default(trained):
    out, _ = trained
    model = load_world_model(out / "checkpoint.pt", device="cpu")
    assert model.meta["stride"] == 1 and model.action_dim == 2


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_stride_is_refused(bad):
    from worldmodel.data.dataset import resolve_stride
    with pytest.raises(ValueError, match="stride"):
        resolve_stride(bad, "reach")


# ------------------------------------------------------------------------------ predictor
def test_block_causal_mask_lets_a_step_see_only_steps_up_to_itself():
    mask = block_causal_mask(3, 2)
    expected = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0],
                             [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]).bool()
    assert torch.equal(mask, expected)


def test_no_step_sees_the_future():
    torch.manual_seed(0)
    pred = ACPredictor(SMALL).eval()
    z, a, p = _inputs()
    out_z, out_p = pred(z, a, p)
    z2, a2, p2 = z.clone(), a.clone(), p.clone()
    z2[:, 2:] += 5.0
    a2[:, 2:] -= 3.0
    p2[:, 2:] *= -1
    new_z, new_p = pred(z2, a2, p2)
    assert torch.allclose(out_z[:, :2], new_z[:, :2], atol=1e-6)   # steps 0, 1 unchanged
    assert torch.allclose(out_p[:, :2], new_p[:, :2], atol=1e-6)
    assert not torch.allclose(out_z[:, 2:], new_z[:, 2:])           # later steps do change


def test_action_changes_the_prediction():
    torch.manual_seed(0)
    pred = ACPredictor(SMALL).eval()
    z, a, p = _inputs()
    assert not torch.allclose(pred(z, a, p)[0], pred(z, a + 1.0, p)[0])


def test_cached_rollout_equals_uncached_and_teacher_forcing():
    torch.manual_seed(0)
    pred = ACPredictor(SMALL).eval()
    z, a, p = _inputs(b=4, t=5)
    with torch.no_grad():
        zc, pc = pred.rollout(z[:, 0], a, p[:, 0])
        zu, pu = pred.rollout(z[:, 0], a, p[:, 0], use_cache=False)
        assert zc.shape == (4, 5, 4, 16) and pc.shape == (4, 5, 3)
        assert torch.allclose(zc, zu, atol=1e-5) and torch.allclose(pc, pu, atol=1e-5)
        # one step of a rollout is one step of teacher forcing
        z_tf, p_tf = pred(z[:, :1], a[:, :1], p[:, :1])
        assert torch.allclose(zc[:, 0], z_tf[:, 0], atol=1e-5)


def test_fourier_proprio_features_let_the_predictor_fit_a_fine_scale_function():
    """Next latent = latent + sin(2 pi 6 p): a fine-scale function of the proprio p, like the
    latent of a small object at position p. Fourier features fit it; the raw proprio does not."""
    def fit(octaves: int) -> float:
        torch.manual_seed(0)
        cfg = ACPredictorConfig(latent_dim=1, latent_tokens=1, action_dim=1, proprio_dim=1,
                                dim=32, depth=1, heads=2, proprio_fourier=octaves)
        pred = ACPredictor(cfg)
        opt = torch.optim.Adam(pred.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(1)
        for _ in range(300):
            p = torch.rand(64, 1, 1, generator=g) * 2 - 1
            z = torch.randn(64, 1, 1, 1, generator=g)
            z_next, _ = pred(z, torch.zeros(64, 1, 1), p)
            loss = (z_next - z - torch.sin(2 * torch.pi * 6 * p)[..., None]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return float(loss.detach())

    assert ACPredictor(ACPredictorConfig(proprio_dim=3, proprio_fourier=4))._proprio_features(
        torch.zeros(2, 5, 3)).shape == (2, 5, 3 * 9)
    assert fit(octaves=4) < 0.5 * fit(octaves=0)
    with pytest.raises(ValueError, match="proprio_fourier"):
        ACPredictorConfig(proprio_fourier=-1)


def test_wrong_shapes_give_clear_errors():
    pred = ACPredictor(SMALL)
    z, a, p = _inputs()
    with pytest.raises(ValueError, match=r"actions must be \[B=3, T, 2\]"):
        pred(z, a[..., :1], p)
    with pytest.raises(ValueError, match="latents must be"):
        pred(z[..., :8], a, p)
    with pytest.raises(ValueError, match="proprio must be"):
        pred(z, a, None)
    with pytest.raises(ValueError, match="divisible"):
        ACPredictorConfig(dim=30, heads=4)


# ------------------------------------------------------------------------------ training
def test_training_lowers_teacher_forcing_and_rollout_losses(trained):
    out, summary = trained
    rows = [r.split(",") for r in (out / "log.csv").read_text().splitlines()]
    col = {name: i for i, name in enumerate(rows[0])}
    first, last = rows[1], rows[-1]
    for name in ("tf_loss", "rollout_loss"):
        assert float(last[col[name]]) < 0.8 * float(first[col[name]]), name
    # the logged "nothing moves" score: the trained predictor beats it on its clips
    assert float(last[col["tf_loss"]]) < float(last[col["tf_repeat_last"]])
    assert summary["steps"] == 60


def test_latent_loss_l2_is_mean_squared_error_and_unknown_losses_are_refused(reach_data,
                                                                            tmp_path):
    from worldmodel.ac_model import ACWorldModelNet
    from worldmodel.ac_train import predictor_config

    cfg = _train_cfg(reach_data, tmp_path, projection=0, stride=1)
    encoder, _ = build_encoder(cfg, image_size=32)
    pred_cfg = predictor_config(cfg, encoder, env_action_dim=2, proprio_dim=0)
    z = torch.randn(2, 3, encoder.num_tokens, encoder.dim)
    actions = torch.randn(2, 2, 2)
    l1 = ACWorldModelNet(encoder, pred_cfg, latent_loss="l1").losses(z, actions, None)[1]
    l2 = ACWorldModelNet(encoder, pred_cfg, latent_loss="l2").losses(z, actions, None)[1]
    change = z[:, 1:] - z[:, :-1]
    assert torch.allclose(l1["tf_repeat_last"], change.abs().mean())
    assert torch.allclose(l2["tf_repeat_last"], change.pow(2).mean())
    with pytest.raises(ValueError, match="latent_loss must be one of"):
        ACWorldModelNet(encoder, pred_cfg, latent_loss="huber")


def test_frozen_encoder_is_unchanged_by_training(trained, reach_data, tmp_path):
    out, _ = trained
    ckpt = load_checkpoint(out / "checkpoint.pt")
    saved = {k[len("net.encoder.encoder."):]: v for k, v in ckpt["model"].items()
             if k.startswith("net.encoder.encoder.")}
    fresh, _ = build_encoder(_train_cfg(reach_data, tmp_path), image_size=32)
    assert saved and all(torch.equal(saved[k], v) for k, v in fresh.encoder.state_dict().items())
    model = load_world_model(out / "checkpoint.pt")
    assert not any(p.requires_grad for p in model.net.encoder.parameters())


def test_world_model_implements_the_planner_protocol(trained, reach_data):
    out, _ = trained
    model = load_world_model(out / "checkpoint.pt", task="reach")
    assert isinstance(model, WorldModel) and model.action_dim == 2
    from worldmodel.data.storage import EpisodeStore
    ep = EpisodeStore(reach_data)[0]
    start = model.encode(ep["pixels"][:1], ep["proprio"][:1])
    goal = model.encode(ep["pixels"][-1:])
    assert start.z.shape == (1, 4, 48) and goal.proprio is None
    actions = torch.zeros(7, 5, 2)
    pred = model.rollout(start, actions)
    assert isinstance(pred, Latent) and pred.z.shape == (7, 5, 4, 48)
    assert pred.proprio.shape == (7, 5, 6)
    # differentiable with respect to the actions (gradient planners)
    actions.requires_grad_(True)
    model.rollout(start, actions).z.sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"actions must have shape \[N, H, 2\]"):
        model.rollout(start, torch.zeros(7, 5, 3))
    with pytest.raises(ValueError, match="uint8"):
        model.encode(ep["pixels"][:1].astype("float32"))
    with pytest.raises(ValueError, match=r"\[B, 32, 32, 3\]"):
        model.encode(ep["pixels"][:1, :16])


def test_checkpoints_of_another_task_or_kind_are_refused(trained, pretrain_checkpoint):
    out, _ = trained
    with pytest.raises(CheckpointError, match="task 'reach', not 'push'"):
        load_world_model(out / "checkpoint.pt", task="push")
    with pytest.raises(CheckpointError, match="'vjepa' model"):
        load_world_model(pretrain_checkpoint)


def test_encoder_of_another_image_size_is_refused(pretrain_checkpoint, tmp_path):
    data = collect(small_collect(tmp_path / "data16", env={"name": "reach", "image_size": 16},
                                 episodes=2, steps=4))
    with pytest.raises(ValueError, match="32x32.*16x16"):
        train_world_model(_train_cfg(data, tmp_path / "wm", encoder=pretrain_checkpoint))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_world_model(_train_cfg(data, tmp_path / "wm", encoder=str(tmp_path / "nope.pt")))


def test_training_on_a_pretrained_encoder_and_resuming(reach_data, pretrain_checkpoint,
                                                       tmp_path):
    full = train_world_model(_train_cfg(reach_data, tmp_path / "full", steps=8,
                                        encoder=pretrain_checkpoint))
    cfg = _train_cfg(reach_data, tmp_path / "split", steps=8, encoder=pretrain_checkpoint)
    cfg.train.stop_at = 3
    train_world_model(cfg)
    cfg.train.stop_at = 0
    train_world_model(cfg)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model"]
    assert full["steps"] == 8 and all(torch.equal(a[k], b[k]) for k in a)


def test_latent_projection_keeps_the_top_components_and_round_trips():
    from worldmodel.latents import LatentProjection

    g = torch.Generator().manual_seed(0)
    # 500 latents [2, 8] living in a 3-dim subspace plus small noise
    basis = torch.linalg.qr(torch.randn(16, 3, generator=g))[0]
    coeffs = torch.randn(500, 3, generator=g) * torch.tensor([5.0, 3.0, 1.0])
    z = (coeffs @ basis.T + 0.01 * torch.randn(500, 16, generator=g)).reshape(500, 2, 8) + 2.0
    proj = LatentProjection(tokens=2, dim=8, k=3)
    kept = proj.fit(z)
    assert kept > 0.99
    c = proj.project(z)
    assert c.shape == (500, 1, 3) and abs(float(c.std()) - 1.0) < 0.05
    assert torch.allclose(proj.reconstruct(c), z, atol=0.05)            # in-subspace round trip
    assert torch.allclose(proj.project(proj.reconstruct(c)), c, atol=1e-4)
    with pytest.raises(ValueError, match="more than 3 training frames"):
        LatentProjection(2, 8, 3).fit(z[:3])


def test_per_token_projection_keeps_where_a_small_object_is():
    """A dot visiting 12 token positions: one per-token component keeps it exactly, while one
    per-frame component cannot tell most positions apart."""
    from worldmodel.latents import LatentProjection

    g = torch.Generator().manual_seed(0)
    tokens, dim = 12, 8
    background, dot = torch.randn(dim, generator=g), torch.randn(dim, generator=g) * 3
    where = torch.randint(0, tokens, (600,), generator=g)
    z = background.expand(600, tokens, dim).clone()
    z[torch.arange(600), where] = dot

    per_token = LatentProjection(tokens, dim, k=1, per_token=True)
    per_frame = LatentProjection(tokens, dim, k=1)
    per_token.fit(z)
    per_frame.fit(z)
    c = per_token.project(z)
    assert c.shape == (600, tokens, 1) and per_token.out_tokens == tokens
    assert per_frame.project(z).shape == (600, 1, 1)
    err_token = (per_token.reconstruct(c) - z).abs().mean()
    err_frame = (per_frame.reconstruct(per_frame.project(z)) - z).abs().mean()
    assert err_token < 1e-4 < 0.1 < err_frame
    assert per_token.reconstruct(c)[torch.arange(600), where].sub(dot).abs().max() < 1e-3


def test_blurred_frames_make_the_latent_follow_a_small_object_gradually():
    """A 3-pixel square sliding 0..8 pixels: without blur a 1-pixel shift already moves the
    random encoder's latent a large part of the 8-pixel distance; with blur it moves it less."""
    from worldmodel.latents import FrozenEncoder, gaussian_blur

    impulse = torch.zeros(1, 1, 15, 15)
    impulse[..., 7, 7] = 1.0
    spread = gaussian_blur(impulse, 1.5)
    assert abs(float(spread.sum()) - 1.0) < 1e-5 and float(spread.max()) < 0.1
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat)

    frames = torch.full((9, 32, 32, 3), 200, dtype=torch.uint8)
    for shift in range(9):
        frames[shift, 12:15, 6 + shift:9 + shift] = 20
    ratios = {}
    for blur in (0.0, 2.0):      # the same random weights (seeded), with and without blur
        encoder, _ = build_encoder(ACTrainConfig(random_encoder=TINY_ENCODER, pool=0, blur=blur),
                                   image_size=32)
        z = encoder.encode_pixels(frames)
        d = (z - z[:1]).abs().mean((1, 2))
        ratios[blur] = float(d[1] / d[8])
    assert ratios[2.0] < 0.7 * ratios[0.0]
    with pytest.raises(ValueError, match="blur must be"):
        FrozenEncoder(encoder.encoder, blur=-1.0)


def test_a_per_token_world_model_trains_and_loads(reach_data, tmp_path):
    summary = train_world_model(_train_cfg(reach_data, tmp_path, steps=6, projection=4,
                                           projection_per_token=True, blur=1.0))
    model = load_world_model(tmp_path / "checkpoint.pt")
    net = model.net
    assert net.projection.per_token and net.predictor.cfg.latent_tokens == net.encoder.num_tokens
    assert net.encoder.blur == 1.0      # the checkpoint keeps the frames' low-pass
    assert summary["steps"] == 6
    from worldmodel.data.storage import EpisodeStore
    ep = EpisodeStore(reach_data)[0]
    start = model.encode(ep["pixels"][:1], ep["proprio"][:1])
    pred = model.rollout(start, torch.zeros(5, 3, 2))
    assert pred.z.shape == (5, 3, net.encoder.num_tokens, net.encoder.dim)


def test_projected_latents_rank_plans_exactly_like_token_latents(trained, reach_data):
    import copy

    from planners import CostConfig, latent_cost, make_planner
    from worldmodel.data.storage import EpisodeStore
    from worldmodel.world_model import VJEPAWorldModel

    out, _ = trained
    tokens = load_world_model(out / "checkpoint.pt")
    projected = load_world_model(out / "checkpoint.pt", latent_space="projected")
    ep = EpisodeStore(reach_data)[1]
    k = tokens.net.projection.k
    costs = {}
    for name, model in (("tokens", tokens), ("projected", projected)):
        start = model.encode(ep["pixels"][:1], ep["proprio"][:1])
        goal = model.encode(ep["pixels"][-1:])
        actions = torch.rand(50, 4, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
        pred = model.rollout(start, actions)
        costs[name] = latent_cost(pred, goal, CostConfig(metric="l2", reduce="sum"))
        plan = make_planner("cem", horizon=4, samples=40, iterations=3, seed=0,
                            cost={"metric": "l2", "reduce": "sum"}).plan(model, start, goal)
        costs[name + " plan"] = plan.actions
    assert start.z.shape == (1, 1, k)                  # k coefficients instead of P x D tokens
    ratio = costs["tokens"] / costs["projected"]
    torch.testing.assert_close(ratio, ratio.mean().expand_as(ratio), rtol=1e-3, atol=0)
    assert torch.equal(costs["tokens"].argsort(), costs["projected"].argsort())
    torch.testing.assert_close(costs["tokens plan"], costs["projected plan"])
    with pytest.raises(ValueError, match="latent_space must be one of"):
        load_world_model(out / "checkpoint.pt", latent_space="pixels")
    unprojected = copy.deepcopy(tokens.net)
    unprojected.projection = None
    with pytest.raises(ValueError, match="trained with a latent projection"):
        VJEPAWorldModel(unprojected, latent_space="projected")
