"""Stage 4 nodes: ZoneSAMLoader (a SAM v1 checkpoint from models/sams, or SAM 2 / 2.1 from models/sam2) and
ZoneSAMRegionIoU (Region-IoU, Li et al., CVPR 2024)."""

from __future__ import annotations

from typing import Any

import torch

from ..zone_ops import params as P
from ..zone_ops.core.images import ZoneInputError, broadcast_batch, resize_image, to_rgb
from ..zone_ops.core.images import to_mask as np_mask
from ..zone_ops.models.sam_loader import as_sam, load_sam
from ..zone_ops.any_editor.edit_to_mask import edit_to_mask
from ..zone_ops.stages.sam_region_iou import (
    MIN_CHANGED,
    MIN_INSIDE,
    MIN_IOU,
    RULE_DEFAULT,
    SEGMENT_MAX_SIDE,
    check_rule,
    preview_segments,
    refine_with_sam,
    segment_image_choice,
)
from ..zone_ops.core.types import ZoneAction
from .comfy_runtime import Progress, check_interrupt, model_file_list, model_file_path, register_model_folder, torch_device
from .convert import batch_len, image_item, mask_item, to_image, to_mask

#: Model folders the SAM loader lists, in lookup order: SAM v1 (shared with Impact Pack) and SAM 2 / 2.1 (shared
#: with ComfyUI-segment-anything-2). A name present in both is taken from the first.
SAM_FOLDERS = ("sams", "sam2")
for _folder in SAM_FOLDERS:
    register_model_folder(_folder)


def sam_file_list() -> list[str]:
    """The checkpoints of every SAM folder, each name once."""
    return list(dict.fromkeys(name for folder in SAM_FOLDERS for name in model_file_list(folder)))


def sam_file_path(name: str) -> str:
    """Full path of ``name`` in the first SAM folder that has it."""
    errors = []
    for folder in SAM_FOLDERS:
        try:
            return model_file_path(folder, name)
        except FileNotFoundError as exc:
            errors.append(str(exc))
    raise FileNotFoundError(" ".join(dict.fromkeys(errors)))


class ZoneSAMLoader:
    DESCRIPTION = (
        "Loads a Segment Anything checkpoint (.pth, .pt or .safetensors, read safely): SAM v1 from models/sams "
        "(vit_h / vit_l / vit_b) or SAM 2 / 2.1 from models/sam2 (hiera tiny / small / base+ / large). The "
        "version and size are detected from the weights; no config file is needed. The SAM_MODEL is a "
        "segment-anything Sam (interchangeable with Impact Pack's) or a sam2 model; SAM Region IoU takes both."
    )
    CATEGORY = "ZONE"
    FUNCTION = "load"
    RETURN_TYPES = ("SAM_MODEL",)
    RETURN_NAMES = ("sam_model",)
    OUTPUT_TOOLTIPS = ("SAM v1 or SAM 2 model (official ZONE: SAM v1 ViT-H, sam_vit_h_4b8939.pth).",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "model_name": (sam_file_list(), {"tooltip": "A SAM v1 checkpoint in models/sams or a SAM 2 / 2.1 one in models/sam2."}),
                "device": (["auto", "cpu", "cuda"], {"default": "auto", "tooltip": "auto: ComfyUI's compute device."}),
            }
        }

    def load(self, model_name: str, device: str) -> tuple[Any]:
        target = torch_device() if device == "auto" else device
        return (load_sam(sam_file_path(model_name), target),)


def _item_action(action: Any, index: int) -> ZoneAction | None:
    """The ZONE_ACTION of batch item ``index`` (a single action, or a list of them: one per item or one for all)."""
    if isinstance(action, (list, tuple)):
        if not action:
            return None
        action = action[index if len(action) > 1 else 0]
    if action is not None and not hasattr(action, "segments_original"):  # duck-typed: ZoneAction
        raise ZoneInputError(f"action must come from ZONE Action Classifier, got {type(action).__name__}")
    return action


class ZoneSAMRegionIoU:
    DESCRIPTION = (
        "Region-IoU: SAM segments the canvas (or the original for remove) and the segment with the largest IoU "
        "with the coarse mask becomes the refined mask. rule union also adds the segments lying mostly inside the "
        "coarse mask while the IoU improves, so an object SAM splits into parts comes back whole; evidence "
        "(default) then adds every segment that touches the coarse mask and that the edit mostly changed (where "
        "the canvas differs from the original beyond the colour drift: Difference To Mask, or `changed_mask`), so "
        "a small or thin object the attention saw only part of comes back whole; changes not connected to the "
        "coarse mask, and a canvas re-rendered all over, add nothing. official keeps the single best segment. "
        "When the chosen region explains the coarse mask poorly (IoU "
        "below `min_iou`) the coarse mask is added to it, and info says so. Falls back to the coarse mask, and says "
        "so, when no segment overlaps it. Masks come out at the original image's size."
    )
    CATEGORY = "ZONE"
    FUNCTION = "refine"
    RETURN_TYPES = ("MASK", "IMAGE", "STRING")
    RETURN_NAMES = ("refined_mask", "preview", "info")
    OUTPUT_TOOLTIPS = (
        "The chosen SAM segment(s) (or the coarse mask on fallback), at the original size.",
        "All segments faintly coloured, the chosen one green, the coarse mask outlined in red.",
        "Per item: chosen segments, IoU, number of segments, extension or fallback reason.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "sam_model": ("SAM_MODEL", {"tooltip": "From ZONE SAM Loader (or Impact Pack's SAMLoader)."}),
                "original": ("IMAGE", {"tooltip": "The unedited image; its size is the output size."}),
                "canvas": ("IMAGE", {"tooltip": "The edited image from ZONE Fused IP2P Sampler."}),
                "coarse_mask": ("MASK", {"tooltip": "Coarse edit region from ZONE Attention To Mask."}),
                "segment_on": P.SEGMENT_ON.widget(),
                "points_per_side": P.POINTS_PER_SIDE.widget(),
                "pred_iou_thresh": P.PRED_IOU_THRESH.widget(),
                "stability_score_thresh": P.STABILITY_SCORE_THRESH.widget(),
                "box_nms_thresh": P.BOX_NMS_THRESH.widget(),
                "points_per_batch": P.POINTS_PER_BATCH.widget(),
                "min_mask_region_area": P.MIN_MASK_REGION_AREA.widget(),
                "crop_n_layers": P.CROP_N_LAYERS.widget(),
                "crop_to_region": P.CROP_TO_REGION.widget(),
                "crop_margin": P.CROP_MARGIN.widget(),
                "max_side": P.MAX_SIDE.widget(),
                "rule": P.REGION_RULE.widget(),
                "min_inside": P.MIN_INSIDE.widget(),
                "min_iou": P.MIN_IOU.widget(),
                "min_changed": P.MIN_CHANGED.widget(),
            },
            "optional": {
                "action": ("ZONE_ACTION", {"tooltip": "From ZONE Action Classifier: decides what auto segments (the original for remove)."}),
                "changed_mask": ("MASK", {"tooltip": (
                    "evidence: where the canvas differs from the original (ZONE Difference To Mask). Not connected: "
                    "computed here the same way from original and canvas.")}),
            },
        }

    def refine(self, sam_model: Any, original: torch.Tensor, canvas: torch.Tensor, coarse_mask: torch.Tensor,
               segment_on: str, points_per_side: int, pred_iou_thresh: float, stability_score_thresh: float,
               box_nms_thresh: float, points_per_batch: int, min_mask_region_area: int, crop_n_layers: int,
               crop_to_region: bool, crop_margin: float, max_side: int = SEGMENT_MAX_SIDE, rule: str = RULE_DEFAULT,
               min_inside: float = MIN_INSIDE, min_iou: float = MIN_IOU, min_changed: float = MIN_CHANGED,
               action: Any = None, changed_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, str]:
        check_rule(rule, min_inside, min_iou, min_changed)  # before SAM runs
        sam = as_sam(sam_model)
        sizes = {"original": batch_len(original), "canvas": batch_len(canvas), "coarse_mask": batch_len(coarse_mask)}
        if isinstance(action, (list, tuple)) and action:  # one action per item, or one for all
            sizes["action"] = len(action)
        if changed_mask is not None:
            sizes["changed_mask"] = batch_len(changed_mask)
        n = broadcast_batch(**sizes)
        bar = Progress(n)
        masks, previews, lines = [], [], []
        for i in range(n):
            check_interrupt()
            orig = to_rgb(image_item(original, i), "original")
            source = segment_image_choice(segment_on, _item_action(action, i))
            note = ""
            edited = to_rgb(image_item(canvas, i), "canvas")
            if edited.shape != orig.shape:
                if source == "canvas" or rule == "evidence":
                    note = f"; canvas {edited.shape[1]}x{edited.shape[0]} resized to the original"
                edited = resize_image(edited, orig.shape[:2])
            image = edited if source == "canvas" else orig
            coarse = np_mask(mask_item(coarse_mask, i), "coarse_mask")
            changed = None
            if rule == "evidence":
                changed = (np_mask(mask_item(changed_mask, i), "changed_mask") >= 0.5 if changed_mask is not None
                           else edit_to_mask(orig, edited).mask)
            result = refine_with_sam(
                sam, image, coarse >= 0.5,
                points_per_side=points_per_side, points_per_batch=points_per_batch, pred_iou_thresh=pred_iou_thresh,
                stability_score_thresh=stability_score_thresh, box_nms_thresh=box_nms_thresh,
                crop_n_layers=crop_n_layers, min_mask_region_area=min_mask_region_area,
                crop=crop_to_region, crop_margin=crop_margin, max_side=max_side, rule=rule, min_inside=min_inside,
                min_iou=min_iou, changed=changed, min_changed=min_changed,
                progress=lambda done, total, i=i: bar(i * total + done, n * total), check_cancel=check_interrupt,
            )
            masks.append(result.mask)
            previews.append(preview_segments(image, result, coarse))
            chosen = "+".join(str(k) for k in result.indices)
            head = (f"fallback to the coarse mask ({result.num_segments} segments)" if result.fell_back else
                    f"segment{'s' if len(result.indices) > 1 else ''} {chosen} of {result.num_segments} ({rule}), "
                    f"IoU {result.iou:.3f}")
            extra = f": {result.message}" if result.message else ""
            lines.append(f"item {i}: {head} on the {source}{note}{extra}")
        return to_mask(masks), to_image(previews), "\n".join(lines)


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneSAMLoader": ZoneSAMLoader, "ZoneSAMRegionIoU": ZoneSAMRegionIoU}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneSAMLoader": "ZONE SAM Loader", "ZoneSAMRegionIoU": "ZONE SAM Region IoU"}
