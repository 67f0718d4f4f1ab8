"""The ComfyUI backend and node of the fused sampler against a REAL ComfyUI (tiny random models built in-process).

Runs with ``ZONE_COMFYUI_PATH=/work/comfy /work/comfyenv/bin/python -m pytest tests/test_fused_sampler_comfy.py``;
skips cleanly when ZONE_COMFYUI_PATH is unset or the checkout does not import.

Parity peer: ComfyUI's own InstructPix2Pix path, node by node: CLIPTextEncode (clip.encode_from_tokens_scheduled)
-> InstructPixToPixConditioning -> DualCFGGuider(cond1 = instruction+image, cond2 = ""+image, negative = "" without
image, cfg_conds = text_scale, cfg_cond2_negative = image_scale, "regular": u + cfg2*(m-u) + cfg1*(p-m)) ->
RandomNoise + KSamplerSelect + BasicScheduler -> SamplerCustomAdvanced -> VAEDecode (vae.decode).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from comfy_env import comfy_ip2p, import_comfy, tiny_clip, tiny_ip2p_model, tiny_vae
from conftest import photo
from comfyui_zone.zone_ops.stages.fused_sampler import SamplerSettings, fused_edit  # the pack's copy, as the nodes use it
from comfyui_zone.zone_ops.core.images import ZoneInputError, resize
from comfyui_zone.zone_ops.sampling.sigma_samplers import SigmaStepper

pytestmark = pytest.mark.comfyui

#: Max absolute difference allowed between our canvas and ComfyUI's (0..1 pixel scale). The only numerical
#: difference is our explicit softmax(QK^T/sqrt(d)) @ V on the five recorded blocks vs ComfyUI's fused attention.
PARITY_ATOL = 1e-4
STEPS = 4
INSTRUCTION = "make the cup blue"


@pytest.fixture(scope="module")
def comfy():
    comfy = import_comfy()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest and avoids oversubscription on shared CI cores
    yield comfy
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(comfy):
    return {"ip2p": tiny_ip2p_model(0), "magicbrush": tiny_ip2p_model(1), "clip": tiny_clip(0), "vae": tiny_vae(0)}


@pytest.fixture(scope="module")
def cup(comfy) -> torch.Tensor:
    """The coffee photo at 128x192 (= its working size for working_size 192: no resize on either path)."""
    return torch.from_numpy(resize(photo("coffee"), (128, 192), "area"))[None]


def zone_run(models, image, instruction=INSTRUCTION, *, magicbrush=False, sampler="dpmpp_2m", scheduler="normal", **settings):
    """fused_edit through the ComfyUI backend (sampler = SamplerSettings.scheduler, scheduler = sigma schedule)."""
    from comfyui_zone.nodes.comfy_backend import ComfyBackend

    backend = ComfyBackend(models["ip2p"], models["clip"], models["vae"],
                           magicbrush=models["magicbrush"] if magicbrush else None, sigma_schedule=scheduler)
    defaults = dict(steps=STEPS, seed=3, working_size=192, scheduler=sampler)
    return fused_edit(backend, image, instruction, SamplerSettings(**{**defaults, **settings}))


def model_state(model) -> tuple:
    """What must not change on the user's MODEL: its options (patches) and weight patches."""
    return copy.deepcopy(model.model_options), {k: len(v) for k, v in model.patches.items()}, model.patches_uuid


@pytest.mark.parametrize(
    "sampler, scheduler, batch",
    [("dpmpp_2m", "normal", 1), ("euler", "karras", 1), ("ddim", "normal", 1), ("dpmpp_2m", "karras", 2)],
)
def test_parity_with_comfyui_ip2p_path(models, cup, sampler, scheduler, batch):
    image = cup if batch == 1 else torch.cat([cup, cup.flip(2)])
    ours = zone_run(models, image, scheduler=scheduler, sampler=sampler).canvas
    reference = comfy_ip2p(models, image, INSTRUCTION, 3, STEPS, 7.5, 1.5, sampler, scheduler).numpy()
    assert ours.shape == reference.shape == (batch, 128, 192, 3)
    difference = float(np.abs(ours - reference).max())
    print(f"parity {sampler}/{scheduler}/B={batch}: max |ours - ComfyUI| = {difference:.3e}")
    assert difference <= PARITY_ATOL, f"{sampler}/{scheduler}: max |ours - ComfyUI| = {difference:.2e}"
    if batch == 2:  # the two items really are different edits (rows were not mixed up)
        assert float(np.abs(ours[0] - ours[1]).max()) > 0.05


def test_attention_maps_shape_and_probabilities(models, cup):
    result = zone_run(models, cup)
    attention = result.attention
    assert tuple(attention.maps.shape) == (1, 128 // 32, 192 // 32, 77)
    assert attention.token_counts == (len(INSTRUCTION.split()) + 2,)  # one SD1 token per word here + start/end
    assert attention.image_size == (128, 192) and attention.steps == STEPS
    assert attention.branches == ("image", "uncond")
    # a mean of softmax rows: every position sums to 1 over the 77 tokens
    torch.testing.assert_close(attention.maps.sum(-1), torch.ones(1, 4, 6), atol=1e-5, rtol=0)
    # batch rows are labelled per item: item 0 of a batch (same noise slice) records exactly the single run's maps
    batch = zone_run(models, torch.cat([cup, cup.flip(1)])).attention
    torch.testing.assert_close(batch.maps[:1], attention.maps, atol=1e-5, rtol=1e-4)
    assert float((batch.maps[1] - batch.maps[0]).abs().max()) > 1e-3
    # the instruction branch sees other attention than the empty-prompt ones
    text = zone_run(models, cup, record_branches=("text",)).attention
    assert float((text.maps - attention.maps).abs().max()) > 1e-3


def test_original_size_and_any_aspect(models):
    image = torch.from_numpy(resize(photo("chelsea"), (75, 113), "area"))[None]  # odd size, not a multiple of 8
    result = zone_run(models, image, working_size=128)
    assert result.working_size == (64, 128)
    assert result.canvas.shape == (1, 75, 113, 3)
    assert tuple(result.attention.maps.shape) == (1, 2, 4, 77) and result.attention.image_size == (75, 113)


def test_user_model_unchanged(models, cup):
    model = models["ip2p"]
    before = model_state(model)
    reference = comfy_ip2p(models, cup, INSTRUCTION, 3, STEPS, 7.5, 1.5, "dpmpp_2m", "normal")
    zone_run(models, cup, magicbrush=True, beta=0.2)
    assert model_state(model) == before
    assert "patches_replace" not in model.model_options.get("transformer_options", {})
    assert getattr(model.model, "current_patcher", None) is None
    after = comfy_ip2p(models, cup, INSTRUCTION, 3, STEPS, 7.5, 1.5, "dpmpp_2m", "normal")
    assert torch.equal(reference, after)  # the UNet behaves exactly as before


def test_magicbrush_fusion(models, cup):
    plain = zone_run(models, cup).canvas
    fused_zero = zone_run(models, cup, magicbrush=True, beta=0.0).canvas
    np.testing.assert_array_equal(fused_zero, plain)  # beta = 0: x_ip2p unchanged by the fusion
    fused = zone_run(models, cup, magicbrush=True, beta=0.2).canvas
    assert float(np.abs(fused - plain).max()) > 1e-3


def test_node_cancel_mid_loop_leaves_no_patch(comfy, models, cup, monkeypatch):
    import comfy.model_management as mm
    from comfyui_zone.nodes import fused_sampler as node_module

    calls = []

    class CancelAfterTwo:
        def __init__(self, total):
            self.total = total

        def __call__(self, done, total):
            calls.append(done)
            if done == 2:
                mm.interrupt_current_processing(True)  # the Cancel button

    monkeypatch.setattr(node_module, "Progress", CancelAfterTwo)
    model = models["ip2p"]
    before = model_state(model)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            node_module.ZoneFusedIP2PSampler().sample(
                model, models["clip"], models["vae"], cup, INSTRUCTION, 0, 6, 7.5, 1.5, "dpmpp_2m", "normal", 192,
                "empty prompt (official)",
            )
    finally:
        mm.interrupt_current_processing(False)
    assert calls == [1, 2]
    assert model_state(model) == before
    assert getattr(model.model, "current_patcher", None) is None


def test_node_outputs(models, cup):
    from comfyui_zone.nodes.fused_sampler import ZoneFusedIP2PSampler

    image = torch.cat([cup, cup])
    canvas, attention, preview = ZoneFusedIP2PSampler().sample(
        models["ip2p"], models["clip"], models["vae"], image, INSTRUCTION, 5, 2, 7.5, 1.5, "euler", "karras", 128,
        "all branches", magicbrush_model=models["magicbrush"], beta=0.01,
    )
    assert canvas.shape == (2, 128, 192, 3) and canvas.dtype == torch.float32
    assert 0.0 <= float(canvas.min()) and float(canvas.max()) <= 1.0
    assert tuple(attention.maps.shape) == (2, 64 // 32, 128 // 32, 77) and attention.branches == ("text", "image", "uncond")
    assert preview.shape == (2, 128, 192, 3)


def test_bad_inputs(models, cup):
    from comfyui_zone.nodes.comfy_backend import ComfyBackend
    from comfyui_zone.nodes.fused_sampler import ZoneFusedIP2PSampler

    sd15 = tiny_ip2p_model(0, in_channels=4)
    with pytest.raises(ZoneInputError, match="InstructPix2Pix"):
        ZoneFusedIP2PSampler().sample(sd15, models["clip"], models["vae"], cup, INSTRUCTION, 0, 2, 7.5, 1.5,
                                      "dpmpp_2m", "normal", 128, "empty prompt (official)")
    with pytest.raises(ZoneInputError, match="magicbrush model"):
        ComfyBackend(models["ip2p"], models["clip"], models["vae"], magicbrush=sd15)
    with pytest.raises(ZoneInputError, match="empty"):
        ZoneFusedIP2PSampler().sample(models["ip2p"], models["clip"], models["vae"], cup, "   ", 0, 2, 7.5, 1.5,
                                      "dpmpp_2m", "normal", 128, "empty prompt (official)")
    backend = ComfyBackend(models["ip2p"], models["clip"], models["vae"])
    with pytest.raises(ZoneInputError, match="batch sizes do not match"):
        fused_edit(backend, torch.cat([cup] * 3), ["make it red", "make it blue"], SamplerSettings(steps=1, working_size=128))
    with pytest.raises(ZoneInputError, match="too long"):
        fused_edit(backend, cup, "blue " * 80, SamplerSettings(steps=1, working_size=128))


@pytest.mark.parametrize("name", ["dpmpp_2m", "euler"])
def test_steppers_bit_identical_to_k_diffusion(comfy, models, name):
    """zone_ops.sampling.sigma_samplers reproduces ComfyUI's k-diffusion sampler functions exactly (toy denoiser)."""
    from comfy.k_diffusion import sampling

    def denoiser(x, sigma, **_):
        return torch.tanh(x) * (1.0 / (1.0 + sigma[:, None, None, None])) + 0.1 * x.roll(1, -1)

    model_sampling = models["ip2p"].get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(model_sampling, "karras", 7)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * float(sigmas[0])
    reference = getattr(sampling, f"sample_{name}")(denoiser, x.clone(), sigmas, disable=True)
    stepper, y = SigmaStepper(name, sigmas), x.clone()
    for i in range(stepper.steps):
        y = stepper.step(y, denoiser(y, sigmas[i] * y.new_ones([y.shape[0]])), i)
    assert torch.equal(y, reference)
