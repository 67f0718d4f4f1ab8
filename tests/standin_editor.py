"""An analytic stand-in for an instruction editor, for the latent-lock tests and benchmarks (no weights, exact maths).

``StandInEditor(original, region, noise, gain, offset, delta)`` is a denoiser D(x, sigma) -> x0 in sigma space
(x = x0 + sigma * noise) that behaves like an editor with the two defects the lock addresses:
- a GLOBAL DRIFT: outside the edit it predicts ``gain * original + offset`` (per channel), not the original;
- an edit generated IN CONTEXT: inside ``region`` it predicts the mean of its current context plus ``delta``
  (per channel), the context being the clean content its input implies (x - sigma * noise) on a ring of
  ``RING`` latent pixels around the region. Without a lock that context is the drifted picture; with the lock
  (the original at the current noise level outside the region) it is the original.
``ideal`` is the same editor without drift (gain 1, offset 0): what a perfectly local editor would output.
``sample(denoise, sigmas, noise, stepper)`` runs a SigmaStepper from pure noise (an empty latent, x = sigma0 * noise).
Shapes: latents [1, C, h, w] float32; region bool [h, w].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from comfyui_zone.zone_ops.sampling.sigma_samplers import SigmaStepper

RING = 3


def karras_sigmas(steps: int, sigma_min: float = 0.0292, sigma_max: float = 14.6146, rho: float = 7.0) -> torch.Tensor:
    """k-diffusion's Karras schedule (SD1.5's sigma range), ending in 0."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])]).to(torch.float32)


def smooth_latent(channels: int, h: int, w: int, seed: int) -> torch.Tensor:
    """A latent-like random field [1, C, h, w]: unit-variance noise blurred (spatially correlated, like a VAE latent)."""
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(1, channels, h + 4, w + 4, generator=g)
    field = F.avg_pool2d(raw, 5, stride=1)
    return (field / field.std()).contiguous()


def rectangle(h: int, w: int, top: int, left: int, height: int, width: int) -> torch.Tensor:
    region = torch.zeros(h, w, dtype=torch.bool)
    region[top:top + height, left:left + width] = True
    return region


def ring_of(region: torch.Tensor, width: int = RING) -> torch.Tensor:
    grown = F.max_pool2d(region[None, None].float(), 2 * width + 1, stride=1, padding=width)[0, 0] > 0
    return grown & ~region


@dataclass
class StandInEditor:
    original: torch.Tensor
    region: torch.Tensor
    noise: torch.Tensor
    gain: torch.Tensor
    offset: torch.Tensor
    delta: torch.Tensor
    calls: int = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1)[:1].reshape(1, 1, 1, 1)
        clean = x - s * self.noise
        context = clean[..., ring_of(self.region)].mean(dim=-1)  # [B, C]
        drifted = (self.gain.view(1, -1, 1, 1) * self.original + self.offset.view(1, -1, 1, 1)).expand_as(x)
        edit = (context + self.delta.view(1, -1))[..., None, None].expand_as(x)
        return torch.where(self.region, edit, drifted)

    def ideal(self) -> "StandInEditor":
        return StandInEditor(self.original, self.region, self.noise, torch.ones_like(self.gain),
                             torch.zeros_like(self.offset), self.delta)


def standin(h: int = 48, w: int = 64, channels: int = 4, seed: int = 0, region: torch.Tensor | None = None) -> StandInEditor:
    """The default stand-in: a 48x64 latent, a 16x20 region, gain 1.15 / offset 0.3 drift, an edit of +2.5."""
    original = smooth_latent(channels, h, w, seed)
    g = torch.Generator().manual_seed(seed + 1)
    noise = torch.randn(1, channels, h, w, generator=g)
    region = rectangle(h, w, 14, 22, 16, 20) if region is None else region
    return StandInEditor(original, region, noise, torch.full((channels,), 1.15), torch.full((channels,), 0.3),
                         torch.full((channels,), 2.5))


def sample(denoise, sigmas: torch.Tensor, noise: torch.Tensor, stepper: str = "dpmpp_2m") -> torch.Tensor:
    """Sample from an empty latent (x = sigmas[0] * noise) with ``denoise(x, sigma)`` and a SigmaStepper."""
    steps = SigmaStepper(stepper, sigmas)
    x = sigmas[0] * noise
    for i in range(steps.steps):
        x = steps.step(x, denoise(x, sigmas[i].reshape(1)), i)
    return x
