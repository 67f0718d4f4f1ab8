"""Stage 5 at its edges: the threshold exactly hit and at 0 (library and node), the low-pass disk's rim, and the
size-scaled dilation and close at sizes where rounding and truncating the scaled size differ. Low-pass off
(cutoff 0.71 > sqrt(0.5)) and drift off make the magnitude the plain difference, so every mask is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zone_ops.stages.fft_edge_smoother import fft_edge_smooth, lowpass_rfft, size_scale

PLAIN = dict(cutoff=0.71, drift=False, dilate=0, close=0, fill=False)


def _pair(size):
    original = np.full(size + (3,), 0.25, np.float32)
    canvas = original.copy()
    return original, canvas


def test_threshold_exactly_hit_is_unchanged_just_below_is_changed():
    """Difference exactly 0.125 (0.375 - 0.25, exact in float32): ``threshold`` 0.125 keeps nothing (changed means
    ABOVE the threshold), the next float below keeps the region."""
    original, canvas = _pair((32, 32))
    canvas[8:16, 8:16] = 0.375
    refined = np.zeros((32, 32), bool)
    refined[4:20, 4:20] = True
    assert not fft_edge_smooth(original, canvas, refined, threshold=0.125, **PLAIN).any()
    below = fft_edge_smooth(original, canvas, refined, threshold=float(np.nextafter(np.float32(0.125), 0)), **PLAIN)
    np.testing.assert_array_equal(np.argwhere(below), np.argwhere(canvas[..., 0] > 0.3))


def test_threshold_0_counts_any_difference_but_not_none():
    original, canvas = _pair((16, 16))
    canvas[5, 5] = 0.25 + 2.0 ** -12
    refined = np.ones((16, 16), bool)
    final = fft_edge_smooth(original, canvas, refined, threshold=0.0, **PLAIN)
    np.testing.assert_array_equal(np.argwhere(final), [[5, 5]])


def test_node_threshold_is_on_the_0_255_scale_exactly():
    """The node's 31.875 is 0.125 on the 0..1 scale: the 0.125 difference is not above it; 31.5 is below it."""
    from comfyui_zone.nodes.fft_edge_smoother import ZoneFFTEdgeSmoother

    original, canvas = _pair((32, 32))
    canvas[8:16, 8:16] = 0.375
    refined = np.zeros((32, 32), np.float32)
    refined[4:20, 4:20] = 1.0
    args = [torch.from_numpy(x)[None] for x in (original, canvas, refined)]
    widgets = dict(cutoff=0.71, dilate=0, close=0, scale_with_size=True, difference="color", drift="off (official)")
    at, _ = ZoneFFTEdgeSmoother().run(*args, threshold=31.875, **widgets)
    below, _ = ZoneFFTEdgeSmoother().run(*args, threshold=31.5, **widgets)
    assert at.sum() == 0 and below[0, 8:16, 8:16].all() and below.sum() == 64


def test_lowpass_keeps_the_rim_of_its_disk():
    """8x8 grid, frequencies in steps of 1/8; cutoff 0.25 = 2 steps keeps (a, b) with a^2 + b^2 <= 4: 3 on the
    a = 0 row (b = 0, 1, 2), 2 on each of the rows a = +-1, 1 on each of a = +-2: 9, the rim (2, 0), (0, 2),
    (-2, 0) included."""
    keep = lowpass_rfft((8, 8), 0.25)
    assert keep.shape == (8, 5) and keep.sum() == 9
    assert keep[2, 0] and keep[0, 2] and keep[6, 0] and not keep[1, 2] and not keep[2, 1]
    # sqrt(0.5) reaches the spectrum's corner (0.5, 0.5): from there on nothing is filtered
    assert lowpass_rfft((8, 8), 0.7072) is None
    near = lowpass_rfft((8, 8), 0.7071)
    assert near is not None and not near[4, 4] and near.sum() == 8 * 5 - 1


def test_dilation_radius_is_rounded_at_a_size_where_truncation_differs():
    """359x359: scale 359/512 = 0.701, dilate 4 -> 2.80 px -> radius 3 (rounded; 2 truncated): the search band
    around a 1-px refined mask is the 7x7 square, so with the canvas changed everywhere the final mask is that
    square. Unscaled: radius 4, the 9x9 square."""
    size = (359, 359)
    assert round(4 * size_scale(size)) == 3 and int(4 * size_scale(size)) == 2
    original, canvas = _pair(size)
    canvas[:] = 0.75
    refined = np.zeros(size, bool)
    refined[100, 200] = True
    kw = {**PLAIN, "dilate": 4, "threshold": 0.1}
    final = fft_edge_smooth(original, canvas, refined, **kw)
    expected = np.zeros(size, bool)
    expected[97:104, 197:204] = True
    np.testing.assert_array_equal(final, expected)
    unscaled = fft_edge_smooth(original, canvas, refined, scale_with_size=False, **kw)
    expected[96:105, 196:205] = True
    np.testing.assert_array_equal(unscaled, expected)


@pytest.mark.parametrize("gap, joined", [(4, True), (5, False)])
def test_close_size_is_rounded_then_made_odd_at_a_size_where_truncation_differs(gap, joined):
    """88x88: scale 88/512 = 0.172, close 21 -> 3.61 px -> 4 (rounded; 3 truncated) -> made odd: a 5x5 close (3x3
    if truncated). Two changed 10x10 blocks ``gap`` px apart: the 5x5 close bridges 4 px, not 5."""
    size = (88, 88)
    original, canvas = _pair(size)
    canvas[30:40, 20:30] = 0.75
    canvas[30:40, 30 + gap:40 + gap] = 0.75
    refined = np.ones(size, bool)
    final = fft_edge_smooth(original, canvas, refined, **{**PLAIN, "close": 21, "threshold": 0.1})
    expected = canvas[..., 0] > 0.5
    if joined:
        expected[30:40, 30:30 + gap] = True
    np.testing.assert_array_equal(final, expected)


def test_zero_sizes_are_off():
    """dilate 0: the search band is the refined mask itself; close 0: no close."""
    size = (64, 64)
    original, canvas = _pair(size)
    canvas[:] = 0.75
    refined = np.zeros(size, bool)
    refined[10:12, 10:20] = True
    refined[10:12, 22:30] = True  # a 2-px gap the close would bridge
    final = fft_edge_smooth(original, canvas, refined, **{**PLAIN, "threshold": 0.1})
    np.testing.assert_array_equal(final, refined)
    closed = fft_edge_smooth(original, canvas, refined, **{**PLAIN, "threshold": 0.1, "close": 21,
                                                           "scale_with_size": False})
    assert closed[10:12, 20:22].all()
