"""Preview pictures for the nodes: mask overlays and heat maps, float32 [H, W, 3] in 0..1."""

from __future__ import annotations

import cv2
import numpy as np

from .images import resize, to_rgb


def overlay_mask(
    image: np.ndarray,
    mask: np.ndarray,
    color: tuple[float, float, float] = (1.0, 0.15, 0.15),
    alpha: float = 0.45,
    outline: bool = True,
) -> np.ndarray:
    """Tint ``image`` [H, W, 3] where ``mask`` [H, W] is set, and draw the mask outline. Returns a new image."""
    rgb = to_rgb(image)
    m = np.asarray(mask, dtype=np.float32)
    if m.shape != rgb.shape[:2]:
        m = resize(m, rgb.shape[:2], "linear")
    weight = (alpha * np.clip(m, 0.0, 1.0))[..., None]
    out = rgb * (1.0 - weight) + np.asarray(color, dtype=np.float32) * weight
    if outline:
        binary = (m >= 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        thickness = max(1, round(max(rgb.shape[:2]) / 256))
        out = np.ascontiguousarray(out)
        cv2.drawContours(out, contours, -1, tuple(float(c) for c in color), thickness)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def heatmap(values: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Colour-map a [h, w] array (normalised by its own range) to [H, W, 3] (``size`` = (H, W), nearest-free)."""
    v = np.asarray(values, dtype=np.float32)
    lo, hi = float(v.min()), float(v.max())
    v = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    if size is not None:
        v = resize(v, size, "cubic")
    u8 = (np.clip(v, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    bgr = cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO)
    return bgr[..., ::-1].astype(np.float32) / 255.0
