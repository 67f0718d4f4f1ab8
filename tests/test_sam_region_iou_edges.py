"""Stage 4 at its edges, with hand-computed masks: the guard's min_iou exactly hit, the union rule's min_inside
exactly hit and an IoU that does not strictly rise, the union's candidate order (most inside first, ties: larger
first) and its passes (a segment turned down in one pass is taken in a later one), the union after upscaling
(several segments chosen on an image larger than SAM's max side), and the size rules (segment_size,
region_crop_box) where rounding and truncating differ.

Union cases live on a 1 x 40 strip: the coarse mask M is columns 0..29 (30 px) and the best single segment S0 is
columns 0..11 (12 px, all inside M): IoU 12 / 30 = 0.4. Pixels of a segment are given as column lists, "in"
(inside M) and "out" (columns 30..39). A candidate joins when the union's IoU strictly rises."""

from __future__ import annotations

import numpy as np
import pytest

import zone_ops.stages.sam_region_iou as sri
from zone_ops.core.images import resize_image
from zone_ops.stages.sam_region_iou import (
    Segments,
    refine_with_sam,
    refine_with_segments,
    region_crop_box,
    segment_size,
    union_segments,
)

W = 40


def cols(*ranges: tuple[int, int]) -> np.ndarray:
    """bool [1, W] set on the half-open column ranges."""
    m = np.zeros((1, W), bool)
    for a, b in ranges:
        m[0, a:b] = True
    return m


M = cols((0, 30))
S0 = cols((0, 12))


def union(masks: list[np.ndarray], min_inside: float = 0.4) -> tuple[tuple[int, ...], float, np.ndarray]:
    res = refine_with_segments(masks, M, rule="union", min_inside=min_inside, min_iou=0.0)
    assert res.index == 0 and not res.extended  # S0 (first) is the best single segment in every case below
    return res.indices, res.iou, res.mask


def test_a_segment_turned_down_in_one_pass_is_taken_in_a_later_one():
    """A = S0 + in 12..13 + out 30..35: 14 of 20 inside (0.7), tried first; it adds 8 px, 2 inside: IoU
    14 / 36 = 0.389 < 0.4, turned down. B = in 14..19 + out 30..35: 6 of 12 inside (0.5): 18 / 36 = 0.5, taken.
    Pass 2: A now adds only 12..13 (its outside is B's): 20 / 36 = 0.556, taken. Union: 0..19 and 30..35."""
    a = cols((0, 14), (30, 36))
    b = cols((14, 20), (30, 36))
    indices, iou, mask = union([S0, a, b])
    assert indices == (0, 2, 1) and iou == pytest.approx(20 / 36)
    np.testing.assert_array_equal(mask, cols((0, 20), (30, 36)))


def test_candidates_are_tried_most_inside_first():
    """C = in 12..19 (8/8 inside) is tried before D = C + out 30..33 (8/12). C first: 20 / 30, then D would add
    only outside pixels: turned down. Union 0..19 (D first would give 0..19 and 30..33)."""
    c = cols((12, 20))
    d = cols((12, 20), (30, 34))
    indices, iou, mask = union([S0, d, c])
    assert indices == (0, 2) and iou == pytest.approx(20 / 30)
    np.testing.assert_array_equal(mask, cols((0, 20)))


def test_equally_inside_candidates_are_tried_larger_first():
    """E = in 12..13 + out 30..31 (2/4) and F = in 12..15 + out 32..35 (4/8): both half inside, F is larger and
    tried first: 16 / 34, taken; E then adds only 30..31, outside: turned down. Union 0..15 and 32..35. (E first:
    14 / 32, then F adds 14..15 and 32..35: 16 / 36 > 14 / 32, both taken.)"""
    e = cols((12, 14), (30, 32))
    f = cols((12, 16), (32, 36))
    indices, iou, mask = union([S0, e, f])
    assert indices == (0, 2) and iou == pytest.approx(16 / 34)
    np.testing.assert_array_equal(mask, cols((0, 16), (32, 36)))


def test_a_segment_exactly_min_inside_is_a_candidate():
    """G = in 12..13 + out 30..32: 2 / 5 = 0.4 inside, exactly min_inside: a candidate, and taken (14 / 33)."""
    g = cols((12, 14), (30, 33))
    indices, iou, mask = union([S0, g], min_inside=0.4)
    assert indices == (0, 1) and iou == pytest.approx(14 / 33)
    indices, _, _ = union([S0, g], min_inside=0.41)
    assert indices == (0,)


def test_an_addition_that_keeps_the_iou_equal_is_turned_down():
    """H = in 12..13 + out 30..34: the union would have IoU 14 / 35 = 0.4, equal to S0's, not higher: not taken."""
    h = cols((12, 14), (30, 35))
    assert 14 / 35 == 12 / 30
    indices, iou, mask = union([S0, h], min_inside=0.0)
    assert indices == (0,) and iou == 0.4
    np.testing.assert_array_equal(mask, S0)


def test_a_segment_with_no_new_pixel_is_dropped_not_retried():
    """A segment inside the current union adds nothing: it is neither taken nor kept for a later pass."""
    segs = Segments.from_masks([S0, cols((2, 6))])
    assert union_segments(segs, M, 0, 0.4) == ((0,), 0.4)


def test_guard_min_iou_exactly_hit_keeps_the_choice():
    """S0 has IoU 0.4 with M: min_iou 0.4 keeps S0 (extend only BELOW min_iou); just above, S0 | M."""
    res = refine_with_segments([S0], M, rule="official", min_iou=0.4)
    assert not res.extended and res.iou == 0.4
    np.testing.assert_array_equal(res.mask, S0)
    res = refine_with_segments([S0], M, rule="official", min_iou=float(np.nextafter(0.4, 1)))
    assert res.extended
    np.testing.assert_array_equal(res.mask, M)
    assert not refine_with_segments([cols((29, 31))], M, rule="official", min_iou=0.0).extended  # IoU 1/31, guard off


def test_union_after_upscaling_several_segments():
    """1024x768 image, max side 256: SAM segments at 256x192 (factor 4). Segments there: S = rows 40..80 x
    cols 40..80, P = rows 40..78 x cols 80..100 (a part of the same object), R = the top band (background).
    The coarse mask, rows 160..320 x cols 160..400 at full size, is rows 40..80 x cols 40..100 there. S is the
    best (1600 / 2400), P lies inside and raises the IoU (2360 / 2400): the refined mask is the UNION of S and P
    upscaled (linear, >= 0.5): rows 160..320 x cols 160..320 plus rows 160..312 x cols 320..400, less the 5 convex
    corner pixels (weight 0.625^2 = 0.39) and plus the concave corner pixel [312, 320] (3 of its 4 source pixels
    set: 0.61; upscaling S and P one by one would leave it out: 0.375 and 0.23)."""
    work = (256, 192)

    def rect(shape, y0, y1, x0, x1):
        m = np.zeros(shape, bool)
        m[y0:y1, x0:x1] = True
        return m

    segs = [rect(work, 0, 30, 0, 192), rect(work, 40, 80, 40, 80), rect(work, 40, 78, 80, 100)]
    seen = []

    def fake(sam, image, *, box=None, **kwargs):
        seen.append(image.shape[:2])
        return Segments.from_masks(segs)

    big = resize_image(np.random.default_rng(0).random((64, 48, 3), dtype=np.float32), (1024, 768))
    coarse = rect((1024, 768), 160, 320, 160, 400)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sri, "generate_segments", fake)
        res = refine_with_sam(object(), big, coarse, max_side=256)
        official = refine_with_sam(object(), big, coarse, max_side=256, rule="official")
    assert seen == [work, work] and res.indices == (1, 2) and res.iou == pytest.approx(2360 / 2400)
    expected = rect((1024, 768), 160, 320, 160, 320) | rect((1024, 768), 160, 312, 320, 400)
    for y, x in ((160, 160), (319, 160), (319, 319), (160, 399), (311, 399)):
        expected[y, x] = False
    expected[312, 320] = True
    np.testing.assert_array_equal(res.mask, expected)
    expected = rect((1024, 768), 160, 320, 160, 320)
    for y, x in ((160, 160), (319, 160), (319, 319), (160, 319)):
        expected[y, x] = False
    np.testing.assert_array_equal(official.mask, expected)


def test_segment_size_rounds_and_keeps_an_image_exactly_at_max_side():
    assert segment_size((1024, 700), 1024) == (1024, 700)   # longest == max_side: unchanged
    assert segment_size((1025, 700), 1024) == (1024, 699)   # 700 * 1024 / 1025 = 699.3
    assert segment_size((1000, 777), 512) == (512, 398)     # 777 * 0.512 = 397.8: rounded, not truncated
    assert segment_size((1000, 777), 0) == (1000, 777)


def test_crop_box_padding_is_the_ceil_of_the_margin_and_at_least_8():
    m = np.zeros((200, 200), bool)
    m[100:120, 100:151] = True                  # longer side 51
    assert region_crop_box(m, 0.2) == (100 - 11, 120 + 11, 100 - 11, 151 + 11)   # 10.2 -> 11
    assert region_crop_box(m, 0.1) == (100 - 8, 120 + 8, 100 - 8, 151 + 8)       # 5.1 -> 6 -> at least 8
    small = np.zeros((200, 200), bool)
    small[100, 100] = True                      # 1 px + 2 * 8 = 17 < 32: widened to 32 around its centre
    y0, y1, x0, x1 = region_crop_box(small, 0.0)
    assert (y1 - y0, x1 - x0) == (32, 32) and y0 <= 100 < y1
    exact = np.zeros((200, 200), bool)
    exact[100:116, 100:116] = True              # 16 + 2 * 8 = 32: exactly min_size, kept as is
    assert region_crop_box(exact, 0.0) == (92, 124, 92, 124)
