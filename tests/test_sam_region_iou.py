"""Region-IoU (stage 4): best_segment on synthetic cases with known answers and against brute force, fallbacks,
crop mode mapping, and the tiny random SAM on real photos through the library and the node."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tiny_models import tiny_sam
from zone_ops.core.images import ZoneInputError
from zone_ops.stages.sam_region_iou import (
    AMG_DEFAULTS,
    Segments,
    best_segment,
    generate_segments,
    preview_segments,
    refine_with_sam,
    refine_with_segments,
    region_crop_box,
    segment_image_choice,
)
from zone_ops.core.types import Action, ZoneAction

# Thresholds off so the random SAM keeps its (meaningless) masks; few points for speed.
LOOSE = dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)


def rect(shape, y0, y1, x0, x1):
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def naive_iou(s, m):
    union = np.count_nonzero(s | m)
    return np.count_nonzero(s & m) / union if union else 0.0


@pytest.fixture(scope="module")
def sam():
    return tiny_sam(seed=0)


# ---------------------------------------------------------------- best_segment: known answers


def test_disjoint_rectangles_known_iou():
    shape = (100, 120)
    segs = [rect(shape, 0, 50, 0, 60), rect(shape, 50, 100, 0, 60), rect(shape, 0, 100, 60, 120)]
    coarse = rect(shape, 60, 90, 10, 50)  # inside segment 1: IoU = 1200 / 3000
    assert best_segment(segs, coarse) == (1, pytest.approx(0.4))
    coarse = rect(shape, 40, 60, 40, 80)  # 400 / 1200 px touching segs 0 (200), 1 (200), 2 (400)
    index, iou = best_segment(np.stack(segs), coarse)
    assert index == 2 and iou == pytest.approx(400 / (6000 + 800 - 400))


def test_tie_goes_to_the_lowest_index():
    shape = (40, 40)
    a, b = rect(shape, 0, 20, 0, 40), rect(shape, 20, 40, 0, 40)
    coarse = rect(shape, 10, 30, 10, 30)  # half in each
    assert best_segment([a, b], coarse)[0] == 0
    assert best_segment([b, a], coarse)[0] == 0


def test_empty_inputs_and_no_overlap():
    shape = (30, 30)
    seg = rect(shape, 0, 10, 0, 10)
    assert best_segment([seg], np.zeros(shape, bool)) == (-1, 0.0)
    assert best_segment([], rect(shape, 0, 5, 0, 5)) == (-1, 0.0)
    assert best_segment(np.zeros((0, 30, 30), bool), rect(shape, 0, 5, 0, 5)) == (-1, 0.0)
    assert best_segment([seg], rect(shape, 20, 30, 20, 30)) == (-1, 0.0)
    assert best_segment([np.zeros(shape, bool)], rect(shape, 0, 5, 0, 5)) == (-1, 0.0)


def test_identical_segment_has_iou_one_and_float_masks_work():
    shape = (64, 48)
    coarse = rect(shape, 5, 40, 7, 30)
    assert best_segment([rect(shape, 0, 64, 0, 48), coarse.astype(np.float32)], coarse.astype(np.float32)) == (1, 1.0)


def test_matches_brute_force_on_random_masks():
    rng = np.random.default_rng(7)
    for trial in range(6):
        shape = (int(rng.integers(20, 90)), int(rng.integers(20, 90)))
        segs = rng.random((25,) + shape) < rng.random((25, 1, 1)) * 0.3
        coarse = rng.random(shape) < 0.2
        expect = [naive_iou(s, coarse) for s in segs]
        index, iou = best_segment(segs, coarse)
        assert index == int(np.argmax(expect)) and iou == pytest.approx(max(expect))
        # the bounding-box path (Segments) gives the same answer
        assert best_segment(Segments.from_masks(segs), coarse) == (index, pytest.approx(iou))


def test_size_mismatch_is_a_clear_error():
    with pytest.raises(ZoneInputError, match="10x10 but the coarse mask is 12x12"):
        best_segment([np.ones((10, 10), bool)], np.ones((12, 12), bool))


# ---------------------------------------------------------------- refine_with_segments: fallbacks


def test_refine_picks_segment_or_falls_back():
    shape = (50, 50)
    segs = [rect(shape, 0, 25, 0, 50), rect(shape, 25, 50, 0, 50)]
    res = refine_with_segments(segs, rect(shape, 30, 45, 5, 45))
    assert (res.index, res.fell_back, res.num_segments, res.message) == (1, False, 2, "")
    np.testing.assert_array_equal(res.mask, segs[1])

    res = refine_with_segments([rect(shape, 0, 10, 0, 10)], rect(shape, 30, 45, 5, 45))
    assert res.fell_back and res.index == -1 and "none of the 1 SAM segments overlaps" in res.message
    np.testing.assert_array_equal(res.mask, rect(shape, 30, 45, 5, 45))

    res = refine_with_segments(segs, np.zeros(shape, bool))
    assert res.fell_back and "empty" in res.message and not res.mask.any()

    res = refine_with_segments([], rect(shape, 1, 5, 1, 5))
    assert res.fell_back and "no segments" in res.message and res.mask.sum() == 16


# ---------------------------------------------------------------- crop mode


def test_crop_box_contains_coarse_and_is_clipped():
    coarse = rect((200, 300), 50, 70, 100, 140)  # 20 x 40 box, margin 0.5 * 40 = 20
    assert region_crop_box(coarse, 0.5) == (30, 90, 80, 160)
    assert region_crop_box(rect((200, 300), 0, 10, 290, 300), 1.0) == (0, 32, 268, 300)  # min size 32, clipped
    assert region_crop_box(np.zeros((10, 10), bool)) is None


def test_segments_in_a_crop_map_back_to_the_full_frame():
    full = (120, 160)
    y0, x0 = 30, 50
    local = [rect((40, 60), 0, 20, 0, 60), rect((40, 60), 10, 30, 20, 40)]
    segs = Segments(local, np.array([[0, 20, 0, 60], [10, 30, 20, 40]]), np.array([1200, 400]), (y0, x0), full)
    coarse = rect(full, 42, 58, 72, 88)  # inside the second segment, in full coordinates
    res = refine_with_segments(segs, coarse, crop_box=segs.frame)
    expect = rect(full, y0 + 10, y0 + 30, x0 + 20, x0 + 40)
    assert res.index == 1 and not res.fell_back
    np.testing.assert_array_equal(res.mask, expect)
    assert res.iou == pytest.approx(naive_iou(expect, coarse))
    # a coarse mask reaching outside the crop is a programming error, not silently wrong
    with pytest.raises(ZoneInputError, match="does not contain"):
        refine_with_segments(segs, rect(full, 0, 10, 0, 10))


def test_crop_mode_on_a_real_photo(sam, coffee):
    H, W = coffee.shape[:2]  # 400 x 600, non-square
    coarse = rect((H, W), 150, 230, 260, 380)
    res = refine_with_sam(sam, coffee, coarse, crop=True, crop_margin=0.25, **LOOSE)
    y0, y1, x0, x1 = res.crop_box
    assert (y0, y1, x0, x1) == (120, 260, 230, 410)
    assert res.segments.frame == res.crop_box and res.segments.full_size == (H, W)
    assert res.num_segments > 0 and not res.fell_back
    outside = np.ones((H, W), bool)
    outside[y0:y1, x0:x1] = False
    assert res.mask.shape == (H, W) and res.mask.any() and not res.mask[outside].any()
    assert res.iou == pytest.approx(naive_iou(res.mask, coarse))
    best = max(naive_iou(res.segments.full(i), coarse) for i in range(res.num_segments))
    assert res.iou >= best - 1e-12  # union (default): never below the best single segment
    official = refine_with_sam(sam, coffee, coarse, crop=True, crop_margin=0.25, rule="official", **LOOSE)
    assert official.index == res.index and official.iou == pytest.approx(best)


# ---------------------------------------------------------------- the tiny SAM on a real photo


def test_astronaut_picks_the_max_iou_segment(sam, astronaut):
    coarse = rect((512, 512), 60, 200, 160, 300)  # the helmet / face region
    calls = []
    res = refine_with_sam(sam, astronaut, coarse, progress=lambda d, t: calls.append((d, t)), rule="official",
                          min_iou=0.0, **LOOSE)
    assert res.num_segments > 1 and not res.fell_back and res.mask.shape == (512, 512)
    ious = [naive_iou(res.segments.full(i), coarse) for i in range(res.num_segments)]
    assert res.index == int(np.argmax(ious)) and res.iou == pytest.approx(max(ious))
    np.testing.assert_array_equal(res.mask, res.segments.full(res.index))
    # boxes and areas reported by SAM agree with the masks
    for i in range(res.num_segments):
        m = res.segments.masks[i]
        assert res.segments.areas[i] == m.sum()
        y0, y1, x0, x1 = res.segments.boxes[i]
        assert m[y0:y1, x0:x1].sum() == m.sum()
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)  # 9 points in one batch of 64
    union = refine_with_segments(res.segments, coarse, min_iou=0.0)  # the default rule: never a lower IoU
    assert union.indices[0] == res.index and union.iou >= res.iou
    np.testing.assert_array_equal(union.mask, res.segments.union(union.indices))
    preview = preview_segments(astronaut, res, coarse)
    assert preview.shape == (512, 512, 3) and preview.dtype == np.float32
    assert 0.0 <= preview.min() and preview.max() <= 1.0 and not np.allclose(preview, astronaut)


def test_official_thresholds_on_random_sam_fall_back(sam, chelsea):
    coarse = rect(chelsea.shape[:2], 50, 150, 100, 250)
    res = refine_with_sam(sam, chelsea, coarse, points_per_side=4)  # official thresholds reject random masks
    assert res.fell_back and res.num_segments == 0 and "no segments" in res.message
    np.testing.assert_array_equal(res.mask, coarse)


def test_cancel_and_empty_coarse(sam, chelsea):
    def cancel():
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        refine_with_sam(sam, chelsea, rect(chelsea.shape[:2], 0, 50, 0, 50), check_cancel=cancel, **LOOSE)
    # an empty coarse mask never runs SAM (cancel would raise otherwise)
    res = refine_with_sam(sam, chelsea, np.zeros(chelsea.shape[:2], bool), check_cancel=cancel)
    assert res.fell_back and "empty" in res.message


def test_coarse_of_another_size_is_resized(sam, chelsea):
    small = rect((150, 225), 25, 75, 50, 125)  # half size
    res = refine_with_sam(sam, chelsea, small, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    assert res.mask.shape == chelsea.shape[:2]
    assert "coarse mask 150x225 resized to the image's 300x451" in res.message


def test_segment_image_choice():
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    change = ZoneAction(Action.CHANGE, (1.0, 0.0, 0.0), 0.01, "manual")
    assert segment_image_choice("auto", remove) == "original"
    assert segment_image_choice("auto", change) == "canvas"
    assert segment_image_choice("auto", None) == "canvas"
    assert segment_image_choice("original", change) == "original"
    with pytest.raises(ZoneInputError, match="segment_on"):
        segment_image_choice("both")


def test_bad_image_and_crop_box(sam):
    with pytest.raises(ZoneInputError, match="NaN"):
        generate_segments(sam, np.full((32, 32, 3), np.nan, np.float32))
    with pytest.raises(ZoneInputError, match="outside"):
        generate_segments(sam, np.zeros((32, 32, 3), np.float32), box=(0, 40, 0, 10))


# ---------------------------------------------------------------- the node


def _node_args(**overrides):
    args = dict(segment_on="auto", crop_to_region=False, crop_margin=0.5, **{**AMG_DEFAULTS, **LOOSE})
    args["points_per_side"] = 2
    args.update(overrides)
    return args


def test_node_batch_broadcast_and_outputs(pack, sam, astronaut):
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMRegionIoU

    assert pack.NODE_CLASS_MAPPINGS["ZoneSAMRegionIoU"] is ZoneSAMRegionIoU
    required = ZoneSAMRegionIoU.INPUT_TYPES()["required"]
    for key in ("points_per_side", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
        assert required[key][1]["default"] == AMG_DEFAULTS[key]
    original = torch.from_numpy(np.stack([astronaut, astronaut[::-1].copy()]))
    canvas = torch.from_numpy(astronaut[None].copy())  # batch of 1 broadcasts
    coarse = torch.from_numpy(rect((512, 512), 60, 200, 160, 300)[None].astype(np.float32))
    before = (original.clone(), canvas.clone(), coarse.clone())
    wrapped = type("Wrapper", (), {"model": sam})()  # another pack's wrapper with .model
    mask, preview, info = ZoneSAMRegionIoU().refine(wrapped, original, canvas, coarse, **_node_args())
    assert mask.shape == (2, 512, 512) and preview.shape == (2, 512, 512, 3) and mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0} and mask.sum() > 0
    lines = info.splitlines()
    assert len(lines) == 2 and all("IoU" in line and "on the canvas" in line for line in lines)
    for a, b in zip(before, (original, canvas, coarse)):
        assert torch.equal(a, b)


def test_node_remove_segments_original_and_errors(sam, chelsea):
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMRegionIoU
    from comfyui_zone.zone_ops.core.images import ZoneInputError  # the pack's own copy of the class

    node = ZoneSAMRegionIoU()
    original = torch.from_numpy(chelsea[None].copy())
    canvas = torch.zeros((1, 150, 200, 3))  # a canvas of another size would be resized; remove ignores it
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    empty = torch.zeros((1, 300, 451))
    mask, _, info = node.refine(sam, original, canvas, empty, **_node_args(), action=remove)
    assert "on the original" in info and "fallback" in info and "empty" in info and mask.sum() == 0
    _, _, info = node.refine(sam, original, canvas, empty + 0, **_node_args(segment_on="canvas"))
    assert "canvas 200x150 resized to the original" in info
    with pytest.raises(ZoneInputError, match="batch sizes do not match"):
        node.refine(sam, original.repeat(2, 1, 1, 1), canvas.repeat(3, 1, 1, 1), empty, **_node_args())
    with pytest.raises(ZoneInputError, match="Segment Anything model"):
        node.refine("not a model", original, canvas, empty, **_node_args())
    with pytest.raises(ZoneInputError, match="action must come from"):
        node.refine(sam, original, canvas, empty, **_node_args(), action="remove")


def test_max_side_segments_a_shrunk_copy_and_upscales_only_the_choice(sam, astronaut):
    """Large images are segmented at max_side: the result equals segmenting a shrunk copy by hand and upscaling
    the chosen segment; the preview keeps the image's size; a fallback returns the full-resolution coarse mask."""
    from zone_ops.core.images import binary_mask, resize_image
    from zone_ops.stages.sam_region_iou import segment_size

    big = resize_image(astronaut, (1024, 768))  # non-square, longest side 1024
    coarse = rect((1024, 768), 120, 400, 240, 460)
    assert segment_size((1024, 768), 256) == (256, 192) and segment_size((1024, 768), 0) == (1024, 768)
    res = refine_with_sam(sam, big, coarse, max_side=256, min_iou=0.0, **LOOSE)
    by_hand = refine_with_sam(sam, resize_image(big, (256, 192)), binary_mask(coarse, (256, 192)), max_side=0,
                              min_iou=0.0, **LOOSE)
    assert not res.fell_back and res.mask.shape == (1024, 768) and "segmented at 192x256" in res.message
    assert (res.index, res.iou) == (by_hand.index, pytest.approx(by_hand.iou))
    np.testing.assert_array_equal(res.mask, binary_mask(by_hand.mask, (1024, 768)))
    preview = preview_segments(big, res, coarse)
    assert preview.shape == (1024, 768, 3)
    # the guard extends the upscaled choice with the FULL-resolution coarse mask
    guarded = refine_with_sam(sam, big, coarse, max_side=256, min_iou=1.0, **LOOSE)
    assert guarded.extended and "min_iou 1" in guarded.message
    np.testing.assert_array_equal(guarded.mask, binary_mask(res.segments.union(guarded.indices), (1024, 768)) | coarse)
    # official thresholds: the random SAM yields nothing, and the coarse mask comes back exactly, at full size
    fallback = refine_with_sam(sam, big, coarse, max_side=256, points_per_side=2)
    assert fallback.fell_back and fallback.mask.shape == (1024, 768)
    np.testing.assert_array_equal(fallback.mask, coarse)
    # a coarse sliver thinner than one shrunk pixel is not lost
    sliver = rect((1024, 768), 500, 502, 300, 400)
    assert refine_with_sam(sam, big, sliver, max_side=256, **LOOSE).num_segments > 0


# ---------------------------------------------------------------- rule "union" and the min_iou guard (issue 10)


def _coin_in_parts():
    """A real object split into parts, as SAM's automatic generator often returns it: a coin of skimage's ``coins``
    photo cut into 4 quadrant parts, plus the background cut into 6 large segments. The coarse mask is the coin
    shifted by 3 px and dilated (an attention-like blob). Returns (segments, coarse, coin)."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    from conftest import photo

    grey = photo("coins")[..., 0]
    labels, _ = ndi.label(ndi.binary_opening(grey > threshold_otsu(grey), iterations=1))
    coin = ndi.binary_fill_holes(labels == labels[125, 45])  # the coin at row 125, column 45
    ys, xs = np.nonzero(coin)
    cy, cx = int(ys.mean()), int(xs.mean())
    yy, xx = np.mgrid[: coin.shape[0], : coin.shape[1]]
    parts = [coin & ((yy < cy) == top) & ((xx < cx) == left) for top in (True, False) for left in (True, False)]
    rest = ~coin
    background = [rest & (yy // 152 == i) & (xx // 128 == j) for i in range(2) for j in range(3)]
    coarse = ndi.binary_dilation(np.roll(coin, 3, axis=1), iterations=2)
    return background[:3] + parts + background[3:], coarse, coin


def test_union_recovers_an_object_split_into_parts_on_a_real_photo():
    segments, coarse, coin = _coin_in_parts()
    official = refine_with_segments(segments, coarse, rule="official", min_iou=0.0)
    union = refine_with_segments(segments, coarse, rule="union")
    assert official.indices == (official.index,) and naive_iou(official.mask, coin) < 0.35  # one quarter
    assert sorted(union.indices) == [3, 4, 5, 6] and union.indices[0] == official.index
    np.testing.assert_array_equal(union.mask, coin)  # the whole coin, nothing else
    assert union.iou > official.iou and union.iou == pytest.approx(naive_iou(coin, coarse))
    assert not union.extended and union.message == ""


def test_union_respects_min_inside():
    shape = (60, 60)
    coarse = rect(shape, 10, 50, 10, 50)
    core = rect(shape, 10, 50, 10, 30)  # the best segment (IoU 0.5)
    mostly_in = rect(shape, 10, 50, 30, 54)  # 40x24, 40x20 inside: 0.83 inside
    half_out = rect(shape, 0, 60, 30, 50)  # 60x20, 40x20 inside: 0.67 inside
    res = refine_with_segments([core, half_out, mostly_in], coarse, rule="union")
    # mostly_in (tried first) lifts the IoU to 1600 / 1760; half_out would only add 400 px outside: rejected
    assert res.indices == (0, 2) and res.iou == pytest.approx(1600 / 1760)
    np.testing.assert_array_equal(res.mask, core | mostly_in)
    strict = refine_with_segments([core, half_out, mostly_in], coarse, min_inside=0.9)
    assert strict.indices == (0,) and strict.iou == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_union_never_has_a_lower_iou_than_official(seed, min_inside):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
    segs = rng.random((12,) + shape) < rng.random((12, 1, 1)) * 0.4
    coarse = rng.random(shape) < 0.3
    official = refine_with_segments(segs, coarse, rule="official", min_iou=0.0)
    union = refine_with_segments(segs, coarse, min_inside=min_inside, min_iou=0.0)
    assert union.fell_back == official.fell_back
    if not official.fell_back:
        assert union.indices[0] == official.index and union.iou >= official.iou - 1e-12
        assert union.iou == pytest.approx(naive_iou(union.mask, coarse))
        np.testing.assert_array_equal(union.mask, np.any(segs[list(union.indices)], axis=0))


def test_guard_extends_a_poor_choice_with_the_coarse_mask():
    shape = (80, 80)
    coarse = rect(shape, 10, 60, 10, 60)  # 2500 px
    small = rect(shape, 20, 30, 20, 30)  # inside it: IoU 100 / 2500 = 0.04
    res = refine_with_segments([small], coarse)
    assert res.extended and not res.fell_back and res.iou == pytest.approx(0.04)
    np.testing.assert_array_equal(res.mask, coarse | small)
    assert "IoU 0.040 < min_iou 0.3" in res.message and "extended it with the coarse mask" in res.message
    off = refine_with_segments([small], coarse, min_iou=0.0)  # official: no guard
    assert not off.extended and off.message == ""
    np.testing.assert_array_equal(off.mask, small)


@pytest.mark.parametrize(
    "kwargs, widget",
    [({"rule": "largest"}, "rule"), ({"min_inside": 1.5}, "min_inside"), ({"min_inside": "half"}, "min_inside"),
     ({"min_iou": -0.1}, "min_iou"), ({"min_iou": float("nan")}, "min_iou"), ({"min_changed": -0.5}, "min_changed")],
)
def test_rule_parameters_are_validated(kwargs, widget, sam, chelsea):
    shape = (20, 20)
    with pytest.raises(ZoneInputError, match=f"^{widget} must"):
        refine_with_segments([rect(shape, 0, 10, 0, 10)], rect(shape, 0, 5, 0, 5), **kwargs)
    with pytest.raises(ZoneInputError, match=f"^{widget} must"):  # before SAM runs
        refine_with_sam(sam, chelsea, rect(chelsea.shape[:2], 0, 5, 0, 5), **kwargs)


def test_node_rule_widgets_info_and_validation(sam, astronaut):
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMRegionIoU
    from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError

    required = ZoneSAMRegionIoU.INPUT_TYPES()["required"]
    assert required["rule"][0] == ["evidence", "union", "official"] and required["rule"][1]["default"] == "evidence"
    assert required["min_inside"][1]["default"] == 0.4 and required["min_iou"][1]["default"] == 0.3
    assert required["min_changed"][1]["default"] == 0.5
    # widgets of existing inputs keep their order; the new one is appended (pinned workflows stay valid)
    assert list(required)[-4:] == ["rule", "min_inside", "min_iou", "min_changed"]
    assert ZoneSAMRegionIoU.INPUT_TYPES()["optional"]["changed_mask"][0] == "MASK"
    node = ZoneSAMRegionIoU()
    original = torch.from_numpy(astronaut[None].copy())
    coarse = torch.from_numpy(rect((512, 512), 60, 200, 160, 300)[None].astype(np.float32))
    with torch.inference_mode():
        union_mask, _, info = node.refine(sam, original, original, coarse, **_node_args(rule="union", min_iou=0.0))
        official_mask, _, official_info = node.refine(sam, original, original, coarse,
                                                      **_node_args(rule="official", min_iou=0.0))
        _, _, guarded = node.refine(sam, original, original, coarse, **_node_args(min_iou=1.0))
    assert "(union)" in info and "(official)" in official_info
    assert bool((union_mask >= official_mask).all())  # union contains the official segment
    assert "extended it with the coarse mask" in guarded
    for bad, widget in (({"rule": "both"}, "rule"), ({"min_inside": 2.0}, "min_inside"), ({"min_iou": -1.0}, "min_iou"),
                        ({"min_changed": 1.5}, "min_changed")):
        with pytest.raises(NodeInputError, match=widget):
            node.refine(sam, original, original, coarse, **_node_args(**bad))


def test_crop_layers_without_any_kept_segment_give_no_segments(sam, chelsea):
    """segment-anything's crop de-duplication indexes the crop boxes of the kept masks as [N, 4] even when no crop
    kept any (IndexError); here that is simply no segment, and Region-IoU falls back."""
    image = chelsea[:40, :48]
    coarse = rect(image.shape[:2], 10, 30, 10, 40)
    segs = generate_segments(sam, image, points_per_side=2, crop_n_layers=1, pred_iou_thresh=1.0)
    assert len(segs.masks) == 0
    result = refine_with_sam(sam, image, coarse, points_per_side=2, crop_n_layers=1, pred_iou_thresh=1.0)
    assert result.fell_back and np.array_equal(result.mask, coarse)


def test_a_sliver_that_vanishes_when_shrunk_keeps_every_pixel_it_touches(monkeypatch, astronaut):
    """A 1-px coarse line at 1024 px is 0.25 px at the 256-px segmenting size: the sliver path keeps the shrunk
    pixels it touches, so Region-IoU runs (the segment over it is chosen) instead of reporting an empty mask."""
    import zone_ops.stages.sam_region_iou as sri
    from zone_ops.core.images import binary_mask, resize_image

    big = resize_image(astronaut, (1024, 768))
    sliver = rect((1024, 768), 501, 502, 300, 400)
    assert not binary_mask(sliver, (256, 192)).any()  # what the plain shrink would give
    band = rect((256, 192), 120, 130, 60, 110)
    seen = []

    def fake_segments(sam, image, *, box=None, **kwargs):
        seen.append(image.shape[:2])
        return Segments.from_masks([rect((256, 192), 0, 20, 0, 20), band])

    monkeypatch.setattr(sri, "generate_segments", fake_segments)
    res = sri.refine_with_sam(object(), big, sliver, max_side=256)
    assert seen == [(256, 192)] and not res.fell_back and res.index == 1
    np.testing.assert_array_equal(res.mask, binary_mask(band, (1024, 768)))


def _node_run(node_module, sam, image, canvas, coarse, **widgets):
    with torch.inference_mode():
        return node_module.ZoneSAMRegionIoU().refine(
            sam, torch.from_numpy(image)[None], torch.from_numpy(canvas)[None],
            torch.from_numpy(coarse.astype(np.float32))[None], **widgets)


NODE_WIDGETS = dict(segment_on="original", points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                    box_nms_thresh=0.9, points_per_batch=7, min_mask_region_area=3, crop_n_layers=1,
                    crop_to_region=True, crop_margin=0.25, max_side=96, rule="official", min_inside=0.55,
                    min_iou=0.1, min_changed=0.65)


def test_node_passes_every_widget_to_the_library(monkeypatch, sam, chelsea):
    """Every widget at a non-default value reaches refine_with_sam (the library call is recorded, not run)."""
    import comfyui_zone.nodes.sam_region_iou as node_module
    from node_spy import Spy

    image = chelsea[::2, ::2].copy()
    coarse = rect(image.shape[:2], 40, 90, 60, 140)
    spy = Spy(monkeypatch, node_module, "refine_with_sam",
              fake=lambda sam, img, m, **kw: refine_with_segments(Segments.from_masks([m]), m))
    _, _, info = _node_run(node_module, sam, image, 1.0 - image, coarse, **NODE_WIDGETS)
    args, kwargs = spy.calls[0]
    assert len(spy.calls) == 1 and np.array_equal(args[1], image) and np.array_equal(args[2], coarse)
    passed = {k: v for k, v in kwargs.items() if k not in ("progress", "check_cancel")}
    expected = {k: v for k, v in NODE_WIDGETS.items() if k not in ("segment_on", "crop_to_region")}
    assert passed == {**expected, "crop": True, "changed": None}  # rule official: no change map computed
    assert "on the original" in info


def test_node_equals_the_library_with_the_same_values(sam, chelsea):
    """The node's mask is the library's for the same non-default values (crop mode, max_side, original)."""
    import comfyui_zone.nodes.sam_region_iou as node_module

    image = chelsea[::2, ::2].copy()  # 150 x 226
    coarse = rect(image.shape[:2], 40, 90, 60, 140)
    widgets = {**NODE_WIDGETS, "crop_n_layers": 0}
    mask, _, _ = _node_run(node_module, sam, image, 1.0 - image, coarse, **widgets)
    lib = {k: v for k, v in widgets.items() if k not in ("segment_on", "crop_to_region")}
    expected = refine_with_sam(sam, image, coarse, crop=True, **lib)
    assert expected.crop_box is not None and not expected.fell_back
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, expected.mask)


# ---------------------------------------------------------------- rule evidence (issue 21)


def disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _small_object_scene(shape=(128, 128)):
    """A small object (disk, r 14) whose coarse mask (disk, r 12, offset up-left) covers a third of it and lies
    mostly on a background segment: segments [background under the coarse mask, the object, the rest]."""
    obj = disk(shape, 64, 64, 14)
    coarse = disk(shape, 54, 54, 12)
    patch = rect(shape, 40, 68, 40, 68) & ~obj
    return [patch, obj, ~obj & ~patch], coarse, obj


def test_evidence_gives_a_small_object_whose_coarse_mask_covers_a_third_of_it_back_whole():
    segments, coarse, obj = _small_object_scene()
    assert 0.2 <= (coarse & obj).sum() / obj.sum() <= 0.5  # the attention saw a third of the object
    union = refine_with_segments(segments, coarse, rule="union")
    evidence = refine_with_segments(segments, coarse, changed=obj)  # the default rule; the canvas changed the object
    assert union.indices == (0,) and (union.mask & obj).sum() < 0.5 * obj.sum()  # stays at the coarse mask's size
    assert evidence.indices == (0, 1) and evidence.added == (1,) and "added 1 changed segment" in evidence.message
    np.testing.assert_array_equal(evidence.mask, segments[0] | obj)  # the whole object, the rest untouched
    assert evidence.iou == union.iou and not evidence.extended
    # no change map, or a change map that misses the object: union's mask exactly
    for changed in (None, np.zeros_like(obj), ~obj & ~coarse):
        res = refine_with_segments(segments, coarse, changed=changed)
        assert res.added == () and np.array_equal(res.mask, union.mask)


def test_evidence_needs_the_segment_mostly_changed():
    segments, coarse, obj = _small_object_scene()
    half = obj & (np.mgrid[:128, :128][0] < 64)  # the canvas changed the object's upper half (about 0.5 of it)
    share = (half & obj).sum() / obj.sum()
    assert refine_with_segments(segments, coarse, changed=half, min_changed=share - 0.01).added == (1,)
    assert refine_with_segments(segments, coarse, changed=half, min_changed=share + 0.01).added == ()


def test_a_changed_region_not_connected_to_the_coarse_mask_adds_nothing():
    shape = (64, 96)
    coarse = rect(shape, 20, 40, 10, 30)
    best = rect(shape, 20, 40, 10, 30)
    strip = rect(shape, 38, 46, 25, 70)  # touches the coarse mask (10 px)
    far = disk(shape, 12, 80, 8)  # changed, its own segment, does not touch the coarse mask
    blob = rect(shape, 36, 48, 35, 70)  # changed: 78 % of the strip, 5 columns away from the coarse mask
    segments = [best, strip, far]
    assert (strip & blob).sum() / strip.sum() > 0.75 and not (blob & coarse).any()
    res = refine_with_segments(segments, coarse, changed=coarse | blob | far)
    assert res.added == () and np.array_equal(res.mask, best)
    # the same blob connected to the coarse mask (changed pixels bridging the gap): the strip joins
    bridge = rect(shape, 38, 40, 29, 36)
    res = refine_with_segments(segments, coarse, changed=coarse | blob | bridge | far)
    assert res.added == (1,) and np.array_equal(res.mask, best | strip)


def test_a_change_map_over_most_of_the_picture_is_a_global_rerender_and_is_not_used():
    from zone_ops.stages.sam_region_iou import GLOBAL_CHANGE

    segments, coarse, obj = _small_object_scene()
    union = refine_with_segments(segments, coarse, rule="union")
    everywhere = np.ones_like(obj)
    everywhere[:20] = False  # 84 % of the picture
    assert everywhere.mean() > GLOBAL_CHANGE
    res = refine_with_segments(segments, coarse, changed=everywhere)
    assert res.added == () and np.array_equal(res.mask, union.mask)
    assert "global re-render" in res.message and "84 %" in res.message


def _felzenszwalb(image, keep):
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(image, scale=200, sigma=0.8, min_size=40)
    return np.stack([labels == i for i in np.unique(labels[keep])])


@pytest.mark.parametrize("kind", ["drift", "rerender"])
def test_a_global_drift_or_rerender_without_a_local_edit_does_not_grow_the_mask(kind, chelsea):
    """Real photo, no local edit: the canvas is the photo under a strong colour cast (clipping its whites), or a
    global re-render (half resolution, tone curve, JPEG, warp, noise: the over-edit benchmark's). Difference To
    Mask's change map then adds no segment: the mask is union's, bit for bit."""
    from conftest import load_benchmark
    from zone_ops.any_editor.edit_to_mask import edit_to_mask

    rng = np.random.default_rng(3)
    if kind == "drift":
        canvas = chelsea * np.float32([1.18, 1.05, 0.85]) + np.float32([0.06, -0.02, 0.04])
        canvas = np.clip(canvas + rng.normal(0, 0.01, chelsea.shape).astype(np.float32), 0, 1)
    else:
        canvas = load_benchmark("overedit").simulate_rerender(chelsea, rng)
    coarse = disk(chelsea.shape[:2], 120, 150, 30)  # an eye and the fur around it
    segments = _felzenszwalb(canvas, coarse)
    changed = edit_to_mask(chelsea, canvas).mask
    union = refine_with_segments(segments, coarse, rule="union")
    res = refine_with_segments(segments, coarse, changed=changed)
    assert changed.mean() < 0.05, changed.mean()
    assert res.added == () and np.array_equal(res.mask, union.mask)


def test_evidence_on_a_real_photo_recolours_the_whole_small_object(chelsea):
    """Real photo, real classical segments, the change map from Difference To Mask: the cat's nose (about 35x60
    px) turned black under a colour cast; the coarse mask covers a third of it, off-centre. Evidence takes the
    nose's segments, union stays near the coarse mask, and nothing far from the nose is added."""
    from scipy import ndimage as ndi
    from zone_ops.any_editor.edit_to_mask import edit_to_mask

    import cv2

    hsv = cv2.cvtColor((chelsea * 255).round().astype(np.uint8), cv2.COLOR_RGB2HSV).astype(int)
    pink = np.zeros(chelsea.shape[:2], bool)
    pink[225:275, 225:300] = (hsv[225:275, 225:300, 0] <= 12) & (hsv[225:275, 225:300, 1] > 190)
    labels, _ = ndi.label(ndi.binary_opening(pink))
    nose = ndi.binary_fill_holes(ndi.binary_closing(labels == labels[248, 262], iterations=3))
    truth = chelsea.copy()
    truth[nose] *= 0.25
    canvas = np.clip(truth * np.float32([1.05, 0.97, 0.95]) + 0.01, 0, 1)
    ys, xs = np.nonzero(nose)
    coarse = disk(nose.shape, ys.min() + 8, xs.min() + 16, 15)
    assert 0.2 <= (coarse & nose).sum() / nose.sum() <= 0.5
    segments = _felzenszwalb(canvas, coarse)
    union = refine_with_segments(segments, coarse, rule="union")
    res = refine_with_segments(segments, coarse, changed=edit_to_mask(chelsea, canvas).mask)
    assert (res.mask & nose).sum() >= 0.9 * nose.sum() > (union.mask & nose).sum() / 0.9
    grown = res.mask & ~union.mask
    far = grown & ~ndi.binary_dilation(nose, iterations=4)
    assert grown.any() and far.sum() <= 0.01 * nose.sum()  # the nose's segment, a few px of its border at most


def test_remove_takes_the_originals_segments_where_the_canvas_differs(monkeypatch, sam, chelsea):
    """Node, action remove: SAM segments the ORIGINAL (the object is only there), and the change map (computed by
    the node from original and canvas, or given as changed_mask) adds the removed object's segment."""
    import comfyui_zone.nodes.sam_region_iou as node_module
    import comfyui_zone.zone_ops.stages.sam_region_iou as sri  # the module the node calls

    original = chelsea[::2, ::2].copy()  # 150 x 226
    shape = original.shape[:2]
    obj = disk(shape, 75, 110, 12)
    original[obj] = (0.1, 0.1, 0.12)  # a dark object on the cat ...
    canvas = np.clip(chelsea[::2, ::2] * 1.04 + 0.01, 0, 1)  # ... removed by the editor (and a slight cast)
    coarse = disk(shape, 66, 101, 10)
    assert 0.2 <= (coarse & obj).sum() / obj.sum() <= 0.5
    patch = rect(shape, 56, 76, 90, 110) & ~obj
    seen = []

    def fake_segments(sam, image, *, box=None, **kwargs):  # the object is a segment only where it exists
        seen.append(image)
        has_object = image[75, 110].max() < 0.2
        segs = [patch, obj, ~obj & ~patch] if has_object else [patch | obj, ~obj & ~patch]
        return sri.Segments.from_masks(segs)

    monkeypatch.setattr(sri, "generate_segments", fake_segments)
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    mask, _, info = _node_run(node_module, sam, original, canvas, coarse, **_node_args(), action=remove)
    assert np.array_equal(seen[-1], original) and "on the original" in info
    assert "added 1 changed segment" in info
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, patch | obj)
    union, _, _ = _node_run(node_module, sam, original, canvas, coarse, **_node_args(rule="union"), action=remove)
    assert (union[0].numpy() > 0.5)[obj].mean() < 0.5
    # a changed_mask input is used instead of the node's own difference: one that misses the object adds nothing
    none = torch.zeros((1,) + shape)
    with torch.inference_mode():
        given, _, _ = node_module.ZoneSAMRegionIoU().refine(
            sam, torch.from_numpy(original)[None], torch.from_numpy(canvas)[None],
            torch.from_numpy(coarse.astype(np.float32))[None], **_node_args(), action=remove, changed_mask=none)
    assert torch.equal(given, union)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_evidence_contains_union_and_official_ignores_the_change_map(seed, min_changed, min_iou):
    from zone_ops.stages.sam_region_iou import connected_change

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(8, 40)), int(rng.integers(8, 40)))
    segs = rng.random((10,) + shape) < rng.random((10, 1, 1)) * 0.4
    coarse = rng.random(shape) < 0.3
    changed = rng.random(shape) < rng.random() * 0.6
    union = refine_with_segments(segs, coarse, rule="union", min_iou=min_iou)
    res = refine_with_segments(segs, coarse, changed=changed, min_changed=min_changed, min_iou=min_iou)
    official = refine_with_segments(segs, coarse, rule="official", min_iou=min_iou)
    assert np.array_equal(official.mask, refine_with_segments(segs, coarse, rule="official", min_iou=min_iou,
                                                              changed=changed).mask)
    assert res.fell_back == union.fell_back and res.extended == union.extended
    assert not (union.mask & ~res.mask).any()  # never smaller than union's
    assert res.indices == union.indices + res.added
    near = connected_change(changed, coarse)
    for i in res.added:
        assert (segs[i] & coarse).any() and (segs[i] & near).sum() >= min_changed * segs[i].sum()
    expected = union.mask | (np.any(segs[list(res.added)], axis=0) if res.added else False)
    np.testing.assert_array_equal(res.mask, expected)
    if changed.mean() > 0.5:
        assert res.added == ()
