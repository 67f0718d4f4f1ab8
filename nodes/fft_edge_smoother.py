"""ZoneFFTEdgeSmoother: original + canvas + refined MASK -> final MASK (stage 5)."""

from __future__ import annotations

import logging

import torch

from ..zone_ops import params as P
from ..zone_ops.stages.fft_edge_smoother import NOISE_FACTOR, fft_edge_smooth
from ..zone_ops.core.images import ZoneInputError, broadcast_batch, resize_image, to_rgb
from ..zone_ops.core.preview import overlay_mask
from .comfy_runtime import check_interrupt
from .convert import ORIGINAL_AND_CANVAS, batch_len, image_item, mask_item, to_image, to_mask

log = logging.getLogger("ZONE")
DRIFT_CHOICES = P.DRIFT_CHOICES


class ZoneFFTEdgeSmoother:
    DESCRIPTION = (
        "Stage 5 of ZONE: finds where the canvas really differs from the original near the refined mask "
        "(dilate, colour or grey difference, FFT low-pass, threshold, close, fill holes) and returns the final mask. "
        "drift remove (default): the global colour cast / brightness change of the canvas is measured outside the "
        "dilated mask and removed before the difference, and the threshold is raised above the noise measured "
        "there, so a drifted canvas neither inflates nor erases the mask; off is the raw official difference. "
        "Sizes are given for a 512x512 image and scale with the image; canvas and mask are resized to the original."
    )
    CATEGORY = "ZONE"
    FUNCTION = "run"
    RETURN_TYPES = ("MASK", "IMAGE")
    RETURN_NAMES = ("final_mask", "preview")
    OUTPUT_TOOLTIPS = (
        "Final mask (1 = take the canvas) at the original image size.",
        "Canvas with the final mask tinted red and the refined mask outlined green.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                **ORIGINAL_AND_CANVAS,
                "refined_mask": ("MASK", {"tooltip": "From ZONE SAM Region IoU."}),
                "threshold": P.FFT_THRESHOLD.widget(),
                "cutoff": P.FFT_CUTOFF.widget(),
                "dilate": P.FFT_DILATE.widget(),
                "close": P.FFT_CLOSE.widget(),
                "scale_with_size": P.SCALE_WITH_SIZE.widget(),
                "difference": P.FFT_DIFFERENCE.widget(),
                "drift": P.FFT_DRIFT.widget(),
                "noise_factor": P.NOISE_FACTOR.widget(),
            },
        }

    def run(self, original: torch.Tensor, canvas: torch.Tensor, refined_mask: torch.Tensor, threshold: float,
            cutoff: float, dilate: int, close: int, scale_with_size: bool, difference: str = "color",
            drift: str = DRIFT_CHOICES[0], noise_factor: float = NOISE_FACTOR):
        if drift not in DRIFT_CHOICES:
            raise ZoneInputError(f"drift must be one of {', '.join(DRIFT_CHOICES)}, got {drift!r}")
        count = broadcast_batch(original=batch_len(original), canvas=batch_len(canvas),
                                refined_mask=batch_len(refined_mask))
        masks, previews = [], []
        for i in range(count):
            check_interrupt()
            orig = image_item(original, i)
            canv = to_rgb(image_item(canvas, i), "canvas")
            refined = mask_item(refined_mask, i)
            final = fft_edge_smooth(orig, canv, refined, cutoff=cutoff, threshold=threshold / 255.0, dilate=dilate,
                                    close=close, scale_with_size=scale_with_size, color=difference == "color",
                                    drift=drift == DRIFT_CHOICES[0], noise_factor=noise_factor)
            if not final.any():
                log.warning("ZONE FFT Edge Smoother, item %d: empty final mask (%s)", i,
                            "empty refined mask" if refined.max() < 0.5 else "canvas equals the original there")
            preview = canv if canv.shape[:2] == final.shape else resize_image(canv, final.shape)
            preview = overlay_mask(preview, refined, color=(0.2, 1.0, 0.2), alpha=0.0)
            masks.append(final)
            previews.append(overlay_mask(preview, final))
        return (to_mask(masks), to_image(previews))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneFFTEdgeSmoother": ZoneFFTEdgeSmoother}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneFFTEdgeSmoother": "ZONE FFT Edge Smoother"}
