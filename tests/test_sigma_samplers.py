"""Step rules of zone_ops.sampling.sigma_samplers checked against numbers computed by hand (no ComfyUI needed).

An imperfect denoiser D(x) = 0.5 x + 0.1 (its x0 prediction depends on x, so a wrong coefficient or a wrong
previous-x0 bookkeeping changes the trajectory) on the schedule sigmas = 10, 4, 1, 0 from x = 10.
With e^-h = sigma_next / sigma, DPM-Solver++(2M) is x_next = (s'/s) x + (1 - s'/s) D', where D' = D for the first
step and for the last one (sigma_next = 0), and otherwise D' = (1 + 1/(2r)) D_i - 1/(2r) D_(i-1) with
r = h_last / h = ln(s_(i-1)/s_i) / ln(s_i/s_(i+1)). Euler (= deterministic DDIM in sigma space) is
x_next = x + (x - D) / s * (s' - s).
"""

from __future__ import annotations

import math

import pytest
import torch

from zone_ops.sampling.sigma_samplers import SigmaStepper, dpmpp_2m_step, euler_step

SIGMAS = torch.tensor([10.0, 4.0, 1.0, 0.0], dtype=torch.float64)


def denoiser(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x + 0.1


def trajectory(name: str) -> list[float]:
    stepper = SigmaStepper(name, SIGMAS)
    x = torch.full((1, 1, 1, 1), 10.0, dtype=torch.float64)
    out = []
    for i in range(stepper.steps):
        x = stepper.step(x, denoiser(x), i)
        out.append(float(x))
    return out


def test_dpmpp_2m_by_hand_with_an_imperfect_denoiser():
    # step 0 (first order): D0 = 5.1; x1 = 0.4 * 10 + 0.6 * 5.1 = 7.06
    # step 1: D1 = 3.63, r = ln(2.5) / ln(4) = 0.660964..., D' = (1 + 1/(2r)) * 3.63 - 1/(2r) * 5.1 = 2.517988...
    #         x2 = 0.25 * 7.06 + 0.75 * D' = 3.653491...
    # step 2 (sigma_next = 0, first order): x3 = D2 = 0.5 * x2 + 0.1 = 1.926745...
    r = math.log(10 / 4) / math.log(4 / 1)
    d_prime = (1 + 1 / (2 * r)) * 3.63 - 1 / (2 * r) * 5.1
    assert d_prime == pytest.approx(2.517987927871936)
    assert trajectory("dpmpp_2m") == pytest.approx([7.06, 3.653490945903952, 1.9267454729519762], rel=1e-12)


@pytest.mark.parametrize("name", ["euler", "ddim"])
def test_euler_and_ddim_by_hand_with_an_imperfect_denoiser(name):
    # x1 = 10 + (10 - 5.1) / 10 * (4 - 10) = 7.06; x2 = 7.06 + (7.06 - 3.63) / 4 * (1 - 4) = 4.4875;
    # x3 = 4.4875 + (4.4875 - 2.34375) / 1 * (0 - 1) = 2.34375
    assert trajectory(name) == pytest.approx([7.06, 4.4875, 2.34375], rel=1e-12)


def test_step_functions_match_the_stepper_and_use_the_previous_sigma():
    x, d, old = (torch.full((1, 1, 1, 1), v, dtype=torch.float64) for v in (7.06, 3.63, 5.1))
    s_prev, s, s_next = SIGMAS[0], SIGMAS[1], SIGMAS[2]
    assert float(dpmpp_2m_step(x, d, s_prev, s, s_next, old)) == pytest.approx(3.653490945903952, rel=1e-12)
    assert float(dpmpp_2m_step(x, d, None, s, s_next, None)) == pytest.approx(0.25 * 7.06 + 0.75 * 3.63, rel=1e-12)
    assert float(euler_step(x, d, s, s_next)) == pytest.approx(4.4875, rel=1e-12)
