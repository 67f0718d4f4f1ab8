"""Stage 3 at its edges: thresholds exactly hit and at 0, the minimum region exactly hit, the size-scaled minimum
area where rounding and truncating differ, the fallback's lowest-D fraction where ceil and floor differ, the
token-count range. Maps are given at the image size (no resize: D is exact) with both peaks at 255 (scale 1)."""

from __future__ import annotations

import numpy as np
import pytest

from zone_ops.core.images import ZoneInputError
from zone_ops.stages.attention_to_mask import attention_to_mask, remove_small_regions, scaled_min_area


def exact_maps(d: np.ndarray, tokens: int = 4) -> np.ndarray:
    """Maps [h, w, tokens] whose D is exactly ``d`` (0..255, with 255 somewhere: first's peak, scale 1): first = d,
    last = 0 everywhere (a zero map stays 0), so D = first."""
    assert d.max() == 255.0
    maps = np.zeros(d.shape + (tokens,), np.float32)
    maps[..., 0] = d
    return maps


def test_official_threshold_0_keeps_exactly_the_pixels_with_d_0():
    d = np.array([[0.0, 0.0, 1.0, 54.0, 255.0]], np.float32)
    got = attention_to_mask(exact_maps(d), 4, (1, 5), threshold=0.0, min_region=0)
    np.testing.assert_array_equal(got.difference, d)
    np.testing.assert_array_equal(got.mask, [[True, True, False, False, False]])
    assert not got.fell_back and got.threshold == 0.0


def test_paper_threshold_0_keeps_nothing_and_falls_back_saying_so():
    d = np.array([[0.0, 0.0, 1.0, 54.0, 255.0]], np.float32)
    got = attention_to_mask(exact_maps(d), 4, (1, 5), threshold=0.0, rule="paper", min_region=0)
    assert got.fell_back and "no pixel had D < 0" in got.note
    np.testing.assert_array_equal(got.mask, [[True, True, False, False, False]])  # the lowest-D region (D = 0)


def test_paper_threshold_exactly_hit_is_out_one_above_is_in():
    d = np.array([[255.0, 127.0, 128.0, 129.0]], np.float32)
    got = attention_to_mask(exact_maps(d), 4, (1, 4), rule="paper", threshold=None, min_region=0)
    np.testing.assert_array_equal(got.mask, [[False, True, False, False]])


def test_a_region_of_exactly_the_minimum_area_is_kept_one_less_is_dropped():
    mask = np.zeros((20, 20), bool)
    mask[2, 2:7] = True     # 5 px
    mask[10, 2:6] = True    # 4 px
    kept = remove_small_regions(mask, 5)
    assert kept[2, 2:7].all() and not kept[10].any()
    assert np.array_equal(remove_small_regions(mask, 1), mask) and np.array_equal(remove_small_regions(mask, 0), mask)


def test_scaled_minimum_area_rounds_where_truncation_differs():
    """64 px at 512x512 on a 100x110 image is 64 * 11000 / 262144 = 2.69 px: 3 (rounded), not 2 (truncated). A
    2-px region of D 0 is dropped, a 3-px one kept."""
    assert scaled_min_area(64, (100, 110)) == 3
    assert scaled_min_area(64, (100, 100)) == 2   # 2.44
    assert scaled_min_area(64, (10, 10)) == 1     # 0.02: at least 1
    assert scaled_min_area(0, (512, 512)) == 1
    d = np.full((100, 110), 255.0, np.float32)
    d[50, 10:12] = 0.0   # 2 px
    d[50, 30:33] = 0.0   # 3 px
    got = attention_to_mask(exact_maps(d), 4, (100, 110), min_region=64)
    expected = np.zeros((100, 110), bool)
    expected[50, 30:33] = True
    np.testing.assert_array_equal(got.mask, expected)


def test_fallback_takes_the_ceil_of_one_percent_and_every_pixel_at_that_level():
    """15x15 = 225 px: 1 % is 2.25 -> the 3 lowest values (ceil, not 2), level = the 3rd lowest D = 61. Pixels with
    D <= 61 (inclusive): a lone 59 at [3, 3] and the 4-connected pair 60, 61 at [8, 8], [8, 9] -> the pair, the
    largest region, is the fallback (with the 2 lowest it would be a single pixel)."""
    d = np.full((15, 15), 255.0, np.float32)
    d[3, 3] = 59.0
    d[8, 8], d[8, 9], d[9, 8], d[9, 9] = 60.0, 61.0, 63.0, 62.0
    got = attention_to_mask(exact_maps(d), 4, (15, 15), min_region=0)
    assert got.fell_back and "D <= 61.0" in got.note and "no pixel had D <= 54" in got.note
    np.testing.assert_array_equal(np.argwhere(got.mask), [[8, 8], [8, 9]])


@pytest.mark.parametrize("count, ok", [(1, False), (2, True), (4, True), (5, False)])
def test_token_count_runs_from_2_to_the_number_of_maps(count, ok):
    maps = exact_maps(np.array([[0.0, 255.0], [0.0, 0.0]], np.float32))
    if ok:
        assert attention_to_mask(maps, count, (2, 2), min_region=0).mask.shape == (2, 2)
    else:
        with pytest.raises(ZoneInputError, match="token count"):
            attention_to_mask(maps, count, (2, 2))
