"""zone_ops.core.images: the uint8 and float paths of to_rgb, clipping, and the mask threshold every stage uses."""

from __future__ import annotations

import numpy as np
import pytest

from zone_ops.core.images import ZoneInputError, binary_mask, to_rgb


def test_uint8_is_scaled_to_0_1_exactly():
    u8 = np.array([[[0, 128, 255], [1, 254, 64]]], np.uint8)
    rgb = to_rgb(u8)
    assert rgb.dtype == np.float32 and rgb.shape == (1, 2, 3)
    np.testing.assert_array_equal(rgb, u8.astype(np.float32) / 255.0)
    assert rgb[0, 0, 2] == 1.0 and rgb[0, 0, 0] == 0.0
    grey = to_rgb(np.array([[0, 51]], np.uint8))  # [H, W] grey, replicated
    np.testing.assert_array_equal(grey[0, 1], np.float32(0.2))


def test_float_values_outside_0_1_are_clipped_unless_asked_to_keep_them():
    arr = np.array([[[-0.25, 0.5, 1.5]]], np.float32)
    np.testing.assert_array_equal(to_rgb(arr), [[[0.0, 0.5, 1.0]]])
    np.testing.assert_array_equal(to_rgb(np.array([[[0.5, 1.5, 1.0]]], np.float32)), [[[0.5, 1.0, 1.0]]])  # only > 1
    kept = to_rgb(arr, clip=False)
    np.testing.assert_array_equal(kept, arr)
    inside = np.array([[[0.0, 0.3, 1.0]]], np.float32)
    np.testing.assert_array_equal(to_rgb(inside), inside)
    rgba = np.concatenate([inside, np.full((1, 1, 1), 0.5, np.float32)], -1)
    np.testing.assert_array_equal(to_rgb(rgba), inside)
    with pytest.raises(ZoneInputError, match="NaN"):
        to_rgb(np.full((2, 2, 3), np.nan, np.float32))


def test_binary_mask_threshold_is_one_half():
    m = np.array([[0.0, 0.49, 0.5, 1.0]], np.float32)
    np.testing.assert_array_equal(binary_mask(m), [[False, False, True, True]])


def test_pixel_limit_names_size_and_limit_and_reads_the_environment(monkeypatch):
    from zone_ops.core.images import DEFAULT_MAX_PIXELS, check_image_size, max_pixels, to_mask

    monkeypatch.delenv("ZONE_MAX_PIXELS", raising=False)
    assert max_pixels() == DEFAULT_MAX_PIXELS == 100_000_000
    check_image_size(10_000, 10_000)  # exactly 100 MP passes
    with pytest.raises(ZoneInputError) as info:
        check_image_size(10_000, 10_001, "photo")
    assert "photo is 10001x10000 = 100 MP, over the limit of 100 MP (100000000 px" in str(info.value)
    monkeypatch.setenv("ZONE_MAX_PIXELS", "2.5e3")
    assert max_pixels() == 2500
    to_rgb(np.zeros((50, 50, 3), np.float32))
    for bad in (np.zeros((50, 51, 3), np.float32), np.zeros((51, 50), np.uint8)):
        with pytest.raises(ZoneInputError, match="over the limit of 2500 px"):
            to_rgb(bad)
    with pytest.raises(ZoneInputError, match="over the limit"):
        to_mask(np.zeros((51, 50), np.float32))
    for bad in ("lots", "0", "-5", "nan"):
        monkeypatch.setenv("ZONE_MAX_PIXELS", bad)
        with pytest.raises(ZoneInputError, match="ZONE_MAX_PIXELS"):
            max_pixels()
