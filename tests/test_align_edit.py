"""ZONE Align Edit: an editor's zoom, shift and bucket resize undone on real photos, to a fraction of a pixel."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch
from conftest import load_benchmark, photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_zone.nodes.align_edit import ZoneAlignEdit
from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError
from zone_ops.any_editor.align_edit import MODELS, align_edit, project, residual_flow
from zone_ops.core.images import ZoneInputError, resize_image


@pytest.fixture(scope="module")
def bench():
    """benchmarks/any_editor.py: its ``simulate_editor`` is the editor model the tests use too."""
    return load_benchmark("any_editor")


def _grid_error(result, truth_map, shape, step=8) -> np.ndarray:
    h, w = shape
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    return np.linalg.norm(project(result.matrix, pts) - project(truth_map, pts), axis=1)


def _local_edit(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    h, w = img.shape[:2]
    out[h // 5: h // 5 + h // 4, w // 5: w // 5 + w // 4] = (0.1, 0.8, 0.2)  # a real change the fit must ignore
    return out


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
@pytest.mark.parametrize("model", ["similarity", "affine", "homography"])
def test_known_zoom_shift_and_bucket_recovered(bench, name, model):
    img = photo(name)
    edited = bench.simulate_editor(_local_edit(img), np.random.default_rng(3))
    assert edited.image.shape[:2] != img.shape[:2]  # another size and aspect
    result = align_edit(img, edited.image, model=model)
    assert result.model == model and result.note == ""
    err = _grid_error(result, edited.truth_map, img.shape[:2])
    worst = 1.0 if model == "homography" else 0.5  # a homography's corners extrapolate its perspective terms
    assert np.median(err) < 0.1 and err.max() < worst, (np.median(err), err.max())
    editor_px = np.sqrt(edited.image.shape[0] * edited.image.shape[1] / (img.shape[0] * img.shape[1]))
    assert result.residual < 0.5 * max(1.0, editor_px)  # editor px: the original is smaller than the editor's
    assert result.image.shape == img.shape and result.valid.shape == img.shape[:2]
    # the background of the aligned image matches the original up to the colour cast and noise of the editor
    bg = result.valid.copy()
    bg[: img.shape[0] // 2, : img.shape[1] // 2] = False
    plain = resize_image(edited.image, img.shape[:2])
    assert np.abs(result.image - img)[bg].mean() < 0.6 * np.abs(plain - img)[bg].mean()


def test_editor_that_crops_to_another_aspect():
    """An editor that cuts a square out of a 3:2 photo and returns it at 1024x1024: affine finds the crop exactly
    (tracked again after the first fit, as patches are stretched 1.5x); a similarity cannot and says so."""
    img = photo("coffee")  # 400 x 600
    square = cv2.resize(_local_edit(img)[:, 100:500], (1024, 1024), interpolation=cv2.INTER_CUBIC)
    result = align_edit(img, square, model="affine")
    # original px -> px of the crop resized to 600x400: (x - 100 + 0.5) * 1.5 - 0.5 (cv2.resize's pixel centres)
    truth = np.array([[1.5, 0, -149.75], [0, 1, 0], [0, 0, 1]], np.float64)
    err = _grid_error(result, truth, img.shape[:2])
    assert np.median(err) < 0.1, np.median(err)
    assert abs(result.valid.mean() - 400 / 600) < 0.01  # only the cropped part is covered
    refused = align_edit(img, square, model="similarity")
    assert refused.fell_back and "more general model" in refused.note


def test_translation_recovers_a_pure_shift():
    img = photo("astronaut")
    shifted = cv2.warpAffine(img, np.float32([[1, 0, 3.4], [0, 1, -2.3]]), (512, 512), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT)
    result = align_edit(img, shifted, model="translation")
    # the matrix maps original px to edit px: the content moved by (+3.4, -2.3)
    np.testing.assert_allclose(result.matrix[:2, 2], (3.4, -2.3), atol=0.05)
    np.testing.assert_allclose(result.matrix[:2, :2], np.eye(2))
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(result.image[inner] - img[inner]).mean() < 0.01
    assert result.describe().startswith("translation") and "centre shift (+3.4" in result.describe()


def test_identical_images_give_identity():
    img = photo("coffee")
    result = align_edit(img, img)
    np.testing.assert_allclose(result.matrix, np.eye(3), atol=1e-3)
    assert result.valid[2:-2, 2:-2].all()


def test_unrelated_picture_falls_back_to_plain_resize():
    img = photo("astronaut")
    noise = np.random.default_rng(0).random((300, 700, 3)).astype(np.float32)
    result = align_edit(img, noise)
    assert result.fell_back and result.note
    assert "plain resize" in result.describe()
    np.testing.assert_array_equal(result.image, resize_image(noise, img.shape[:2]))
    assert result.valid.all()


def test_flat_and_tiny_images_fall_back():
    flat = np.full((64, 64, 3), 0.5, np.float32)
    assert align_edit(flat, flat).fell_back
    tiny = photo("astronaut")[:20, :20]
    result = align_edit(tiny, tiny)
    assert result.fell_back and "smaller than" in result.note


def test_residual_flow_fixes_an_uneven_shift_and_respects_its_cap():
    img = photo("chelsea")
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    bulge = 1.5 * np.sin(xs / w * np.pi)  # rows shift by up to 1.5 px in the middle, 0 at the sides: not affine
    warped = cv2.remap(img, xs, ys + bulge, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    inner = (slice(10, -10), slice(10, -10))
    without = align_edit(img, warped, model="affine", flow_cap=0.0)
    with_flow = align_edit(img, warped, model="affine", flow_cap=2.0)
    assert with_flow.flow > 0 and without.flow == 0
    # the smooth field already follows the bulge; the flow takes what is left
    plain = np.abs(resize_image(warped, img.shape[:2]) - img)[inner].mean()
    assert np.abs(without.image - img)[inner].mean() < 0.5 * plain
    assert np.abs(with_flow.image - img)[inner].mean() <= 1.02 * np.abs(without.image - img)[inner].mean()
    flow, support = residual_flow(img, warped, 0.5)
    assert np.linalg.norm(flow, axis=-1).max() <= 0.5 + 1e-4 and 0.5 < support <= 1.0


def test_inputs_are_not_modified(bench):
    img = photo("coffee")
    edited = bench.simulate_editor(img, np.random.default_rng(1)).image
    before = (img.copy(), edited.copy())
    align_edit(img, edited, flow_cap=1.0)
    np.testing.assert_array_equal(img, before[0])
    np.testing.assert_array_equal(edited, before[1])


@pytest.mark.parametrize("kwargs, words", [
    ({"model": "perspective"}, "model must be one of"),
    ({"flow_cap": -1.0}, "flow_cap"),
    ({"flow_cap": float("nan")}, "flow_cap"),
])
def test_bad_parameters_are_clear_errors(kwargs, words):
    img = photo("chelsea")
    with pytest.raises(ZoneInputError, match=words):
        align_edit(img, img, **kwargs)


def test_bad_images_are_clear_errors():
    img = photo("chelsea")
    bad = img.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ZoneInputError, match="edited contains NaN"):
        align_edit(img, bad)
    with pytest.raises(ZoneInputError, match="original must be"):
        align_edit(np.zeros((4, 4, 4, 4), np.float32), img)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 120), w=st.integers(1, 120), eh=st.integers(1, 160), ew=st.integers(1, 160),
       channels=st.sampled_from([1, 3, 4]), model=st.sampled_from(MODELS), seed=st.integers(0, 2**16))
def test_any_sizes_and_contents_give_a_frame_of_the_original(h, w, eh, ew, channels, model, seed):
    rng = np.random.default_rng(seed)
    original = rng.random((h, w, channels)).astype(np.float32)
    edited = rng.random((eh, ew, channels)).astype(np.float32)
    result = align_edit(original, edited, model=model, flow_cap=1.0)
    assert result.image.shape == (h, w, 3) and result.valid.shape == (h, w) and result.valid.dtype == bool
    assert np.isfinite(result.image).all() and result.image.min() >= 0 and result.image.max() <= 1
    assert (result.image[~result.valid] == 0).all()
    assert isinstance(result.describe(), str)


# ------------------------------------------------------------------------------------------------------ node
def test_node_aligns_each_item_of_a_batch(bench):
    a, c = photo("astronaut"), photo("chelsea")
    c = cv2.resize(c, (512, 512))  # one batch = one size
    e0 = bench.simulate_editor(_local_edit(a), np.random.default_rng(5), bucket=(1024, 1024))
    e1 = bench.simulate_editor(c, np.random.default_rng(6), bucket=(1024, 1024))
    original = torch.from_numpy(np.stack([a, c]))
    edited = torch.from_numpy(np.stack([e0.image, e1.image]))
    with torch.inference_mode():
        aligned, valid, report = ZoneAlignEdit().run(original, edited, "affine", 2.0)
    assert aligned.shape == (2, 512, 512, 3) and valid.shape == (2, 512, 512)
    assert report.count("\n") == 1 and report.startswith("item 0: affine") and "item 1: affine" in report
    for k in range(2):
        inner = valid[k].numpy() > 0.5
        err = np.abs(aligned[k].numpy() - original[k].numpy())[inner].mean()
        assert err < 0.06, err  # only the cast + noise are left, no misalignment
    assert "residual" in report


def test_node_broadcasts_one_original_and_refuses_mismatched_batches():
    a = torch.from_numpy(photo("astronaut")[None])
    with torch.inference_mode():
        aligned, valid, report = ZoneAlignEdit().run(a, torch.cat([a, a]), "similarity", 0.0)
    assert aligned.shape[0] == 2 and valid.shape[0] == 2
    with pytest.raises(NodeInputError, match="batch sizes do not match"), torch.inference_mode():
        ZoneAlignEdit().run(torch.cat([a, a]), torch.cat([a, a, a]), "affine", 0.0)


def test_node_declares_its_outputs_in_order():
    assert ZoneAlignEdit.RETURN_TYPES == ("IMAGE", "MASK", "STRING")
    assert list(ZoneAlignEdit.INPUT_TYPES()["required"])[:2] == ["original", "edited"]


@pytest.mark.parametrize("model, flow_cap", [("translation", 2.0), ("homography", 0.5)])
def test_node_passes_every_widget_to_the_library(monkeypatch, model, flow_cap):
    """Non-default widget values: the node calls align_edit with them and returns its aligned image and valid area."""
    import comfyui_zone.nodes.align_edit as node_module
    from node_spy import Spy

    original = photo("astronaut")[::4, ::4].copy()  # 128 x 128
    edited = np.roll(original, (3, -2), axis=(0, 1))
    spy = Spy(monkeypatch, node_module, "align_edit")
    with torch.inference_mode():
        aligned, valid, _ = ZoneAlignEdit().run(torch.from_numpy(original)[None], torch.from_numpy(edited)[None],
                                                model, flow_cap)
    assert spy.kwargs == {"model": model, "flow_cap": flow_cap}
    expected = align_edit(original, edited, model=model, flow_cap=flow_cap)
    np.testing.assert_array_equal(aligned[0].numpy(), expected.image)
    np.testing.assert_array_equal(valid[0].numpy() > 0.5, expected.valid)


KNOWN = {
    "translation": [[1, 0, 5.5], [0, 1, -3.25], [0, 0, 1]],
    "similarity": [[1.1 * np.cos(0.12), -1.1 * np.sin(0.12), 4.0], [1.1 * np.sin(0.12), 1.1 * np.cos(0.12), -6.0],
                   [0, 0, 1]],
    "affine": [[1.05, 0.08, 3.0], [-0.04, 0.93, 7.0], [0, 0, 1]],
    "homography": [[1.02, 0.03, 2.0], [-0.01, 0.98, -4.0], [2e-5, -1e-5, 1]],
}


@pytest.mark.parametrize("model", MODELS)
def test_fits_recover_a_known_transform_of_exact_points(model):
    """fit_model and least_squares on exact correspondences (a rotation and scale for similarity) return the
    matrix that made them: the direction (original -> edit) and every coefficient's sign."""
    from zone_ops.any_editor.align_edit import fit_model, least_squares

    truth = np.array(KNOWN[model], np.float64)
    yy, xx = np.mgrid[20:500:40, 30:480:40]
    src = np.c_[xx.ravel(), yy.ravel()].astype(np.float64)
    dst = project(truth, src)
    fitted, inliers = fit_model(src, dst, model, 1.0)
    assert inliers.all()
    np.testing.assert_allclose(fitted / fitted[2, 2], truth, atol=1e-3, rtol=1e-3)
    np.testing.assert_allclose(least_squares(src, dst, model), truth, atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------------------------ at the editor's scale
@pytest.fixture(scope="module")
def full_bench():
    """benchmarks/any_editor_fullres.py: the 1 MP editor with zoom, border crop, uneven shift, cast, noise, JPEG."""
    return load_benchmark("any_editor_fullres")


def test_smooth_field_recovers_a_known_uneven_shift_despite_outliers():
    from zone_ops.any_editor.align_edit import fit_smooth

    rng = np.random.default_rng(0)
    shape = (300, 400)
    pts = np.c_[rng.uniform(0, 399, 800), rng.uniform(0, 299, 800)]
    truth = np.c_[2.5 * np.sin(pts[:, 0] / 400 * np.pi), -1.5 * np.cos(pts[:, 1] / 300 * np.pi)]
    observed = truth + rng.normal(0, 0.1, truth.shape)
    observed[:80] += rng.uniform(-15, 15, (80, 2))  # 10 % wild points (the edit)
    field = fit_smooth(pts, observed, shape)
    err = np.linalg.norm(field.at(pts[80:]) - truth[80:], axis=1)
    assert np.median(err) < 0.1 and np.percentile(err, 95) < 0.3, (np.median(err), np.percentile(err, 95))
    dense = field.dense(cap=2.0)
    assert dense.shape == (300, 400, 2) and np.linalg.norm(dense, axis=-1).max() <= 2.0 + 1e-5
    np.testing.assert_allclose(field.dense()[150, 200], field.at(np.array([[200.0, 150.0]]))[0], atol=1e-4)


def test_large_original_is_fitted_at_the_editor_scale_to_a_fraction_of_an_editor_px(full_bench):
    """A 2.4 MP original, a 0.35 MP editor output of another aspect with zoom, border crop, an uneven shift of
    2-3 px, cast, noise and JPEG: the map agrees with the true one to < 0.5 editor px on the background, and the
    working frame is the editor's size, not the original's."""
    from zone_ops.any_editor.align_edit import edit_coords, fit_alignment

    img = cv2.resize(photo("coffee"), (1900, 1266), interpolation=cv2.INTER_CUBIC)
    truth = _local_edit(np.clip(img, 0, 1))
    editor = full_bench.simulate_editor(truth, np.random.default_rng(4), bucket=(480, 736))
    result = fit_alignment(img, editor.image)
    assert result.note == "" and result.image.shape[:2] == result.work_shape
    assert abs(result.work_shape[0] * result.work_shape[1] / (480 * 736) - 1) < 0.02
    h, w = img.shape[:2]
    ys, xs = np.mgrid[h // 10: h - h // 10: 16, w // 2: w - w // 10: 16]  # right half: away from the edit
    pts = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    err = np.linalg.norm(edit_coords(result, pts) - editor.true_coords(pts), axis=1)
    assert np.median(err) < 0.5, np.median(err)
    assert result.flow > 0 and result.smooth_max > 0.5 and "uneven shift" in result.describe()
    # the border crop: the edit covers less than the whole original
    assert 0.8 < result.valid.mean() < 0.995


def test_render_edit_in_a_box_is_the_same_pixels_as_the_whole_frame(bench):
    from zone_ops.any_editor.align_edit import fit_alignment, render_edit

    img = photo("astronaut")
    editor = bench.simulate_editor(_local_edit(img), np.random.default_rng(2), bucket=(320, 320))
    al = fit_alignment(img, editor.image)
    full, valid = render_edit(al, editor.image, (1024, 1024))
    box = (slice(300, 700), slice(100, 900))
    part, part_valid = render_edit(al, editor.image, (1024, 1024), box)
    np.testing.assert_array_equal(part, full[box])
    np.testing.assert_array_equal(part_valid, valid[box])
    assert (full[~valid] == 0).all() and full.dtype == np.float32


def test_node_pastes_nothing_when_the_pictures_do_not_match():
    img = photo("astronaut")
    other = np.random.default_rng(0).random((300, 700, 3)).astype(np.float32)
    with torch.inference_mode():
        aligned, valid, report = ZoneAlignEdit().run(torch.from_numpy(img)[None], torch.from_numpy(other)[None],
                                                     "affine", 2.0)
    assert valid.sum() == 0 and "nothing will be pasted" in report and "restyle" in report


def test_detail_agreement_tells_a_local_edit_from_a_restyle(bench):
    """The fine detail of the rest survives a local edit (agreement near 1) but not a cartoon filter of the whole
    scene: that alignment is a restyle, which the pipeline and the nodes paste nothing for."""
    img = photo("astronaut")
    local = align_edit(img, bench.simulate_editor(_local_edit(img), np.random.default_rng(3)).image)
    assert local.detail > 0.8 and not local.restyle and not local.mismatch
    u8 = np.ascontiguousarray((img * 255).astype(np.uint8)[..., ::-1])
    cartoon = cv2.stylization(u8, sigma_s=60, sigma_r=0.45)[..., ::-1].astype(np.float32) / 255.0
    styled = align_edit(img, cartoon)
    assert styled.mismatch and (styled.fell_back or (styled.restyle and "restyle" in styled.describe()))
    with torch.inference_mode():
        _, valid, report = ZoneAlignEdit().run(torch.from_numpy(img)[None], torch.from_numpy(cartoon)[None],
                                               "affine", 2.0)
    assert valid.sum() == 0 and "nothing will be pasted" in report
