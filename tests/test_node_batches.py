"""Every node that loops over a batch, given a batch whose items DIFFER (images, masks, attention, actions): each
item of the result equals the node's result for that item alone. Catches an item read at the wrong index (item 0
for all, the last for all, one input's index used for another) and state leaking from one item into the next."""

from __future__ import annotations

import re

import numpy as np
import torch

from conftest import photo
from tiny_models import tiny_sam
from zone_ops.core.types import Action, ZoneAction, ZoneAttention


def _pair_of_photos(size=(96, 128)) -> torch.Tensor:
    import cv2

    return torch.from_numpy(np.stack([cv2.resize(photo(n), size[::-1], interpolation=cv2.INTER_AREA)
                                      for n in ("chelsea", "coffee")]))


def _rect_masks(size, boxes) -> torch.Tensor:
    out = torch.zeros((len(boxes),) + size)
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        out[k, y0:y1, x0:x1] = 1.0
    return out


def _by_item(text: str) -> dict[int, str]:
    """A batched text output: {item: its line} from the "item k: ..." prefixes."""
    found = [re.match(r"^item (\d+): (.*)$", line) for line in text.splitlines()]
    assert all(found), f"a batched text line without its item: {text!r}"
    return {int(m.group(1)): m.group(2) for m in found}


def check_items(run, batched: dict, per_item: list[dict]) -> None:
    """``run(**inputs)`` -> tuple of outputs; item k of each batched output equals the single-item call's."""
    together = run(**batched)
    singles = [run(**x) for x in per_item]
    for k, single in enumerate(singles):
        for n, (a, b) in enumerate(zip(together, single)):
            if isinstance(a, torch.Tensor):
                assert a.shape[0] == len(per_item) and b.shape[0] == 1
                assert torch.equal(a[k], b[0]), f"output {n}, item {k} differs from the single-item call"
            elif isinstance(a, str):
                got = _by_item(a).get(k, "")
                assert got == re.sub(r"^item 0: ", "", b), f"output {n}, item {k}: {got!r}, alone {b!r}"
    for k in range(1, len(singles)):
        assert not all(torch.equal(a[0], b[0]) for a, b in zip(singles[0], singles[k]) if isinstance(a, torch.Tensor)), \
            f"items 0 and {k} give the same result: the test would not see a wrong index"


def _items(inputs: dict) -> list[dict]:
    n = next(v.shape[0] for v in inputs.values() if isinstance(v, torch.Tensor))
    return [{k: (v[j:j + 1] if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()} for j in range(n)]


def test_sam_region_iou_items_with_different_coarse_masks_and_actions():
    """Three items: different photos, canvases, coarse masks and actions (SAM segments the canvas, the original,
    the canvas), so an original, canvas, mask or action read at item 0 changes some item."""
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMRegionIoU

    size = (96, 128)
    pair = _pair_of_photos(size)
    images = torch.cat([pair, pair[:1].flip(2)])  # 3 different photos
    inputs = dict(original=images, canvas=images.flip(0).clone(),
                  coarse_mask=_rect_masks(size, [(10, 50, 20, 70), (40, 90, 60, 120), (30, 70, 10, 90)]))
    widgets = dict(segment_on="auto", points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                   box_nms_thresh=1.0, points_per_batch=64, min_mask_region_area=0, crop_n_layers=0,
                   crop_to_region=False, crop_margin=0.5, max_side=1024, rule="union", min_inside=0.4, min_iou=0.3)
    sam = tiny_sam(seed=0)
    change = ZoneAction(Action.CHANGE, (1.0, 0.0, 0.0), 0.01, "manual")
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    actions = [change, remove, change]  # item 1 segments its original, items 0 and 2 their canvas

    def run(action, **x):
        return ZoneSAMRegionIoU().refine(sam, **x, **widgets, action=action)

    singles = [dict(s, action=[a]) for s, a in zip(_items(inputs), actions)]
    check_items(run, dict(inputs, action=actions), singles)


def test_attention_to_mask_items_with_different_maps_and_token_counts():
    from comfyui_zone.nodes.attention_to_mask import ZoneAttentionToMask

    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.random((2, 8, 8, 77), dtype=np.float32))
    counts = (5, 9)
    images = _pair_of_photos((64, 64))

    def run(attention, image):
        return ZoneAttentionToMask().run(attention, "official", 54.0, 128.0, 0, image)

    together = dict(attention=ZoneAttention(maps, counts, (64, 64)), image=images)
    singles = [dict(attention=ZoneAttention(maps[k:k + 1], counts[k:k + 1], (64, 64)), image=images[k:k + 1])
               for k in range(2)]
    check_items(run, together, singles)


def _edited(images: torch.Tensor, boxes) -> torch.Tensor:
    out = images.clone()
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        out[k, y0:y1, x0:x1] = torch.tensor([0.1, 0.8, 0.2])
    return out


BOXES = [(10, 40, 20, 60), (50, 80, 70, 110)]


def test_fft_edge_smoother_items():
    from comfyui_zone.nodes.fft_edge_smoother import ZoneFFTEdgeSmoother

    images = _pair_of_photos()
    inputs = dict(original=images, canvas=_edited(images, BOXES), refined_mask=_rect_masks((96, 128), BOXES))

    def run(**x):
        return ZoneFFTEdgeSmoother().run(**x, threshold=30.0, cutoff=0.390625, dilate=4, close=21, scale_with_size=True)

    check_items(run, inputs, _items(inputs))


def test_layer_composite_items():
    from comfyui_zone.nodes.layer_composite import ZoneLayerComposite

    images = _pair_of_photos()
    inputs = dict(original=images, canvas=_edited(images, BOXES), final_mask=_rect_masks((96, 128), BOXES),
                  refined_mask=_rect_masks((96, 128), [(12, 44, 20, 60), (40, 80, 60, 110)]))

    def run(**x):
        return ZoneLayerComposite().run(**x, mode="official", band_alpha=0.6, feather=8.0, color_match=True)

    check_items(run, inputs, _items(inputs))


def test_difference_to_mask_items():
    from comfyui_zone.nodes.edit_to_mask import ZoneEditToMask

    images = _pair_of_photos()
    inputs = dict(original=images, edited=_edited(images, BOXES),
                  valid_mask=_rect_masks((96, 128), [(0, 96, 0, 128), (0, 96, 0, 90)]))  # item 1: part of its edit

    def run(**x):
        return ZoneEditToMask().run(**x, threshold_mode="automatic (noise floor)", threshold=12.0, min_region=64,
                                    close=9)

    check_items(run, inputs, _items(inputs))
    masks, _ = run(**inputs)
    assert masks[1, 50:80, 70:90].any() and not masks[1, :, 90:].any()  # the valid area of item 1 cuts its edit


def test_align_edit_items():
    from comfyui_zone.nodes.align_edit import ZoneAlignEdit
    from zone_ops.core.images import resize_image

    images = _pair_of_photos((120, 160))
    shifted = torch.from_numpy(np.stack([resize_image(np.roll(x.numpy(), 3 + 2 * k, axis=1), (96, 128))
                                         for k, x in enumerate(_edited(images, BOXES))]))
    inputs = dict(original=images, edited=shifted)

    def run(**x):
        return ZoneAlignEdit().run(**x, model="affine", flow_cap=0.0)

    check_items(run, inputs, _items(inputs))
