"""Coarse edit mask from an (aligned) editor output: where does it differ from the original, beyond global drift?

It stands in for stage 3 (the attention mask) when the edit comes from another editor: its mask feeds SAM Region
IoU exactly where ZONE Attention To Mask's does. Steps, at a working size of at most ``WORK_SIDE`` px:

1. both images slightly blurred (sigma ``BLUR`` px at 512x512, scaled with the size): noise and resampling down;
2. the editor's global colour / brightness drift is fitted robustly on the valid area (``color_drift``: per-channel
   gain and offset, Tukey IRLS, the local edit is an outlier) and removed from the edit; channels the drift itself
   saturates (clipped at 0 or 1 in both) count as unchanged (``unclip_drift``);
3. colour difference in CIELAB (CIE76 Delta E: about 2.3 is a just noticeable difference), tolerant to sub-pixel
   misalignment: each pixel is compared with the 3x3 range (per channel min..max) of the other image, both ways;
4. automatic threshold from the noise floor: NOISE_FACTOR x the median plain Delta E of the valid area (the edit
   is a minority of the pixels, so the median measures noise, texture and alignment), kept within
   MIN_DELTA_E..MAX_AUTO_DELTA_E (8..20);
5. small specks removed (an opening, then regions below ``min_region`` px of a 512x512 image), fragments joined
   (a close), holes filled. Sizes scale with sqrt(H*W)/512 like stage 5's.

Arrays: images float32 [H, W, 3] in 0..1 of ONE size (align the edit first); masks bool [H, W]. Nothing here
mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..stages.attention_to_mask import remove_small_regions, scaled_min_area
from ..core.color_drift import ColorDrift, fit_color_drift
from ..stages.fft_edge_smoother import fill_holes, size_scale
from ..core.images import ZoneInputError, binary_mask, resize, to_rgb

#: Longest side the difference is computed at (the mask is a coarse one; it is enlarged to the original's size).
WORK_SIDE = 768
#: Gaussian blur sigma, px at 512x512.
BLUR = 1.0
#: Automatic threshold: NOISE_FACTOR x the median Delta E of the valid area, and never below MIN_DELTA_E.
NOISE_FACTOR = 3.0
MIN_DELTA_E = 8.0
#: Cap of the automatic threshold: when most of the picture changed, the median measures the change, not noise.
MAX_AUTO_DELTA_E = 20.0
NOISE_SAMPLES = 40_000
#: Morphology at 512x512: opening radius (specks), closing size (joins fragments), minimum region area in px.
OPEN = 1
CLOSE = 9
MIN_REGION = 64
#: Drift removal: a channel within this (plus 2 x its noise) of 0 or 1 in both the edit and the drifted original
#: is saturated by the drift, not edited (``unclip_drift``).
CLIP_TOLERANCE = 2.0 / 255.0
#: A mask covering more than this fraction of the valid area is reported (a global restyle, not a local edit).
WHOLE_IMAGE = 0.8
#: ... and more than this fraction with an implausible colour drift is a restyle as well (see ``EditMask.restyle``).
RESTYLE_SHARE = 0.5


@dataclass(frozen=True)
class EditMask:
    """Result of ``edit_to_mask``.

    mask:       bool [H, W] at the original's size, True = the editor changed it.
    difference: float32 [h, w], the drift-compensated, misalignment-tolerant Delta E at the working size.
    threshold:  the Delta E threshold applied. drift: the colour drift removed. note: "" or what to know.
    share:      fraction of the valid area in the mask.
    """

    mask: np.ndarray
    difference: np.ndarray
    threshold: float
    drift: ColorDrift
    note: str = ""
    share: float = 0.0

    @property
    def restyle(self) -> bool:
        """A restyle, not a local edit (paste nothing): more than WHOLE_IMAGE of the valid area changed, or more
        than RESTYLE_SHARE while no plausible global colour drift explains the rest (gains far from 1 or a noise
        floor of a different picture: the editor recoloured the whole scene)."""
        return self.share > WHOLE_IMAGE or (self.share > RESTYLE_SHARE and not self.drift.plausible)

    def describe(self) -> str:
        return (f"Delta E threshold {self.threshold:.1f}, mask {100 * self.mask.mean():.2f} % of the image; "
                f"{self.drift.describe()}")


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32), cv2.COLOR_RGB2Lab)


def _range_distance(a: np.ndarray, b: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Per pixel, the Euclidean distance of ``a`` to the per-channel [min, max] of ``b`` over ``kernel``."""
    below = cv2.erode(b, kernel)
    below -= a
    above = a - cv2.dilate(b, kernel)
    d = np.maximum(below, 0.0, out=below)
    d += np.maximum(above, 0.0, out=above)  # at most one of the two is > 0
    d *= d
    return np.sqrt(d.sum(axis=-1))


def delta_e(original: np.ndarray, edited: np.ndarray, tolerant: bool = True) -> np.ndarray:
    """CIE76 Delta E float32 [H, W] between two RGB images [H, W, 3] in 0..1; ``tolerant``: each pixel against the
    3x3 range of the other image, both ways (the smaller), so a sub-pixel shift of an edge is no difference."""
    lo, le = _lab(original), _lab(edited)
    if not tolerant:
        return np.linalg.norm(lo - le, axis=-1).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    return np.minimum(_range_distance(le, lo, k), _range_distance(lo, le, k)).astype(np.float32)


def unclip_drift(original: np.ndarray, edited: np.ndarray, drift: ColorDrift) -> np.ndarray:
    """``drift.invert(edited)`` (float32 [H, W, 3], not clipped), except in the channels that the edit clipped where
    the drift itself predicts clipping (gain * original + offset at or beyond 0 or 1, within ``CLIP_TOLERANCE`` +
    2 x the channel's noise): there the original's value, since a saturated channel says nothing about an edit (a
    strong cast turns white porcelain into clipped red, which inverting the drift cannot undo). An implausible
    drift (a restyle, not a cast) explains nothing: then no channel is excused."""
    out = drift.invert(edited)
    if drift.is_identity or not drift.plausible:
        return out
    tol = np.float32(CLIP_TOLERANCE) + 2.0 * drift.noise
    pred = drift.apply(original)
    clipped = ((edited >= 1.0 - tol) & (pred >= 1.0 - tol)) | ((edited <= tol) & (pred <= tol))
    return np.where(clipped, np.asarray(original, np.float32), out)


def _odd(x: float) -> int:
    n = max(1, int(round(x)))
    return n if n % 2 else n + 1


def edit_to_mask(original: np.ndarray, edited: np.ndarray, valid: np.ndarray | None = None, *,
                 threshold: float | None = None, min_region: int = MIN_REGION, close: int = CLOSE) -> EditMask:
    """Coarse mask of what the editor changed (see the module docstring).

    original, edited: [H, W, C] in 0..1, the SAME size (run ``align_edit`` first). valid: bool/float [H, W], the
    area the aligned edit covers (None = everything), resized if needed. threshold: Delta E (None = automatic).
    min_region: px at 512x512 (0 keeps every region). close: closing size in px at 512x512 (0 = off).
    """
    orig = to_rgb(original, "original")
    edit = to_rgb(edited, "edited")
    if orig.shape != edit.shape:
        raise ZoneInputError(f"edited is {edit.shape[1]}x{edit.shape[0]} but original is {orig.shape[1]}x"
                             f"{orig.shape[0]}: connect the edited image through ZONE Align Edit first")
    if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
        raise ZoneInputError(f"threshold must be a Delta E >= 0 (or automatic), got {threshold}")
    if min_region < 0 or close < 0:
        raise ZoneInputError("min_region and close must be >= 0")
    size = orig.shape[:2]
    area = np.ones(size, bool) if valid is None else binary_mask(valid, size, "valid_mask")
    if not area.any():
        raise ZoneInputError("valid_mask is empty: the aligned edit covers nothing of the original")
    f = min(1.0, WORK_SIDE / max(size))
    work = (max(1, round(size[0] * f)), max(1, round(size[1] * f)))
    scale = size_scale(work)
    o, e = (resize(x, work, "area") for x in (orig, edit))
    a = area if f == 1.0 else resize(area.astype(np.float32), work, "area") >= 0.999
    sigma = BLUR * scale
    o, e = (cv2.GaussianBlur(x, (0, 0), sigma) for x in (o, e))
    drift = fit_color_drift(o, e, a, max_samples=50_000)
    e = np.clip(unclip_drift(o, e, drift), 0.0, 1.0)
    diff = delta_e(o, e)
    diff[~a] = 0.0
    thr = threshold
    if thr is None:
        step = max(1, int(np.sqrt(a.sum() / NOISE_SAMPLES)))  # a regular subsample is enough for a median
        plain = delta_e(o[::step, ::step], e[::step, ::step], tolerant=False)[a[::step, ::step]]
        thr = min(MAX_AUTO_DELTA_E, max(MIN_DELTA_E, NOISE_FACTOR * float(np.median(plain))))
    raw = (diff > thr).view(np.uint8)
    r = int(round(OPEN * scale))
    if r > 0:
        raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    mask = remove_small_regions(raw.view(bool), scaled_min_area(min_region, work)).view(np.uint8)
    if close > 0 and mask.any():
        k = _odd(close * scale)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    mask = fill_holes(mask) & a
    if f != 1.0:
        mask = resize(mask.astype(np.float32), size, "linear") >= 0.5
    mask &= area
    note = ""
    share = float(mask.sum() / area.sum())
    if not mask.any():
        note = (f"no difference above Delta E {thr:.1f} after removing the colour drift: the editor changed "
                "nothing local (lower threshold to look closer)")
    elif share > WHOLE_IMAGE or (share > RESTYLE_SHARE and not drift.plausible):
        note = (f"the editor changed {100 * share:.0f} % of the picture: a global change (a restyle), not a local "
                "edit: nothing should be pasted (raise threshold to keep only the strongest change)")
    return EditMask(mask, diff, float(thr), drift, note, share)
