"""Stage 3: attention maps -> coarse mask (synthetic maps with known answers, real photos for the node)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfyui_zone.nodes.attention_to_mask import ZoneAttentionToMask
from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError
from comfyui_zone.zone_ops.core.types import ZoneAttention
from zone_ops.stages.attention_to_mask import (
    attention_difference,
    attention_to_mask,
    remove_small_regions,
    scaled_min_area,
)
from zone_ops.core.images import ZoneInputError


def rect_maps(h: int, w: int, box: tuple[int, int, int, int], token_count: int, tokens: int = 77) -> np.ndarray:
    """Maps where the start token dominates everywhere except ``box`` (y0, y1, x0, x1), where the last token does."""
    y0, y1, x0, x1 = box
    maps = np.full((h, w, tokens), 0.01, np.float32)
    maps[..., 0] = 0.9
    maps[y0:y1, x0:x1, 0] = 0.1
    maps[..., token_count - 1] = 0.1
    maps[y0:y1, x0:x1, token_count - 1] = 0.8
    return maps


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("size", [(512, 512), (400, 600), (300, 451)])
def test_known_rectangle_is_found_at_the_original_size(size):
    h, w = (size[0] + 31) // 32, (size[1] + 31) // 32
    box = (h // 4, h // 2 + 1, w // 3, 2 * w // 3)
    result = attention_to_mask(rect_maps(h, w, box, token_count=6), 6, size)
    assert result.mask.shape == size and result.mask.dtype == bool
    assert result.difference.shape == size and result.difference.dtype == np.float32
    assert result.note == "" and not result.fell_back
    expected = np.zeros(size, bool)
    sy, sx = size[0] / h, size[1] / w
    expected[round(box[0] * sy):round(box[1] * sy), round(box[2] * sx):round(box[3] * sx)] = True
    assert iou(result.mask, expected) > 0.8


def test_difference_is_official_scaling_and_clamping():
    maps = np.zeros((2, 2, 77), np.float32)
    maps[..., 0] = [[1.0, 0.5], [0.2, 0.0]]      # scaled by its max 1.0 -> 255, 127.5, 51, 0
    maps[..., 3] = [[0.0, 2.0], [0.0, 1.0]]      # scaled by its max 2.0 -> 0, 255, 0, 127.5
    d = attention_difference(maps, 4, (2, 2))
    np.testing.assert_allclose(d, [[255.0, 0.0], [51.0, 0.0]], atol=1e-4)
    # torch input gives the same result
    np.testing.assert_allclose(attention_difference(torch.from_numpy(maps), 4, (2, 2)), d)


def test_rules_official_inclusive_54_paper_strict_128():
    maps = np.zeros((1, 4, 77), np.float32)
    maps[..., 0] = [[1.0, 54.0 / 255, 128.0 / 255, 200.0 / 255]]  # last token all zero -> D = 255, 54, 128, 200
    official = attention_to_mask(maps, 2, (1, 4), min_region=0)
    assert official.mask.tolist() == [[False, True, False, False]]
    paper = attention_to_mask(maps, 2, (1, 4), rule="paper", threshold=None, min_region=0)
    assert paper.threshold == 128.0
    assert paper.mask.tolist() == [[False, True, False, False]]  # 128 is not < 128
    paper_200 = attention_to_mask(maps, 2, (1, 4), rule="paper", threshold=201, min_region=0)
    assert paper_200.mask.tolist() == [[False, True, True, True]]
    with pytest.raises(ZoneInputError, match="rule"):
        attention_to_mask(maps, 2, (1, 4), rule="median")


def test_small_regions_are_dropped_with_area_scaled_by_image_size():
    assert scaled_min_area(64, (512, 512)) == 64
    assert scaled_min_area(64, (1024, 1024)) == 256
    assert scaled_min_area(64, (8, 8)) == 1
    mask = np.zeros((512, 512), bool)
    mask[10:17, 10:17] = True     # 49 px  < 64: dropped
    mask[100:109, 100:109] = True  # 81 px >= 64: kept
    mask[200:208, 300] = True      # 8 px thin line: dropped
    kept = remove_small_regions(mask, scaled_min_area(64, mask.shape))
    assert not kept[10:17, 10:17].any() and kept[100:109, 100:109].all() and kept.sum() == 81
    # 4-connectivity: two diagonal 6x6 blocks touching at a corner are two regions of 36 px each -> both dropped
    diag = np.zeros((64, 64), bool)
    diag[0:6, 0:6] = True
    diag[6:12, 6:12] = True
    assert not remove_small_regions(diag, 64).any()


def test_empty_result_falls_back_to_the_lowest_difference_region_and_says_so():
    h, w = 16, 16
    maps = np.zeros((h, w, 77), np.float32)
    maps[..., 0] = 1.0
    maps[10:13, 3:6, 0] = 0.6   # lowest D (~102) there, still above 54
    result = attention_to_mask(maps, 5, (512, 512))
    assert result.fell_back and "fell back" in result.note and "lowest D" in result.note
    ys, xs = np.nonzero(result.mask)
    assert result.mask.any()
    assert 320 <= ys.mean() <= 416 and 96 <= xs.mean() <= 192  # the low-D cell block, scaled by 32


def test_regions_all_too_small_also_fall_back():
    maps = np.zeros((16, 16, 77), np.float32)
    maps[..., 0] = 1.0
    maps[..., 1] = 0.0
    maps[5, 5, 1] = 1.0  # one cell of low D: a ~bicubic blob at 16x16 image size = 1 px region
    result = attention_to_mask(maps, 2, (16, 16), min_region=64 * 1024)
    assert result.fell_back and "smaller than" in result.note and result.mask.any()


def test_uniform_attention_gives_the_whole_image_with_a_note():
    maps = np.ones((8, 8, 77), np.float32)
    result = attention_to_mask(maps, 4, (256, 256))
    assert result.mask.all() and "whole image" in result.note


def test_bad_inputs_raise_clear_errors():
    maps = np.ones((4, 4, 77), np.float32)
    with pytest.raises(ZoneInputError, match="token count"):
        attention_to_mask(maps, 78, (64, 64))
    with pytest.raises(ZoneInputError, match=r"\[h, w, tokens\]"):
        attention_to_mask(maps[0], 3, (64, 64))
    bad = maps.copy()
    bad[1, 1, 0] = np.nan
    with pytest.raises(ZoneInputError, match="NaN"):
        attention_to_mask(bad, 3, (64, 64))


def _attention(batch: int, size: tuple[int, int], token_count: int = 5) -> ZoneAttention:
    h, w = (size[0] + 31) // 32, (size[1] + 31) // 32
    maps = np.stack([rect_maps(h, w, (1 + b, h // 2 + 1, 2, w // 2 + 1), token_count) for b in range(batch)])
    return ZoneAttention(torch.from_numpy(maps), (token_count,) * batch, size)


def test_node_batches_with_photo_preview(astronaut, coffee):
    node = ZoneAttentionToMask()
    image = torch.from_numpy(np.stack([astronaut, astronaut]))
    mask, preview, note = node.run(_attention(2, (512, 512)), "official", 54.0, 128.0, 64, image)
    assert mask.shape == (2, 512, 512) and preview.shape == (2, 512, 512, 3) and note == ""
    assert not torch.equal(mask[0], mask[1])  # per-item maps
    assert preview.min() >= 0 and preview.max() <= 1
    assert not torch.equal(preview[0], image[0])  # the overlay is visible
    # attention batch 1 broadcasts over an image batch of 3 (non-square coffee)
    image3 = torch.from_numpy(np.stack([coffee] * 3))
    mask, preview, _ = node.run(_attention(1, (400, 600)), "paper", 54.0, 128.0, 64, image3)
    assert mask.shape == (3, 400, 600) and torch.equal(mask[0], mask[2]) and preview.shape == (3, 400, 600, 3)


def test_node_without_image_previews_a_heatmap_and_reports_notes():
    node = ZoneAttentionToMask()
    maps = torch.ones(1, 4, 4, 77)
    mask, preview, note = node.run(ZoneAttention(maps, (3,), (64, 96)), "official", 54.0, 128.0, 64)
    assert mask.shape == (1, 64, 96) and preview.shape == (1, 64, 96, 3)
    assert "whole image" in note


def test_node_rgba_grayscale_tiny_and_errors(astronaut):
    node = ZoneAttentionToMask()
    rgba = torch.from_numpy(np.concatenate([astronaut, np.ones_like(astronaut[..., :1])], -1))[None]
    _, preview, _ = node.run(_attention(1, (512, 512)), "official", 54.0, 128.0, 64, rgba)
    assert preview.shape == (1, 512, 512, 3)
    gray = torch.from_numpy(astronaut[..., :1].copy())[None]
    _, preview, _ = node.run(_attention(1, (512, 512)), "official", 54.0, 128.0, 64, gray)
    assert preview.shape == (1, 512, 512, 3)
    mask, preview, _ = node.run(_attention(1, (8, 8), 2), "official", 54.0, 128.0, 64, torch.rand(1, 8, 8, 3))
    assert mask.shape == (1, 8, 8) and mask.sum() > 0
    with pytest.raises(NodeInputError, match="batch sizes do not match"):
        node.run(_attention(2, (512, 512)), "official", 54.0, 128.0, 64, torch.rand(3, 512, 512, 3))
    nan = rgba[..., :3].clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(NodeInputError, match="NaN"):
        node.run(_attention(1, (512, 512)), "official", 54.0, 128.0, 64, nan)
    with pytest.raises(NodeInputError, match="ZONE_ATTENTION"):
        node.run(torch.zeros(1, 4, 4, 77), "official", 54.0, 128.0, 64)


def test_node_is_registered(pack):
    assert pack.NODE_CLASS_MAPPINGS["ZoneAttentionToMask"] is ZoneAttentionToMask
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["ZoneAttentionToMask"] == "ZONE Attention To Mask"


def ramp_maps(h: int = 16, w: int = 24, token_count: int = 5) -> np.ndarray:
    """Start-token attention rising left to right, last token flat (but for its peak in the first column, which
    sets its 0..255 scale): D is a ramp, so the threshold moves the edge."""
    maps = np.full((h, w, 77), 0.01, np.float32)
    maps[..., 0] = np.linspace(0.05, 1.0, w, dtype=np.float32)[None, :]
    maps[..., token_count - 1] = 0.1
    maps[:, 0, token_count - 1] = 1.0
    return maps


@pytest.mark.parametrize("rule, official, paper, min_region, expected_threshold",
                         [("paper", 54.0, 128.0, 0, 128.0), ("official", 100.0, 30.0, 500, 100.0),
                          ("paper", 100.0, 30.0, 64, 30.0)])
def test_node_passes_every_widget_to_the_library(monkeypatch, rule, official, paper, min_region, expected_threshold):
    """Non-default widget values: the node calls the library with them (the rule's own threshold widget) and
    returns the library's mask; the values chosen really change the mask."""
    import comfyui_zone.nodes.attention_to_mask as node_module
    from node_spy import Spy

    maps = ramp_maps()
    spy = Spy(monkeypatch, node_module, "attention_to_mask")
    with torch.inference_mode():
        mask, _, _ = ZoneAttentionToMask().run(ZoneAttention(torch.from_numpy(maps)[None], (5,), (96, 144)),
                                               rule, official, paper, min_region)
    assert spy.kwargs == {"threshold": expected_threshold, "rule": rule, "min_region": min_region}
    expected = attention_to_mask(maps, 5, (96, 144), threshold=expected_threshold, rule=rule, min_region=min_region)
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, expected.mask)
    assert not np.array_equal(expected.mask, attention_to_mask(maps, 5, (96, 144)).mask)


def test_difference_and_rules_by_hand():
    """Each map is scaled by its OWN maximum before the difference, and the official rule keeps D == 54 exactly.
    first = [[0.5, 0.25], [0.1, 0]] (peak 0.5) and last = [[0, 0.25], [0.05, 0.1]] (peak 0.25) scale to
    [[255, 127.5], [51, 0]] and [[0, 255], [51, 102]]: D = [[255, 0], [0, 0]]."""
    maps = np.zeros((2, 2, 77), np.float32)
    maps[..., 0] = [[0.5, 0.25], [0.1, 0.0]]
    maps[..., 2] = [[0.0, 0.25], [0.05, 0.1]]
    np.testing.assert_allclose(attention_difference(maps, 3, (2, 2)), [[255.0, 0.0], [0.0, 0.0]], atol=1e-4)
    # values exact in float32: peaks 255 scale by 1; D = first - last = 54 and 55 at two pixels
    maps = np.zeros((1, 4, 77), np.float32)
    maps[..., 0] = [[255.0, 54.0, 55.0, 0.0]]
    maps[..., 2] = [[255.0, 0.0, 0.0, 0.0]]
    got = attention_to_mask(maps, 3, (1, 4), min_region=0)
    np.testing.assert_array_equal(got.difference, [[0.0, 54.0, 55.0, 0.0]])
    np.testing.assert_array_equal(got.mask, [[True, True, False, True]])  # official: D <= 54
    paper = attention_to_mask(maps, 3, (1, 4), threshold=54.0, rule="paper", min_region=0)
    np.testing.assert_array_equal(paper.mask, [[True, False, False, True]])  # paper: D < T


def test_an_image_size_past_the_pixel_limit_is_refused_at_once():
    """An attention claiming a 20000 x 20000 image (which ran for minutes) is refused before any resize, naming the
    limit; under the limit it runs."""
    import time

    maps = torch.softmax(torch.randn(8, 8, 77), -1)
    t = time.process_time()
    with pytest.raises(ZoneInputError) as info:
        attention_to_mask(maps, 5, (20000, 20000))
    assert time.process_time() - t < 1.0
    assert "20000x20000" in str(info.value) and "over the limit of 100 MP" in str(info.value)
    node = ZoneAttentionToMask()
    attention = ZoneAttention(maps[None], (5,), (20000, 20000), 1)
    with pytest.raises(NodeInputError, match="limit"):
        node.run(attention, "official", 54.0, 128.0, 64)


def test_the_cancel_hook_stops_attention_to_mask():
    from zone_ops.core.cancel import set_cancel_hook

    class Cancelled(Exception):
        pass

    def cancel():
        raise Cancelled

    set_cancel_hook(cancel)
    try:
        with pytest.raises(Cancelled):
            attention_to_mask(torch.softmax(torch.randn(8, 8, 77), -1), 5, (64, 64))
    finally:
        set_cancel_hook(None)
    assert attention_to_mask(torch.softmax(torch.randn(8, 8, 77), -1), 5, (64, 64)).mask.shape == (64, 64)
