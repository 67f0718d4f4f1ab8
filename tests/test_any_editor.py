"""Smoke test of benchmarks/any_editor.py on its smallest case (coins-remove, 303x384, a real photo)."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("any_editor")


def test_bucket_is_another_aspect_of_about_one_megapixel(bench):
    for size in ((303, 384), (400, 600), (512, 512), (427, 640)):
        h, w = bench.bucket_for(size)
        assert h % 32 == 0 and w % 32 == 0 and 0.9e6 < h * w < 1.1e6
        assert (h, w) in bench.BUCKETS


def test_full_chain_beats_the_raw_edit_and_keeps_the_rest_bit_exact(bench):
    r = bench.evaluate("coins-remove", seed=0, model="affine", flow_cap=2.0)
    assert r["bucket"] != r["size"]
    assert r["residual_px"] < 0.5
    full, raw = r["full chain"], r["raw (resized)"]
    assert full["L1"] < 0.2 * raw["L1"]
    assert full["edit_kept"] > 0.9
    assert full["max_alpha0"] == 0.0  # pixels the composite does not touch are the original's, bit for bit
    out, alpha, orig = r["images"]["output"], r["images"]["alpha"], r["images"]["original"]
    np.testing.assert_array_equal(out[alpha == 0], orig[alpha == 0])
    assert "| coins-remove | full chain |" in bench.format_table([r])


# ------------------------------------------------------------------------------------------- full resolution
@pytest.fixture(scope="module")
def full_bench():
    return load_benchmark("any_editor_fullres")


def test_full_resolution_chain_meets_the_targets_on_a_2_mp_original(full_bench):
    """benchmarks/any_editor_fullres.py on one case at 2 MP (its table runs up to 13.5 MP): the targets hold."""
    r = full_bench.evaluate("coins-remove", seed=0, megapixels=2.0)
    assert r["size"][0] * r["size"][1] > 1.9e6 and r["bucket"][0] * r["bucket"][1] < 1.1e6 and r["pasted"]
    assert r["chain"]["L1"] < 0.2 * r["plain"]["L1"]
    assert r["chain"]["edit_kept"] >= 0.9
    assert r["residual_px"] <= 0.5
    assert r["chain"]["max_alpha0"] == 0.0
    assert "| coins-remove |" in full_bench.format_table([r])


def test_simulated_editor_geometry_is_what_it_says(full_bench):
    """The simulated editor's true map is right: sampling its output at the true editor px of original px gives
    back the original (up to the cast, noise and JPEG), and it is of another aspect with a 2-3 px uneven shift."""
    from conftest import photo

    img = cv2.resize(photo("chelsea"), (902, 600), interpolation=cv2.INTER_CUBIC)
    ed = full_bench.simulate_editor(img, np.random.default_rng(1), bucket=(448, 640), noise=0.0, jpeg=100)
    he, we = ed.bucket
    assert (he, we) == (448, 640) and abs(we / he - 902 / 600) > 0.02
    ys, xs = np.mgrid[60:540:7, 60:840:7]
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    q = ed.true_coords(pts).astype(np.float32)
    seen = cv2.remap(ed.image, q[:, 0].reshape(xs.shape), q[:, 1].reshape(xs.shape), cv2.INTER_LINEAR)
    small = cv2.resize(img, (we, he), interpolation=cv2.INTER_AREA)  # the same blur level as the editor's output
    orig_at = cv2.remap(small, ((pts[:, 0] + 0.5) * we / 902 - 0.5).astype(np.float32).reshape(xs.shape),
                        ((pts[:, 1] + 0.5) * he / 600 - 0.5).astype(np.float32).reshape(xs.shape), cv2.INTER_LINEAR)
    drift = np.median(seen.reshape(-1, 3), axis=0) - np.median(orig_at.reshape(-1, 3), axis=0)
    assert np.abs(seen - orig_at - drift).mean() < np.abs(np.roll(seen, 3, axis=1) - orig_at - drift).mean() / 2
    qy, qx = np.mgrid[0:he:8, 0:we:8].astype(np.float64)
    peak = float(np.hypot(*ed.shift(qx, qy)).max())
    assert 1.9 < peak < 4.5
