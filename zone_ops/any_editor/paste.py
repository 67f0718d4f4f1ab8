"""Paste an editor's edit onto the FULL-RESOLUTION original, inside the final alpha only.

The any-editor chain finds the edit at a working size (about the editor's own ~1 MP). ``paste_full_res`` enlarges
that alpha to the original's size (bilinear: a soft edge one working px wide), resamples the editor's output ONCE
into the original's frame inside the alpha's bounding box only (``align_edit.render_edit``: bicubic from the
editor's pixels through the fitted map), removes the editor's colour drift when one is given, and blends it over
a copy of the original. Pixels whose alpha is 0 are the original's array values, bit for bit.

Arrays: original float32 [H, W, 3] (values kept exactly, not clipped); alpha float32 [h, w] in 0..1 at the working
size; the result float32 [H, W, 3] and alpha float32 [H, W]. Memory: one copy of the original, the full alpha and
the box's edit (no float64, no full-size edit unless the box is the whole frame).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..core.color_drift import ColorDrift
from ..core.images import mask_box
from .align_edit import Alignment, render_edit


def enlarge_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Working-size alpha float32 [h, w] -> float32 [H, W] in 0..1 (bilinear; the same array at equal size)."""
    if alpha.shape == tuple(size):
        return np.asarray(alpha, np.float32)
    out = cv2.resize(np.asarray(alpha, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out)


def enlarge_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool [h, w] -> bool [H, W] (bilinear, >= 0.5: the edge follows the mask, not its pixel staircase)."""
    if mask.shape == tuple(size):
        return np.asarray(mask, bool)
    return cv2.resize(mask.astype(np.uint8) * np.uint8(255), (size[1], size[0]), interpolation=cv2.INTER_LINEAR) >= 128


def paste_full_res(original: np.ndarray, edited: np.ndarray, alignment: Alignment, alpha: np.ndarray,
                   drift: ColorDrift | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image float32 [H, W, 3], alpha float32 [H, W]): ``edited`` pasted onto ``original`` with the working-size
    ``alpha`` enlarged to the original's size; outside alpha > 0 the original's values exactly. ``drift``: the
    editor's colour drift, whose inverse is applied to the pasted pixels (None: as the editor made them)."""
    size = original.shape[:2]
    full_alpha = enlarge_alpha(alpha, size)
    image = original.copy()
    box = mask_box(full_alpha > 0)
    if box is None:
        return image, full_alpha
    layer, valid = render_edit(alignment, edited, size, box)
    if drift is not None:
        layer = np.clip(drift.invert(layer), 0.0, 1.0)
    a = full_alpha[box]
    a[~valid] = 0.0  # never paste where the edit does not cover the original (a crop)
    a3 = a[..., None]
    o = image[box]
    blend = layer - o
    blend *= a3
    blend += o
    np.copyto(o, blend, where=a3 > 0)
    np.copyto(o, layer, where=a3 >= 1)
    return image, full_alpha
