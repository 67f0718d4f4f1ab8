"""Stage 6 (Li et al., CVPR 2024): the edited layer over the ORIGINAL image.

Modes:
- ``"official"`` (default): alpha = 1 where the final mask Mfft and the refined mask Mf are both set,
  ``band_alpha`` (0.6) in the band where exactly one of them is set, 0 elsewhere. That is the official result
  (canvas pasted inside Mfft, then 0.6*canvas + 0.4*original where Mfft XOR Mf; the official code found the band
  by a uint8 subtraction that wraps around, we use the XOR it amounts to and blend in float32). Without a refined
  mask there is no band: alpha = Mfft.
- ``"feather"``: a soft edge around the final mask (refined mask unused): alpha = smoothstep over the signed
  distance to the mask edge, from 0 at ``feather`` px outside to 1 at ``feather`` px inside (L2 distance transform;
  ``feather`` is in pixels of a 512x512 image, scaled with sqrt(H*W)/512 unless ``scale_with_size`` is False).

Colour match (``color_match``): instruction models shift the colours of the whole canvas (a cast, a gain); the
pasted layer then carries that cast into the untouched photo and shows as a tinted patch. With ``color_match`` the
global drift is fitted on the pixels outside the layer (``color_drift.fit_drift_outside``: robust per-channel gain
+ offset, the layer's alpha > 0 region grown by ``MATCH_MARGIN`` px at 512x512 excluded) and its inverse is applied
to the canvas before pasting, so the edit keeps the photo's tones. A precomputed ``drift`` may be given instead.

Output image = original*(1-alpha) + canvas*alpha where alpha > 0, and EXACTLY the original (bit-identical, the
array ``to_rgb(original)``) where alpha == 0. Canvas and masks of another size than the original are resized to it.
The layer is the canvas where alpha > 0 and zeros elsewhere; with alpha it forms an RGBA cut-out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.color_drift import ColorDrift, fit_drift_outside
from .fft_edge_smoother import size_scale
from ..core.images import ZoneInputError, binary_mask, check_number, mask_box, original_and_canvas

MODES = ("official", "feather")
BAND_ALPHA = 0.6
FEATHER = 8.0
#: Colour match: the layer's region grown by this many px at 512x512 is left out of the drift fit.
MATCH_MARGIN = 8
#: Default of ``color_match`` (chosen on benchmarks/overedit.py, see docs/benchmarks.md, "Over-edit benchmark").
COLOR_MATCH = True


@dataclass(frozen=True)
class CompositeResult:
    """image: float32 [H, W, 3] composite; layer: float32 [H, W, 3] canvas cut out (zeros where alpha == 0);
    alpha: float32 [H, W] in 0..1; note: "" or what is worth knowing (empty mask); drift: the colour drift whose
    inverse was applied to the canvas (None without colour match)."""

    image: np.ndarray
    layer: np.ndarray
    alpha: np.ndarray
    note: str = ""
    drift: ColorDrift | None = None


def official_alpha(final: np.ndarray, refined: np.ndarray | None, band_alpha: float = BAND_ALPHA) -> np.ndarray:
    """1 where final & refined, ``band_alpha`` where exactly one is set, 0 elsewhere (float32 [H, W])."""
    if refined is None:
        return final.astype(np.float32)
    alpha = (final & refined).astype(np.float32)
    alpha[final ^ refined] = np.float32(band_alpha)
    return alpha


def feather_alpha(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soft alpha (float32 [H, W]) around bool ``mask``: smoothstep of the signed edge distance over +-``radius``."""
    alpha = np.zeros(mask.shape, np.float32)
    if radius <= 0:
        alpha[mask] = 1.0
        return alpha
    box = mask_box(mask, int(np.ceil(radius)) + 2)
    if box is None:
        return alpha
    crop = mask[box].astype(np.uint8)
    cap = np.float32(radius + 1)  # no zero pixel in the crop gives FLT_MAX distances
    inside = np.minimum(cv2.distanceTransform(crop, cv2.DIST_L2, 5), cap)
    outside = np.minimum(cv2.distanceTransform(1 - crop, cv2.DIST_L2, 5), cap)
    x = np.clip((inside - outside + np.float32(radius)) / np.float32(2 * radius), 0.0, 1.0)
    alpha[box] = x * x * (3.0 - 2.0 * x)
    return alpha


def layer_composite(
    original: np.ndarray,
    canvas: np.ndarray,
    final_mask: np.ndarray,
    refined_mask: np.ndarray | None = None,
    *,
    mode: str = "official",
    band_alpha: float = BAND_ALPHA,
    feather: float = FEATHER,
    scale_with_size: bool = True,
    color_match: bool = COLOR_MATCH,
    drift: ColorDrift | None = None,
) -> CompositeResult:
    """Composite ``canvas`` over ``original`` (both [H, W, C] float 0..1) inside the masks ([H, W], bool or float).

    See the module docstring for the modes. ``band_alpha``: canvas weight in the official band (0.6).
    ``feather``: feather radius in pixels at 512x512 (feather mode). ``color_match``: remove the canvas's global
    colour drift before pasting (``drift``, or fitted outside the layer when None); the layer output is then the
    colour-matched canvas.
    """
    if mode not in MODES:
        raise ZoneInputError(f"unknown composite mode {mode!r}; expected one of {', '.join(MODES)}")
    band_alpha = check_number(band_alpha, "band_alpha", 0.0, 1.0)
    feather = check_number(feather, "feather", 0.0)
    orig, canv = original_and_canvas(original, canvas)
    size = orig.shape[:2]
    final = binary_mask(final_mask, size, "final mask")
    refined = None if refined_mask is None else binary_mask(refined_mask, size, "refined mask")
    if not isinstance(color_match, (bool, np.bool_)):
        raise ZoneInputError(f"color_match must be true or false, got {color_match!r}")
    scale = size_scale(size) if scale_with_size else 1.0
    if mode == "official":
        alpha = official_alpha(final, refined, band_alpha)
    else:
        alpha = feather_alpha(final, feather * scale)

    image = orig.copy()
    layer = np.zeros(orig.shape, np.float32)  # calloc: pages outside the box are never touched
    box = mask_box(alpha > 0)
    if box is None:
        return CompositeResult(image, layer, alpha, "empty mask: nothing composited, the image is the original")
    if color_match:
        if drift is None:
            drift = fit_drift_outside(orig, canv, alpha > 0, int(round(MATCH_MARGIN * scale)))
        box_canvas = np.clip(drift.invert(canv[box]), 0.0, 1.0)
    else:
        drift = None
        box_canvas = canv[box]
    # Only pixels with alpha > 0 are written (copyto ... where, inside the bounding box); the rest stay the copy.
    a = alpha[box][..., None]
    o, c = image[box], box_canvas
    blend = c - o
    blend *= a
    blend += o
    np.copyto(o, blend, where=a > 0)
    np.copyto(o, c, where=a >= 1)  # exactly the canvas where alpha is 1
    np.copyto(layer[box], c, where=a > 0)
    return CompositeResult(image, layer, alpha, "", drift)
