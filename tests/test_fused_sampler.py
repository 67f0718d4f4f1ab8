"""Stage 2 engine + diffusers backend on tiny random models (CPU, 64-128 px, 2-4 steps).

Parity: without MagicBrush the diffusers backend's canvas equals diffusers' StableDiffusionInstructPix2PixPipeline
for the same noise (``latents=``), scheduler, steps and scales, compared at the working size (the pipeline does
not resize back). Tolerance: max abs difference <= 1e-5 (observed: 0.0, the loops are op-for-op the same).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tiny_models import save_ip2p_folder, single_thread, tiny_backend, tiny_unet
from zone_ops.stages.attention_hook import AttentionRecorder
from zone_ops.sampling.diffusers_backend import DiffusersBackend, load_diffusers_backend, resolve_dtype
from zone_ops.stages.fused_sampler import (
    SamplerSettings,
    fuse,
    fused_edit,
    guided_eps,
    seeded_noise,
    working_size,
)
from zone_ops.core.images import ZoneInputError, resize_image

PARITY_ATOL = 1e-5
FAST = SamplerSettings(steps=2, working_size=64, seed=3)


@pytest.fixture(scope="module", autouse=True)
def backend():
    """The tiny IP2P backend; the module's tests run torch on one thread (tiny models are faster so)."""
    with single_thread():
        yield tiny_backend(0)


@pytest.fixture(scope="module")
def fused_backend() -> DiffusersBackend:
    """The same IP2P models + a different random 'MagicBrush' UNet sharing the IP2P encoders."""
    return tiny_backend(0, magicbrush_seed=1)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64] / 63.0
    return np.stack([x, y, 0.5 * (x + y)], axis=-1).astype(np.float32)[None]


@pytest.fixture(scope="module")
def plain(backend, image):
    """IP2P-only result with the FAST settings (shared by several tests)."""
    return fused_edit(backend, image, "make it blue", FAST)


def test_formulas_and_working_size():
    e_t, e_i, u = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([1.0])
    assert guided_eps(e_t, e_i, u, 7.5, 1.5).item() == pytest.approx(1 + 7.5 * 1 + 1.5 * 1)
    assert fuse(torch.tensor([1.0]), torch.tensor([3.0]), 1.0).item() == 2.0
    x = torch.randn(5)
    assert torch.equal(fuse(x, torch.randn(5), 0.0), x)
    # asymmetric values: a swapped branch, argument or scale changes the result
    e_t, e_i, u = torch.tensor([3.0]), torch.tensor([5.0]), torch.tensor([2.0])
    assert guided_eps(e_t, e_i, u, 7.0, 1.5).item() == pytest.approx(2 + 7.0 * (3 - 5) + 1.5 * (5 - 2))  # -7.5
    assert fuse(torch.tensor([1.0]), torch.tensor([3.0]), 0.25).item() == pytest.approx((1 + 0.25 * 3) / 1.25)  # 1.4
    assert working_size(300, 451) == (320, 512)
    assert working_size(512, 512) == (512, 512)
    assert working_size(360, 512) == (384, 512)  # 5.625 multiples of 64 round to 6 (not down to 5)
    assert working_size(1000, 200, longest=768) == (768, 128)
    assert working_size(10, 10, longest=64) == (64, 64)


class FakeTrajectory:
    """x <- x * factor + index (deterministic), records what it was given."""

    def __init__(self, factor: float, log: list) -> None:
        self.factor, self.log, self.closed = factor, log, False

    def start(self, noise):
        self.log.append(("start", self.factor, noise.clone()))
        return noise.clone()

    def step(self, latents, index):
        self.log.append(("step", self.factor, index))
        return latents * self.factor + index

    def close(self):
        self.closed = True


class FakeBackend:
    def __init__(self, magicbrush: bool) -> None:
        self.log: list = []
        self.magicbrush = magicbrush
        self.made: tuple = ()

    def encode_prompts(self, instructions):
        return instructions, [len(t) + 2 for t in instructions]

    def encode_images(self, images):
        self.image_shape = tuple(images.shape)
        return images

    def initial_noise(self, shape, seed):
        return seeded_noise(shape, seed)

    def trajectories(self, conditioning, image_latents, settings, recorder):
        self.made = (FakeTrajectory(0.5, self.log), FakeTrajectory(2.0, self.log) if self.magicbrush else None)
        if recorder is not None:  # one fake layer call per construction: rows [text, image, uncond] x B
            b = len(conditioning)
            probs = torch.full((3 * b, 2, 4, 77), 1 / 77)
            recorder.add("fake", probs, ["text"] * b + ["image"] * b + ["uncond"] * b, list(range(b)) * 3, (4, 4))
        return self.made

    def decode(self, latents):
        self.decoded = latents
        b, _, h, w = latents.shape
        return torch.full((b, h * 8, w * 8, 3), 0.25)


def test_engine_fuses_after_every_step_and_leaves_magicbrush_unfused(image):
    settings = SamplerSettings(steps=3, beta=0.2, working_size=64)
    fake = FakeBackend(magicbrush=True)
    calls = []
    result = fused_edit(fake, image, "add a hat", settings, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    starts = [e[2] for e in fake.log if e[0] == "start"]
    assert torch.equal(starts[0], starts[1])  # both models start from the same noise
    x = y = seeded_noise((1, 4, 8, 8), 0)
    for i in range(3):
        x, y = x * 0.5 + i, y * 2.0 + i
        x = (x + 0.2 * y) / 1.2
    assert all(t.closed for t in fake.made)
    assert result.canvas.shape == (1, 64, 64, 3) and np.allclose(result.canvas, 0.25)
    assert result.attention.token_counts == (11,) and result.attention.image_size == (64, 64)
    assert torch.allclose(fake.decoded, x, atol=1e-6)  # decode got the fused IP2P latents


def test_engine_closes_trajectories_when_cancelled(image):
    fake = FakeBackend(magicbrush=True)
    steps = []

    def cancel():
        if len(steps) == 1:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        fused_edit(fake, image, "x", SamplerSettings(steps=4, working_size=64), check_cancel=cancel,
                   progress=lambda d, t: steps.append(d))
    assert all(t.closed for t in fake.made)


def _pipeline_canvas(backend, images_at_work, instruction, settings):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=backend.ip2p.vae, text_encoder=backend.ip2p.text_encoder, tokenizer=backend.ip2p.tokenizer,
        unet=backend.unet, scheduler=backend.make_scheduler(settings.scheduler), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    b, h, w, _ = images_at_work.shape
    noise = seeded_noise((b, 4, h // 8, w // 8), settings.seed)  # what the backend's initial_noise gives
    return pipe(
        instruction, image=torch.from_numpy(images_at_work).permute(0, 3, 1, 2), num_inference_steps=settings.steps,
        guidance_scale=settings.text_scale, image_guidance_scale=settings.image_scale, latents=noise, output_type="np",
    ).images


@pytest.mark.parametrize("scheduler", ["dpmpp_2m", "ddim", "euler"])
def test_parity_with_diffusers_instruct_pix2pix_pipeline(backend, image, scheduler):
    settings = SamplerSettings(steps=2, working_size=64, seed=7, scheduler=scheduler, text_scale=6.0, image_scale=1.7)
    ours = fused_edit(backend, image, "make it blue", settings).canvas
    theirs = _pipeline_canvas(backend, image, "make it blue", settings)
    assert ours.shape == theirs.shape == (1, 64, 64, 3)
    assert np.abs(ours - theirs).max() <= PARITY_ATOL


def test_beta_zero_with_magicbrush_equals_ip2p_only(plain, fused_backend, image):
    plain = plain.canvas
    zero = fused_edit(fused_backend, image, "make it blue", replace(FAST, beta=0.0)).canvas
    fused = fused_edit(fused_backend, image, "make it blue", replace(FAST, beta=0.5)).canvas
    assert np.array_equal(plain, zero)
    assert np.abs(fused - plain).max() > 1e-4


def test_seeded_and_deterministic(backend, image, plain):
    a = plain
    b = fused_edit(backend, image, "make it blue", FAST)
    c = fused_edit(backend, image, "make it blue", replace(FAST, seed=4))
    assert np.array_equal(a.canvas, b.canvas) and torch.equal(a.attention.maps, b.attention.maps)
    assert np.abs(a.canvas - c.canvas).max() > 1e-4


def test_any_aspect_ratio_comes_back_at_the_original_size(backend, chelsea):
    result = fused_edit(backend, chelsea, "make the cat blue", SamplerSettings(steps=2, working_size=128))
    assert result.canvas.shape == (1, 300, 451, 3) and result.canvas.dtype == np.float32
    assert 0.0 <= result.canvas.min() and result.canvas.max() <= 1.0
    assert result.working_size == (64, 128)
    att = result.attention
    assert att.image_size == (300, 451) and tuple(att.maps.shape) == (1, 2, 4, 77)
    assert att.token_counts == (len("makethecatblue") + 2,)  # byte-level tokenizer: a token per letter + start/end
    assert att.steps == 2 and att.branches == ("image", "uncond")


def test_image_batch_with_per_item_instructions(backend, image):
    batch = np.concatenate([image, image[:, ::-1]], axis=0)
    result = fused_edit(backend, batch, ["make it blue", "add snow"], FAST)
    assert result.canvas.shape == (2, 64, 64, 3)
    assert result.attention.token_counts == (12, 9)
    assert not torch.equal(result.attention.maps[0], result.attention.maps[1])
    broadcast = fused_edit(backend, image, ["make it blue", "add snow"], FAST)  # one image, two instructions
    assert broadcast.canvas.shape == (2, 64, 64, 3)


def test_bad_inputs_give_clear_errors(backend, image):
    with pytest.raises(ZoneInputError, match="instruction 0 is empty"):
        fused_edit(backend, image, "   ", FAST)
    with pytest.raises(ZoneInputError, match="too long"):
        fused_edit(backend, image, "blue " * 20, FAST)  # byte-level tokenizer: 80 letter tokens
    with pytest.raises(ZoneInputError, match="batch sizes do not match"):
        fused_edit(backend, np.concatenate([image] * 3), ["a", "b"], FAST)
    bad = image.copy()
    bad[0, 3, 3, 1] = np.nan
    with pytest.raises(ZoneInputError, match="NaN"):
        fused_edit(backend, bad, "make it blue", FAST)
    with pytest.raises(ZoneInputError, match="4 input channels.*needs 8"):
        DiffusersBackend(tiny_unet(0, in_channels=4), backend.ip2p.text_encoder, backend.ip2p.tokenizer, backend.ip2p.vae)
    with pytest.raises(ZoneInputError, match="unknown scheduler"):
        SamplerSettings(scheduler="plms")
    with pytest.raises(ZoneInputError, match="steps"):
        SamplerSettings(steps=0)


def test_loader_reads_folders_and_rejects_bad_ones(tmp_path, image):
    folder = save_ip2p_folder(tmp_path / "ip2p")
    loaded = load_diffusers_backend(folder, folder)  # the same folder as "MagicBrush": own encoders are loaded
    assert loaded.magicbrush is not loaded.ip2p and loaded.unet.dtype == torch.float32
    shared = load_diffusers_backend(folder, folder, share_encoders=True)
    assert shared.magicbrush is shared.ip2p
    result = fused_edit(loaded, image, "make it blue", SamplerSettings(steps=2, working_size=64, beta=0.2))
    assert result.canvas.shape == (1, 64, 64, 3)
    with pytest.raises(ZoneInputError, match="does not exist"):
        load_diffusers_backend(tmp_path / "missing")
    with pytest.raises(ZoneInputError, match="no unet/config.json"):
        load_diffusers_backend(tmp_path)
    plain = tmp_path / "sd"
    tiny_unet(0, in_channels=4).save_pretrained(plain / "unet")
    with pytest.raises(ZoneInputError, match="4 input channels"):
        load_diffusers_backend(plain)
    assert resolve_dtype("fp16", "cpu") == torch.float32 and resolve_dtype("auto", "cuda") == torch.float16


def test_resize_helper_keeps_range(chelsea):
    small = resize_image(chelsea, (64, 128))
    big = resize_image(small, (300, 451))
    assert small.shape == (64, 128, 3) and big.shape == (300, 451, 3)
    assert 0.0 <= big.min() and big.max() <= 1.0


def test_recorder_branch_choice_is_passed_through(backend, image, plain):
    text_only = fused_edit(backend, image, "make it blue", replace(FAST, record_branches=("text",)))
    default = plain
    assert text_only.attention.branches == ("text",)
    assert not torch.allclose(text_only.attention.maps, default.attention.maps)
    assert np.array_equal(text_only.canvas, default.canvas)  # recording never changes the sampling


def test_same_unet_object_as_magicbrush_is_recorded_once(backend, image):
    same = DiffusersBackend(backend.unet, backend.ip2p.text_encoder, backend.ip2p.tokenizer, backend.ip2p.vae,
                            magicbrush_unet=backend.unet)
    recorder = AttentionRecorder(1)
    cond, _ = same.encode_prompts(["make it blue"])
    ip2p, magicbrush = same.trajectories(cond, same.encode_images(torch.from_numpy(image)), FAST, recorder)
    try:
        with torch.no_grad():
            x = y = ip2p.start(torch.zeros(1, 4, 8, 8))
            for i in range(FAST.steps):
                x, y = ip2p.step(x, i), magicbrush.step(y, i)
    finally:
        ip2p.close()
    assert recorder.calls == 5 * FAST.steps  # the MagicBrush steps of the shared UNet were not recorded
