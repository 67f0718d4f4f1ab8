"""ZoneAlignEdit: any editor's output -> the same picture in the original's frame and size, + valid MASK + report."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..zone_ops import params as P
from ..zone_ops.any_editor.align_edit import align_edit
from ..zone_ops.core.images import broadcast_batch
from .comfy_runtime import Progress, check_interrupt
from .convert import batch_len, image_item, to_image, to_mask

log = logging.getLogger("ZONE")


class ZoneAlignEdit:
    DESCRIPTION = (
        "Brings the output of ANY image editor (Qwen-Image-Edit, FLUX Kontext, Gemini, GPT-image, Seedream, an "
        "online tool) back into the original's frame, at any resolution of the original: undoes its resize to "
        "another size or aspect, the slight zoom, border crop and UNEVEN shift such editors add. Fitted at the "
        "editor's own scale on the unchanged background: a global transform with a tolerance of a few editor px "
        "(ORB, sub-pixel corner tracking, MAGSAC; the edit is an outlier), a smooth residual field, then a dense "
        "flow (DIS, forward-backward and photometric confidence, smoothed, capped). When the pictures do not "
        "match (a restyle of the whole scene) the valid mask is empty, so nothing is pasted, and the report says "
        "why. Connect its outputs to ZONE Difference To Mask."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "MASK", "STRING")
    RETURN_NAMES = ("aligned", "valid_mask", "report")
    OUTPUT_TOOLTIPS = (
        "The edited image in the original's frame and size (black where the edit does not cover the original).",
        "1 where the aligned edit covers the original (for ZONE Difference To Mask); empty when the pictures do "
        "not match (nothing will be pasted).",
        "Per item: what was found (model, shift, zoom, rotation, uneven shift, flow, crop), points that agree, "
        "residual error in editor px, or why nothing matches.",
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
            line = result.describe()
            valid = result.valid
            if result.mismatch:
                valid = np.zeros_like(valid)  # a restyle or another picture: ZONE pastes nothing
                line += " -> nothing will be pasted"
            if result.fell_back:
                log.warning("ZONE Align Edit, item %d: %s", i, result.note)
            images.append(result.image)
            valids.append(valid)
            lines.append(f"item {i}: {line}" if count > 1 else line)
            progress.update()
        return (to_image(images), to_mask(valids), "\n".join(lines))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneAlignEdit": ZoneAlignEdit}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneAlignEdit": "ZONE Align Edit"}
