"""Stage 5: FFT edge smoother (known disks on real photos, the low-pass geometry, sizes, batches, bad inputs)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from comfyui_zone.nodes.fft_edge_smoother import DRIFT_CHOICES, ZoneFFTEdgeSmoother
from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError
from zone_ops.stages.fft_edge_smoother import CUTOFF, fft_edge_smooth, fill_holes, lowpass_rfft
from zone_ops.core.images import ZoneInputError


def disk(size: tuple[int, int], center: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.ogrid[: size[0], : size[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 < radius**2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def edited(image: np.ndarray, region: np.ndarray, shift: float = 0.35) -> np.ndarray:
    """The photo brightened/darkened by ``shift`` inside ``region`` only (a canvas with a known edit)."""
    canvas = image.copy()
    canvas[region] = np.where(canvas[region] > 0.5, canvas[region] - shift, canvas[region] + shift)
    return canvas


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_recovers_a_known_disk_on_real_photos(name, request):
    image = request.getfixturevalue(name)
    size = image.shape[:2]
    center, r = (size[0] * 0.45, size[1] * 0.55), min(size) * 0.22
    truth = disk(size, center, r)
    refined = disk(size, center, r - 3)  # SAM segment 3 px inside the true change: the 4-px dilation reaches it
    final = fft_edge_smooth(image, edited(image, truth), refined)
    assert final.shape == size and final.dtype == bool
    assert iou(final, truth) > 0.95


def test_no_uint8_wraparound_for_a_full_black_to_white_change():
    size = (256, 320)
    truth = disk(size, (128, 160), 60)
    original = np.zeros(size + (3,), np.float32)
    canvas = original.copy()
    canvas[truth] = 1.0  # a 255-level change: the official uint8 cast wraps parts of it to small values
    final = fft_edge_smooth(original, canvas, disk(size, (128, 160), 64), close=0, fill=False)
    assert final[truth].mean() > 0.995  # no holes where the (ringing) magnitude exceeds 255/255
    assert iou(final, truth) > 0.95  # the ideal low-pass spreads a sharp edge by about a pixel


def test_identical_canvas_and_empty_mask_give_empty_full_mask_finds_the_edit(coffee):
    size = coffee.shape[:2]
    assert not fft_edge_smooth(coffee, coffee, disk(size, (200, 300), 80)).any()
    truth = disk(size, (200, 300), 80)
    assert not fft_edge_smooth(coffee, edited(coffee, truth), np.zeros(size, bool)).any()
    full = fft_edge_smooth(coffee, edited(coffee, truth), np.ones(size, np.float32))
    assert iou(full, truth) > 0.95


def test_lowpass_is_centred_and_scales_with_size():
    # 512x512: the official 200-bin disk, centred
    official = np.zeros((512, 512), np.uint8)
    cv2.circle(official, (256, 256), 200, 1, -1)
    kept = lowpass_rfft((512, 512), CUTOFF)
    full = np.zeros((512, 512), bool)  # rebuild the full spectrum from the half one (Hermitian symmetry)
    full[:, :257] = kept
    full[:, 257:] = kept[:, 1:256][:, ::-1][np.r_[0, 511:0:-1]]
    full = np.fft.fftshift(full)
    assert abs(int(full.sum()) - int(official.sum())) / official.sum() < 0.01
    assert iou(full, official.astype(bool)) > 0.99
    # non-square: an ellipse in bins, symmetric in +-ky (centred), same kept fraction of the spectrum as 512x512
    wide = lowpass_rfft((256, 1024), CUTOFF)
    assert np.array_equal(wide[1:], wide[1:][::-1])
    assert wide[0, : round(CUTOFF * 1024)].all() and not wide[0, round(CUTOFF * 1024) + 2:].any()
    assert wide[: round(CUTOFF * 256), 0].all() and not wide[round(CUTOFF * 256) + 2: 128, 0].any()
    assert abs(wide.mean() - kept.mean()) < 0.01
    assert lowpass_rfft((64, 64), 0.8) is None  # covers everything: no FFT at all


def test_cutoff_really_filters_fine_detail():
    size = (128, 128)
    original = np.zeros(size + (3,), np.float32)
    canvas = original.copy()
    canvas[::2, :, :] = 0.5  # a pure Nyquist-row pattern (0.5 cycles/pixel) with mean 0.25
    region = np.ones(size, bool)
    unfiltered = fft_edge_smooth(original, canvas, region, cutoff=0.7072, close=0, fill=False)
    assert unfiltered[::2].all() and not unfiltered[1::2].any()
    low = fft_edge_smooth(original, canvas, region, cutoff=0.2, close=0, threshold=0.3)
    assert not low.any()  # only the 0.25 mean remains: below 0.3


def test_resized_inputs_and_sizes_scale(astronaut):
    size = astronaut.shape[:2]
    truth = disk(size, (250, 260), 110)
    canvas_small = cv2.resize(edited(astronaut, truth), (256, 256), interpolation=cv2.INTER_AREA)
    refined_small = disk((256, 256), (125, 130), 52).astype(np.float32)
    final = fft_edge_smooth(astronaut, canvas_small, refined_small)
    assert final.shape == size and iou(final, truth) > 0.85
    # the same scene at 2x: with scale_with_size the result is the same shape, scaled
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    big_truth = disk((1024, 1024), (500, 520), 220)
    big_final = fft_edge_smooth(big, edited(big, big_truth), disk((1024, 1024), (500, 520), 205))
    assert iou(big_final, big_truth) > 0.95


def test_fill_holes_fills_ring_inside():
    ring = disk((64, 64), (32, 32), 20) & ~disk((64, 64), (32, 32), 10)
    assert np.array_equal(fill_holes(ring), disk((64, 64), (32, 32), 20))


def test_bad_library_inputs():
    image = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(ZoneInputError, match="NaN"):
        fft_edge_smooth(image, np.full_like(image, np.nan), np.ones((32, 32), bool))
    with pytest.raises(ZoneInputError, match="refined mask"):
        fft_edge_smooth(image, image, np.ones((32, 32, 2), bool))


def test_node_batches_broadcast_and_preview(coffee):
    size = coffee.shape[:2]
    truths = [disk(size, (200, 250), 70), disk(size, (180, 380), 90)]
    canvases = torch.from_numpy(np.stack([edited(coffee, t) for t in truths]))
    refined = torch.from_numpy(np.stack([disk(size, (200, 250), 66), disk(size, (180, 380), 85)]).astype(np.float32))
    original = torch.from_numpy(coffee[None].copy())
    before = original.clone()
    final, preview = ZoneFFTEdgeSmoother().run(original, canvases, refined, 30.0, CUTOFF, 4, 21, True)
    assert final.shape == (2, 400, 600) and preview.shape == (2, 400, 600, 3)
    assert torch.equal(original, before)  # inputs untouched
    for i, truth in enumerate(truths):
        assert iou(final[i].numpy() > 0.5, truth) > 0.95
    with pytest.raises(NodeInputError, match="batch sizes do not match"):
        ZoneFFTEdgeSmoother().run(torch.cat([original] * 3), canvases, refined, 30.0, CUTOFF, 4, 21, True)


def test_node_rgba_grayscale_tiny_nan(chelsea):
    node = ZoneFFTEdgeSmoother()
    size = chelsea.shape[:2]
    truth = disk(size, (150, 220), 60)
    rgba = torch.from_numpy(np.concatenate([chelsea, np.ones_like(chelsea[..., :1])], -1))[None]
    gray_canvas = torch.from_numpy(edited(chelsea, truth).mean(-1, keepdims=True))[None]
    final, preview = node.run(rgba, gray_canvas, torch.from_numpy(disk(size, (150, 220), 56))[None].float(),
                              30.0, CUTOFF, 4, 21, True)
    assert preview.shape == (1, 300, 451, 3) and iou(final[0].numpy() > 0.5, truth) > 0.9
    tiny, preview = node.run(torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8, 3), torch.ones(1, 8, 8), 30.0, CUTOFF, 4, 21, True)
    assert tiny.shape == (1, 8, 8) and preview.shape == (1, 8, 8, 3)
    nan = rgba.clone()
    nan[0, 3, 3, 1] = float("nan")
    with pytest.raises(NodeInputError, match="NaN"):
        node.run(nan, gray_canvas, torch.ones(1, 300, 451), 30.0, CUTOFF, 4, 21, True)


def test_node_is_registered(pack):
    assert pack.NODE_CLASS_MAPPINGS["ZoneFFTEdgeSmoother"] is ZoneFFTEdgeSmoother
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["ZoneFFTEdgeSmoother"] == "ZONE FFT Edge Smoother"


def test_color_mode_catches_equal_brightness_change(astronaut):
    """A hue change that keeps the grey level exactly (the official grey rule is blind to it) is found by the
    colour rule; dark pixels, whose channel differences stay under the threshold, are the only misses."""
    import cv2

    h, w = astronaut.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    disk = (yy - 260) ** 2 + (xx - 250) ** 2 <= 60**2
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    canvas = astronaut.copy()
    green = np.zeros_like(canvas)
    green[..., 1] = np.clip(grey / 0.587, 0, 1)  # pure green with the same grey level (where reachable)
    canvas[disk] = green[disk]
    colour = fft_edge_smooth(astronaut, canvas, disk)
    official = fft_edge_smooth(astronaut, canvas, disk, color=False)
    assert (colour & disk).sum() / (colour | disk).sum() > 0.7
    assert official.sum() < 0.1 * colour.sum()


# ---------------------------------------------------------------- drift-aware difference (issue 10)

CAST_GAIN = np.array([1.0, 1.15, 0.9], np.float32)
CAST_OFFSET = np.array([0.15, -0.05, 0.12], np.float32)  # a strong warm cast: +38/255 red everywhere


def cast(image: np.ndarray) -> np.ndarray:
    """A strong global colour cast over the whole image, as an instruction model may add it."""
    return np.clip(image * CAST_GAIN + CAST_OFFSET, 0.0, 1.0).astype(np.float32)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_a_colour_cast_gives_nearly_the_same_final_mask(name, request):
    image = request.getfixturevalue(name)
    size = image.shape[:2]
    center, r = (size[0] * 0.45, size[1] * 0.55), min(size) * 0.2
    truth = disk(size, center, r)
    refined = disk(size, center, r + 6)  # a segment a little larger than the edit
    canvas = edited(image, truth)
    clean = fft_edge_smooth(image, canvas, refined)
    drifted = fft_edge_smooth(image, cast(canvas), refined)
    assert iou(clean, truth) > 0.95 and iou(drifted, clean) > 0.97  # (nearly) the same final mask
    raw = fft_edge_smooth(image, cast(canvas), refined, drift=False)  # the official difference: the cast counts
    assert iou(raw, clean) < iou(drifted, clean) and raw.sum() > 1.03 * clean.sum()


def test_edit_difference_is_reusable_on_a_whole_image_and_reports_the_drift(coffee):
    """Any editor's canvas, no search mask: the drift is fitted on the whole image (the edit is rejected as
    outliers), removed, and the changed pixels are the edit."""
    from zone_ops.stages.fft_edge_smoother import edit_difference

    size = coffee.shape[:2]
    truth = disk(size, (200, 300), 70)
    canvas = cast(edited(coffee, truth))
    diff = edit_difference(coffee, canvas)
    np.testing.assert_allclose(diff.drift.gain, CAST_GAIN, atol=0.03)
    np.testing.assert_allclose(diff.drift.offset, CAST_OFFSET, atol=0.02)
    assert diff.magnitude.shape == size and diff.magnitude.dtype == np.float32
    # where the cast clipped a highlight (the white cup) no gain + offset explains the canvas: judge the rest
    clipped = cv2.dilate(((canvas >= 1.0) | (canvas <= 0.0)).any(-1).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert iou(diff.changed & ~clipped, truth & ~clipped) > 0.9
    raw = edit_difference(coffee, canvas, drift=False)
    assert raw.drift.is_identity and raw.changed.mean() > 0.5  # the raw difference marks most of the photo


def test_threshold_rises_above_the_noise_floor(chelsea):
    from zone_ops.stages.fft_edge_smoother import edit_difference

    rng = np.random.default_rng(3)
    noisy = np.clip(chelsea + rng.normal(0, 0.08, chelsea.shape).astype(np.float32), 0, 1)
    quiet = edit_difference(chelsea, chelsea)
    loud = edit_difference(chelsea, noisy, noise_factor=3.0)
    assert quiet.threshold == pytest.approx(30 / 255)  # no noise: the given threshold
    assert loud.threshold == pytest.approx(3.0 * float(loud.drift.noise.max())) and loud.threshold > 0.2
    assert loud.changed.mean() < 0.01  # noise alone is not an edit
    assert edit_difference(chelsea, noisy, drift=False).changed.mean() > 0.05


def test_noise_factor_sets_the_final_mask_threshold(chelsea):
    """fft_edge_smooth passes noise_factor on: a real edit (+0.25 in a disk) over noise of sigma 0.03 is found with
    noise_factor 1.5 (threshold ~0.12 = the given 30/255) and vanishes with noise_factor 12 (threshold ~0.36)."""
    rng = np.random.default_rng(4)
    truth = disk(chelsea.shape[:2], (150, 220), 50)
    canvas = chelsea + rng.normal(0, 0.03, chelsea.shape).astype(np.float32)
    canvas[truth] += np.float32(0.25)
    canvas = np.clip(canvas, 0, 1)
    refined = disk(chelsea.shape[:2], (150, 220), 45)
    found = fft_edge_smooth(chelsea, canvas, refined, noise_factor=1.5)
    assert found[truth].mean() > 0.8
    assert not fft_edge_smooth(chelsea, canvas, refined, noise_factor=12.0).any()


def test_a_canvas_that_is_not_a_drifted_copy_is_not_corrected(coffee):
    """A flat canvas is not a colour drift of the photo: no correction (the raw difference), no crazy gains."""
    from zone_ops.stages.fft_edge_smoother import edit_difference

    flat = np.full_like(coffee, 0.25)
    assert edit_difference(coffee, flat).drift.is_identity


def test_drift_widgets_are_validated():
    image = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(ZoneInputError, match="noise_factor"):
        fft_edge_smooth(image, image + 0.5, np.ones((32, 32), bool), noise_factor=-1.0)
    node = ZoneFFTEdgeSmoother()
    required = node.INPUT_TYPES()["required"]
    assert required["drift"][1]["default"] == "remove" and required["noise_factor"][1]["default"] == 3.0
    args = (torch.zeros(1, 32, 32, 3), torch.ones(1, 32, 32, 3), torch.ones(1, 32, 32), 30.0, CUTOFF, 4, 21, True)
    with pytest.raises(NodeInputError, match="drift'? must be one of remove, off"):
        node.run(*args, drift="auto")
    with pytest.raises(NodeInputError, match="noise_factor"):
        node.run(*args, noise_factor=float("nan"))


def test_node_drift_option_under_inference_mode(astronaut):
    size = astronaut.shape[:2]
    truth = disk(size, (250, 260), 90)
    original = torch.from_numpy(astronaut[None].copy())
    canvas = torch.from_numpy(cast(edited(astronaut, truth))[None])
    refined = torch.from_numpy(disk(size, (250, 260), 96)[None].astype(np.float32))
    node = ZoneFFTEdgeSmoother()
    with torch.inference_mode():
        aware, _ = node.run(original, canvas, refined, 30.0, CUTOFF, 4, 21, True)
        raw, _ = node.run(original, canvas, refined, 30.0, CUTOFF, 4, 21, True, "color", "off (official)")
    assert iou(aware[0].numpy() > 0.5, truth) > 0.95
    assert iou(raw[0].numpy() > 0.5, truth) < iou(aware[0].numpy() > 0.5, truth)


@pytest.mark.parametrize("name, value", [("threshold", float("nan")), ("cutoff", float("nan")), ("cutoff", 0.0),
                                         ("threshold", float("inf")), ("threshold", -0.1)])
def test_non_finite_or_out_of_range_settings_are_refused(name, value):
    """NaN compares false everywhere: it used to give a silently empty mask."""
    rng = np.random.default_rng(0)
    original = rng.random((32, 32, 3), dtype=np.float32)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    with pytest.raises(ZoneInputError, match=name):
        fft_edge_smooth(original, 1 - original, mask, **{name: value})


# ------------------------------------------------------- the colour rule, exact dilation, non-default widgets
def test_one_channel_over_the_threshold_is_a_change(chelsea):
    """Only the red channel moves, by 0.2 (> 30/255): the colour rule (ANY channel) finds the disk, although the
    channel mean (0.067) and the grey level (0.06) stay under the threshold."""
    original = chelsea * 0.5
    truth = disk(original.shape[:2], (150, 220), 70)
    canvas = original.copy()
    canvas[truth, 0] += 0.2
    refined = disk(original.shape[:2], (150, 220), 66)
    assert iou(fft_edge_smooth(original, canvas, refined), truth) > 0.9
    assert not fft_edge_smooth(original, canvas, refined, color=False).any()


def test_search_band_is_the_refined_mask_dilated_by_exactly_dilate_pixels():
    """The canvas differs everywhere; without low-pass and close the final mask is the dilated refined mask:
    a (2*8+1)-px square kernel around a 20x20 square gives the square grown by 8 px on each side."""
    original = np.full((100, 100, 3), 0.2, np.float32)
    canvas = original + np.float32(0.3)
    refined = np.zeros((100, 100), bool)
    refined[40:60, 40:60] = True
    final = fft_edge_smooth(original, canvas, refined, cutoff=0.71, dilate=8, close=0, scale_with_size=False,
                            drift=False)  # the uniform change is a drift: off, to see the band
    expected = np.zeros((100, 100), bool)
    expected[32:68, 32:68] = True
    np.testing.assert_array_equal(final, expected)
    # the same at 200x200 with scale_with_size: 8 px at 512x512 -> round(8 * 200 / 512) = 3 px
    big = fft_edge_smooth(np.full((200, 200, 3), 0.2, np.float32), np.full((200, 200, 3), 0.5, np.float32),
                          np.pad(refined, 50), cutoff=0.71, dilate=8, close=0, drift=False)
    expected = np.zeros((200, 200), bool)
    expected[87:113, 87:113] = True
    np.testing.assert_array_equal(big, expected)


@pytest.mark.parametrize("difference, drift, noise_factor", [("grey (official)", DRIFT_CHOICES[0], 1.5),
                                                               ("color", DRIFT_CHOICES[1], 6.0)])
def test_node_passes_every_widget_to_the_library(monkeypatch, coffee, difference, drift, noise_factor):
    """Non-default widget values: the node calls the library with exactly them and returns its mask."""
    import comfyui_zone.nodes.fft_edge_smoother as node_module
    from node_spy import Spy

    truth = disk(coffee.shape[:2], (200, 300), 60)
    canvas = edited(coffee, truth)
    refined = disk(coffee.shape[:2], (200, 300), 50)
    spy = Spy(monkeypatch, node_module, "fft_edge_smooth")
    with torch.inference_mode():
        final, _ = ZoneFFTEdgeSmoother().run(
            torch.from_numpy(coffee)[None], torch.from_numpy(canvas)[None], torch.from_numpy(refined).float()[None],
            20.0, 0.2, 2, 5, False, difference, drift, noise_factor)
    color, drift_on = difference == "color", drift == DRIFT_CHOICES[0]
    assert spy.kwargs == {"cutoff": 0.2, "threshold": 20.0 / 255.0, "dilate": 2, "close": 5, "scale_with_size": False,
                          "color": color, "drift": drift_on, "noise_factor": noise_factor}
    expected = fft_edge_smooth(coffee, canvas, refined, cutoff=0.2, threshold=20.0 / 255.0, dilate=2, close=5,
                               scale_with_size=False, color=color, drift=drift_on, noise_factor=noise_factor)
    np.testing.assert_array_equal(final[0].numpy() > 0.5, expected)
    assert not np.array_equal(expected, fft_edge_smooth(coffee, canvas, refined))  # the values matter here


def test_a_changed_ring_gives_the_filled_disk():
    """Only a ring changes (inner radius 30 px, wider than the 21-px close): hole filling (the official last step)
    makes the final mask the whole disk; without it the inside would stay out."""
    size = (200, 200)
    original = np.full(size + (3,), 0.3, np.float32)
    canvas = original.copy()
    ring = disk(size, (100, 100), 50) & ~disk(size, (100, 100), 30)
    canvas[ring] = 0.9
    final = fft_edge_smooth(original, canvas, disk(size, (100, 100), 50), scale_with_size=False)
    assert final[100, 100] and final[disk(size, (100, 100), 45)].all()
    assert not fft_edge_smooth(original, canvas, disk(size, (100, 100), 50), scale_with_size=False, fill=False)[100, 100]


def test_close_size_scales_with_the_image():
    """close 11 at 512x512 is 23 px at 1024x1024 (scale 2): it bridges a 15-px gap between two changed squares,
    which the unscaled 11-px close does not."""
    size = (1024, 1024)
    original = np.full(size + (3,), 0.3, np.float32)
    canvas = original.copy()
    canvas[400:600, 300:500] = 0.9
    canvas[400:600, 515:715] = 0.9  # gap: columns 500..514
    refined = np.zeros(size, bool)
    refined[390:610, 290:725] = True
    kw = dict(cutoff=0.71, dilate=0, close=11)
    assert fft_edge_smooth(original, canvas, refined, **kw)[500, 507]
    assert not fft_edge_smooth(original, canvas, refined, scale_with_size=False, **kw)[500, 507]
