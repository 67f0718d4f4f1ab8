"""zone_ops/params.py: one spec per parameter, read by the nodes' INPUT_TYPES and by the command line.

Checked from both ends: every CLI flag accepts exactly the values the matching node widget accepts (Hypothesis,
in and out of range), its default is the pipeline's default, and every numeric node widget has a declared range.
"""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_zone.nodes import NODE_CLASS_MAPPINGS
from comfyui_zone.nodes.widgets import check_widget, widget_specs
from comfyui_zone.zone_ops.core.images import ZoneInputError
from comfyui_zone.zone_ops.params import CLI_FLAGS, Param, check_flags, flag_dest
from comfyui_zone.zone_ops.pipeline import LocalizeParams, ZoneParams

#: CLI flag -> the node widget built from the same spec.
NODE_WIDGET = {
    "--beta": ("ZoneFusedIP2PSampler", "beta"), "--steps": ("ZoneFusedIP2PSampler", "steps"),
    "--text-scale": ("ZoneFusedIP2PSampler", "text_scale"), "--image-scale": ("ZoneFusedIP2PSampler", "image_scale"),
    "--scheduler": ("ZoneFusedIP2PSampler", "sampler"), "--seed": ("ZoneFusedIP2PSampler", "seed"),
    "--working-size": ("ZoneFusedIP2PSampler", "working_size"),
    "--threshold": ("ZoneAttentionToMask", "official_threshold"), "--rule": ("ZoneAttentionToMask", "rule"),
    "--min-region": ("ZoneAttentionToMask", "min_region"),
    "--segment-on": ("ZoneSAMRegionIoU", "segment_on"), "--points-per-side": ("ZoneSAMRegionIoU", "points_per_side"),
    "--pred-iou-thresh": ("ZoneSAMRegionIoU", "pred_iou_thresh"),
    "--stability-score-thresh": ("ZoneSAMRegionIoU", "stability_score_thresh"),
    "--box-nms-thresh": ("ZoneSAMRegionIoU", "box_nms_thresh"), "--sam-max-side": ("ZoneSAMRegionIoU", "max_side"),
    "--region-rule": ("ZoneSAMRegionIoU", "rule"), "--min-inside": ("ZoneSAMRegionIoU", "min_inside"),
    "--min-iou": ("ZoneSAMRegionIoU", "min_iou"),
    "--min-changed": ("ZoneSAMRegionIoU", "min_changed"),
    "--fft-cutoff": ("ZoneFFTEdgeSmoother", "cutoff"), "--fft-threshold": ("ZoneFFTEdgeSmoother", "threshold"),
    "--dilate": ("ZoneFFTEdgeSmoother", "dilate"), "--close": ("ZoneFFTEdgeSmoother", "close"),
    "--noise-factor": ("ZoneFFTEdgeSmoother", "noise_factor"),
    "--composite": ("ZoneLayerComposite", "mode"), "--band-alpha": ("ZoneLayerComposite", "band_alpha"),
    "--feather": ("ZoneLayerComposite", "feather"),
    "--align-model": ("ZoneAlignEdit", "model"), "--flow-cap": ("ZoneAlignEdit", "flow_cap"),
    "--diff-threshold": ("ZoneEditToMask", "threshold"), "--diff-min-region": ("ZoneEditToMask", "min_region"),
    "--diff-close": ("ZoneEditToMask", "close"),
}

def test_every_flag_has_its_node_widget():
    assert set(NODE_WIDGET) == set(CLI_FLAGS)
    for flag, (key, widget) in NODE_WIDGET.items():
        kind, options = widget_specs(NODE_CLASS_MAPPINGS[key])[widget]
        spec = CLI_FLAGS[flag][0]
        assert (kind, options) == spec.widget(), flag  # the node declares exactly the spec


def test_flag_defaults_are_the_pipeline_defaults():
    defaults = {f.name: f.default for f in fields(ZoneParams)} | {f.name: f.default for f in fields(LocalizeParams)}
    for flag, (spec, optional) in CLI_FLAGS.items():
        dest = flag_dest(flag)
        assert dest in defaults, flag
        assert defaults[dest] == (None if optional else spec.default), flag


def _accepts_node(key: str, widget: str, value) -> bool:
    kind, options = widget_specs(NODE_CLASS_MAPPINGS[key])[widget]
    try:
        check_widget("N", widget, kind, options, value)
    except ZoneInputError:
        return False
    return True


def _accepts_cli(flag: str, value) -> bool:
    try:
        check_flags({flag_dest(flag): value})
    except ZoneInputError:
        return False
    return True


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(CLI_FLAGS)), st.one_of(
    st.floats(-1e4, 1e4), st.integers(-300, 1 << 21), st.just(math.nan), st.just(math.inf),
    st.sampled_from(["auto", "union", "paper", "affine", "feather", "euler", "x"])))
def test_cli_and_node_accept_the_same_values(flag, value):
    key, widget = NODE_WIDGET[flag]
    assert _accepts_cli(flag, value) == _accepts_node(key, widget, value), (flag, value)


def test_every_numeric_widget_of_every_node_has_a_range():
    for key, cls in NODE_CLASS_MAPPINGS.items():
        for name, (kind, options) in widget_specs(cls).items():
            if kind in ("INT", "FLOAT"):
                assert "min" in options and "max" in options, (key, name)


def test_whole_numbers_past_float_precision_are_compared_exactly():
    from comfyui_zone.zone_ops.params import SEED

    assert SEED.check(2 ** 64 - 1) == 2 ** 64 - 1
    with pytest.raises(ZoneInputError, match="from 0 to 18446744073709551615, got 18446744073709551616"):
        SEED.check(2 ** 64)


def test_a_spec_refuses_a_default_outside_its_range():
    with pytest.raises(ZoneInputError, match="default"):
        Param("x", "FLOAT", 2.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="not a choice"):
        Param("x", "COMBO", "c", choices=("a", "b"))
