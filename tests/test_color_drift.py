"""Robust global colour drift fit: known gains/offsets recovered despite a real local edit, noise floor measured."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo

from zone_ops.core.color_drift import ColorDrift, fit_color_drift


def _drifted(img: np.ndarray, gain, offset, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    out = img * np.asarray(gain, np.float32) + np.asarray(offset, np.float32)
    if noise:
        out = out + np.random.default_rng(seed).normal(0, noise, img.shape).astype(np.float32)
    return out.astype(np.float32)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_recovers_known_drift_despite_a_local_edit(name):
    orig = photo(name)
    gain, offset = (1.08, 0.95, 0.9), (-0.02, 0.03, 0.05)
    edited = _drifted(orig, gain, offset, noise=0.01)
    h, w = orig.shape[:2]
    edited[h // 4: h // 2, w // 4: w // 2] = (0.1, 0.9, 0.2)  # the real edit: 1/16 of the picture turned green
    drift = fit_color_drift(orig, edited)  # no mask: the edit must be rejected as outliers
    np.testing.assert_allclose(drift.gain, gain, atol=0.02)
    np.testing.assert_allclose(drift.offset, offset, atol=0.01)
    np.testing.assert_allclose(drift.noise, 0.01, atol=0.003)


def test_noise_floor_is_the_standard_deviation_of_the_noise(astronaut):
    """Gaussian noise of sigma 0.02 on a drifted copy: the noise floor is that sigma (the MAD scaled by 1.4826)."""
    drift = fit_color_drift(astronaut, _drifted(astronaut, (1.05, 1.0, 0.95), (0.01, 0.0, -0.01), noise=0.02))
    np.testing.assert_allclose(drift.noise, 0.02, rtol=0.08)


def test_invert_undoes_apply_and_identity_is_exact(astronaut):
    drift = ColorDrift(np.array([1.1, 0.9, 1.0], np.float32), np.array([0.02, -0.01, 0.0], np.float32),
                       np.zeros(3, np.float32), 100)
    np.testing.assert_allclose(drift.invert(drift.apply(astronaut)), astronaut, atol=1e-5)
    same = fit_color_drift(astronaut, astronaut)
    assert same.is_identity or np.allclose(same.gain, 1, atol=1e-4) and np.allclose(same.offset, 0, atol=1e-4)
    assert np.all(same.noise < 1e-4)


def test_untouched_mask_limits_the_fit_and_too_few_pixels_give_identity(coffee):
    edited = _drifted(coffee, (1.0, 1.0, 1.0), (0.1, 0.1, 0.1))
    untouched = np.zeros(coffee.shape[:2], bool)
    untouched[:10, :5] = True  # 50 pixels: below the minimum
    drift = fit_color_drift(coffee, edited, untouched)
    assert drift.samples == 0 and drift.is_identity
    untouched[:40, :40] = True
    drift = fit_color_drift(coffee, edited, untouched)
    np.testing.assert_allclose(drift.offset, 0.1, atol=0.01)


def test_flat_channel_keeps_gain_one():
    orig = np.full((32, 32, 3), 0.5, np.float32)
    edited = orig + np.float32(0.05)
    drift = fit_color_drift(orig, edited)
    np.testing.assert_allclose(drift.gain, 1.0)
    np.testing.assert_allclose(drift.offset, 0.05, atol=1e-6)


def test_rejects_mismatched_shapes(astronaut):
    with pytest.raises(ValueError, match="must both be"):
        fit_color_drift(astronaut, astronaut[:100])
