"""Difference To Mask at its edges: the threshold exactly hit and at 0, and the size-scaled opening and close at
sizes where rounding and truncating the scaled size differ. Flat grey images with flat colour patches: no drift,
no texture, so each mask follows from the sizes alone."""

from __future__ import annotations

import numpy as np
import pytest

from zone_ops.any_editor.edit_to_mask import edit_to_mask
from zone_ops.stages.fft_edge_smoother import size_scale

GREEN = (0.0, 1.0, 0.0)


def _grey(side: int) -> np.ndarray:
    return np.full((side, side, 3), 0.5, np.float32)


def test_threshold_exactly_hit_is_unchanged_just_below_is_changed():
    """At 200x200 the opening is off (radius round(0.39) = 0); with min_region and close 0 the mask is exactly the
    pixels whose difference is ABOVE the threshold: none at the largest difference, those pixels just below it."""
    original = _grey(200)
    edited = original.copy()
    edited[50:80, 50:90] = (0.1, 0.8, 0.2)
    top = float(edit_to_mask(original, edited, threshold=10.0, min_region=0, close=0).difference.max())
    at = edit_to_mask(original, edited, threshold=top, min_region=0, close=0)
    assert not at.mask.any() and "changed nothing local" in at.note
    below = edit_to_mask(original, edited, threshold=float(np.nextafter(np.float32(top), 0)), min_region=0, close=0)
    np.testing.assert_array_equal(below.mask, below.difference == np.float32(top))


def test_threshold_0_on_identical_images_is_an_empty_mask():
    original = _grey(64)
    result = edit_to_mask(original, original.copy(), threshold=0.0)
    assert not result.mask.any() and result.threshold == 0.0 and "changed nothing local" in result.note


@pytest.mark.parametrize("side, kept", [(307, False), (250, True)])
def test_opening_radius_is_rounded_at_a_size_where_truncation_differs(side, kept):
    """A 4x4 green speck leaves a 2x2 patch above Delta E 30 (the tolerant difference eats one pixel per side). At
    307 px (scale 0.60) the opening radius is round(0.60) = 1 (a 3x3 opening removes the patch; truncated: 0); at
    250 px (scale 0.49) it is 0 and the patch stays."""
    original = _grey(side)
    edited = original.copy()
    edited[100:104, 100:104] = GREEN
    edited[200:240, 150:200] = GREEN  # a large edit, so the mask is never empty
    result = edit_to_mask(original, edited, threshold=30.0, min_region=0, close=0)
    assert (result.difference[96:108, 96:108] > 30.0).sum() == 4
    assert result.mask[96:108, 96:108].sum() == (4 if kept else 0)


@pytest.mark.parametrize("gap, joined", [(4, True), (5, False)])
def test_close_size_is_rounded_then_made_odd_at_a_size_where_truncation_differs(gap, joined):
    """205 px: scale 0.40, close 14 -> 5.61 -> 6 (rounded; 5 truncated) -> odd: a 7x7 close (5x5 truncated). Two
    green 20x20 blocks ``gap`` px apart are ``gap`` + 2 px apart above the threshold: 7x7 bridges 6, not 7."""
    assert round(14 * size_scale((205, 205))) == 6
    original = _grey(205)
    edited = original.copy()
    edited[50:70, 50:70] = GREEN
    edited[50:70, 70 + gap:90 + gap] = GREEN
    mask = edit_to_mask(original, edited, threshold=30.0, min_region=0, close=14).mask
    assert mask[60, 60] and mask[60, 80 + gap]
    assert mask[60, 66:74 + gap].all() == joined and mask[60, 66:74 + gap].any()
