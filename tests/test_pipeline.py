"""zone_ops.pipeline.run_zone end to end on tiny random models (CPU): the edit LANDS, and every ZoneParams value
reaches its stage.

The models are random, so what is checked is what must hold for any model: the result is the canvas where the
composite's alpha is 1, the original where it is 0 (bit for bit), differs from the original inside the final mask,
and each stage is called with the parameters given (non-default values), recomputing it gives the same output.
"""

from __future__ import annotations

import numpy as np
import pytest

import zone_ops.pipeline as pipeline
from conftest import photo
from node_spy import Spy
from tiny_models import single_thread, tiny_backend, tiny_sam
from zone_ops.stages.fft_edge_smoother import fft_edge_smooth
from zone_ops.stages.layer_composite import layer_composite
from zone_ops.pipeline import ZoneParams, run_zone

PARAMS = ZoneParams(steps=2, working_size=64, seed=5, text_scale=6.0, image_scale=1.25, threshold=200.0, rule="paper",
                    min_region=10, segment_on="original", points_per_side=2, pred_iou_thresh=0.0,
                    stability_score_thresh=0.0, box_nms_thresh=0.9, sam_crop=True, sam_max_side=64, fft_cutoff=0.3,
                    fft_threshold=12.0, dilate=2, close=5, fft_color=False, composite="official", band_alpha=0.3,
                    region_rule="official", min_inside=0.55, min_iou=0.1, fft_drift=False, noise_factor=2.5,
                    color_match=False)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return photo("chelsea")[60:156, 150:278].copy()  # 96 x 128, a real photo


@pytest.fixture(scope="module")
def models():
    with single_thread():
        yield tiny_backend(0), tiny_sam(0)


def assert_edit_landed(run, original: np.ndarray) -> None:
    alpha = run.composite.alpha
    full, none = alpha == 1, alpha == 0
    assert full.any() and none.any() and run.final.any()
    np.testing.assert_array_equal(run.result[full], run.canvas[full])  # the edit, where alpha is 1
    np.testing.assert_array_equal(run.result[none], original[none])  # the original, where alpha is 0
    inside = run.final
    assert np.abs(run.result[inside] - original[inside]).mean() > 0.02  # the edit changed the image there


def test_edit_lands_and_every_parameter_reaches_its_stage(models, image, monkeypatch):
    backend, sam = models
    spies = {name: Spy(monkeypatch, pipeline, name)
             for name in ("attention_to_mask", "refine_with_sam", "fft_edge_smooth", "layer_composite", "fused_edit")}
    with single_thread():
        run = run_zone(image, "remove the cat", backend, sam=sam, params=PARAMS)
    assert spies["attention_to_mask"].kwargs == {"threshold": 200.0, "rule": "paper", "min_region": 10}
    sam_args, sam_kwargs = spies["refine_with_sam"].calls[0]
    assert np.array_equal(sam_args[1], image)  # segment_on="original"
    assert {k: sam_kwargs[k] for k in ("points_per_side", "pred_iou_thresh", "stability_score_thresh",
                                       "box_nms_thresh", "crop", "max_side", "rule", "min_inside",
                                       "min_iou")} == {
        "points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 0.9,
        "crop": True, "max_side": 64, "rule": "official", "min_inside": 0.55, "min_iou": 0.1}
    assert spies["fft_edge_smooth"].kwargs == {"cutoff": 0.3, "threshold": 12.0 / 255.0, "dilate": 2, "close": 5,
                                               "color": False, "drift": False, "noise_factor": 2.5}
    assert spies["layer_composite"].kwargs == {"mode": "official", "band_alpha": 0.3, "feather": PARAMS.feather,
                                               "color_match": False}
    settings = spies["fused_edit"].calls[0][0][3]
    assert (settings.steps, settings.text_scale, settings.image_scale, settings.seed, settings.working_size,
            settings.beta) == (2, 6.0, 1.25, 5, 64, 0.2)  # beta from the action: remove
    assert run.action.label.name == "REMOVE" and run.coarse.threshold == 200.0
    # the stages' outputs are the library's for the same inputs and values
    np.testing.assert_array_equal(run.final, fft_edge_smooth(image, run.canvas, run.refined, cutoff=0.3,
                                                             threshold=12.0 / 255.0, dilate=2, close=5, color=False,
                                                             drift=False, noise_factor=2.5))
    again = layer_composite(image, run.canvas, run.final, run.refined, band_alpha=0.3, color_match=False)
    np.testing.assert_array_equal(run.result, again.image)
    band = run.final ^ run.refined
    if band.any():
        np.testing.assert_allclose(run.composite.alpha[band], 0.3)
    assert_edit_landed(run, image)


def test_edit_lands_without_sam_in_feather_mode(models, image, monkeypatch):
    """The tiny model's attention is flat (its coarse mask is the whole image), so stage 3 is given a disk here."""
    from zone_ops.stages.attention_to_mask import CoarseMask

    backend, _ = models
    yy, xx = np.mgrid[:96, :128]
    disk = (yy - 48) ** 2 + (xx - 60) ** 2 < 30**2
    Spy(monkeypatch, pipeline, "attention_to_mask",
        fake=lambda maps, count, size, **kw: CoarseMask(disk, np.zeros(size, np.float32)))
    params = ZoneParams(steps=2, working_size=64, composite="feather", feather=20.0)  # ~4 px here
    with single_thread():
        run = run_zone(image, "make the cat blue", backend, params=params)
    assert any("no SAM" in n for n in run.notes)
    np.testing.assert_array_equal(run.refined, run.coarse.mask)
    expected = layer_composite(image, run.canvas, run.final, run.refined, mode="feather", feather=20.0)
    np.testing.assert_array_equal(run.composite.alpha, expected.alpha)
    soft = (run.composite.alpha > 0) & (run.composite.alpha < 1)
    assert soft.any()
    assert_edit_landed(run, image)


def test_localize_passes_every_parameter_to_its_stage(image, monkeypatch):
    """run_localize (any editor's output, no SAM): each LocalizeParams value reaches fit_alignment / edit_to_mask."""
    from zone_ops.pipeline import LocalizeParams, run_localize

    edited = image.copy()
    edited[30:60, 40:90] = edited[30:60, 40:90, ::-1]  # a local edit
    spies = {name: Spy(monkeypatch, pipeline, name) for name in ("fit_alignment", "edit_to_mask")}
    localize = LocalizeParams(align_model="similarity", flow_cap=1.5, diff_threshold=7.0, diff_min_region=5,
                              diff_close=3)
    run = run_localize(image, edited, params=ZoneParams(composite="feather", feather=8.0, color_match=False),
                       localize=localize)
    assert {k: v for k, v in spies["fit_alignment"].kwargs.items() if k != "work"} == {"model": "similarity",
                                                                                         "flow_cap": 1.5}
    assert spies["edit_to_mask"].kwargs == {"threshold": 7.0, "min_region": 5, "close": 3}
    assert run.difference.threshold == 7.0 and run.difference.mask.any()


# ------------------------------------------------------------------------------------ any editor, full resolution
def _hue_rotated(img: np.ndarray) -> np.ndarray:
    import cv2

    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + 150.0) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.6 + 0.3, 0, 1)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def test_localize_pastes_nothing_for_a_restyle_or_another_picture():
    """A restyle (the whole scene recoloured) and an unrelated picture: nothing is pasted, the result is the
    original bit for bit, and a note says why."""
    from zone_ops.pipeline import run_localize

    import cv2

    img = photo("coffee")
    u8 = np.ascontiguousarray((img * 255).astype(np.uint8)[..., ::-1])
    cartoon = cv2.stylization(u8, sigma_s=60, sigma_r=0.45)[..., ::-1].astype(np.float32) / 255.0
    for edited, words in ((_hue_rotated(img), "restyle"), (cartoon, "restyle"),
                          (np.random.default_rng(0).random((300, 500, 3)), "match")):
        run = run_localize(img, edited.astype(np.float32))
        assert not run.pasted and any(words in n for n in run.notes), run.notes
        np.testing.assert_array_equal(run.result, img)
        assert not run.alpha.any()


def test_localize_works_at_the_editor_scale_and_pastes_at_full_resolution():
    """A 1.7 MP original and a 0.3 MP edit: the masks are found at the edit's scale, the result and alpha have the
    original's size, the edit is there and every pixel with alpha 0 is the original's."""
    import cv2
    from zone_ops.pipeline import run_localize

    img = np.clip(cv2.resize(photo("coffee"), (1602, 1068), interpolation=cv2.INTER_CUBIC), 0, 1)
    truth = img.copy()
    truth[300:600, 500:900] = truth[300:600, 500:900, ::-1]  # a local change at full resolution
    edited = cv2.resize(truth, (704, 448), interpolation=cv2.INTER_AREA)  # another aspect, 0.3 MP
    run = run_localize(img, edited)
    assert run.pasted and run.result.shape == img.shape and run.alpha.shape == img.shape[:2]
    assert run.alignment.work_shape[0] < 500 and run.final.shape == run.alignment.work_shape
    zero = run.alpha == 0
    np.testing.assert_array_equal(run.result[zero], img[zero])
    inside = np.zeros(img.shape[:2], bool)
    inside[320:580, 520:880] = True
    assert run.alpha[inside].mean() > 0.95 and zero.mean() > 0.8
    assert np.abs(run.result - truth)[inside].mean() < 0.25 * np.abs(img - truth)[inside].mean()
    assert run.full_size(run.final).shape == img.shape[:2]


def test_rule_evidence_gets_its_change_map_in_both_chains(models, image, monkeypatch):
    """Rule evidence (the default): run_localize hands stage 4 the difference mask (Difference To Mask already is
    the change map); run_zone computes Difference To Mask of the model input and the canvas. Other rules get none."""
    from zone_ops.any_editor.edit_to_mask import edit_to_mask
    from zone_ops.pipeline import run_localize

    backend, sam = models
    assert ZoneParams().region_rule == "evidence" and ZoneParams().min_changed == 0.5
    edited = image.copy()
    edited[30:60, 40:90] = edited[30:60, 40:90, ::-1]
    fast = dict(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, sam_max_side=64)
    spy = Spy(monkeypatch, pipeline, "refine_with_sam")
    with single_thread():
        run = run_localize(image, edited, sam=sam, params=ZoneParams(min_changed=0.7, **fast))
    kwargs = spy.calls[-1][1]
    assert kwargs["rule"] == "evidence" and kwargs["min_changed"] == 0.7
    assert kwargs["changed"] is run.difference.mask
    with single_thread():
        zone = run_zone(image, "make the cat blue", backend, sam=sam, params=ZoneParams(steps=2, working_size=64,
                                                                                       **fast))
    np.testing.assert_array_equal(spy.calls[-1][1]["changed"], edit_to_mask(image, zone.canvas).mask)
    with single_thread():
        run_localize(image, edited, sam=sam, params=ZoneParams(region_rule="union", **fast))
    assert spy.calls[-1][1]["changed"] is None
