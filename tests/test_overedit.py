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


def test_issue21_cases_are_small_thin_or_rerendered_as_intended(overedit):
    names = [n for n in overedit.SMALL_VARIANTS if n.endswith(("-small", "-thin"))]
    for case in overedit.build_cases(names):
        ys, xs = np.nonzero(case.region)
        size = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        covered = (case.coarse & case.region).sum() / case.region.sum()
        assert 30 <= size <= 250 and 0.15 <= covered <= 0.55, (case.name, size, covered)
        assert (case.coarse & ~case.region).any()  # off the object: part of it lies outside
        if case.name.endswith("-small"):
            assert size <= 150
        else:  # thin: long and narrow
            assert min(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 0.25 * size
    again, = overedit.build_cases(["coffee-green-rerender"])
    # a re-render changes (nearly) every pixel of the picture, not only the edit
    diff = np.abs(again.canvas - again.truth).max(axis=-1)[~again.region]
    assert diff.mean() > 0.02 and (diff > 1.5 / 255).mean() > 0.9


def test_evidence_keeps_a_small_object_split_into_parts(overedit):
    """The issue's regime: attention covers a third of a small coin that the segmenter returns in parts. Union
    stays near the coarse mask (about half of the edit); evidence keeps nearly all of it with a lower L1, its
    refined mask contains union's, and alpha-0 pixels are still the original's."""
    case, = overedit.build_cases(["coins-gold-small-parts"])
    r = overedit.evaluate(case)
    new, old = r["full pipeline"], r["old defaults"]
    assert old["edit_kept"] < 0.6 and new["edit_kept"] > 0.9 and new["L1"] < old["L1"]
    assert r["added"] >= 1 and r["iou_refined"] > r["iou_refined_old"] + 0.3
    assert new["max_outside_own_mask"] == 0.0 and old["max_outside_own_mask"] == 0.0
    assert "| coins-gold-small-parts |" in overedit.format_comparison([r])


def test_a_rerendered_canvas_does_not_grow_the_mask_beyond_the_edit(overedit):
    case, = overedit.build_cases(["astronaut-patch-gold-rerender"])
    r = overedit.evaluate(case)
    assert r["grown_outside"] < 0.05  # new vs old refined mask, outside the true region, x the object's area
    assert r["full pipeline"]["edit_kept"] >= r["old defaults"]["edit_kept"]
    assert r["full pipeline"]["L1"] < 0.1 * r["raw canvas"]["L1"]
