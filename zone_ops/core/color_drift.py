"""Global colour / brightness drift between an original and an edited image, fitted robustly.

Instruction editors (InstructPix2Pix, MagicBrush, Qwen-Image-Edit, FLUX Kontext, ...) often shift the colours of the
WHOLE picture a little: a cast, a gain, a lifted black level. Comparing the edited image with the original pixel by
pixel then marks the whole image as "changed", or, with a high threshold, erases the real edit. This module fits, per
RGB channel, ``edited ~= gain * original + offset`` on pixels that are known (or assumed) to be untouched, with
iteratively reweighted least squares and Tukey's biweight, so the real edit and other local changes (outliers) do not
bend the fit. The residual spread of the untouched pixels is the noise floor a difference threshold should sit above.

Arrays: images are float32 numpy [H, W, 3] in 0..1; masks are bool [H, W]. Nothing here mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .images import mask_box

#: Tukey biweight tuning constant (95 % efficiency on Gaussian noise).
TUKEY_C = 4.685
#: MAD -> standard deviation of a normal distribution.
MAD_TO_SIGMA = 1.4826
#: Gains outside this range are not a colour drift but a different picture: they are clipped.
GAIN_RANGE = (0.25, 4.0)
#: Below this many untouched pixels the fit is not trusted and the identity is returned.
MIN_SAMPLES = 64
#: A stage uses a fit only when it looks like a drift: every gain in this range and the noise floor below
#: PLAUSIBLE_NOISE (0..1 scale, ~38/255); otherwise the canvas is not a drifted copy of the original outside the edit.
PLAUSIBLE_GAIN = (0.5, 2.0)
PLAUSIBLE_NOISE = 0.15


@dataclass(frozen=True)
class ColorDrift:
    """Per-channel affine drift ``edited = gain * original + offset`` and the residual noise of the fit.

    gain, offset, noise: float32 [3]. noise is the robust standard deviation (MAD x 1.4826) of the residuals of
    the untouched pixels, on the 0..1 scale. samples: how many pixels the fit used (0 for the identity).
    """

    gain: np.ndarray
    offset: np.ndarray
    noise: np.ndarray
    samples: int

    @classmethod
    def identity(cls, noise: float = 0.0) -> ColorDrift:
        return cls(np.ones(3, np.float32), np.zeros(3, np.float32), np.full(3, noise, np.float32), 0)

    @property
    def plausible(self) -> bool:
        """True when the fit looks like a global drift (gains in ``PLAUSIBLE_GAIN``, noise below
        ``PLAUSIBLE_NOISE``), not like two different pictures."""
        lo, hi = PLAUSIBLE_GAIN
        return bool(np.all((self.gain >= lo) & (self.gain <= hi)) and np.all(self.noise < PLAUSIBLE_NOISE))

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.gain == 1.0) and np.all(self.offset == 0.0))

    def apply(self, original: np.ndarray) -> np.ndarray:
        """The original as the editor's drift would show it: gain * original + offset. float32 [H, W, 3]."""
        return (np.asarray(original, np.float32) * self.gain + self.offset).astype(np.float32, copy=False)

    def invert(self, edited: np.ndarray) -> np.ndarray:
        """The edited image with the drift removed: (edited - offset) / gain, in the original's tones.
        float32 [H, W, 3], not clipped."""
        return ((np.asarray(edited, np.float32) - self.offset) / self.gain).astype(np.float32, copy=False)

    def describe(self) -> str:
        """One line for a node's report: gains, offsets (0..255 scale) and the noise floor."""
        g = ", ".join(f"{v:.3f}" for v in self.gain)
        o = ", ".join(f"{v * 255:+.1f}" for v in self.offset)
        n = ", ".join(f"{v * 255:.1f}" for v in self.noise)
        return f"colour drift gain ({g}), offset ({o})/255, noise ({n})/255 over {self.samples} px"


def _fit_channel(x: np.ndarray, y: np.ndarray, iterations: int) -> tuple[float, float, float]:
    """Robust y ~= a * x + b (float64 1-D arrays). Returns (a, b, sigma of the residuals)."""
    a, b = 1.0, float(np.median(y - x))  # start at "offset only": robust even when most pixels are outliers
    sigma = 0.0
    for _ in range(iterations):
        r = y - (a * x + b)
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r))))
        if sigma < 1e-6:  # (nearly) exact fit: done
            break
        u = r / (TUKEY_C * sigma)
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        sw = w.sum()
        if sw <= 0:
            break
        mx, my = (w * x).sum() / sw, (w * y).sum() / sw
        var = (w * (x - mx) ** 2).sum()
        # A flat channel (no spread in the original) cannot tell gain from offset: keep the gain at 1.
        a_new = float((w * (x - mx) * (y - my)).sum() / var) if var > 1e-8 * sw else 1.0
        a_new = float(np.clip(a_new, *GAIN_RANGE))
        b_new = float(my - a_new * mx)
        converged = abs(a_new - a) < 1e-5 and abs(b_new - b) < 1e-6
        a, b = a_new, b_new
        if converged:
            break
    r = y - (a * x + b)
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r))))
    return a, b, sigma


def _sample(keep: np.ndarray | None, n: int, max_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_samples`` pixels drawn without replacement among the ``keep`` ones (bool [n];
    None = all). Large images: candidates are drawn uniformly first, so no index array of the whole image is built."""
    if keep is None:
        return np.arange(n) if n <= max_samples else np.sort(rng.choice(n, size=max_samples, replace=False))
    if n > 8 * max_samples:
        candidates = np.unique(rng.integers(0, n, 4 * max_samples))
        candidates = candidates[keep[candidates]]
        if candidates.size >= max_samples:
            return np.sort(rng.choice(candidates, size=max_samples, replace=False))
    index = np.flatnonzero(keep)
    return np.sort(rng.choice(index, size=max_samples, replace=False)) if index.size > max_samples else index


def fit_color_drift(
    original: np.ndarray,
    edited: np.ndarray,
    untouched: np.ndarray | None = None,
    *,
    max_samples: int = 200_000,
    iterations: int = 20,
    seed: int = 0,
) -> ColorDrift:
    """Fit ``edited ~= gain * original + offset`` per channel on the ``untouched`` pixels.

    original, edited: float [H, W, 3] in 0..1, same size. untouched: bool [H, W] (True = use this pixel), None = all.
    At most ``max_samples`` pixels are drawn (seeded, deterministic). Fewer than 64 usable pixels: the identity, with
    the noise measured on what there is. Edited pixels inside ``untouched`` are outliers and barely move the fit.
    """
    orig = np.asarray(original, np.float32)
    edit = np.asarray(edited, np.float32)
    if orig.shape != edit.shape or orig.ndim != 3 or orig.shape[-1] != 3:
        raise ValueError(f"original {orig.shape} and edited {edit.shape} must both be [H, W, 3]")
    flat_o = orig.reshape(-1, 3)
    flat_e = edit.reshape(-1, 3)
    index = _sample(None if untouched is None else np.asarray(untouched, bool).reshape(-1), flat_o.shape[0],
                    max_samples, np.random.default_rng(seed))
    if index.size < MIN_SAMPLES:
        noise = float(np.std(flat_e[index] - flat_o[index])) if index.size else 0.0
        return ColorDrift.identity(noise)
    gain, offset, noise = fit_channels(flat_o[index], flat_e[index], iterations)
    return ColorDrift(gain, offset, noise, int(index.size))


def fit_channels(original: np.ndarray, edited: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The robust per-channel fit ``edited[:, c] ~= gain[c] * original[:, c] + offset[c]`` of any number of channels
    (RGB here, latent channels in zone_ops.sampling.latent_lock). original, edited: float [N, C] samples.
    Returns float32 (gain, offset, noise) of shape [C]; noise = robust residual standard deviation."""
    xs = np.asarray(original, np.float64)
    ys = np.asarray(edited, np.float64)
    fits = [_fit_channel(xs[:, c], ys[:, c], iterations) for c in range(xs.shape[1])]
    gain, offset, noise = (np.array(v, np.float32) for v in zip(*fits))
    return gain, offset, noise


#: Pixels drawn for a stage's drift fit: enough for six parameters to about +-0.002, and a few ms at any size.
STAGE_SAMPLES = 10_000


def fit_drift_outside(
    original: np.ndarray, edited: np.ndarray, region: np.ndarray, margin: int = 0, *, max_samples: int = STAGE_SAMPLES
) -> ColorDrift:
    """``fit_color_drift`` on the pixels OUTSIDE ``region`` (bool [H, W]) grown by ``margin`` px (square).

    The region is where the edit is (or may be); everything else is assumed untouched, and what the robust fit
    still sees of the edit there is rejected as outliers. An empty region: the whole image is used. A fit that is
    not ``plausible`` (the canvas is another picture, e.g. a flat colour) gives the identity: no correction.
    """
    region = np.asarray(region, bool)
    untouched = ~region
    box = mask_box(region, margin) if margin > 0 else None
    if box is not None:  # grow the region inside its bounding box only
        kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
        untouched[box] = ~cv2.dilate(np.ascontiguousarray(region[box], np.uint8), kernel).view(bool)
    drift = fit_color_drift(original, edited, untouched, max_samples=max_samples)
    return drift if drift.plausible else ColorDrift.identity()
