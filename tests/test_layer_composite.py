"""Stage 6: layer composite (exact official blend, outside-mask bit-exactness on real photos, feathering, sizes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfyui_zone.nodes.layer_composite import ZoneLayerComposite
from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError
from zone_ops.stages.attention_to_mask import attention_to_mask
from zone_ops.stages.fft_edge_smoother import fft_edge_smooth
from zone_ops.core.images import ZoneInputError
from zone_ops.stages.layer_composite import feather_alpha, layer_composite


def disk(size: tuple[int, int], center: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.ogrid[: size[0], : size[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 < radius**2


def test_official_blend_values_in_float_without_wraparound():
    original = np.full((4, 4, 3), 0.9, np.float32)
    canvas = np.full((4, 4, 3), 0.8, np.float32)
    final = np.zeros((4, 4), bool)
    refined = np.zeros((4, 4), bool)
    final[0, :2] = True    # both set at (0,0); only final at (0,1)
    refined[0, 0] = True
    refined[1, 0] = True   # only refined at (1,0)
    r = layer_composite(original, canvas, final, refined, color_match=False)
    expected_alpha = np.zeros((4, 4), np.float32)
    expected_alpha[0, 0], expected_alpha[0, 1], expected_alpha[1, 0] = 1.0, 0.6, 0.6
    assert np.array_equal(r.alpha, expected_alpha)
    assert np.array_equal(r.image[0, 0], canvas[0, 0])
    band = 0.6 * 0.8 + 0.4 * 0.9  # 0.84: in uint8 the official 0.6*204 + 0.4*230 is fine too, but no wrap here
    np.testing.assert_allclose(r.image[0, 1], band, atol=1e-6)
    np.testing.assert_allclose(r.image[1, 0], band, atol=1e-6)
    assert np.array_equal(r.image[2:], original[2:])
    assert np.array_equal(r.layer[0, 0], canvas[0, 0]) and not r.layer[2:].any()
    # without a refined mask there is no band
    plain = layer_composite(original, canvas, final)
    assert np.array_equal(plain.alpha, final.astype(np.float32))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize("mode", ["official", "feather"])
@pytest.mark.parametrize("color_match", [True, False])
def test_outside_alpha_is_bit_identical_on_real_photos(name, mode, color_match, request):
    original = request.getfixturevalue(name)
    size = original.shape[:2]
    rng = np.random.default_rng(0)
    canvas = np.clip(original + rng.normal(0, 0.1, original.shape).astype(np.float32), 0, 1)
    final = disk(size, (size[0] * 0.5, size[1] * 0.4), min(size) * 0.2)
    refined = disk(size, (size[0] * 0.5, size[1] * 0.42), min(size) * 0.2)
    before = original.copy()
    r = layer_composite(original, canvas, final, refined, mode=mode, color_match=color_match)
    outside = r.alpha == 0
    assert outside.any() and (~outside).any()
    assert np.array_equal(r.image[outside], original[outside])
    assert np.array_equal(original, before)  # input untouched
    assert not r.layer[outside].any()
    inside = r.alpha == 1
    assert np.array_equal(r.image[inside], r.layer[inside])  # the (colour-matched) canvas, exactly
    assert np.array_equal(r.image[inside], canvas[inside]) == (not color_match)
    assert r.image.dtype == np.float32 and r.alpha.dtype == np.float32 and r.alpha.min() >= 0 and r.alpha.max() <= 1


def test_resized_canvas_and_masks_and_bit_exactness(coffee):
    canvas_small = np.full((200, 300, 3), 0.25, np.float32)
    final_small = disk((200, 300), (100, 150), 40).astype(np.float32)
    r = layer_composite(coffee, canvas_small, final_small, disk((100, 150), (50, 75), 21))
    assert r.image.shape == coffee.shape and r.alpha.shape == coffee.shape[:2]
    outside = r.alpha == 0
    assert np.array_equal(r.image[outside], coffee[outside])
    np.testing.assert_allclose(r.image[200, 300], 0.25, atol=1e-6)


def test_feather_alpha_is_soft_monotone_and_bounded():
    mask = disk((200, 200), (100, 100), 50)
    alpha = feather_alpha(mask, 8.0)
    assert alpha[100, 100] == 1.0 and alpha[0, 0] == 0.0
    profile = alpha[100, 100:200]  # centre -> outside
    assert np.all(np.diff(profile) <= 1e-6)
    assert 0.3 < alpha[100, 150] < 0.7  # the edge is half opaque
    assert np.all(alpha[~disk((200, 200), (100, 100), 59)] == 0)  # nothing beyond the radius
    assert np.all(alpha[disk((200, 200), (100, 100), 41)] == 1)
    assert np.array_equal(feather_alpha(mask, 0), mask.astype(np.float32))


def test_empty_and_full_masks(chelsea):
    canvas = 1.0 - chelsea
    empty = layer_composite(chelsea, canvas, np.zeros(chelsea.shape[:2]))
    assert np.array_equal(empty.image, chelsea) and "empty" in empty.note and not empty.layer.any()
    full = layer_composite(chelsea, canvas, np.ones(chelsea.shape[:2]))
    assert np.array_equal(full.image, canvas) and full.note == ""
    feathered = layer_composite(chelsea, canvas, np.ones(chelsea.shape[:2]), mode="feather")
    assert np.array_equal(feathered.image, canvas)  # no edge inside the image: fully opaque


def test_bad_library_inputs(astronaut):
    with pytest.raises(ZoneInputError, match="mode"):
        layer_composite(astronaut, astronaut, np.ones((512, 512)), mode="multiply")
    with pytest.raises(ZoneInputError, match="band_alpha"):
        layer_composite(astronaut, astronaut, np.ones((512, 512)), band_alpha=1.5)
    with pytest.raises(ZoneInputError, match="NaN"):
        layer_composite(astronaut, astronaut, np.full((512, 512), np.nan))


def test_node_batches_rgba_grayscale(astronaut):
    node = ZoneLayerComposite()
    rgba = torch.from_numpy(np.concatenate([astronaut, np.full_like(astronaut[..., :1], 0.5)], -1))[None]
    canvases = torch.stack([torch.zeros(512, 512, 1), torch.ones(512, 512, 1)])  # grayscale batch of 2
    final = torch.from_numpy(disk((512, 512), (256, 256), 100)).float()[None]
    refined = torch.from_numpy(disk((512, 512), (256, 266), 100)).float()[None]
    before = rgba.clone()
    image, layer, alpha, preview = node.run(rgba, canvases, final, "official", 0.6, 8.0, refined)
    assert image.shape == (2, 512, 512, 3) and layer.shape == (2, 512, 512, 3)
    assert alpha.shape == (2, 512, 512) and preview.shape == (2, 512, 512, 3)
    assert torch.equal(rgba, before)
    outside = alpha[0] == 0
    assert torch.equal(image[0][outside], rgba[0, ..., :3][outside]) and torch.equal(image[1][outside], image[0][outside])
    assert image[0, 256, 256].tolist() == [0.0, 0.0, 0.0] and image[1, 256, 256].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(NodeInputError, match="batch sizes do not match"):
        node.run(rgba, canvases, torch.cat([final] * 3), "official", 0.6, 8.0)
    nan = rgba.clone()
    nan[0, 5, 5, 0] = float("nan")
    with pytest.raises(NodeInputError, match="NaN"):
        node.run(nan, canvases, final, "feather", 0.6, 8.0)
    tiny = node.run(torch.rand(1, 8, 8, 3), torch.rand(1, 8, 8, 3), torch.ones(1, 8, 8), "feather", 0.6, 8.0)
    assert tiny[0].shape == (1, 8, 8, 3) and torch.equal(tiny[0], tiny[1])


def test_4096_chain_of_stages_3_5_6():
    """One quick case at 4096x4096: coarse mask -> final mask -> composite, outside pixels exact."""
    size = (4096, 4096)
    rng = np.random.default_rng(1)
    original = rng.random((512, 512, 3), dtype=np.float32).repeat(8, 0).repeat(8, 1)
    truth = disk(size, (1500, 2600), 300)
    canvas = original.copy()
    canvas[truth] = 1.0 - canvas[truth]
    maps = np.zeros((128, 128, 77), np.float32)
    maps[..., 0] = 1.0
    maps[40:54, 76:87, 0] = 0.0
    maps[..., 7] = 0.2
    maps[40:54, 76:87, 7] = 1.0
    coarse = attention_to_mask(maps, 8, size)
    assert coarse.mask.shape == size and coarse.note == ""
    final = fft_edge_smooth(original, canvas, truth)
    assert (final & truth).sum() / (final | truth).sum() > 0.95
    result = layer_composite(original, canvas, final, coarse.mask)
    changed = (result.image != original).any(axis=-1)  # bit-exact check without a 50-M-element gather
    assert not (changed & (result.alpha == 0)).any() and changed[truth].mean() > 0.99


def test_node_is_registered(pack):
    assert pack.NODE_CLASS_MAPPINGS["ZoneLayerComposite"] is ZoneLayerComposite
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["ZoneLayerComposite"] == "ZONE Layer Composite"


def test_out_of_range_original_is_kept_exactly_outside_alpha(astronaut):
    """A producer may leave values slightly outside 0..1 (e.g. 1 + 1e-6 after an upscale): outside the mask the
    node returns them untouched, not clipped."""
    original = torch.from_numpy(astronaut.copy())[None]
    original[0, :40, :40] = 1.0005  # corners slightly outside 0..1, far from the mask below
    original[0, -40:, -40:] = -0.0005
    canvas = torch.rand_like(original)
    mask = torch.zeros(1, 512, 512)
    mask[0, 200:300, 200:300] = 1
    image, _, alpha, _ = ZoneLayerComposite().run(original, canvas, mask, "official", 0.6, 8.0)
    outside = alpha[0] == 0
    assert outside.sum() > 0 and torch.equal(image[0][outside], original[0][outside])


# ---------------------------------------------------------------- colour match (issue 10)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_color_match_pastes_the_edit_in_the_photo_tones(name, request):
    """The canvas = the wanted edit plus a strong global cast: colour match removes the cast from the pasted layer
    (the result inside the mask is the wanted edit), and the rest stays the original bit for bit."""
    original = request.getfixturevalue(name)
    size = original.shape[:2]
    region = disk(size, (size[0] * 0.5, size[1] * 0.5), min(size) * 0.2)
    truth = original.copy()
    truth[region] = 1.0 - truth[region]  # the wanted edit
    gain, offset = np.array([0.85, 1.1, 0.9], np.float32), np.array([0.06, -0.04, 0.05], np.float32)
    canvas = np.clip(truth * gain + offset, 0, 1)
    matched = layer_composite(original, canvas, region)
    plain = layer_composite(original, canvas, region, color_match=False)
    np.testing.assert_allclose(matched.drift.gain, gain, atol=0.02)
    np.testing.assert_allclose(matched.drift.offset, offset, atol=0.02)
    unclipped = region & ((truth * gain + offset) < 1).all(-1) & ((truth * gain + offset) > 0).all(-1)
    assert np.abs(matched.image[unclipped] - truth[unclipped]).mean() < 0.01
    assert np.abs(plain.image[unclipped] - truth[unclipped]).mean() > 0.02  # the cast, pasted in
    np.testing.assert_array_equal(matched.image[~region], original[~region])  # alpha 0: exact
    np.testing.assert_array_equal(matched.layer[region], matched.image[region])
    assert plain.drift is None


def test_color_match_is_validated_and_a_given_drift_is_used(astronaut):
    from zone_ops.core.color_drift import ColorDrift

    mask = disk((512, 512), (256, 256), 50)
    with pytest.raises(ZoneInputError, match="color_match"):
        layer_composite(astronaut, astronaut, mask, color_match="yes")
    drift = ColorDrift(np.full(3, 2.0, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), 100)
    r = layer_composite(astronaut, astronaut, mask, drift=drift)
    assert r.drift is drift
    np.testing.assert_allclose(r.image[mask], astronaut[mask] / 2.0, atol=1e-6)
    brighten = ColorDrift(np.full(3, 0.5, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), 100)
    r = layer_composite(astronaut, astronaut, mask, drift=brighten)  # the inverse doubles: clipped to 0..1
    np.testing.assert_allclose(r.image[mask], np.minimum(astronaut[mask] * 2.0, 1.0), atol=1e-6)
    assert r.layer.max() <= 1.0


def test_node_color_match_under_inference_mode(coffee):
    node = ZoneLayerComposite()
    assert node.INPUT_TYPES()["required"]["color_match"][1]["default"] is True
    region = disk(coffee.shape[:2], (200, 300), 60)
    original = torch.from_numpy(coffee[None].copy())
    canvas = torch.from_numpy(np.clip(coffee * 0.9 + 0.05, 0, 1)[None])  # a cast, no edit
    mask = torch.from_numpy(region[None].astype(np.float32))
    with torch.inference_mode():
        matched = node.run(original, canvas, mask, "official", 0.6, 8.0)[0]
        plain = node.run(original, canvas, mask, "official", 0.6, 8.0, None, False)[0]
    assert torch.equal(matched[0][~torch.from_numpy(region)], original[0][~torch.from_numpy(region)])
    assert (matched - original).abs().max() < 0.01 < (plain - original).abs().max()
    with pytest.raises(NodeInputError, match="color_match"):
        node.run(original, canvas, mask, "official", 0.6, 8.0, None, "on")


@pytest.mark.parametrize("name, value", [("feather", float("nan")), ("feather", float("inf")), ("feather", -1.0),
                                         ("band_alpha", float("nan"))])
def test_non_finite_settings_are_refused(name, value):
    """NaN / inf feather used to crash with "cannot convert float NaN to integer"."""
    original = np.zeros((16, 16, 3), np.float32)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    with pytest.raises(ZoneInputError, match=name):
        layer_composite(original, original + 0.5, mask, mode="feather", **{name: value})


# ------------------------------------------------------------- values where 0 < alpha < 1, non-default widgets
def test_every_pixel_with_alpha_above_zero_is_blended_by_its_alpha():
    """Band alpha 0.3 (not the default 0.6, and below 0.5): band pixels are 0.3 canvas + 0.7 original."""
    original = np.full((6, 6, 3), 0.9, np.float32)
    canvas = np.full((6, 6, 3), 0.2, np.float32)
    final = np.zeros((6, 6), bool)
    refined = np.zeros((6, 6), bool)
    final[1:4, 1:4] = True
    refined[2:5, 2:5] = True
    r = layer_composite(original, canvas, final, refined, band_alpha=0.3)
    band = final ^ refined
    np.testing.assert_allclose(r.alpha[band], 0.3)
    np.testing.assert_allclose(r.image[band], 0.3 * 0.2 + 0.7 * 0.9, atol=1e-6)
    np.testing.assert_array_equal(r.image[final & refined], canvas[final & refined])
    np.testing.assert_array_equal(r.image[~(final | refined)], original[~(final | refined)])
    np.testing.assert_array_equal(r.layer[band], canvas[band])


def test_feather_values_are_the_smoothstep_of_the_signed_edge_distance():
    """A straight vertical edge (mask = columns < 50) has exact distances: pixel j is 50 - j inside, j - 49 outside.
    Radius 4: x = (signed distance + 4) / 8 and alpha = x*x*(3 - 2x), computed by hand for the band."""
    mask = np.zeros((20, 100), bool)
    mask[:, :50] = True
    alpha = feather_alpha(mask, 4.0)
    # e.g. j = 48: x = (2 + 4) / 8 = 0.75 -> 0.5625 * 1.5 = 0.84375; j = 50: x = (-1 + 4) / 8 = 0.375 -> 0.31640625
    expected = {45: 1.0, 46: 1.0, 47: 0.95703125, 48: 0.84375, 49: 0.68359375, 50: 0.31640625, 51: 0.15625,
                52: 0.04296875, 53: 0.0, 54: 0.0}
    for j, value in expected.items():
        np.testing.assert_allclose(alpha[:, j], value, atol=1e-6, err_msg=f"column {j}")


def test_feather_mode_composites_with_the_soft_alpha():
    original = np.zeros((20, 100, 3), np.float32)
    canvas = np.ones((20, 100, 3), np.float32)
    mask = np.zeros((20, 100), bool)
    mask[:, :50] = True
    r = layer_composite(original, canvas, mask, mode="feather", feather=4.0, scale_with_size=False,
                        color_match=False)  # the flat black-to-white change is no drift to remove
    np.testing.assert_allclose(r.image[:, 50, 0], 0.31640625, atol=1e-6)
    np.testing.assert_allclose(r.image[:, 48, 0], 0.84375, atol=1e-6)
    # feather is given at 512x512 and scales with sqrt(H*W)/512: at 512x2048 (scale 2) feather 2 is radius 4
    wide = np.zeros((512, 2048), bool)
    wide[:, :1000] = True
    r = layer_composite(np.zeros((512, 2048, 3), np.float32), np.ones((512, 2048, 3), np.float32), wide,
                        mode="feather", feather=2.0, color_match=False)
    np.testing.assert_allclose(r.alpha[:, 998], 0.84375, atol=1e-6)
    np.testing.assert_allclose(r.alpha[:, 1000], 0.31640625, atol=1e-6)


@pytest.mark.parametrize("mode, band_alpha, feather, color_match",
                         [("official", 0.3, 8.0, False), ("feather", 0.6, 3.0, True)])
def test_node_passes_every_widget_to_the_library(monkeypatch, coffee, mode, band_alpha, feather, color_match):
    """Non-default widget values: the node's outputs equal the library's called with the same values, and differ
    from the defaults' result (so the widget really acts)."""
    import comfyui_zone.nodes.layer_composite as node_module
    from node_spy import Spy

    rng = np.random.default_rng(5)
    canvas = np.clip(coffee + rng.normal(0, 0.2, coffee.shape), 0, 1).astype(np.float32)
    final = disk(coffee.shape[:2], (200, 300), 80)
    refined = disk(coffee.shape[:2], (210, 300), 80)
    spy = Spy(monkeypatch, node_module, "layer_composite")
    with torch.inference_mode():
        image, layer, alpha, _ = ZoneLayerComposite().run(
            torch.from_numpy(coffee)[None], torch.from_numpy(canvas)[None], torch.from_numpy(final).float()[None],
            mode, band_alpha, feather, torch.from_numpy(refined).float()[None], color_match=color_match)
    assert spy.kwargs == {"mode": mode, "band_alpha": band_alpha, "feather": feather, "color_match": color_match}
    expected = layer_composite(coffee, canvas, final, refined, mode=mode, band_alpha=band_alpha, feather=feather,
                               color_match=color_match)
    np.testing.assert_array_equal(image[0].numpy(), expected.image)
    np.testing.assert_array_equal(alpha[0].numpy(), expected.alpha)
    np.testing.assert_array_equal(layer[0].numpy(), expected.layer)
    default = layer_composite(coffee, canvas, final, refined, mode=mode)
    assert not np.array_equal(default.alpha, expected.alpha)
