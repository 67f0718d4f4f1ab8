"""Stage 3 (Li et al., CVPR 2024): averaged cross-attention -> coarse edit mask at the ORIGINAL image size.

first = map of token 0 (start token), last = map of token L-1 (L = instruction tokens incl. start and end token).
Each map is scaled to 0..255 by its own maximum and D = max(first - last, 0) is resized bicubically to the image.

Rules (``rule``):
- ``"official"`` (default): edit region = D <= threshold, threshold 54 (the official code keeps 2*D <= 108, i.e.
  D <= 54). The official code quantises the scaled maps to uint8 before subtracting; we stay in float32 (no
  truncation), which moves D by less than 1 grey level.
- ``"paper"``: edit region = first - last < T, T = 128 (the paper's rule on the same 0..255 scale). As T > 0 this
  is D < T.
``threshold=None`` picks the rule's own value (54 / 128).

Small regions: connected regions (4-connectivity, as scipy.ndimage.label in the official code) smaller than
``min_region`` pixels *of a 512x512 image* are dropped; the area is scaled by H*W / 512**2 for other sizes
(official: 64 px at 512x512; at 2048x2048 that is 1024 px). At least 1 px, so tiny images drop nothing.

Never empty without saying so: when nothing survives, the fallback is the single connected region of the
``FALLBACK_FRACTION`` (1 %) of the image with the lowest D (at least ``min_region`` scaled px), i.e. where the
start token is least dominant over the last token; ``CoarseMask.note`` says so and ``fell_back`` is True. A mask
covering the whole image is returned as is, with a note (the attention shows no localised edit).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..core.cancel import check_cancel
from ..core.images import ZoneInputError, check_image_size, mask_box, resize

#: Official effective threshold on D (0..255) and the paper's T.
OFFICIAL_THRESHOLD = 54.0
PAPER_THRESHOLD = 128.0
RULES = ("official", "paper")
#: Minimum region area in pixels at the 512x512 reference size (official: 64).
MIN_REGION = 64
REFERENCE_AREA = 512 * 512
#: Fallback region: this fraction of the image with the lowest D.
FALLBACK_FRACTION = 0.01


@dataclass(frozen=True)
class CoarseMask:
    """Result of ``attention_to_mask``.

    mask:       bool [H, W] at the original image size, True = edit region.
    difference: float32 [H, W], D = max(first - last, 0) on the 0..255 scale.
    note:       "" when the rule gave a usable mask, otherwise what happened (fallback, whole image).
    threshold:  the threshold that was applied (after ``None`` -> the rule's own value).
    fell_back:  True when the rule gave nothing and the lowest-D fallback region was used.
    """

    mask: np.ndarray
    difference: np.ndarray
    note: str = ""
    threshold: float = OFFICIAL_THRESHOLD
    fell_back: bool = False


def default_threshold(rule: str) -> float:
    """The rule's own threshold: 54 for "official", 128 for "paper"."""
    return PAPER_THRESHOLD if _check_rule(rule) == "paper" else OFFICIAL_THRESHOLD


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ZoneInputError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    return rule


def scaled_min_area(min_region: float, image_size: tuple[int, int]) -> int:
    """``min_region`` (pixels at 512x512) scaled to an image of ``image_size`` = (H, W); at least 1."""
    return max(1, int(round(float(min_region) * image_size[0] * image_size[1] / REFERENCE_AREA)))


def attention_difference(maps: np.ndarray | torch.Tensor, token_count: int, image_size: tuple[int, int]) -> np.ndarray:
    """D = max(first - last, 0) of maps [h, w, T] (each map scaled to 0..255 by its own max), resized bicubically
    to ``image_size`` = (H, W). Returns float32 [H, W] in 0..255."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().to("cpu", torch.float32).numpy()
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ZoneInputError(f"attention maps must be [h, w, tokens], got shape {maps.shape}")
    if not 2 <= int(token_count) <= maps.shape[-1]:
        raise ZoneInputError(f"token count {token_count} outside 2..{maps.shape[-1]} (start + end token at least)")
    pair = maps[..., [0, int(token_count) - 1]]
    if not np.isfinite(pair).all():
        raise ZoneInputError("attention maps contain NaN or infinite values; re-run the sampler (fp16 overflow?)")
    peak = pair.reshape(-1, 2).max(axis=0)
    scaled = np.where(peak > 0, pair * (255.0 / np.where(peak > 0, peak, 1.0)), 0.0).astype(np.float32)
    diff = np.maximum(scaled[..., 0] - scaled[..., 1], 0.0)
    h, w = int(image_size[0]), int(image_size[1])
    if h < 1 or w < 1:
        raise ZoneInputError(f"image size must be positive, got {image_size}")
    check_image_size(h, w, "the attention's image size")
    check_cancel()
    return np.clip(resize(diff, (h, w), "cubic"), 0.0, 255.0)


def remove_small_regions(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 4-connected True regions of ``mask`` (bool [H, W]) with fewer than ``min_area`` pixels. New array."""
    mask = np.asarray(mask, dtype=bool)
    box = mask_box(mask)  # labelling only the bounding box: faster
    if min_area <= 1 or box is None:
        return mask.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask[box].astype(np.uint8), connectivity=4)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    out = np.zeros(mask.shape, bool)
    out[box] = keep[labels]
    return out


def _fallback_region(diff: np.ndarray, min_area: int) -> tuple[np.ndarray, float]:
    """The largest connected region among the lowest-D pixels (FALLBACK_FRACTION of the image, >= min_area)."""
    flat = diff.ravel()
    k = min(flat.size, max(min_area, int(np.ceil(FALLBACK_FRACTION * flat.size)))) - 1
    level = float(np.partition(flat, k)[k])
    low = (diff <= level).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(low, connectivity=4)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest, level


def attention_to_mask(
    maps: np.ndarray | torch.Tensor,
    token_count: int,
    image_size: tuple[int, int],
    *,
    threshold: float | None = OFFICIAL_THRESHOLD,
    rule: str = "official",
    min_region: int = MIN_REGION,
) -> CoarseMask:
    """Coarse edit mask from averaged attention maps [h, w, T] (see the module docstring for rules and fallback).

    threshold:  on the 0..255 scale of D; None -> the rule's own value (54 official, 128 paper). Note that the
                default 54 is also used with ``rule="paper"`` unless you pass ``threshold=None`` or 128.
    min_region: minimum region area in pixels of a 512x512 image (scaled with the image area); 0 keeps all.
    """
    rule = _check_rule(rule)
    thr = default_threshold(rule) if threshold is None else float(threshold)
    diff = attention_difference(maps, token_count, image_size)
    check_cancel()
    raw = diff < thr if rule == "paper" else diff <= thr
    min_area = scaled_min_area(min_region, diff.shape)
    mask = remove_small_regions(raw, min_area)
    check_cancel()
    sign = "<" if rule == "paper" else "<="
    if mask.all():
        return CoarseMask(mask, diff, f"the whole image has D {sign} {thr:g}: the attention shows no local edit; "
                          f"the coarse mask covers everything (lower the threshold, the node's {rule}_threshold, to narrow it)", thr)
    if mask.any():
        return CoarseMask(mask, diff, "", thr)
    why = (f"only regions smaller than {min_area} px had D {sign} {thr:g}" if raw.any()
           else f"no pixel had D {sign} {thr:g} (lowest D = {float(diff.min()):.1f})")
    fallback, level = _fallback_region(diff, min_area)
    note = (f"empty coarse mask: {why}; fell back to the lowest-D region ({int(fallback.sum())} px, D <= {level:.1f}). "
            f"Raise the threshold (the node's {rule}_threshold) or lower min_region to choose yourself.")
    return CoarseMask(fallback, diff, note, thr, True)
