"""nodes/widgets.py: every widget value is checked against its node's INPUT_TYPES declaration before the node runs.

A small declared node (one widget of each kind, one optional) is wrapped as the pack wraps every node; each bad
value is refused with a ZoneInputError naming the widget and the node, each good value reaches the node unchanged.
"""

from __future__ import annotations

import math

import pytest
import torch

from comfyui_zone.nodes.widgets import check_widget, install_widget_checks
from comfyui_zone.zone_ops.core.images import ZoneInputError


class _Node:
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),  # a link: checked as a tensor [B, H, W, C]
                "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0}),
                "steps": ("INT", {"default": 4, "min": 1, "max": 10}),
                "flag": ("BOOLEAN", {"default": False}),
                "text": ("STRING", {"default": ""}),
                "mode": (["a", "b"], {"default": "a"}),
            },
            "optional": {
                "extra": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}),
            },
        }

    def run(self, image, scale, steps, flag, text, mode, extra=None):
        return (image, scale, steps, flag, text, mode, extra)


install_widget_checks(_Node, "Test Node")
GOOD = dict(image=torch.zeros(1, 4, 4, 3), scale=1.5, steps=3, flag=True, text="x", mode="b")


def test_good_values_reach_the_node_unchanged():
    assert _Node().run(**GOOD, extra=0.25)[1:] == (1.5, 3, True, "x", "b", 0.25)
    assert _Node().run(**{**GOOD, "steps": 3.0})[2] == 3.0  # a whole float is an INT value (API prompts)


@pytest.mark.parametrize("widget, value", [
    ("scale", math.nan), ("scale", math.inf), ("scale", 2.5), ("scale", -0.1), ("scale", True),
    ("steps", 2.5), ("steps", 0), ("steps", 11), ("steps", False),
    ("flag", 1), ("flag", "true"),
    ("text", 3),
    ("mode", "c"),
    ("extra", 1.5), ("extra", math.nan),
])
def test_bad_values_name_the_widget_and_the_node(widget, value):
    with pytest.raises(ZoneInputError) as info:
        _Node().run(**{**GOOD, widget: value})
    assert f"'{widget}'" in str(info.value) and "Test Node" in str(info.value)


def test_links_and_empty_combos_are_not_widgets():
    check_widget("N", "model", "MODEL", {}, object())
    check_widget("N", "model", [], {}, "anything")  # an empty model list: ComfyUI reports it, not this check
