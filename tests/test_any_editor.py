"""Smoke test of benchmarks/any_editor.py on its smallest case (coins-remove, 303x384, a real photo)."""

from __future__ import annotations


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
