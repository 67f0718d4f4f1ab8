"""ComfyUI IMAGE / MASK tensors <-> the numpy arrays zone_ops works on.

IMAGE: float [B, H, W, C] in 0..1.  MASK: float [B, H, W] in 0..1 (a [H, W] mask is taken as a batch of 1).
Inputs of any dtype are accepted: float16 / bfloat16 / float64 are cast, uint8 (some third-party nodes emit it) is
read as 0..255, bool masks as 0 / 1 (``zone_ops.core.images.as_float01``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..zone_ops.core.images import ZoneInputError, as_float01

#: The two image inputs of the post-processing nodes that compare the edit with the original.
ORIGINAL_AND_CANVAS = {
    "original": ("IMAGE", {"tooltip": "The unedited image (sets the output size)."}),
    "canvas": ("IMAGE", {"tooltip": "The edited image from the ZONE Fused IP2P Sampler."}),
}


def batch_len(tensor: torch.Tensor) -> int:
    """Batch size of an IMAGE [B,H,W,C] or MASK [B,H,W] / [H,W] tensor."""
    return 1 if tensor.ndim == 2 else int(tensor.shape[0])


def _numpy01(item: torch.Tensor) -> np.ndarray:
    """A tensor as float32 numpy on the 0..1 scale (may share memory with a float32 CPU input: read only)."""
    item = item.detach().to("cpu")
    return as_float01(item.numpy()) if item.dtype in (torch.uint8, torch.bool) else item.to(torch.float32).numpy()


def image_item(image: torch.Tensor, index: int) -> np.ndarray:
    """Item ``index`` of an IMAGE batch as float32 numpy [H, W, C] (a batch of 1 broadcasts)."""
    if image.ndim != 4:
        raise ZoneInputError(f"expected an IMAGE [B, H, W, C], got shape {tuple(image.shape)}")
    i = index if image.shape[0] > 1 else 0
    return _numpy01(image[i])


def mask_item(mask: torch.Tensor, index: int) -> np.ndarray:
    """Item ``index`` of a MASK batch as float32 numpy [H, W] (a batch of 1 or a [H, W] mask broadcasts)."""
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3:
        raise ZoneInputError(f"expected a MASK [B, H, W], got shape {tuple(mask.shape)}")
    i = index if mask.shape[0] > 1 else 0
    return _numpy01(mask[i])


def _stack(arrays: list[np.ndarray], what: str) -> torch.Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ZoneInputError(f"the {what} results have different sizes {sorted(shapes)}; use images of one size per batch")
    return torch.from_numpy(np.stack([np.ascontiguousarray(a, dtype=np.float32) for a in arrays]))


def to_image(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack float32 [H, W, C] arrays into an IMAGE [B, H, W, C]."""
    return _stack(arrays, "image")


def to_mask(arrays: list[np.ndarray]) -> torch.Tensor:
    """Stack [H, W] arrays (bool or float) into a MASK [B, H, W] in 0..1."""
    return _stack([np.asarray(a, dtype=np.float32) for a in arrays], "mask")
