"""ZoneEditToMask: original + aligned edit (+ valid MASK) -> coarse MASK for SAM Region IoU, + preview."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..zone_ops import params as P
from ..zone_ops.any_editor.edit_to_mask import edit_to_mask
from ..zone_ops.core.images import broadcast_batch
from ..zone_ops.core.preview import overlay_mask
from .comfy_runtime import Progress, check_interrupt
from .convert import batch_len, image_item, mask_item, to_image, to_mask

log = logging.getLogger("ZONE")

#: How the Delta E threshold is chosen; the manual default sits in the automatic threshold's usual range (8..20).
THRESHOLD_MODES = P.THRESHOLD_MODES
MANUAL_THRESHOLD = P.DIFF_THRESHOLD.default


class ZoneEditToMask:
    DESCRIPTION = (
        "Coarse edit mask for ANY editor: where the aligned edit differs from the original once the editor's global "
        "colour and brightness drift is removed (robust per-channel gain and offset fit). Colour difference in "
        "CIELAB (Delta E), tolerant to sub-pixel misalignment; automatic threshold from the noise floor; specks "
        "and small regions removed, fragments joined (sizes scale with the image). When more than 80 % of the "
        "picture changed (a restyle) or the edit does not match (empty valid_mask) the mask is empty: nothing is "
        "pasted rather than a patchwork. Connect coarse_mask to ZONE SAM Region IoU where ZONE Attention To Mask "
        "would go."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "IMAGE")
    RETURN_NAMES = ("coarse_mask", "preview")
    OUTPUT_TOOLTIPS = (
        "What the editor changed (1 = changed), at the original's size: the coarse mask for ZONE SAM Region IoU.",
        "The aligned edit with the mask tinted red.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "original": ("IMAGE", {"tooltip": "The unedited image."}),
                "edited": ("IMAGE", {"tooltip": "The edit aligned to the original (ZONE Align Edit's 'aligned')."}),
                "threshold_mode": P.DIFF_THRESHOLD_MODE.widget(),
                "threshold": P.DIFF_THRESHOLD.widget(),
                "min_region": P.DIFF_MIN_REGION.widget(),
                "close": P.DIFF_CLOSE.widget(),
            },
            "optional": {
                "valid_mask": ("MASK", {"tooltip": "ZONE Align Edit's valid_mask: only compare where the edit covers."}),
            },
        }

    def run(self, original: torch.Tensor, edited: torch.Tensor, threshold_mode: str, threshold: float, min_region: int,
            close: int, valid_mask: torch.Tensor | None = None):
        sizes = {"original": batch_len(original), "edited": batch_len(edited)}
        if valid_mask is not None:
            sizes["valid_mask"] = batch_len(valid_mask)
        count = broadcast_batch(**sizes)
        masks, previews = [], []
        progress = Progress(count)
        for i in range(count):
            check_interrupt()
            edit = image_item(edited, i)
            valid = None if valid_mask is None else mask_item(valid_mask, i)
            if valid is not None and not (valid >= 0.5).any():  # ZONE Align Edit found no match: paste nothing
                log.warning("ZONE Difference To Mask, item %d: the edit covers nothing of the original (no match): "
                            "empty mask, nothing will be pasted", i)
                masks.append(np.zeros(edit.shape[:2], bool))
                previews.append(edit)
                progress.update()
                continue
            result = edit_to_mask(image_item(original, i), edit,
                                  valid,
                                  threshold=threshold if threshold_mode == "manual" else None, min_region=min_region, close=close)
            log.info("ZONE Difference To Mask, item %d: %s", i, result.describe())
            if result.note:
                log.warning("ZONE Difference To Mask, item %d: %s", i, result.note)
            mask = result.mask
            if result.restyle:  # most of the picture changed: a restyle, not a local edit -> paste nothing
                mask = np.zeros_like(mask)
            masks.append(mask)
            previews.append(overlay_mask(edit, result.mask))
            progress.update()
        return (to_mask(masks), to_image(previews))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneEditToMask": ZoneEditToMask}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneEditToMask": "ZONE Difference To Mask"}
