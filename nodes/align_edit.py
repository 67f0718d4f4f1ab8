"""ZoneAlignEdit: any editor's output -> the same picture in the original's frame and size, + valid MASK + report."""

from __future__ import annotations

import logging

import torch

from ..zone_ops import params as P
from ..zone_ops.any_editor.align_edit import align_edit
from ..zone_ops.core.images import broadcast_batch
from .comfy_runtime import Progress, check_interrupt
from .convert import batch_len, image_item, to_image, to_mask

log = logging.getLogger("ZONE")


class ZoneAlignEdit:
    DESCRIPTION = (
        "Brings the output of ANY image editor (Qwen-Image-Edit, FLUX Kontext, Step1X-Edit, OmniGen2, an online "
        "tool) back into the original's frame: undoes its resize to another size or aspect, and the slight zoom and "
        "shift such editors add, with a transform fitted robustly on the unchanged background (ORB features, "
        "then sub-pixel corner tracking, RANSAC / MAGSAC; the edit itself is ignored as an outlier). Optional "
        "dense residual flow for uneven shifts, capped in px. When the pictures cannot be matched it falls back "
        "to a plain resize and says so in the report. Connect its outputs to ZONE Difference To Mask."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("aligned", "valid_mask", "report")
    OUTPUT_TOOLTIPS = (
        "The edited image in the original's frame and size (black where the edit does not cover the original).",
        "1 where the aligned edit covers the original (for ZONE Difference To Mask).",
        "Per item: model, parameters (shift, zoom, rotation), points that agree, residual error in px, or why it "
        "fell back to a plain resize.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "original": ("IMAGE", {"tooltip": "The unedited image (sets the output frame and size)."}),
                "edited": ("IMAGE", {"tooltip": "The editor's output, any size and aspect."}),
                "model": P.ALIGN_MODEL.widget(),
                "flow_cap": P.FLOW_CAP.widget(),
            },
        }

    def run(self, original: torch.Tensor, edited: torch.Tensor, model: str, flow_cap: float):
        count = broadcast_batch(original=batch_len(original), edited=batch_len(edited))
        images, valids, lines = [], [], []
        progress = Progress(count)
        for i in range(count):
            check_interrupt()
            result = align_edit(image_item(original, i), image_item(edited, i), model=model, flow_cap=flow_cap)
            if result.fell_back:
                log.warning("ZONE Align Edit, item %d: %s", i, result.note)
            images.append(result.image)
            valids.append(result.valid)
            lines.append(f"item {i}: {result.describe()}" if count > 1 else result.describe())
            progress.update()
        return (to_image(images), to_mask(valids), "\n".join(lines))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneAlignEdit": ZoneAlignEdit}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneAlignEdit": "ZONE Align Edit"}
