"""Latent lock (zone_ops.sampling.latent_lock) on an analytic stand-in editor, and the ZONE Latent Lock MODEL patch in a
real ComfyUI (tiny random models; those tests skip without ZONE_COMFYUI_PATH).

The stand-in (tests/standin_editor.py) edits one rectangle IN CONTEXT and drifts the whole picture (gain + offset),
like an instruction editor. Checked: outside the region the locked result's latent equals the original's; an
all-ones mask gives the unlocked sampler's output bit for bit; find mode recovers the rectangle (IoU >= 0.9 at
latent resolution) despite the drift; in ComfyUI the patch works through KSampler, SamplerCustomAdvanced
(DualCFGGuider: ComfyUI's IP2P path) and the ZONE Fused IP2P Sampler (with MagicBrush), equals ComfyUI's own latent
noise mask when the target is the sampler's latent, and never changes the user's MODEL.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings as hsettings, strategies as st

from standin_editor import karras_sigmas, rectangle, ring_of, sample, smooth_latent, standin
from comfyui_zone.zone_ops.core.images import ZoneInputError
from comfyui_zone.zone_ops.sampling.latent_lock import (
    LatentLock, LockSettings, change_mask, eps_renoise, flow_renoise, keep_from_region, lock, soft_mask, step_index,
)

SIGMAS = karras_sigmas(20)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return float((a & b).sum() / max((a | b).sum(), 1))


def locked_run(editor, keep=None, stepper="dpmpp_2m", **settings):
    run = LatentLock(editor.original, SIGMAS, LockSettings(**settings), noise=editor.noise, keep=keep)
    return sample(lambda x, s: run(editor, x, s), SIGMAS, editor.noise, stepper), run


# ------------------------------------------------------------------------------------------- the pure functions
def test_soft_mask_is_zero_outside_one_inside_and_ramps():
    region = rectangle(40, 40, 10, 8, 20, 24)
    keep = soft_mask(region.float(), (40, 40), feather=3.0, grow=0)[0, 0].numpy()
    assert keep.shape == (40, 40) and keep.dtype == np.float32
    assert (keep[~region.numpy()] == 0).all(), "the lock is complete outside the region"
    assert keep[20, 20] == 1.0, "deep inside the model is free"
    row = keep[20, 8:20]  # from the left border inwards: non-decreasing ramp, 1 after feather + 1 px
    assert (np.diff(row) >= 0).all() and 0 < row[0] < 1 and row[4] == 1.0


def test_soft_mask_resizes_from_image_resolution_and_grows():
    image_mask = torch.zeros(1, 320, 480)
    image_mask[:, 80:160, 160:240] = 1.0  # latent 10:20, 20:30 at 1/8
    keep = soft_mask(image_mask, (40, 60), feather=0.0, grow=0)[0, 0]
    np.testing.assert_array_equal(keep.numpy() > 0, rectangle(40, 60, 10, 20, 10, 10).numpy())
    grown = soft_mask(image_mask, (40, 60), feather=0.0, grow=2)[0, 0]
    np.testing.assert_array_equal(grown.numpy() > 0, rectangle(40, 60, 8, 18, 14, 14).numpy())


def test_soft_mask_region_touching_the_frame_is_free_there():
    region = np.zeros((20, 20), bool)
    region[:, :10] = True  # the left half, touching three sides of the frame
    keep = keep_from_region(region, 2.0)
    assert keep[10, 0] == 1.0, "the frame is not a border of the region"
    assert keep[10, 9] < 1.0


@given(st.integers(0, 3), st.floats(0.0, 6.0), st.integers(1, 4), st.integers(8, 40), st.integers(8, 40))
@hsettings(max_examples=40, deadline=None)
def test_soft_mask_properties(grow, feather, batch, h, w):
    g = torch.Generator().manual_seed(h * 100 + w)
    mask = (torch.rand(batch, h * 2, w * 2, generator=g) > 0.7).float()
    keep = soft_mask(mask, (h, w), feather, grow)
    assert keep.shape == (batch, 1, h, w) and torch.isfinite(keep).all()
    assert keep.min() >= 0 and keep.max() <= 1
    if grow == 0:
        covered = torch.nn.functional.adaptive_avg_pool2d(mask[:, None], (h, w)) > 0.01
        assert (keep[~covered] == 0).all()


def test_soft_mask_rejects_bad_input():
    with pytest.raises(ZoneInputError):
        soft_mask(torch.zeros(2, 3, 4, 5), (4, 4))
    with pytest.raises(ZoneInputError):
        soft_mask(torch.full((8, 8), float("nan")), (4, 4))
    with pytest.raises(ZoneInputError):
        soft_mask(torch.ones(8, 8), (4, 4), feather=-1)


def test_lock_is_comfyuis_blend():
    g = torch.Generator().manual_seed(0)
    x, target = torch.randn(2, 4, 6, 7, generator=g), torch.randn(2, 4, 6, 7, generator=g)
    keep = torch.rand(2, 1, 6, 7, generator=g)
    np.testing.assert_array_equal(lock(x, target, keep), x * keep.expand_as(x) + target * (1.0 - keep.expand_as(x)))
    assert torch.equal(lock(x, target, torch.ones(1, 1, 6, 7)), x)
    assert torch.equal(lock(x, target, torch.zeros(1, 1, 6, 7)), target)
    video = torch.randn(2, 16, 1, 6, 7, generator=g)  # Qwen-Image style 5-D latent
    assert lock(video, video * 0, keep).shape == video.shape


def test_renoise_rules():
    latent, noise = torch.full((1, 2, 3, 3), 2.0), torch.full((1, 2, 3, 3), -1.0)
    assert torch.allclose(eps_renoise(torch.tensor([3.0]), noise, latent), latent - 3.0)
    assert torch.allclose(flow_renoise(torch.tensor([0.25]), noise, latent), 0.25 * noise + 0.75 * latent)
    assert torch.allclose(flow_renoise(torch.tensor([1.0]), noise, latent), noise)


def test_step_index():
    assert [step_index(SIGMAS, SIGMAS[k]) for k in range(20)] == list(range(20))
    between = (SIGMAS[4] + SIGMAS[5]) / 2  # e.g. Heun's second call
    assert step_index(SIGMAS, between) == 4


def test_change_mask_removes_a_drift_and_finds_the_edit():
    original = smooth_latent(4, 40, 48, 3)
    region = rectangle(40, 48, 5, 9, 12, 15)
    edited = 1.3 * original - 0.4  # a global drift only: nothing changed
    assert not change_mask(edited, original).mask.any()
    edited = edited.clone()
    edited[..., region] += 1.5
    found = change_mask(edited, original)
    assert iou(found.mask[0], region.numpy()) >= 0.9
    np.testing.assert_allclose(found.gain[0], 1.3, atol=1e-3)
    np.testing.assert_allclose(found.offset[0], -0.4, atol=1e-3)


def test_change_mask_on_5d_latents_and_batches():
    original = smooth_latent(16, 24, 24, 5)[:, :, None]  # [1, 16, 1, 24, 24]
    edited = original.repeat(2, 1, 1, 1, 1).clone()
    edited[0, ..., 2:10, 3:12] += 2.0
    edited[1, ..., 12:20, 12:22] -= 2.0
    found = change_mask(edited, original)
    assert found.mask.shape == (2, 24, 24)
    assert iou(found.mask[0], rectangle(24, 24, 2, 3, 8, 9).numpy()) >= 0.9
    assert iou(found.mask[1], rectangle(24, 24, 12, 12, 8, 10).numpy()) >= 0.9


def test_change_mask_rejects_mismatched_latents():
    with pytest.raises(ZoneInputError, match="does not match"):
        change_mask(torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 8, 9))


def test_settings_are_checked():
    for bad in ({"feather": -1.0}, {"find_at": 1.5}, {"threshold": 0.0}, {"min_change": float("nan")}, {"grow": -1}):
        with pytest.raises(ZoneInputError):
            LockSettings(**bad)


# ------------------------------------------------------------------------------------ sampling the stand-in editor
@pytest.mark.parametrize("stepper", ["dpmpp_2m", "euler"])
def test_outside_the_mask_the_final_latent_is_the_original(stepper):
    editor = standin()
    keep = soft_mask(editor.region.float(), editor.region.shape, feather=2.0, grow=1)
    out, _ = locked_run(editor, keep, stepper)
    outside = keep[0, 0] == 0
    assert outside.float().mean() > 0.5
    np.testing.assert_allclose(out[..., outside], editor.original[..., outside], atol=1e-5, rtol=0)
    unlocked = sample(editor, SIGMAS, editor.noise, stepper)
    assert (unlocked - editor.original)[..., outside].abs().mean() > 0.1, "the stand-in drifts without the lock"
    inside = editor.region & (keep[0, 0] == 1)
    assert (out - editor.original)[..., inside].abs().mean() > 1.0, "the edit is still made inside"


@pytest.mark.parametrize("stepper", ["dpmpp_2m", "euler"])
def test_all_ones_mask_is_the_unlocked_sampler_bit_for_bit(stepper):
    editor = standin()
    out, _ = locked_run(editor, soft_mask(torch.ones(96, 128), (48, 64)), stepper)
    assert torch.equal(out, sample(editor, SIGMAS, editor.noise, stepper))


def test_the_edit_is_made_in_the_original_context():
    """The stand-in's edit depends on its context: locked, the context is the original, so the inside is close to
    the drift-free editor's (the ideal); unlocked it is the drifted one's."""
    editor = standin()
    keep = soft_mask(editor.region.float(), editor.region.shape, feather=0.0, grow=0)
    out, _ = locked_run(editor, keep)
    ideal = sample(editor.ideal(), SIGMAS, editor.noise)
    unlocked = sample(editor, SIGMAS, editor.noise)
    inside = editor.region
    locked_error = float((out - ideal)[..., inside].abs().mean())
    unlocked_error = float((unlocked - ideal)[..., inside].abs().mean())
    assert locked_error < 0.05 < unlocked_error


@pytest.mark.parametrize("find_at", [0.1, 0.3, 0.5])
def test_find_mode_recovers_the_region_and_locks_the_rest(find_at):
    editor = standin()
    out, run = locked_run(editor, None, find_at=find_at, feather=1.0, grow=0)
    assert run.found is not None and run.found_at == round(find_at * 20)
    assert iou(run.found.mask[0], editor.region.numpy()) >= 0.9
    outside = run.keep[0, 0] == 0
    np.testing.assert_allclose(out[..., outside], editor.original[..., outside], atol=1e-5, rtol=0)


def test_find_mode_with_nothing_changed_locks_nothing():
    editor = standin()
    editor.delta = torch.zeros_like(editor.delta)
    editor.region = torch.zeros_like(editor.region)
    editor.region[0, 0] = True  # (the stand-in needs a ring; one pixel edited by 0)
    out, run = locked_run(editor, None)
    assert run.found is not None and not run.found.mask.any()
    assert bool((run.keep == 1).all())
    assert torch.equal(out, sample(editor, SIGMAS, editor.noise))


def test_noise_is_estimated_when_the_run_start_is_not_seen():
    """A sampler that does not report its noise: the first input (pure noise at sigma0) gives it."""
    editor = standin()
    keep = soft_mask(editor.region.float(), editor.region.shape)
    run = LatentLock(editor.original, SIGMAS, LockSettings(), noise=None, keep=keep)
    out = sample(lambda x, s: run(editor, x, s), SIGMAS, editor.noise)
    reference, _ = locked_run(editor, keep)
    np.testing.assert_allclose(out, reference, atol=1e-5)


def test_lock_refuses_a_latent_of_another_size():
    editor = standin()
    run = LatentLock(editor.original[..., :-8], SIGMAS, LockSettings(), keep=torch.ones(1, 1, 48, 56))
    with pytest.raises(ZoneInputError, match="does not match"):
        run(editor, editor.noise, SIGMAS[:1])


def test_ring_helper():
    region = rectangle(10, 10, 4, 4, 2, 2)
    assert int(ring_of(region, 1).sum()) == 16 - 4


def test_5d_latents_and_the_flow_rule():
    """Qwen-Image-style [B, C, T, h, w] latents with the rectified-flow noise rule: locked outside the region."""
    g = torch.Generator().manual_seed(4)
    original = torch.randn(1, 16, 1, 24, 32, generator=g)
    noise = torch.randn(1, 16, 1, 24, 32, generator=g)
    target = original + 3.0  # an "editor" that changes everything
    sigmas = torch.linspace(1.0, 0.0, 9)
    keep = soft_mask(rectangle(24, 32, 4, 4, 10, 12).float(), (24, 32), feather=1.0)
    run = LatentLock(original, sigmas, LockSettings(), noise=noise, keep=keep, renoise=flow_renoise)
    seen = []

    def editor(x, sigma):
        seen.append(x)
        return target

    x = noise.clone()
    for i in range(8):  # Euler on the flow ODE, as ComfyUI's euler does in sigma space
        s, s_next = sigmas[i], sigmas[i + 1]
        x0 = run(editor, x, s.reshape(1))
        x = x + (x - x0) / s * (s_next - s)
    outside = keep[0, 0] == 0
    np.testing.assert_allclose(x[..., outside], original[..., outside], atol=1e-5)
    np.testing.assert_allclose(x[..., keep[0, 0] == 1], target[..., keep[0, 0] == 1], atol=1e-5)
    s = sigmas[3]
    np.testing.assert_allclose(seen[3][..., outside], (s * noise + (1 - s) * original)[..., outside], atol=1e-5)


# ------------------------------------------------------------------------------- the MODEL patch in a real ComfyUI
@pytest.fixture(scope="module")
def comfy():
    from comfy_env import import_comfy

    comfy = import_comfy()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield comfy
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(comfy):
    from comfy_env import tiny_clip, tiny_ip2p_model, tiny_vae

    return {"ip2p": tiny_ip2p_model(0), "magicbrush": tiny_ip2p_model(1), "sd15": tiny_ip2p_model(2, in_channels=4),
            "clip": tiny_clip(0), "vae": tiny_vae(0)}


@pytest.fixture(scope="module")
def photo_latent(models):
    """The coffee photo at 128x192 and its VAE latent (as VAE Encode gives it: unscaled)."""
    from conftest import photo
    from comfyui_zone.zone_ops.core.images import resize

    image = torch.from_numpy(resize(photo("coffee"), (128, 192), "area"))[None]
    return image, models["vae"].encode(image)


def image_mask(h=128, w=192) -> torch.Tensor:
    mask = torch.zeros(1, h, w)
    mask[:, 32:96, 64:144] = 1.0
    return mask


def lock_node(model, latent, mask=None, region="mask", **widgets):
    from comfyui_zone.nodes.latent_lock import ZoneLatentLock

    values = dict(feather=2.0, grow=1, find_at=0.3, threshold=3.0, min_change=0.25)
    values.update(widgets)
    original = None if latent is None else {"samples": latent}
    return ZoneLatentLock().patch(model, region, mask=mask, original=original, **values)[0]


def ksampler(comfy, model, clip, latent_image, seed=5, steps=6, sampler="dpmpp_2m", scheduler="karras", noise_mask=None):
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("a red cup"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    noise = comfy.sample.prepare_noise(latent_image, seed)
    return comfy.sample.sample(model, noise, steps, 6.0, sampler, scheduler, positive, negative, latent_image,
                               noise_mask=noise_mask, seed=seed, disable_pbar=True)


def _template(model):
    from comfyui_zone.nodes.latent_lock import LOCK_KEY

    return model.model_options["transformer_options"][LOCK_KEY]


@pytest.mark.comfyui
@pytest.mark.parametrize("sampler, scheduler", [("dpmpp_2m", "karras"), ("euler", "normal"), ("euler_ancestral", "normal")])
def test_ksampler_locks_outside_and_all_ones_is_bit_exact(comfy, models, photo_latent, sampler, scheduler):
    _, latent = photo_latent
    empty = torch.zeros_like(latent)
    model = models["sd15"]
    before = copy.deepcopy(model.model_options)
    locked = lock_node(model, latent, image_mask())
    assert model.model_options.keys() == before.keys() and not model.model_options["transformer_options"].get("wrappers")
    out = ksampler(comfy, locked, models["clip"], empty, sampler=sampler, scheduler=scheduler)
    keep = _template(locked).last_run.keep[0, 0]
    outside = keep == 0
    np.testing.assert_allclose(out[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
    plain = ksampler(comfy, model, models["clip"], empty, sampler=sampler, scheduler=scheduler)
    assert (plain - latent)[..., outside].abs().mean() > 0.05, "the random model does change the picture"
    inside = keep == 1
    assert (out - plain)[..., inside].abs().mean() < (out - plain)[..., outside].abs().mean()
    ones = lock_node(model, latent, torch.ones(1, 128, 192))
    assert torch.equal(ksampler(comfy, ones, models["clip"], empty, sampler=sampler, scheduler=scheduler), plain)


@pytest.mark.comfyui
def test_equals_comfyuis_latent_noise_mask_when_the_target_is_the_sampler_latent(comfy, models, photo_latent):
    """SetLatentNoiseMask + KSampler on the original's latent vs the lock with the same hard mask: the same blend
    (KSamplerX0Inpaint's) in the same place, so the same result."""
    _, latent = photo_latent
    mask = torch.zeros(1, 16, 24)
    mask[:, 4:12, 8:18] = 1.0  # at latent resolution: no resampling on either side
    model = models["sd15"]
    core = ksampler(comfy, model, models["clip"], latent, noise_mask=mask)
    ours = ksampler(comfy, lock_node(model, latent, mask, feather=0.0, grow=0), models["clip"], latent)
    difference = float((core - ours).abs().max())
    print(f"lock vs SetLatentNoiseMask: max |difference| = {difference:.3e}")
    np.testing.assert_allclose(ours, core, atol=1e-5, rtol=0)


@pytest.mark.comfyui
def test_flow_models_use_their_own_noise_rule(comfy, models, photo_latent):
    """ModelSamplingSD3 turns the model into a rectified-flow one (FLUX / Qwen-Image's rule, CONST): still locked."""
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3

    _, latent = photo_latent
    flow = ModelSamplingSD3().patch(models["sd15"], 3.0)[0]
    locked = lock_node(flow, latent, image_mask())
    out = ksampler(comfy, locked, models["clip"], latent, sampler="euler", scheduler="simple")
    outside = _template(locked).last_run.keep[0, 0] == 0
    np.testing.assert_allclose(out[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)


def custom_advanced_ip2p(comfy, models, model, image, seed=3, steps=5):
    """ComfyUI's IP2P path (InstructPixToPixConditioning -> DualCFGGuider -> SamplerCustomAdvanced); the LATENT."""
    from comfy_extras.nodes_custom_sampler import (
        BasicScheduler, DualCFGGuider, KSamplerSelect, Noise_RandomNoise, SamplerCustomAdvanced,
    )
    from comfy_extras.nodes_ip2p import InstructPixToPixConditioning

    clip, vae = models["clip"], models["vae"]
    positive = clip.encode_from_tokens_scheduled(clip.tokenize("make the cup blue"))
    negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
    cond1, cond2, latent = InstructPixToPixConditioning.execute(positive, negative, pixels=image, vae=vae).result
    guider = DualCFGGuider().get_guider(model, cond1, cond2, negative, 7.5, 1.5, "regular")[0]
    sigmas = BasicScheduler().get_sigmas(model, "normal", steps, 1.0)[0]
    sampler = KSamplerSelect().get_sampler("dpmpp_2m")[0]
    return SamplerCustomAdvanced().sample(Noise_RandomNoise(seed), guider, sampler, sigmas, latent)[0]["samples"]


@pytest.mark.comfyui
@pytest.mark.parametrize("region", ["mask", "find while sampling"])
def test_sampler_custom_advanced_ip2p(comfy, models, photo_latent, region):
    image, latent = photo_latent
    locked = lock_node(models["ip2p"], latent, image_mask() if region == "mask" else None, region=region)
    out = custom_advanced_ip2p(comfy, models, locked, image)
    run = _template(locked).last_run
    assert run.keep is not None and (region == "mask") == (run.found is None)
    outside = run.keep[0, 0] == 0
    if region == "find while sampling":
        assert run.found_at == round(0.3 * 5)
        print(f"found on the random IP2P model: {100 * float(run.found.coverage[0]):.1f} % of the latent")
    if outside.any():
        np.testing.assert_allclose(out[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
    plain = custom_advanced_ip2p(comfy, models, models["ip2p"], image)
    if region == "mask":
        assert (plain - latent)[..., outside].abs().mean() > 0.05


@pytest.mark.comfyui
@pytest.mark.parametrize("magicbrush", [False, True])
def test_fused_ip2p_sampler_honours_the_lock(comfy, models, photo_latent, magicbrush, monkeypatch):
    from comfyui_zone.nodes.comfy_backend import ComfyBackend
    from comfyui_zone.zone_ops.stages.fused_sampler import SamplerSettings, fused_edit

    image, latent = photo_latent
    locked = lock_node(models["ip2p"], latent, image_mask())
    finals = []
    backend = ComfyBackend(locked, models["clip"], models["vae"], magicbrush=models["magicbrush"] if magicbrush else None)
    decode = backend.decode
    monkeypatch.setattr(backend, "decode", lambda x: finals.append(x.clone()) or decode(x))
    settings = SamplerSettings(steps=4, seed=3, working_size=192, beta=0.2)
    fused_edit(backend, image, "make the cup blue", settings)
    final = locked.model.process_latent_out(finals[0])
    outside = _template(locked).last_run.keep[0, 0] == 0
    np.testing.assert_allclose(final[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
    plain = []
    backend = ComfyBackend(models["ip2p"], models["clip"], models["vae"],
                           magicbrush=models["magicbrush"] if magicbrush else None)
    decode_plain = backend.decode
    monkeypatch.setattr(backend, "decode", lambda x: plain.append(x.clone()) or decode_plain(x))
    fused_edit(backend, image, "make the cup blue", settings)
    assert (locked.model.process_latent_out(plain[0]) - latent)[..., outside].abs().mean() > 0.05


@pytest.mark.comfyui
def test_all_ones_mask_through_the_fused_sampler_is_bit_exact(comfy, models, photo_latent):
    from comfyui_zone.nodes.comfy_backend import ComfyBackend
    from comfyui_zone.zone_ops.stages.fused_sampler import SamplerSettings, fused_edit

    image, latent = photo_latent
    settings = SamplerSettings(steps=3, seed=1, working_size=192)
    ones = lock_node(models["ip2p"], latent, torch.ones(1, 128, 192))
    a = fused_edit(ComfyBackend(ones, models["clip"], models["vae"]), image, "make it red", settings).canvas
    b = fused_edit(ComfyBackend(models["ip2p"], models["clip"], models["vae"]), image, "make it red", settings).canvas
    np.testing.assert_array_equal(a, b)


@pytest.mark.comfyui
def test_node_errors_say_what_to_do(comfy, models, photo_latent):
    image, latent = photo_latent
    with pytest.raises(ZoneInputError, match="no mask is connected"):
        lock_node(models["sd15"], latent, None, region="mask")
    from comfyui_zone.nodes.latent_lock import ZoneLatentLock

    with pytest.raises(ZoneInputError, match="LATENT"):  # an IMAGE where the LATENT goes
        ZoneLatentLock().patch(models["sd15"], "mask", 2.0, 1, 0.3, 3.0, 0.25, mask=image_mask(), original=image)
    wrong = lock_node(models["sd15"], latent[..., :-2], image_mask())
    with pytest.raises(ZoneInputError, match="does not match"):
        ksampler(comfy, wrong, models["clip"], torch.zeros_like(latent))


@pytest.mark.comfyui
def test_a_second_lock_replaces_the_first(comfy, models, photo_latent):
    import comfy.patcher_extension as ext

    from comfyui_zone.nodes.latent_lock import LOCK_KEY

    _, latent = photo_latent
    twice = lock_node(lock_node(models["sd15"], latent, torch.ones(1, 128, 192)), latent, image_mask())
    from comfyui_zone.nodes.latent_lock import PREDICT_NOISE, SAMPLER_SAMPLE

    assert (SAMPLER_SAMPLE, PREDICT_NOISE) == (ext.WrappersMP.SAMPLER_SAMPLE, ext.WrappersMP.PREDICT_NOISE)
    for kind in (ext.WrappersMP.SAMPLER_SAMPLE, ext.WrappersMP.PREDICT_NOISE):
        assert len(twice.wrappers[kind][LOCK_KEY]) == 1


@pytest.mark.comfyui
@pytest.mark.parametrize("sampler", ["dpmpp_2m", "euler"])
def test_find_mode_through_ksampler_on_the_stand_in(comfy, models, photo_latent, sampler):
    """The stand-in editor as a ComfyUI MODEL (its x0 replaces the UNet's through model_function_wrapper): find
    mode, through core KSampler, recovers its region (IoU >= 0.9) despite the drift and locks the rest."""
    from standin_editor import StandInEditor

    _, latent = photo_latent
    model = models["sd15"].clone()
    inner = model.model
    original = inner.process_latent_in(latent)
    noise = comfy.sample.prepare_noise(latent, 5)
    region = rectangle(16, 24, 3, 5, 9, 11)
    spread = float(original.std())
    editor = StandInEditor(original, region, noise, torch.full((4,), 1.2), torch.full((4,), 0.5 * spread),
                           torch.full((4,), 3.0 * spread))
    model.set_model_unet_function_wrapper(lambda apply, args: editor(args["input"], args["timestep"]))
    locked = lock_node(model, latent, None, region="find while sampling", feather=1.0, grow=0)
    out = ksampler(comfy, locked, models["clip"], torch.zeros_like(latent), sampler=sampler, steps=10)
    run = _template(locked).last_run
    assert run.found_at == 3 and iou(run.found.mask[0], region.numpy()) >= 0.9
    outside = run.keep[0, 0] == 0
    np.testing.assert_allclose(out[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
    plain = ksampler(comfy, model, models["clip"], torch.zeros_like(latent), sampler=sampler, steps=10)
    assert (plain - latent)[..., outside].abs().mean() > 0.1, "without the lock the stand-in drifts"


@pytest.mark.comfyui
def test_without_original_the_samplers_own_latent_is_the_target(comfy, models, photo_latent, monkeypatch):
    """Kontext / Qwen graphs sample from the encode of the image (KSampler's latent_image); the fused sampler has its
    image latent: no original needed. An empty latent and no original: an error that says what to connect."""
    from comfyui_zone.nodes.comfy_backend import ComfyBackend
    from comfyui_zone.zone_ops.stages.fused_sampler import SamplerSettings, fused_edit

    image, latent = photo_latent
    locked = lock_node(models["sd15"], None, image_mask())
    out = ksampler(comfy, locked, models["clip"], latent)
    outside = _template(locked).last_run.keep[0, 0] == 0
    np.testing.assert_allclose(out[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
    with pytest.raises(ZoneInputError, match="Connect 'original'"):
        ksampler(comfy, locked, models["clip"], torch.zeros_like(latent))
    fused = lock_node(models["ip2p"], None, image_mask())
    finals = []
    backend = ComfyBackend(fused, models["clip"], models["vae"])
    decode = backend.decode
    monkeypatch.setattr(backend, "decode", lambda x: finals.append(x.clone()) or decode(x))
    fused_edit(backend, image, "make the cup blue", SamplerSettings(steps=3, seed=2, working_size=192))
    final = fused.model.process_latent_out(finals[0])
    np.testing.assert_allclose(final[..., outside], latent[..., outside], atol=1e-4, rtol=1e-5)
