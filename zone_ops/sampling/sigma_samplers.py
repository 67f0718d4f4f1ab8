"""Step-wise k-diffusion samplers in sigma space (x = x0 + sigma * eps), for backends that drive one step at a time.

The fused sampler runs two models side by side with a fusion between steps, so a whole-trajectory sampler
function (k-diffusion's ``sample_*``) cannot be used; these steppers compute the same update, one step per call,
with the same floating-point operations in the same order as k-diffusion (and ComfyUI's copy of it), so a
trajectory driven step by step equals the library sampler's result.

- ``SigmaStepper(name, sigmas)``: ``step(x, denoised, index) -> x_next`` for index 0..len(sigmas)-2; ``denoised``
  is the (guided) x0 prediction at ``sigmas[index]``. Names: "dpmpp_2m" (DPM-Solver++ 2M, keeps the previous
  x0), "euler", and "ddim" (deterministic DDIM = the Euler step of the probability-flow ODE in sigma space,
  which is what ComfyUI's "ddim" sampler runs).
Shapes: x, denoised [B, C, h, w]; sigmas a 1-D tensor ending in 0 (same device as x). Pure torch, no framework.
"""

from __future__ import annotations

import torch

#: Step rules this module implements.
STEPPERS: tuple[str, ...] = ("dpmpp_2m", "ddim", "euler")


def _append_dims(value: torch.Tensor, ndim: int) -> torch.Tensor:
    """``value`` with trailing singleton axes up to ``ndim`` dimensions (k-diffusion's append_dims)."""
    return value[(...,) + (None,) * (ndim - value.ndim)]


def euler_step(x: torch.Tensor, denoised: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """One Euler step of the probability-flow ODE: d = (x - x0) / sigma; x + d * (sigma_next - sigma)."""
    d = (x - denoised) / _append_dims(sigma, x.ndim)
    return x + d * (sigma_next - sigma)


def dpmpp_2m_step(
    x: torch.Tensor,
    denoised: torch.Tensor,
    sigma_prev: torch.Tensor | None,
    sigma: torch.Tensor,
    sigma_next: torch.Tensor,
    old_denoised: torch.Tensor | None,
) -> torch.Tensor:
    """One DPM-Solver++(2M) step from ``sigma`` to ``sigma_next`` (first-order when there is no previous x0 or
    when ``sigma_next`` is 0). ``sigma_prev``/``old_denoised``: the previous step's sigma and x0 prediction."""
    t, t_next = sigma.log().neg(), sigma_next.log().neg()
    h = t_next - t
    ratio = t_next.neg().exp() / t.neg().exp()
    if old_denoised is None or bool(sigma_next == 0):
        return ratio * x - (-h).expm1() * denoised
    h_last = t - sigma_prev.log().neg()
    r = h_last / h
    denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
    return ratio * x - (-h).expm1() * denoised_d


class SigmaStepper:
    """Stateful step rule on a fixed sigma schedule (one instance per trajectory).

    name:   "dpmpp_2m" | "euler" | "ddim".
    sigmas: 1-D tensor [steps + 1], decreasing, usually ending in 0.
    """

    def __init__(self, name: str, sigmas: torch.Tensor) -> None:
        if name not in STEPPERS:
            raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(STEPPERS)}")
        if sigmas.ndim != 1 or sigmas.shape[0] < 2:
            raise ValueError(f"sigmas must be a 1-D schedule of at least 2 values, got shape {tuple(sigmas.shape)}")
        self.name = name
        self.sigmas = sigmas
        self._old_denoised: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return int(self.sigmas.shape[0]) - 1

    def step(self, x: torch.Tensor, denoised: torch.Tensor, index: int) -> torch.Tensor:
        """x at ``sigmas[index]`` and its x0 prediction -> x at ``sigmas[index + 1]``."""
        if not 0 <= index < self.steps:
            raise IndexError(f"step {index} outside 0..{self.steps - 1}")
        sigmas = self.sigmas
        if self.name == "dpmpp_2m":
            previous = sigmas[index - 1] if index > 0 else None
            out = dpmpp_2m_step(x, denoised, previous, sigmas[index], sigmas[index + 1], self._old_denoised)
            self._old_denoised = denoised
            return out
        return euler_step(x, denoised, sigmas[index], sigmas[index + 1])
