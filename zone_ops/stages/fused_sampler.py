"""Stage 2: fused InstructPix2Pix + MagicBrush sampling (Li et al., CVPR 2024), independent of any model framework.

The engine (``fused_edit``) owns everything that is the METHOD: validation, the working resolution (resize, never
pad; back to the exact original size), the shared seeded initial noise, the step loop with fusion
x_ip2p <- (x_ip2p + beta * x_mb) / (1 + beta) after every step (the MagicBrush trajectory goes on unfused),
progress / cancel, and the attention recorder's lifetime. A ``Backend`` owns the MODELS: text and image encoding,
one guided denoising step per model with its own scheduler state (``Trajectory``), decoding.
Backends: ``zone_ops.sampling.diffusers_backend.DiffusersBackend`` and ``nodes/comfy_backend.py`` (ComfyUI).

Details of the ``Backend`` protocol below:
- ``encode_prompts`` takes the list of B instructions (one per user-batch item, the engine broadcasts a single
  one) and returns (conditioning, token_counts: list[int]).
- ``Trajectory`` also has ``start(noise) -> latents`` (scale the unit noise for its scheduler, e.g. by
  init_noise_sigma) and ``close()`` (the engine always calls it, also on error: remove hooks there).
- ``trajectories(conditioning, image_latents, settings, recorder)``: ``recorder`` is None when attention is not
  recorded (benchmarks); the IP2P trajectory feeds it, the MagicBrush one never does.
- ``fused_edit`` accepts ``instruction`` as a string or a sequence of B strings (or 1) and returns numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from .attention_hook import BRANCHES, DEFAULT_RECORD_BRANCHES, AttentionRecorder
from ..core.images import ZoneInputError, broadcast_batch, resize_image, to_rgb
from ..core.types import ZoneAttention

#: Scheduler choices: DPM-Solver++ 2M (official), DDIM, Euler.
SCHEDULERS: tuple[str, ...] = ("dpmpp_2m", "ddim", "euler")
#: SD1.5-family latent layout: 4 channels at 1/8 of the image size.
LATENT_CHANNELS = 4
#: UNet input channels of an instruction-editing model: noisy latent + image latent.
IP2P_IN_CHANNELS = 2 * LATENT_CHANNELS
LATENT_FACTOR = 8
#: Working sizes are multiples of this (the UNet downsamples the latent 3 times: 8 * 8 = 64 pixels).
SIZE_MULTIPLE = 64


@dataclass(frozen=True)
class SamplerSettings:
    """Sampling parameters (official defaults: 20 DPM-Solver++ 2M steps, text 7.5, image 1.5).

    beta:            fusion weight (the node sets it from ZONE_ACTION: zone_ops.core.types.default_beta; 0.2 remove,
                     0.01 otherwise); ignored without a MagicBrush model.
    record_branches: guidance branches whose attention is averaged ("text", "image", "uncond"; official: the two
                     empty-prompt ones).
    working_size:    longest side of the working resolution in pixels (each side rounded to a multiple of 64).
    """

    steps: int = 20
    text_scale: float = 7.5
    image_scale: float = 1.5
    beta: float = 0.01
    scheduler: str = "dpmpp_2m"
    seed: int = 0
    record_branches: tuple[str, ...] = field(default=DEFAULT_RECORD_BRANCHES)
    working_size: int = 512

    def __post_init__(self) -> None:
        if not 1 <= int(self.steps) <= 1000:
            raise ZoneInputError(f"steps must be between 1 and 1000, got {self.steps}")
        for name in ("text_scale", "image_scale", "beta"):
            if not math.isfinite(float(getattr(self, name))):
                raise ZoneInputError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.beta < 0:
            raise ZoneInputError(f"beta must be >= 0 (0 = plain IP2P), got {self.beta}")
        if self.scheduler not in SCHEDULERS:
            raise ZoneInputError(f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if not self.record_branches or set(self.record_branches) - set(BRANCHES):
            raise ZoneInputError(f"record_branches must be a non-empty subset of {BRANCHES}, got {self.record_branches}")
        if int(self.working_size) < SIZE_MULTIPLE:
            raise ZoneInputError(f"working_size must be at least {SIZE_MULTIPLE} pixels, got {self.working_size}")


def guided_eps(e_text: torch.Tensor, e_image: torch.Tensor, e_uncond: torch.Tensor, text_scale: float, image_scale: float) -> torch.Tensor:
    """Three-branch guidance: u + sT*(e_text - e_image) + sI*(e_image - u) (the order of diffusers' IP2P pipeline)."""
    return e_uncond + text_scale * (e_text - e_image) + image_scale * (e_image - e_uncond)


def fuse(x_ip2p: torch.Tensor, x_mb: torch.Tensor, beta: float) -> torch.Tensor:
    """ZONE's latent fusion: (x_ip2p + beta * x_mb) / (1 + beta). beta = 0 returns x_ip2p's values exactly."""
    return (x_ip2p + beta * x_mb) / (1 + beta)


def working_size(height: int, width: int, longest: int = 512, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(h, w) with the longest side ~``longest`` and the aspect kept, each side rounded to a multiple of ``multiple``
    (at least ``multiple``). E.g. 300x451 -> 320x512."""
    if height < 1 or width < 1:
        raise ZoneInputError(f"image size must be positive, got {height}x{width}")
    scale = longest / max(height, width)

    def snap(side: int) -> int:
        return max(multiple, int(round(side * scale / multiple)) * multiple)

    return snap(height), snap(width)


def seeded_noise(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Unit Gaussian noise, float32 on CPU, from a CPU generator: the same numbers on every device."""
    generator = torch.Generator("cpu").manual_seed(int(seed) % (2**64))
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)


class Trajectory(Protocol):
    """One model's denoising trajectory with its own scheduler state."""

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        """Initial latents from unit noise [B, 4, h/8, w/8] (e.g. noise * init_noise_sigma)."""

    def step(self, latents: torch.Tensor, index: int) -> torch.Tensor:
        """One guided denoising step (index 0..steps-1) -> the next latents (same shape)."""

    def close(self) -> None:
        """Release what the trajectory installed (attention hooks); called by the engine, also on error."""


class Backend(Protocol):
    """What a model framework provides to the engine."""

    def encode_prompts(self, instructions: list[str]) -> tuple[Any, list[int]]:
        """Conditioning for the three branches [instruction, "", ""] of B instructions, and per item the token
        count L (including start and end tokens)."""

    def encode_images(self, images: torch.Tensor) -> Any:
        """images float32 CPU [B, h, w, 3] in 0..1 at the working size -> image conditioning (VAE posterior MODE,
        NOT scaled by the VAE scaling factor), backend-specific, passed back to ``trajectories`` unchanged."""

    def initial_noise(self, shape: Sequence[int], seed: int) -> torch.Tensor:
        """Unit noise of ``shape`` [B, 4, h/8, w/8] for ``seed`` (deterministic; usually ``seeded_noise``)."""

    def trajectories(
        self, conditioning: Any, image_latents: Any, settings: SamplerSettings, recorder: AttentionRecorder | None
    ) -> tuple[Trajectory, Trajectory | None]:
        """(IP2P trajectory feeding ``recorder``, MagicBrush trajectory or None)."""

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """IP2P latents [B, 4, h/8, w/8] (scaled space) -> images float [B, h, w, 3] in 0..1."""


@dataclass(frozen=True)
class FusedResult:
    """canvas: float32 numpy [B, H, W, 3] in 0..1 at the ORIGINAL size; attention: ZoneAttention;
    working_size: the (h, w) the models ran at."""

    canvas: np.ndarray
    attention: ZoneAttention
    working_size: tuple[int, int]


def diverged_error(settings: SamplerSettings, dtype: torch.dtype | None = None) -> ZoneInputError:
    """The error for a canvas with NaN/inf values, saying what to try: fp16 overflow first (only when the model runs
    in fp16), then guidance scales far from the defaults, then damaged model files."""
    tips = []
    if dtype == torch.float16:
        tips.append("run the models in fp32 or bf16 instead of fp16 (CLI: --dtype fp32; ComfyUI: --force-fp32)")
    default = SamplerSettings()
    tips.append(f"use guidance scales near the defaults (text_scale {default.text_scale:g}, image_scale "
                f"{default.image_scale:g}; now {settings.text_scale:g} and {settings.image_scale:g})")
    tips.append("if that does not help, the model files may be damaged: download them again")
    return ZoneInputError("the sampler's result has NaN/inf values (the edit diverged): " + "; or ".join(tips))


def _as_image_batch(images: Any) -> np.ndarray:
    """A float32 [B, H, W, 3] batch in 0..1 from a [B,H,W,C] / [H,W,C] numpy array or torch tensor (any float
    dtype, or uint8 read as 0..255)."""
    if isinstance(images, torch.Tensor):
        images = images.detach().to("cpu")
        images = images.numpy() if images.dtype in (torch.uint8, torch.bool) else images.to(torch.float32).numpy()
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[0] < 1:
        raise ZoneInputError(f"images must be a batch [B, H, W, C], got shape {tuple(np.shape(images))}")
    return np.stack([to_rgb(arr[i], name=f"image {i}") for i in range(arr.shape[0])])


def _as_instructions(instruction: str | Sequence[str]) -> list[str]:
    texts = [instruction] if isinstance(instruction, str) else list(instruction)
    if not texts:
        raise ZoneInputError("no instruction given: write what to change, e.g. 'make the sky pink'")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ZoneInputError(f"instruction {i} is empty: write what to change, e.g. 'make the sky pink'")
    return [t.strip() for t in texts]


def fused_edit(
    backend: Backend,
    images: Any,
    instruction: str | Sequence[str],
    settings: SamplerSettings = SamplerSettings(),
    *,
    progress: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> FusedResult:
    """Edit ``images`` (float [B, H, W, 3] or [H, W, 3] in 0..1, original size) by ``instruction`` (one string, or
    one per image) with fused IP2P (+ MagicBrush) sampling; returns the canvas at the ORIGINAL size and the
    averaged cross-attention. ``progress(done, total)`` is called after every step, ``check_cancel()`` before
    every step (it raises to abort; hooks are removed either way)."""
    batch_images = _as_image_batch(images)
    texts = _as_instructions(instruction)
    batch = broadcast_batch(images=batch_images.shape[0], instructions=len(texts))
    if batch_images.shape[0] == 1 and batch > 1:
        batch_images = np.repeat(batch_images, batch, axis=0)
    texts = texts * batch if len(texts) == 1 else texts
    original = batch_images.shape[1:3]
    work = working_size(*original, longest=int(settings.working_size))
    resized = np.stack([resize_image(img, work) for img in batch_images])

    recorder = AttentionRecorder(batch, settings.record_branches)
    with torch.no_grad():
        conditioning, token_counts = backend.encode_prompts(texts)
        image_latents = backend.encode_images(torch.from_numpy(resized))
        noise = backend.initial_noise((batch, LATENT_CHANNELS, work[0] // LATENT_FACTOR, work[1] // LATENT_FACTOR), settings.seed)
        ip2p, magicbrush = backend.trajectories(conditioning, image_latents, settings, recorder)
        try:
            x = ip2p.start(noise)
            y = magicbrush.start(noise) if magicbrush is not None else None
            for index in range(settings.steps):
                if check_cancel is not None:
                    check_cancel()
                x = ip2p.step(x, index)
                if magicbrush is not None:
                    y = magicbrush.step(y, index)
                    x = fuse(x, y, settings.beta)
                if progress is not None:
                    progress(index + 1, settings.steps)
        finally:
            for trajectory in (ip2p, magicbrush):
                if trajectory is not None:
                    trajectory.close()
        decoded = backend.decode(x).detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(decoded).all():
        raise diverged_error(settings, getattr(backend, "dtype", None))
    canvas = np.stack([resize_image(img, original) for img in decoded]).astype(np.float32)
    attention = recorder.to_attention(token_counts, original, settings.steps)
    return FusedResult(canvas=canvas, attention=attention, working_size=work)
