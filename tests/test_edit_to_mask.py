"""ZONE Difference To Mask: the editor's colour cast removed, the real edit found, specks and misalignment ignored."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import photo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_zone.nodes.edit_to_mask import ZoneEditToMask
from comfyui_zone.zone_ops.core.images import ZoneInputError as NodeInputError
from zone_ops.any_editor.align_edit import align_edit
from zone_ops.any_editor.edit_to_mask import MIN_DELTA_E, delta_e, edit_to_mask
from zone_ops.core.images import ZoneInputError

GAIN, OFFSET = np.float32([1.06, 0.95, 0.92]), np.float32([0.02, -0.01, 0.03])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _cast(img: np.ndarray, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img * GAIN + OFFSET + rng.normal(0, noise, img.shape).astype(np.float32), 0, 1).astype(np.float32)


def _recolour(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A disc (an object-like region) turned green, its shading kept."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    region = (yy - 0.4 * h) ** 2 + (xx - 0.6 * w) ** 2 < (0.15 * min(h, w)) ** 2
    out = img.copy()
    luma = img.mean(-1)
    out[region] = np.stack([0.2 * luma, 0.3 + 0.6 * luma, 0.2 * luma], -1)[region]
    return out, region


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_finds_the_edit_despite_a_colour_cast_and_noise(name):
    img = photo(name)
    edited, region = _recolour(img)
    result = edit_to_mask(img, _cast(edited))
    assert _iou(result.mask, region) > 0.85, _iou(result.mask, region)
    np.testing.assert_allclose(result.drift.gain, GAIN, atol=0.03)
    assert result.note == ""


def test_a_cast_alone_is_no_edit():
    img = photo("astronaut")
    drifted = _cast(img)
    assert np.median(delta_e(img, drifted, tolerant=False)) > MIN_DELTA_E  # without compensation: all "changed"
    result = edit_to_mask(img, drifted)
    assert result.mask.mean() < 0.002 and "changed nothing" in result.note or not result.mask.any()


def test_subpixel_misalignment_is_tolerated():
    img = photo("coffee")
    shifted = cv2.warpAffine(img, np.float32([[1, 0, 0.6], [0, 1, -0.4]]), (600, 400), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT)
    assert edit_to_mask(img, shifted).mask.mean() < 0.002


def test_aligned_editor_output_gives_the_region(chelsea):
    edited, region = _recolour(chelsea)
    h, w = chelsea.shape[:2]
    zoomed = cv2.warpAffine(edited, np.float32([[1.02, 0, -4.5], [0, 1.02, -2.0]]), (w, h), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REFLECT)
    bucket = cv2.resize(_cast(zoomed), (1152, 768), interpolation=cv2.INTER_CUBIC)
    al = align_edit(chelsea, bucket)
    result = edit_to_mask(chelsea, al.image, al.valid)
    assert _iou(result.mask, region) > 0.85
    unaligned = edit_to_mask(chelsea, cv2.resize(bucket, (w, h), interpolation=cv2.INTER_AREA))
    assert _iou(unaligned.mask, region) < _iou(result.mask, region)  # alignment matters


def test_mask_stays_inside_the_valid_area_and_threshold_is_monotone():
    img = photo("astronaut")
    edited, region = _recolour(img)
    valid = np.ones(img.shape[:2], bool)
    valid[:, : int(0.6 * img.shape[1])] = False  # the left part of the disc is not covered
    result = edit_to_mask(img, _cast(edited), valid)
    assert result.mask.any() and not (result.mask & ~valid).any()
    low = edit_to_mask(img, _cast(edited), threshold=10.0).mask.sum()
    high = edit_to_mask(img, _cast(edited), threshold=40.0).mask.sum()
    assert low >= high > 0


def test_min_region_drops_small_changes():
    img = photo("coffee")
    edited = img.copy()
    edited[100:106, 100:106] = (0.0, 1.0, 0.0)  # 36 px
    assert edit_to_mask(img, edited, min_region=0, close=0).mask[100:106, 100:106].any()
    assert not edit_to_mask(img, edited, min_region=400).mask.any()


def test_global_restyle_is_reported():
    img = photo("chelsea")
    result = edit_to_mask(img, 1.0 - img)
    assert result.mask.mean() > 0.8 and "global change" in result.note and result.restyle


def test_node_pastes_nothing_for_a_restyle_or_an_empty_valid_mask():
    """The node's mask is empty (so the composite pastes nothing) when most of the picture changed or when ZONE
    Align Edit found no match (an empty valid mask); a local edit still gives its region."""
    img = photo("chelsea")
    local, region = _recolour(img)
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]  # noqa: E731
    with torch.inference_mode():
        restyled, _ = ZoneEditToMask().run(t(img), t(1.0 - img), "automatic (noise floor)", 12.0, 64, 9)
        unmatched, _ = ZoneEditToMask().run(t(img), t(local), "automatic (noise floor)", 12.0, 64, 9,
                                            valid_mask=torch.zeros(1, *img.shape[:2]))
        kept, _ = ZoneEditToMask().run(t(img), t(local), "automatic (noise floor)", 12.0, 64, 9)
    assert restyled.sum() == 0 and unmatched.sum() == 0
    assert _iou(kept[0].numpy() > 0.5, region) > 0.8


def test_inputs_are_not_modified():
    img = photo("chelsea")
    edited = _cast(_recolour(img)[0])
    valid = np.ones(img.shape[:2], np.float32)
    copies = (img.copy(), edited.copy(), valid.copy())
    edit_to_mask(img, edited, valid)
    for a, b in zip((img, edited, valid), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, words", [
    (lambda o: edit_to_mask(o, o[:-1]), "connect the edited image through ZONE Align Edit"),
    (lambda o: edit_to_mask(o, o, np.zeros(o.shape[:2])), "valid_mask is empty"),
    (lambda o: edit_to_mask(o, o, threshold=-2.0), "threshold"),
    (lambda o: edit_to_mask(o, o, min_region=-1), "min_region"),
    (lambda o: edit_to_mask(o, o, np.ones((2, 2, 2))), "valid_mask must be"),
])
def test_invalid_inputs_are_clear_errors(call, words):
    with pytest.raises(ZoneInputError, match=words):
        call(photo("chelsea"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 90), w=st.integers(1, 90), seed=st.integers(0, 2**16), with_valid=st.booleans(),
       threshold=st.one_of(st.none(), st.floats(0, 100)))
def test_any_images_give_a_mask_inside_the_valid_area(h, w, seed, with_valid, threshold):
    rng = np.random.default_rng(seed)
    original = rng.random((h, w, 3)).astype(np.float32)
    edited = np.where(rng.random((h, w, 1)) < 0.5, original, rng.random((h, w, 3))).astype(np.float32)
    valid = rng.random((h, w)) < 0.7 if with_valid else None
    if valid is not None and not valid.any():
        valid[0, 0] = True
    result = edit_to_mask(original, edited, valid, threshold=threshold)
    assert result.mask.shape == (h, w) and result.mask.dtype == bool
    if valid is not None:
        assert not (result.mask & ~valid).any()
    assert np.isfinite(result.threshold)


# ------------------------------------------------------------------------------------------------------ node
def test_node_batch_with_and_without_valid_mask():
    a, c = photo("astronaut"), cv2.resize(photo("chelsea"), (512, 512))
    (ea, ra), (ec, rc) = _recolour(a), _recolour(c)
    original = torch.from_numpy(np.stack([a, c]))
    edited = torch.from_numpy(np.stack([_cast(ea), _cast(ec, seed=1)]))
    node = ZoneEditToMask()
    with torch.inference_mode():
        mask, preview = node.run(original, edited, "automatic (noise floor)", 12.0, 64, 9)
        mask_v, _ = node.run(original, edited, "automatic (noise floor)", 12.0, 64, 9, valid_mask=torch.ones(1, 512, 512))
    assert mask.shape == (2, 512, 512) and preview.shape == (2, 512, 512, 3)
    assert _iou(mask[0].numpy() > 0.5, ra) > 0.85 and _iou(mask[1].numpy() > 0.5, rc) > 0.85
    torch.testing.assert_close(mask, mask_v)
    with pytest.raises(NodeInputError, match="batch sizes do not match"), torch.inference_mode():
        node.run(original, edited, "automatic (noise floor)", 12.0, 64, 9, valid_mask=torch.ones(3, 512, 512))


def test_node_manual_threshold_reaches_the_library():
    a = photo("astronaut")
    edited, _ = _recolour(a)
    node = ZoneEditToMask()
    original, canvas = torch.from_numpy(a[None].copy()), torch.from_numpy(_cast(edited)[None])
    with torch.inference_mode():
        manual, _ = node.run(original, canvas, "manual", 40.0, 64, 9)
        auto, _ = node.run(original, canvas, "automatic (noise floor)", 40.0, 64, 9)
    np.testing.assert_array_equal(manual[0].numpy() > 0.5, edit_to_mask(a, _cast(edited), threshold=40.0).mask)
    np.testing.assert_array_equal(auto[0].numpy() > 0.5, edit_to_mask(a, _cast(edited)).mask)
    assert not torch.equal(manual, auto)


def test_node_declares_its_outputs_in_order():
    assert ZoneEditToMask.RETURN_TYPES == ("MASK", "IMAGE")
    assert "valid_mask" in ZoneEditToMask.INPUT_TYPES()["optional"]


def test_node_passes_every_widget_to_the_library(monkeypatch):
    """Non-default widget values (and the valid mask): the node calls edit_to_mask with them and returns its mask;
    the values chosen really change the mask."""
    import comfyui_zone.nodes.edit_to_mask as node_module
    from node_spy import Spy

    a = photo("astronaut")[::2, ::2].copy()  # 256 x 256
    edited, _ = _recolour(a)
    valid = np.zeros(a.shape[:2], bool)
    valid[8:-8, 8:-8] = True
    spy = Spy(monkeypatch, node_module, "edit_to_mask")
    with torch.inference_mode():
        mask, _ = ZoneEditToMask().run(torch.from_numpy(a)[None], torch.from_numpy(edited)[None], "manual", 4.0, 5, 3,
                                       valid_mask=torch.from_numpy(valid).float()[None])
    args, kwargs = spy.calls[0]
    assert kwargs == {"threshold": 4.0, "min_region": 5, "close": 3}
    np.testing.assert_array_equal(args[2] > 0.5, valid)
    expected = edit_to_mask(a, edited, valid, threshold=4.0, min_region=5, close=3)
    np.testing.assert_array_equal(mask[0].numpy() > 0.5, expected.mask)
    assert not np.array_equal(expected.mask, edit_to_mask(a, edited).mask)


def test_tolerant_delta_e_is_the_smaller_of_the_two_directions():
    """One pixel changed on a flat grey: against the other image's 3x3 range it is a difference one way (0.8 is
    outside [0.2, 0.2]) but not the other (0.2 is inside [0.2, 0.8]); the tolerant Delta E takes the smaller: 0."""
    flat = np.full((9, 9, 3), 0.2, np.float32)
    spot = flat.copy()
    spot[4, 4] = 0.8
    assert delta_e(flat, spot, tolerant=False)[4, 4] > 30
    np.testing.assert_array_equal(delta_e(flat, spot), 0.0)
    np.testing.assert_array_equal(delta_e(spot, flat), 0.0)


def test_a_given_threshold_is_the_one_applied():
    a = photo("astronaut")[::2, ::2].copy()
    edited, _ = _recolour(a)
    low, high = edit_to_mask(a, edited, threshold=3.0), edit_to_mask(a, edited, threshold=40.0)
    assert low.threshold == 3.0 and high.threshold == 40.0
    assert high.mask.sum() < low.mask.sum()


def test_min_region_is_scaled_with_the_image_area():
    """At 128x128 (1/16 of 512x512) an 8x8 change (64 px) stays with min_region 400 (25 px here) and goes with
    min_region 2000 (125 px here)."""
    original = cv2.resize(photo("coffee"), (128, 128), interpolation=cv2.INTER_AREA)
    edited = original.copy()
    edited[60:68, 60:68] = (0.0, 0.9, 0.1)
    kept = edit_to_mask(original, edited, threshold=10.0, min_region=400, close=0)
    assert kept.mask[60:68, 60:68].mean() > 0.5
    assert not edit_to_mask(original, edited, threshold=10.0, min_region=2000, close=0).mask.any()


def test_close_is_scaled_with_the_image_size():
    """At 128x128 two changed 10x10 blocks 4 px apart: close 12 (3 px here) keeps the gap, close 40 (11 px here)
    bridges it."""
    original = np.full((128, 128, 3), 0.5, np.float32)
    edited = original.copy()
    edited[50:60, 50:60] = edited[50:60, 64:74] = (0.0, 0.9, 0.1)
    gap = (slice(52, 58), slice(61, 63))
    small = edit_to_mask(original, edited, threshold=10.0, min_region=0, close=12).mask
    assert small[55, 55] and small[55, 69] and not small[gap].any()
    assert edit_to_mask(original, edited, threshold=10.0, min_region=0, close=40).mask[gap].all()


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_a_strong_cast_that_clips_the_whites_is_no_edit(name):
    """A strong cast saturates a channel of the white porcelain / suit (gain 1.17 then clipped at 1): inverting
    the drift cannot bring those pixels back, but they carry no edit, so they are not marked (issue 21: such a
    false change next to the edit would grow Region-IoU's mask)."""
    img = photo(name)
    edited, region = _recolour(img)
    cast = np.clip(edited * np.float32([1.17, 1.09, 0.80]) + np.float32([0.07, -0.045, 0.06]), 0, 1)
    clipped = ((img * np.float32([1.17, 1.09, 0.80]) + np.float32([0.07, -0.045, 0.06])) >= 1.0).any(-1) & ~region
    assert clipped.mean() > 0.02  # the cast really clips a visible part of the photo
    result = edit_to_mask(img, cast)
    assert _iou(result.mask, region) > 0.85, _iou(result.mask, region)
    assert (result.mask & clipped).sum() < 0.05 * clipped.sum()
