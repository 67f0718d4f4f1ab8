"""Smoke test of benchmarks/overedit.py on its smallest case (coins-remove, 303x384, a real photo)."""

from __future__ import annotations


import numpy as np
import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def overedit():
    return load_benchmark("overedit")


def test_case_construction_is_honest_and_seeded(overedit):
    case, = overedit.build_cases(["coins-remove"], seed=0)
    again, = overedit.build_cases(["coins-remove"], seed=0)
    other, = overedit.build_cases(["coins-remove"], seed=1)
    np.testing.assert_array_equal(case.canvas, again.canvas)
    np.testing.assert_array_equal(case.coarse, again.coarse)
    assert not np.array_equal(case.canvas, other.canvas)
    # the ground truth differs from the photo only inside the true region, and really does there
    np.testing.assert_array_equal(case.truth[~case.region], case.original[~case.region])
    assert np.abs(case.truth[case.region] - case.original[case.region]).mean() > 0.05
    # the canvas drifts over the whole image; the coarse mask is only roughly the region
    assert np.abs(case.canvas[~case.region] - case.truth[~case.region]).mean() > 0.01
    assert 0.3 < overedit.iou(case.coarse, case.region) < 0.9


def test_pipeline_keeps_the_original_outside_its_mask_and_beats_the_canvas(overedit):
    case, = overedit.build_cases(["coins-remove"], seed=0)
    r = overedit.evaluate(case)
    full, raw = r["full pipeline"], r["raw canvas"]
    assert full["max_outside_own_mask"] == 0.0  # exactly: stage 6 copies the original where alpha == 0
    assert r["hard paste (coarse mask)"]["max_outside_own_mask"] == 0.0
    assert full["L1"] <= 0.2 * raw["L1"]
    assert full["L1_outside_true"] < 0.1 * raw["L1_outside_true"]
    assert r["iou_final"] > r["iou_coarse"]  # segments + FFT smoother snap the mask to the coin
    # the bound is also beaten against doing nothing (the unedited original) and against a hard paste: an output
    # that lost the edit (e.g. the original composited over itself) or a mask that did not help fails here
    unedited, hard = overedit.metrics(case.original, case, None), r["hard paste (coarse mask)"]
    assert full["L1"] <= 0.2 * unedited["L1"]
    assert full["L1"] < 0.75 * hard["L1"] and full["L2"] < 0.5 * hard["L2"] and full["seam_L1"] < hard["seam_L1"]
    # the edit landed: inside the true region the output is the ground truth's removal, not the photo's coin
    inside = case.region
    assert np.abs(r["output"][inside] - case.original[inside]).mean() > 0.5 * np.abs(
        case.truth[inside] - case.original[inside]).mean()
    table = overedit.format_table([r])
    assert "| coins-remove | full pipeline |" in table and "average" in table


def test_edit_kept_known_answers(overedit):
    case, = overedit.build_cases(["coins-remove"], seed=0)
    assert overedit.edit_kept(None, case) == 1.0
    assert overedit.edit_kept(case.region.astype(np.float32), case) == pytest.approx(1.0)
    assert overedit.edit_kept(np.zeros(case.region.shape, np.float32), case) == 0.0
    half = np.where(case.region, 0.5, 0.0).astype(np.float32)
    assert overedit.edit_kept(half, case) == pytest.approx(0.5)


def test_hard_cases_are_hard_in_the_intended_way(overedit):
    parts, shifted, cast = overedit.build_cases(["coffee-green-parts", "coins-remove-shifted", "coffee-green-cast"])
    segments = overedit.case_segments(parts)
    assert len(segments) > 10 and max(overedit.iou(s, parts.region) for s in segments) < 0.5  # no whole object
    assert overedit.iou(shifted.coarse, shifted.region) < 0.2  # the coarse mask is mostly off the coin
    base, = overedit.build_cases(["coffee-green"])
    outside = ~cast.region
    assert np.abs(cast.canvas - cast.truth)[outside].mean() > 2 * np.abs(base.canvas - base.truth)[outside].mean()


def test_new_defaults_keep_an_edit_split_into_parts(overedit):
    """Over-segmented object: the official single segment keeps a third of the edit; union keeps it nearly all,
    with a lower L1, and the output is still the original wherever alpha is 0."""
    case, = overedit.build_cases(["coffee-green-parts"], seed=0)
    r = overedit.evaluate(case)
    new, official, raw = r["full pipeline"], r["official rules"], r["raw canvas"]
    assert official["edit_kept"] < 0.5 and new["edit_kept"] > 0.85
    assert new["L1"] < official["L1"] < raw["L1"] and r["parts"] > 5
    assert new["max_outside_own_mask"] == 0.0 and official["max_outside_own_mask"] == 0.0
    assert "| coffee-green-parts |" in overedit.format_comparison([r])
