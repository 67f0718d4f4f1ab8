"""ZoneAttentionToMask: ZONE_ATTENTION -> coarse MASK at the original size (stage 3)."""

from __future__ import annotations

import logging

import torch

from ..zone_ops import params as P
from ..zone_ops.stages.attention_to_mask import attention_to_mask
from ..zone_ops.core.images import ZoneInputError, broadcast_batch
from ..zone_ops.core.preview import heatmap, overlay_mask
from ..zone_ops.core.types import ZoneAttention
from .comfy_runtime import check_interrupt
from .convert import batch_len, image_item, to_image, to_mask

log = logging.getLogger("ZONE")


class ZoneAttentionToMask:
    DESCRIPTION = (
        "Stage 3 of ZONE: turns the recorded cross-attention into a coarse edit mask at the original image size. "
        "D = max(first - last, 0) of the start and last instruction token maps (each scaled to 0..255). "
        "official: edit where D <= official_threshold (54); paper: edit where first - last < paper_threshold (128). "
        "Never returns an empty mask silently: it falls back to the lowest-D region and says so in 'note' (shown "
        "by the workflows' Attention note preview)."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "IMAGE", "STRING")
    RETURN_NAMES = ("coarse_mask", "preview", "note")
    OUTPUT_TOOLTIPS = (
        "Coarse edit region (1 = edit), at the original image size.",
        "The mask over the image, or a heat map of D when no image is connected.",
        "Empty when all went well; otherwise what happened (fallback, whole image), one line per batch item.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "attention": ("ZONE_ATTENTION", {"tooltip": "From ZONE Fused IP2P Sampler."}),
                "rule": P.A2M_RULE.widget(),
                "official_threshold": P.OFFICIAL_THRESHOLD.widget(),
                "paper_threshold": P.PAPER_THRESHOLD.widget(),
                "min_region": P.A2M_MIN_REGION.widget(),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "The original image, only for the preview overlay."}),
            },
        }

    def run(self, attention: ZoneAttention, rule: str, official_threshold: float, paper_threshold: float,
            min_region: int, image: torch.Tensor | None = None):
        if not all(hasattr(attention, a) for a in ("maps", "token_counts", "image_size", "batch_size")):
            raise ZoneInputError("attention must be a ZONE_ATTENTION from the ZONE Fused IP2P Sampler")
        sizes = {"attention": attention.batch_size}
        if image is not None:
            sizes["image"] = batch_len(image)
        count = broadcast_batch(**sizes)
        masks, previews, notes = [], [], []
        for i in range(count):
            check_interrupt()
            a = i if attention.batch_size > 1 else 0
            result = attention_to_mask(
                attention.maps[a], attention.token_counts[a], attention.image_size,
                threshold=paper_threshold if rule == "paper" else official_threshold, rule=rule, min_region=min_region,
            )
            if result.note:
                log.warning("ZONE Attention To Mask, item %d: %s", i, result.note)
                notes.append(f"item {i}: {result.note}" if count > 1 else result.note)
            masks.append(result.mask)
            if image is not None:
                previews.append(overlay_mask(image_item(image, i), result.mask))
            else:
                previews.append(overlay_mask(heatmap(result.difference), result.mask, alpha=0.0))
        return (to_mask(masks), to_image(previews), "\n".join(notes))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneAttentionToMask": ZoneAttentionToMask}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneAttentionToMask": "ZONE Attention To Mask"}
