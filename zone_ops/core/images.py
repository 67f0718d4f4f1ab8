"""Image and mask plumbing shared by every stage: validation, channel conversion, resizing, batch rules.

Conventions (ComfyUI's, kept in the library so nodes stay thin):
- image: float32 numpy [H, W, 3] in 0..1 (grayscale [H, W] / [H, W, 1] and RGBA [H, W, 4] are converted).
- mask:  float32 or bool numpy [H, W]; float masks are in 0..1.
Nothing here mutates its input.
"""

from __future__ import annotations

import math
import os
from typing import Literal

import cv2
import numpy as np


class ZoneInputError(ValueError):
    """A bad input the user can fix; the message says what to do."""


#: Default pixel limit (width x height) of every image the pack takes: 100 MP. The full-resolution stages need
#: about 90 bytes per pixel at their peak (float32 copies of the image, canvas, masks, FFT planes; measured as the
#: peak-memory slope of ``localize`` between 4 and 12 MP), so 100 MP is ~9 GB on top of the models (IP2P ~4 GB in
#: fp32, SAM ViT-H 2.5 GB): it fits a 24 GB machine. ``ZONE_MAX_PIXELS`` (a number of pixels, e.g. 2.5e8) or the
#: CLI's ``--max-pixels`` change it.
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "ZONE_MAX_PIXELS"


def max_pixels() -> int:
    """The pixel limit: ``$ZONE_MAX_PIXELS`` when set (a positive number, e.g. ``2.5e8``), else 100 MP."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise ZoneInputError(f"{MAX_PIXELS_ENV}={text!r} is not a pixel count >= 1 (e.g. 2.5e8 for 250 MP)")
    return int(value)


def describe_pixels(count: float) -> str:
    """``count`` pixels in words: "48 MP", "2.1 GP", "900 px"."""
    if count >= 1e12:
        return f"{count:.3g} px"
    if count >= 1e9:
        return f"{count / 1e9:.3g} GP"
    return f"{count / 1e6:.3g} MP" if count >= 1e5 else f"{int(count)} px"


def check_image_size(height: int, width: int, name: str = "image", limit: int | None = None) -> None:
    """ZoneInputError naming ``name``, its size and the limit when ``height * width`` is over ``limit`` pixels
    (default ``max_pixels()``). The one size check of the pack: CLI image headers, node inputs, stage sizes."""
    limit = max_pixels() if limit is None else int(limit)
    count = int(height) * int(width)
    if count > limit:
        raise ZoneInputError(
            f"{name} is {int(width)}x{int(height)} = {describe_pixels(count)}, over the limit of "
            f"{describe_pixels(limit)} ({limit} px; raise it with --max-pixels or ${MAX_PIXELS_ENV} if the memory "
            "allows, or downscale the image)")


def number_text(x: float) -> str:
    """A bound as written in a declaration: whole numbers in full (18446744073709551615, 1048576), others as %g."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def range_text(low: float, high: float) -> str:
    """" from 0 to 1" / " >= 0" / " <= 1" / "" for the bounds of a check."""
    if math.isfinite(low) and math.isfinite(high):
        return f" from {number_text(low)} to {number_text(high)}"
    return f" >= {number_text(low)}" if math.isfinite(low) else (f" <= {number_text(high)}" if math.isfinite(high) else "")


def check_number(value: float, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in ``low..high``; ZoneInputError naming ``name`` otherwise (NaN included, which
    every comparison lets through)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ZoneInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise ZoneInputError(f"{name} must be a finite number{range_text(low, high)}, got {value!r}")
    return number


def as_float01(array: np.ndarray) -> np.ndarray:
    """``array`` as float32 on the 0..1 scale of its dtype: uint8 / 255, uint16 / 65535, bool 0/1, floats as they
    are (no copy when already float32)."""
    arr = np.asarray(array)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535.0)
    return arr.astype(np.float32, copy=False)


def to_rgb(image: np.ndarray, name: str = "image", clip: bool = True) -> np.ndarray:
    """Return ``image`` as float32 [H, W, 3] in 0..1 (``clip=False``: values kept exactly as given).

    uint8 / uint16 are read as 0..255 / 0..65535 (``as_float01``). Accepts [H, W], [H, W, 1] (grayscale,
    replicated), [H, W, 3], [H, W, 4] (RGBA: alpha is dropped).
    Raises ZoneInputError for other shapes, empty images and non-finite values.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ZoneInputError(f"{name} must be [H, W, C] with C in 1, 3 or 4 channels, got shape {tuple(np.shape(image))}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ZoneInputError(f"{name} is empty (shape {tuple(arr.shape)})")
    check_image_size(arr.shape[0], arr.shape[1], name)
    arr = as_float01(arr)
    if not np.isfinite(arr).all():
        raise ZoneInputError(f"{name} contains NaN or infinite values; check the node that produced it")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = arr[..., :3]
    return np.clip(arr, 0.0, 1.0) if clip and (arr.min() < 0.0 or arr.max() > 1.0) else arr


def to_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as float32 [H, W] in 0..1 (a trailing channel axis of size 1 is squeezed).

    Raises ZoneInputError for other shapes and non-finite values.
    """
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ZoneInputError(f"{name} must be [H, W], got shape {tuple(np.shape(mask))}")
    check_image_size(arr.shape[0], arr.shape[1], name)
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ZoneInputError(f"{name} contains NaN or infinite values")
    return np.clip(arr, 0.0, 1.0)


Interp = Literal["area", "linear", "cubic", "nearest"]
_CV2_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


def resize(array: np.ndarray, size: tuple[int, int], interpolation: Interp = "linear") -> np.ndarray:
    """Resize a float32 [H, W] or [H, W, C] array to ``size`` = (H, W). Returns a new array (a copy if same size).

    "area" is the right choice for shrinking images, "linear"/"cubic" for enlarging, "nearest" for labels.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ZoneInputError(f"cannot resize to {size}")
    check_image_size(h, w, "the size to resize to")
    arr = np.asarray(array, dtype=np.float32)
    if arr.shape[:2] == (h, w):
        return arr.copy()
    out = cv2.resize(arr, (w, h), interpolation=_CV2_INTERP[interpolation])
    if arr.ndim == 3 and out.ndim == 2:  # cv2 drops a single channel axis
        out = out[..., None]
    return out


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a [H, W] mask (bool or float) to ``size`` = (H, W) as float32 in 0..1 (linear; area when shrinking)."""
    arr = np.asarray(mask, dtype=np.float32)
    shrink = size[0] < arr.shape[0] or size[1] < arr.shape[1]
    return np.clip(resize(arr, size, "area" if shrink else "linear"), 0.0, 1.0)


def broadcast_batch(**sizes: int) -> int:
    """The common batch size of several inputs: all equal, or 1 (broadcast). Otherwise a ZoneInputError.

    >>> broadcast_batch(image=4, mask=1)
    4
    """
    real = {name: n for name, n in sizes.items() if n != 1}
    if len(set(real.values())) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in sizes.items())
        raise ZoneInputError(
            f"batch sizes do not match ({listed}): give every input the same batch size, or a batch of 1 to reuse it"
        )
    for name, n in sizes.items():
        if n < 1:
            raise ZoneInputError(f"{name} is an empty batch")
    return max(sizes.values()) if sizes else 1


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float32 [H, W, C] image in 0..1 to ``size`` = (H, W): area when shrinking, cubic when enlarging,
    clipped to 0..1. Returns a new array (a copy if already that size)."""
    arr = np.asarray(image, dtype=np.float32)
    shrink = size[0] < arr.shape[0] or size[1] < arr.shape[1]
    out = resize(arr, size, "area" if shrink else "cubic")
    return out if shrink else np.clip(out, 0.0, 1.0, out=out)


def original_and_canvas(original: np.ndarray, canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float32 [H, W, 3] (``to_rgb``), the canvas resized to the ORIGINAL's size if needed.

    The original is NOT clipped: its values are kept exactly, so a composite that copies it is bit-identical to
    the input even where a producer left values slightly outside 0..1. The canvas is clipped to 0..1."""
    orig = to_rgb(original, "original", clip=False)
    canv = to_rgb(canvas, "canvas")
    if canv.shape[:2] != orig.shape[:2]:
        canv = resize_image(canv, orig.shape[:2])
    return orig, canv


def binary_mask(mask: np.ndarray, size: tuple[int, int] | None = None, name: str = "mask") -> np.ndarray:
    """``mask`` (bool or float [H, W] in 0..1) as bool [H, W] (>= 0.5), resized to ``size`` = (H, W) if given."""
    arr = np.asarray(mask)
    if arr.dtype != bool:
        arr = to_mask(arr, name) >= 0.5
    elif arr.ndim != 2:
        raise ZoneInputError(f"{name} must be [H, W], got shape {arr.shape}")
    if size is not None and arr.shape != tuple(size):
        arr = resize_mask(arr, size) >= 0.5
    return arr


def mask_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """Bounding box of the set pixels of a [H, W] mask as (rows, cols) slices, grown by ``margin`` px on each
    side and clipped to the mask; None when nothing is set. ``mask[box]`` is then the crop."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    h, w = mask.shape[:2]
    return (slice(max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, h)),
            slice(max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, w)))
