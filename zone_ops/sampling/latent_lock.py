"""Latent lock: the unedited region follows the ORIGINAL's trajectory while sampling; only the edit is generated.

At every model call of a sampling run the x0 prediction is blended with the original latent outside the edit
region, and the model's input there is the original at the current noise level:

    x_in = x * keep + renoise(sigma, noise, original) * (1 - keep)
    x0   = D(x_in, sigma) * keep + original * (1 - keep)

``keep`` is 1 inside the edit region (the model samples freely), 0 where the original is locked, with a soft border
of ``feather`` latent pixels that lies INSIDE the region (outside it the lock is complete). This is the formula of
ComfyUI's latent noise mask (KSamplerX0Inpaint), applied to any target latent and with a mask that can be found
during sampling: ``find`` mode samples freely up to step ``find_at`` x steps, compares that step's x0 prediction with
the original after removing a global drift (a robust per-channel gain + offset fit, the colour-drift fit of
zone_ops.core.color_drift on latent channels), thresholds the change, and locks from that step on.

Shapes: latents [B, C, h, w] or [B, C, T, h, w] (video-style latents, e.g. Qwen-Image's); masks at image resolution
[B, H, W] or [H, W] float 0..1; ``keep`` [B, 1, h, w] float32 in 0..1 (broadcast over channels and T). sigmas: the
run's schedule, a 1-D decreasing tensor ending in 0. Pure torch / numpy / cv2; no framework. Nothing mutates its input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..core.color_drift import MAD_TO_SIGMA, fit_channels
from ..core.images import ZoneInputError
from ..stages.attention_to_mask import remove_small_regions
from ..stages.fft_edge_smoother import fill_holes

#: A latent pixel belongs to the region when the mask covers more than this fraction of it.
COVERAGE = 0.01
#: Pixels drawn for the drift fit of one item (the fit is on latent pixels: a 1 MP image has ~16k).
FIT_SAMPLES = 20_000
#: Found regions smaller than this many latent pixels are dropped (specks).
MIN_AREA = 4

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Renoise = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def eps_renoise(sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """The latent at noise level ``sigma`` in sigma space (EPS / v models): latent + sigma * noise.
    ``sigma``: a scalar or [B] tensor. (A ComfyUI model's own rule is model_sampling.noise_scaling.)"""
    return latent + _per_item(sigma, noise.ndim) * noise


def flow_renoise(sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """Rectified-flow noise level (FLUX, Qwen-Image, SD3): sigma * noise + (1 - sigma) * latent."""
    s = _per_item(sigma, noise.ndim)
    return s * noise + (1.0 - s) * latent


def _per_item(sigma: torch.Tensor | float, ndim: int) -> torch.Tensor:
    sigma = torch.as_tensor(sigma)
    return sigma.reshape(sigma.shape[:1] + (1,) * (ndim - min(sigma.ndim, 1))) if sigma.ndim else sigma


def lock(x: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``x * keep + target * (1 - keep)`` (ComfyUI's own inpaint blend, same operations): keep 1 returns x's values,
    keep 0 the target's. keep [B, 1, h, w] broadcasts over channels (and T of 5-D latents)."""
    keep = _expand_keep(keep, x)
    return x * keep + target * (1.0 - keep)


def _expand_keep(keep: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """keep [B, 1, h, w] -> [B, 1, (1,) h, w] on ``like``'s device and dtype, batch repeated to like's batch."""
    keep = keep.to(like.device, like.dtype)
    if keep.shape[0] != like.shape[0]:
        keep = keep.repeat((like.shape[0] // keep.shape[0],) + (1,) * (keep.ndim - 1))
    return keep.reshape(keep.shape[:2] + (1,) * (like.ndim - 4) + keep.shape[-2:])


def _as_mask_batch(mask: torch.Tensor | np.ndarray) -> torch.Tensor:
    mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).detach()
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3 or mask.shape[0] < 1 or mask.shape[1] < 1 or mask.shape[2] < 1:
        raise ZoneInputError(f"mask must be a MASK [B, H, W] or [H, W], got shape {tuple(mask.shape)}")
    mask = mask.to("cpu", torch.float32)
    if not torch.isfinite(mask).all():
        raise ZoneInputError("mask has NaN/inf values")
    return mask.clamp(0.0, 1.0)


def soft_mask(mask: torch.Tensor | np.ndarray, size: tuple[int, int], feather: float = 2.0, grow: int = 1) -> torch.Tensor:
    """The lock's ``keep`` at latent resolution from an image-resolution mask (1 = the edit may change it).

    mask [B, H, W] / [H, W] float 0..1 of any size (stretched to the latent's aspect, as the image was); a latent
    pixel is in the region when the mask covers more than ``COVERAGE`` of it; the region is grown by ``grow`` latent
    pixels (square), then ``keep`` ramps from 0 on the region's border to 1 at ``feather`` latent pixels inside it
    (smoothstep of the Euclidean distance; feather 0 = hard). Outside the region keep is exactly 0.
    Returns float32 [B, 1, h, w] on the CPU."""
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ZoneInputError(f"latent size must be positive, got {h}x{w}")
    if not math.isfinite(feather) or feather < 0 or grow < 0:
        raise ZoneInputError(f"feather and grow must be >= 0, got {feather} and {grow}")
    coverage = F.adaptive_avg_pool2d(_as_mask_batch(mask)[:, None], (h, w))[:, 0].numpy()
    out = np.zeros((coverage.shape[0], 1, h, w), np.float32)
    for i, cov in enumerate(coverage):
        region = np.ascontiguousarray(cov > COVERAGE, np.uint8)
        if grow > 0:
            region = cv2.dilate(region, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        out[i, 0] = keep_from_region(region.astype(bool), feather)
    return torch.from_numpy(out)


def keep_from_region(region: np.ndarray, feather: float) -> np.ndarray:
    """float32 [h, w]: 0 outside bool ``region``, smoothstep(distance to the outside / (feather + 1)) inside (1 from
    ``feather`` + 1 pixels in; feather 0 = the region itself)."""
    region = np.asarray(region, bool)
    if feather <= 0 or not region.any():
        return region.astype(np.float32)
    if region.all():
        return np.ones(region.shape, np.float32)
    padded = np.pad(region, 1, mode="edge")  # the image frame is not "outside": only the unmasked area is
    distance = cv2.distanceTransform(padded.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    t = np.clip(distance / (float(feather) + 1.0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


@dataclass(frozen=True)
class ChangeMask:
    """Result of ``change_mask``: mask bool [B, h, w] (True = changed); score float32 [B, h, w] (drift-removed
    change in units of each channel's robust spread in the original); threshold per item; gain / offset of the
    removed drift per item and channel."""

    mask: np.ndarray
    score: np.ndarray
    threshold: np.ndarray
    gain: np.ndarray
    offset: np.ndarray

    @property
    def coverage(self) -> np.ndarray:
        """Fraction of the latent found changed, per item."""
        return self.mask.reshape(self.mask.shape[0], -1).mean(axis=1)


def _channels_first(latent: torch.Tensor) -> np.ndarray:
    """[B, C, (T,) h, w] tensor -> float32 numpy [B, C*T, h, w]."""
    if latent.ndim not in (4, 5):
        raise ZoneInputError(f"latents must be [B, C, h, w] or [B, C, T, h, w], got shape {tuple(latent.shape)}")
    arr = latent.detach().to("cpu", torch.float32)
    return arr.reshape(arr.shape[0], -1, arr.shape[-2], arr.shape[-1]).numpy()


def change_mask(
    denoised: torch.Tensor, original: torch.Tensor, threshold: float = 3.0, min_change: float = 0.25, seed: int = 0
) -> ChangeMask:
    """Where the x0 prediction ``denoised`` differs from ``original`` beyond a global drift.

    Per item: fit ``denoised_c ~= gain_c * original_c + offset_c`` per latent channel robustly (Tukey IRLS: the
    edit is an outlier); residual per channel divided by the channel's robust spread (MAD x 1.4826) in the original;
    score = RMS over channels, 3x3 median filtered (specks, no growth). Changed where score > max(threshold x the
    fit's own noise floor, ``min_change``); regions below MIN_AREA px dropped, holes filled.
    denoised, original: [B, C, (T,) h, w] (original batch 1 or B), same layout (the sampler's space)."""
    if not (math.isfinite(threshold) and threshold > 0 and math.isfinite(min_change) and min_change >= 0):
        raise ZoneInputError(f"threshold must be > 0 and min_change >= 0, got {threshold} and {min_change}")
    e, o = _channels_first(denoised), _channels_first(original)
    if o.shape[1:] != e.shape[1:] or o.shape[0] not in (1, e.shape[0]):
        raise ZoneInputError(f"original latent {tuple(original.shape)} does not match the sampled latent {tuple(denoised.shape)}")
    rng = np.random.default_rng(seed)
    b, c, h, w = e.shape
    masks, scores, thresholds, gains, offsets = [], [], [], [], []
    for i in range(b):
        oi = o[min(i, o.shape[0] - 1)].reshape(c, -1).T
        ei = e[i].reshape(c, -1).T
        index = np.arange(oi.shape[0]) if oi.shape[0] <= FIT_SAMPLES else rng.choice(oi.shape[0], FIT_SAMPLES, replace=False)
        gain, offset, noise = fit_channels(oi[index], ei[index])
        spread = MAD_TO_SIGMA * np.median(np.abs(oi - np.median(oi, axis=0)), axis=0)
        spread = np.maximum(spread, 1e-3 * max(float(np.abs(oi).max()), 1e-6)).astype(np.float32)
        residual = (ei - (gain * oi + offset)) / spread
        score = np.sqrt(np.mean(residual * residual, axis=1)).reshape(h, w).astype(np.float32)
        score = cv2.medianBlur(score, 3) if min(h, w) >= 3 else score
        floor = float(np.sqrt(np.mean((noise / spread) ** 2)))
        tau = max(threshold * floor, min_change)
        mask = fill_holes(remove_small_regions(score > tau, MIN_AREA))
        masks.append(mask)
        scores.append(score)
        thresholds.append(tau)
        gains.append(gain)
        offsets.append(offset)
    return ChangeMask(np.stack(masks), np.stack(scores), np.array(thresholds, np.float32), np.stack(gains),
                      np.stack(offsets))


@dataclass(frozen=True)
class LockSettings:
    """feather / grow: soft border and growth of the region, latent px (see ``soft_mask``). find_at: in find mode,
    the fraction of the steps after which the change is measured (0 = the first x0 prediction). threshold /
    min_change: ``change_mask``'s."""

    feather: float = 1.0
    grow: int = 1
    find_at: float = 0.3
    threshold: float = 3.0
    min_change: float = 0.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.feather) and self.feather >= 0) or int(self.grow) < 0:
            raise ZoneInputError(f"feather and grow must be >= 0, got {self.feather} and {self.grow}")
        if not (math.isfinite(self.find_at) and 0.0 <= self.find_at <= 1.0):
            raise ZoneInputError(f"find_at must be a fraction of the steps in 0..1, got {self.find_at}")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ZoneInputError(f"threshold must be > 0, got {self.threshold}")
        if not (math.isfinite(self.min_change) and self.min_change >= 0):
            raise ZoneInputError(f"min_change must be >= 0, got {self.min_change}")


def step_index(sigmas: torch.Tensor, sigma: torch.Tensor | float) -> int:
    """The step of the schedule ``sigmas`` a model call at ``sigma`` belongs to (k for sigmas[k] >= sigma >
    sigmas[k+1]; calls between two sigmas, e.g. Heun's second one, count for the step they are inside)."""
    s = float(torch.as_tensor(sigma).reshape(-1)[0])
    levels = sigmas[:-1].detach().to("cpu", torch.float64)
    return max(0, int((levels >= s * (1 - 1e-5) - 1e-12).sum()) - 1)


@dataclass
class LatentLock:
    """One sampling run's lock (create one per run: it keeps the mask it finds).

    original: the target latent in the sampler's space [B or 1, C, (T,) h, w]. sigmas: the run's schedule.
    noise: the run's unit noise (as the sampler got it), or None: then estimated from the first model input.
    keep: a given [B, 1, h, w] (``soft_mask``), or None to find it (find mode). renoise(sigma, noise, latent): the
    model's noise rule (``eps_renoise``, ``flow_renoise`` or ComfyUI's model_sampling.noise_scaling).
    ``__call__(denoise, x, sigma)`` is the locked x0 prediction; an all-ones ``keep`` calls ``denoise`` untouched.
    """

    original: torch.Tensor
    sigmas: torch.Tensor
    settings: LockSettings = field(default_factory=LockSettings)
    noise: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    renoise: Renoise = eps_renoise
    found: ChangeMask | None = None
    found_at: int | None = None
    _free: bool | None = field(default=None, repr=False)  # keep is all ones (set on the first locked call)
    _cached_target: torch.Tensor | None = field(default=None, repr=False)

    @property
    def steps(self) -> int:
        return int(self.sigmas.shape[0]) - 1

    @property
    def find_step(self) -> int:
        return min(self.steps - 1, max(0, int(round(self.settings.find_at * self.steps))))

    def _target(self, x: torch.Tensor) -> torch.Tensor:
        """The original on x's device / dtype and batch (cached: the same tensor for every call of the run)."""
        cached = self._cached_target
        if cached is not None and cached.shape == x.shape and cached.device == x.device and cached.dtype == x.dtype:
            return cached
        original = self.original
        if original.shape[1:] != x.shape[1:] or x.shape[0] % original.shape[0]:
            raise ZoneInputError(
                f"the original latent {tuple(original.shape)} does not match the sampled latent {tuple(x.shape)}: "
                "encode the same (scaled) image the sampler's latent comes from"
            )
        original = original.to(x.device, x.dtype)
        if original.shape[0] != x.shape[0]:
            original = original.repeat((x.shape[0] // original.shape[0],) + (1,) * (x.ndim - 1))
        self._cached_target = original
        return original

    def __call__(self, denoise: Denoiser, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        target = self._target(x)
        if self.noise is None:  # no run start seen: the first input is taken as pure noise at this level
            unit = self.renoise(sigma, torch.ones_like(x), torch.zeros_like(x))
            self.noise = x / unit
        if self.keep is None:
            if step_index(self.sigmas, sigma) < self.find_step:
                return denoise(x, sigma)
            x0 = denoise(x, sigma)
            self.found = change_mask(x0, target, self.settings.threshold, self.settings.min_change)
            self.found_at = step_index(self.sigmas, sigma)
            regions = self.found.mask.astype(np.float32)
            regions[~self.found.mask.reshape(len(regions), -1).any(axis=1)] = 1.0  # nothing found: lock nothing there
            self.keep = soft_mask(regions, x.shape[-2:], self.settings.feather, int(self.settings.grow))
            return lock(x0, target, self.keep)
        if self._free is None or self.keep.device != x.device:  # once per run: no device sync in the steps
            self.keep = self.keep.to(x.device)
            self._free = bool((self.keep == 1).all())
        if self._free:
            return denoise(x, sigma)
        noise = self.noise.to(x.device, x.dtype)
        x_in = lock(x, self.renoise(sigma, noise, target), self.keep)
        return lock(denoise(x_in, sigma), target, self.keep)
