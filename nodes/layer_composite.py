"""ZoneLayerComposite: the canvas over the ORIGINAL inside the final mask (stage 6)."""

from __future__ import annotations

import logging

import torch

from ..zone_ops import params as P
from ..zone_ops.core.images import broadcast_batch
from ..zone_ops.stages.layer_composite import COLOR_MATCH, layer_composite
from ..zone_ops.core.preview import overlay_mask
from .comfy_runtime import check_interrupt
from .convert import ORIGINAL_AND_CANVAS, batch_len, image_item, mask_item, to_image, to_mask

log = logging.getLogger("ZONE")


class ZoneLayerComposite:
    DESCRIPTION = (
        "Stage 6 of ZONE: pastes the edited canvas over the ORIGINAL image inside the final mask. official: canvas "
        "inside the final mask, 0.6 canvas + 0.4 original in the band where exactly one of final / refined mask is "
        "set; feather: a soft edge around the final mask. `color_match` removes the canvas's global colour cast "
        "(measured outside the layer) from the pasted layer, so the edit keeps the photo's tones. Every pixel with "
        "alpha 0 is the original, bit for bit."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE", "IMAGE", "MASK", "IMAGE")
    RETURN_NAMES = ("image", "layer", "alpha", "preview")
    OUTPUT_TOOLTIPS = (
        "The edited image at the original size; pixels outside the mask are the original's.",
        "The canvas cut out by the mask (zeros outside); with 'alpha' it is an RGBA layer.",
        "Opacity of the layer (0..1).",
        "The composite with the layer's outline.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                **ORIGINAL_AND_CANVAS,
                "final_mask": ("MASK", {"tooltip": "From ZONE FFT Edge Smoother (or any mask)."}),
                "mode": P.COMPOSITE_MODE.widget(),
                "band_alpha": P.BAND_ALPHA.widget(),
                "feather": P.FEATHER.widget(),
                "color_match": P.COLOR_MATCH.widget(),
            },
            "optional": {
                "refined_mask": ("MASK", {"tooltip": "From ZONE SAM Region IoU; gives the official band. "
                                                     "Without it there is no band."}),
            },
        }

    def run(self, original: torch.Tensor, canvas: torch.Tensor, final_mask: torch.Tensor, mode: str,
            band_alpha: float, feather: float, refined_mask: torch.Tensor | None = None,
            color_match: bool = COLOR_MATCH):
        sizes = {"original": batch_len(original), "canvas": batch_len(canvas), "final_mask": batch_len(final_mask)}
        if refined_mask is not None:
            sizes["refined_mask"] = batch_len(refined_mask)
        count = broadcast_batch(**sizes)
        images, layers, alphas, previews = [], [], [], []
        for i in range(count):
            check_interrupt()
            result = layer_composite(
                image_item(original, i), image_item(canvas, i), mask_item(final_mask, i),
                None if refined_mask is None else mask_item(refined_mask, i),
                mode=mode, band_alpha=band_alpha, feather=feather, color_match=color_match,
            )
            if result.note:
                log.warning("ZONE Layer Composite, item %d: %s", i, result.note)
            images.append(result.image)
            layers.append(result.layer)
            alphas.append(result.alpha)
            previews.append(overlay_mask(result.image, result.alpha > 0, alpha=0.0))
        return (to_image(images), to_image(layers), to_mask(alphas), to_image(previews))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneLayerComposite": ZoneLayerComposite}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneLayerComposite": "ZONE Layer Composite"}
