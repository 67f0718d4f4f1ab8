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
