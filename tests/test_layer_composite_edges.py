"""Stage 6 at its edges: alpha exactly 0 and exactly 1 (band_alpha 0 and 1), feather 0, and the colour match's
size-scaled margin at a size where rounding and truncating it differ."""

from __future__ import annotations

import numpy as np

import zone_ops.stages.layer_composite as lc
from zone_ops.core.color_drift import ColorDrift
from zone_ops.stages.layer_composite import feather_alpha, layer_composite, official_alpha


def _case(size=(24, 24)):
    rng = np.random.default_rng(0)
    original = rng.random(size + (3,), dtype=np.float32)
    canvas = rng.random(size + (3,), dtype=np.float32)
    final = np.zeros(size, bool)
    final[4:14, 4:14] = True
    refined = np.zeros(size, bool)
    refined[8:18, 8:18] = True
    return original, canvas, final, refined


def test_band_alpha_0_keeps_the_original_bit_exact_in_the_band():
    original, canvas, final, refined = _case()
    res = layer_composite(original, canvas, final, refined, band_alpha=0.0, color_match=False)
    both = final & refined
    np.testing.assert_array_equal(res.alpha, both.astype(np.float32))
    assert np.array_equal(res.image[~both], original[~both])
    assert np.array_equal(res.image[both], canvas[both])
    assert not res.layer[~both].any()  # alpha 0: no layer pixel


def test_band_alpha_1_pastes_the_canvas_bit_exact_in_the_band():
    """A bright original and a dark canvas: o + 1.0 * (c - o) is NOT c in float32 for most pixels, so alpha 1 must
    copy the canvas."""
    _, _, final, refined = _case()
    rng = np.random.default_rng(1)
    original = 1.0 - 0.1 * rng.random(final.shape + (3,), dtype=np.float32)
    canvas = 0.1 * rng.random(final.shape + (3,), dtype=np.float32)
    blended = original + np.float32(1.0) * (canvas - original)
    assert (blended != canvas).mean() > 0.5
    res = layer_composite(original, canvas, final, refined, band_alpha=1.0, color_match=False)
    either = final | refined
    np.testing.assert_array_equal(res.alpha, either.astype(np.float32))
    assert np.array_equal(res.image[either], canvas[either])  # exactly, not o + 1.0 * (c - o)
    assert np.array_equal(res.image[~either], original[~either])
    assert np.array_equal(res.layer[either], canvas[either])


def test_the_layer_is_zero_wherever_alpha_is_0_inside_the_layers_box():
    """final | refined is two offset squares: their bounding box holds alpha-0 corners, which stay 0 in the layer."""
    original, canvas, final, refined = _case()
    res = layer_composite(original, canvas, final, refined, color_match=False)
    outside = res.alpha == 0
    assert outside[4:18, 4:18].any()  # inside the box
    assert not res.layer[outside].any() and np.array_equal(res.layer[~outside], canvas[~outside])


def test_official_alpha_by_hand():
    final = np.array([[1, 1, 0, 0]], bool)
    refined = np.array([[1, 0, 1, 0]], bool)
    np.testing.assert_array_equal(official_alpha(final, refined, 0.25), [[1.0, 0.25, 0.25, 0.0]])
    np.testing.assert_array_equal(official_alpha(final, None, 0.25), [[1.0, 1.0, 0.0, 0.0]])


def test_feather_0_is_the_hard_mask():
    _, _, final, _ = _case()
    np.testing.assert_array_equal(feather_alpha(final, 0.0), final.astype(np.float32))
    original, canvas, final, _ = _case()
    res = layer_composite(original, canvas, final, mode="feather", feather=0.0, color_match=False)
    assert np.array_equal(res.image[final], canvas[final]) and np.array_equal(res.image[~final], original[~final])


def test_colour_match_margin_is_rounded_at_a_size_where_truncation_differs(monkeypatch):
    """359x359: scale 0.701, MATCH_MARGIN 8 -> 5.61 px -> 6 (rounded; 5 truncated) around the layer is left out
    of the drift fit."""
    size = (359, 359)
    original = np.full(size + (3,), 0.5, np.float32)
    final = np.zeros(size, bool)
    final[100:150, 100:150] = True
    seen = []

    def spy(orig, canv, region, margin=0, **kwargs):
        seen.append((np.array(region), margin))
        return ColorDrift.identity()

    monkeypatch.setattr(lc, "fit_drift_outside", spy)
    layer_composite(original, original * 0.9, final)
    assert len(seen) == 1 and seen[0][1] == 6
    np.testing.assert_array_equal(seen[0][0], final)
