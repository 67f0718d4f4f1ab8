"""ZoneFusedIP2PSampler without ComfyUI: the declared interface, input validation, helpers, sigma-space steppers.

(The node against a real ComfyUI: tests/test_fused_sampler_comfy.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from comfyui_zone.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from comfyui_zone.nodes.comfy_backend import COND_ORDER, ComfyBackend, check_ip2p_model, row_labels
from comfyui_zone.nodes.fused_sampler import RECORD_CHOICES, ZoneFusedIP2PSampler, attention_preview, resolve_beta
from comfyui_zone.zone_ops.stages.fused_sampler import SCHEDULERS
from comfyui_zone.zone_ops.core.images import ZoneInputError
from comfyui_zone.zone_ops.core.types import Action, ZoneAction, ZoneAttention
from zone_ops.sampling.sigma_samplers import STEPPERS, SigmaStepper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_model(in_channels: int):
    """Just enough of a ComfyUI ModelPatcher for the channel check."""
    return SimpleNamespace(model=SimpleNamespace(diffusion_model=SimpleNamespace(in_channels=in_channels)))


def run_node(**overrides):
    args = dict(
        ip2p_model=fake_model(4), clip=object(), vae=object(), image=torch.rand(1, 64, 64, 3), instruction="make it red",
        seed=0, steps=2, text_scale=7.5, image_scale=1.5, sampler="dpmpp_2m", scheduler="normal", working_size=512,
        record_branches="empty prompt (official)",
    )
    args.update(overrides)
    return ZoneFusedIP2PSampler().sample(**args)


def test_registered_with_zone_names():
    assert NODE_CLASS_MAPPINGS["ZoneFusedIP2PSampler"] is ZoneFusedIP2PSampler
    assert NODE_DISPLAY_NAME_MAPPINGS["ZoneFusedIP2PSampler"] == "ZONE Fused IP2P Sampler"


def test_input_types():
    spec = ZoneFusedIP2PSampler.INPUT_TYPES()
    required, optional = spec["required"], spec["optional"]
    assert [required[k][0] for k in ("ip2p_model", "clip", "vae", "image", "instruction")] == ["MODEL", "CLIP", "VAE", "IMAGE", "STRING"]
    assert required["instruction"][1]["multiline"] is True
    assert required["steps"][1]["default"] == 20
    assert required["text_scale"][1]["default"] == 7.5 and required["image_scale"][1]["default"] == 1.5
    assert required["sampler"][0] == list(SCHEDULERS) and required["sampler"][1]["default"] == "dpmpp_2m"
    assert required["scheduler"][0] == ["normal", "karras"]
    ws = required["working_size"][1]
    assert ws["default"] == 512 and ws["step"] == 64 and ws["min"] == 64
    assert required["record_branches"][1]["default"] in required["record_branches"][0]
    assert RECORD_CHOICES[required["record_branches"][1]["default"]] == ("image", "uncond")
    assert optional["magicbrush_model"][0] == "MODEL" and optional["action"][0] == "ZONE_ACTION"
    assert optional["beta"][1]["default"] == 0.01 and optional["beta"][1]["min"] == 0.0
    node = ZoneFusedIP2PSampler
    assert node.RETURN_TYPES == ("IMAGE", "ZONE_ATTENTION", "IMAGE") and len(node.RETURN_NAMES) == len(node.OUTPUT_TOOLTIPS) == 3
    assert node.CATEGORY == "ZONE" and hasattr(node, node.FUNCTION)
    # every widget default is inside its own range
    for name, (kind, *options) in {**required, **optional}.items():
        opts = options[0] if options else {}
        if kind in ("INT", "FLOAT"):
            assert opts["min"] <= opts["default"] <= opts["max"], name


def test_imports_without_comfyui():
    """The node modules import (and list their inputs) with every ComfyUI module blocked."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('comfy', 'folder_paths', 'comfy_extras', 'comfy_api'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})\n"
        "import conftest\n"
        "from comfyui_zone.nodes import fused_sampler, comfy_backend\n"
        "fused_sampler.ZoneFusedIP2PSampler.INPUT_TYPES()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"instruction": "   "}, "instruction is empty"),
        ({"instruction": ""}, "instruction is empty"),
        ({"image": torch.rand(64, 64, 3)}, r"IMAGE \[B, H, W, C\]"),
        ({"working_size": 500}, "multiple of 64"),
        ({"record_branches": "everything"}, "record_branches"),
        ({"steps": 0}, "steps"),
        ({"sampler": "heun"}, "widget 'sampler' must be one of dpmpp_2m"),
        ({}, "InstructPix2Pix"),  # the fake 4-channel (text-to-image) model
        ({"ip2p_model": "not a model"}, "expected a MODEL"),
    ],
)
def test_validation_errors(overrides, message):
    with pytest.raises(ZoneInputError, match=message):
        run_node(**overrides)


def test_model_checks_before_comfy_import():
    for channels in (4, 9):
        with pytest.raises(ZoneInputError, match=f"{channels} UNet input channels"):
            check_ip2p_model(fake_model(channels))
    with pytest.raises(ZoneInputError, match="magicbrush model has 4"):
        check_ip2p_model(fake_model(4), "magicbrush model")
    with pytest.raises(ZoneInputError, match="ip2p model"):  # checked before anything is loaded
        ComfyBackend(fake_model(4), object(), object())


def test_resolve_beta():
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    change = ZoneAction(Action.CHANGE, (1.0, 0.0, 0.0), 0.01, "manual")
    assert resolve_beta(None) == 0.01  # no action: the widget's explicit default (change / add)
    assert resolve_beta(remove, 0.01) == 0.2 and resolve_beta(change, 0.5) == 0.01  # an action decides
    assert resolve_beta(None, 0.5) == 0.5 and resolve_beta(None, 0.0) == 0.0
    with pytest.raises(ZoneInputError, match="ZONE_ACTION"):
        resolve_beta("remove", 0.01)


def test_row_labels_follow_cond_or_uncond():
    # calc_cond_batch may run the three conds in any order and in several calls; chunks of B rows each
    branches, items = row_labels(6, [2, 0, 1])
    assert branches == ["text"] * 2 + ["uncond"] * 2 + ["image"] * 2 and items == [0, 1] * 3
    branches, items = row_labels(1, [1])
    assert branches == [COND_ORDER[1]] == ["image"] and items == [0]
    with pytest.raises(RuntimeError):
        row_labels(5, [0, 1])
    with pytest.raises(RuntimeError):
        row_labels(3, None)


def test_attention_preview_marks_edit_region():
    maps = torch.full((1, 4, 6, 77), 0.01)
    maps[0, :, :, 0] = 0.9          # start token everywhere ...
    maps[0, 1:3, 2:4, 0] = 0.2      # ... except the edit region
    maps[0, 1:3, 2:4, 4] = 0.7      # where the last instruction token (L = 5) takes over
    preview = attention_preview(ZoneAttention(maps, (5,), (60, 90), 2))
    assert preview.shape == (1, 60, 90, 3) and 0.0 <= float(preview.min()) and float(preview.max()) <= 1.0
    inside, outside = preview[0, 25:35, 40:50].mean(), preview[0, :8, :8].mean()
    assert float(inside) < float(outside)  # first - last is low (dark) where the edit goes


@pytest.mark.parametrize("name", STEPPERS)
def test_steppers_exact_on_a_perfect_denoiser(name):
    """With the true x0, x = x0 + sigma * eps is the ODE's solution: every stepper lands on x0 + sigma_next * eps."""
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 4, 8, 8, generator=gen)
    sigmas = torch.tensor([14.6, 6.0, 2.5, 0.9, 0.3, 0.0])
    stepper = SigmaStepper(name, sigmas)
    x = x0 + sigmas[0] * eps
    for i in range(stepper.steps):
        x = stepper.step(x, x0, i)
        torch.testing.assert_close(x, x0 + sigmas[i + 1] * eps, atol=2e-5, rtol=1e-5)


def test_dpmpp_2m_second_order_differs_from_euler():
    gen = torch.Generator().manual_seed(1)
    sigmas = torch.tensor([10.0, 3.0, 1.0, 0.0])
    x = torch.randn(1, 4, 4, 4, generator=gen) * 10
    d1, d2 = torch.randn(1, 4, 4, 4, generator=gen), torch.randn(1, 4, 4, 4, generator=gen)
    dpm, euler = SigmaStepper("dpmpp_2m", sigmas), SigmaStepper("euler", sigmas)
    a, b = dpm.step(x, d1, 0), euler.step(x, d1, 0)
    torch.testing.assert_close(a, b)  # first order, DPM-Solver++ is DDIM = the Euler step in sigma space
    assert float((dpm.step(a, d2, 1) - euler.step(a, d2, 1)).abs().max()) > 1e-2  # then the 2nd-order correction
    with pytest.raises(ValueError):
        SigmaStepper("heun", sigmas)
    with pytest.raises(IndexError):
        dpm.step(x, d1, 3)
    assert np.isfinite(a.numpy()).all()


def test_node_passes_every_widget_to_the_engine(monkeypatch):
    """Non-default widget values reach SamplerSettings, the backend (models, sigma schedule) and fused_edit; the
    engine and the ComfyUI backend are replaced by recorders, so this runs without ComfyUI."""
    import comfyui_zone.nodes.comfy_backend as backend_module
    import comfyui_zone.nodes.fused_sampler as node_module
    from comfyui_zone.zone_ops.stages.fused_sampler import FusedResult

    made = []

    class FakeBackend:
        def __init__(self, *args, **kwargs):
            made.append((args, kwargs))

    def fake_edit(backend, image, instruction, settings, **kwargs):
        made.append((image, instruction, settings))
        maps = torch.rand(1, 2, 2, 77)
        return FusedResult(np.zeros((1, 64, 64, 3), np.float32), ZoneAttention(maps, (4,), (64, 64)), (64, 64))

    monkeypatch.setattr(backend_module, "ComfyBackend", FakeBackend)
    monkeypatch.setattr(node_module, "fused_edit", fake_edit)
    ip2p, mb, clip, vae, image = fake_model(8), fake_model(8), object(), object(), torch.rand(1, 64, 64, 3)
    remove = ZoneAction(Action.REMOVE, (0.0, 0.0, 1.0), 0.2, "manual")
    with torch.inference_mode():
        canvas, _, _ = run_node(ip2p_model=ip2p, clip=clip, vae=vae, image=image, instruction="add a hat", seed=123,
                                steps=3, text_scale=5.5, image_scale=1.25, sampler="euler", scheduler="karras",
                                working_size=256, record_branches="all branches", magicbrush_model=mb,
                                beta=0.35)
    (args, kwargs), (passed_image, instruction, settings) = made
    assert args == (ip2p, clip, vae) and kwargs == {"magicbrush": mb, "sigma_schedule": "karras"}
    assert passed_image is image and instruction == "add a hat" and canvas.shape == (1, 64, 64, 3)
    assert (settings.seed, settings.steps, settings.text_scale, settings.image_scale) == (123, 3, 5.5, 1.25)
    assert (settings.scheduler, settings.working_size, settings.beta) == ("euler", 256, 0.35)
    assert settings.record_branches == ("text", "image", "uncond")
    made.clear()
    run_node(ip2p_model=ip2p, action=remove, beta=0.35)
    assert made[1][2].beta == 0.2  # an action connected: its beta, not the widget's
