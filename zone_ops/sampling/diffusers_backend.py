"""Diffusers backend of the fused sampler: InstructPix2Pix (+ optional MagicBrush) from diffusers-format folders.

``load_diffusers_backend(ip2p_path, magicbrush_path=None, ...)`` loads UNet2DConditionModel, CLIPTextModel +
CLIPTokenizer, AutoencoderKL and the scheduler config from local folders only (``local_files_only=True``; nothing
is ever downloaded). The IP2P UNet must have 8 input channels.

MagicBrush: the folder may be a full diffusers pipeline folder (unet/, text_encoder/, tokenizer/, vae/) or a bare
UNet folder (config.json + weights). Decision: like the official code, each model uses ITS OWN text encoder and
VAE when its folder has them (``share_encoders=False``, default); ``share_encoders=True`` (or a bare UNet folder)
reuses the IP2P text encoder, tokenizer and VAE for MagicBrush. MagicBrush fine-tuned only the UNet, so in practice
both give the same result; sharing saves ~0.6 GB.

Numerics follow diffusers' ``StableDiffusionInstructPix2PixPipeline`` step for step (same row order [text, image,
uncond], same guidance expression, image latents = VAE posterior MODE unscaled, decode = latents / scaling_factor),
so in fp32 the canvas equals the pipeline's output. Latents are kept in fp32 between steps whatever the model
dtype (the UNet runs in the model dtype).
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from ..stages.attention_hook import AttentionRecorder, DiffusersAttentionHook
from ..stages.fused_sampler import IP2P_IN_CHANNELS, SamplerSettings, guided_eps, seeded_noise
from ..core.images import ZoneInputError
from ..models.checkpoint import check_finite

#: SD1.5 training noise schedule: used when the folder has no scheduler config.
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device) -> torch.dtype:
    """"auto": fp16 on CUDA (bf16 if asked), fp32 on CPU. CPU always runs fp32 (half precision is slow or missing)."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"auto": torch.float16, "fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
             "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32}
    if dtype not in table:
        raise ZoneInputError(f"unknown dtype {dtype!r}; choose auto, fp16, bf16 or fp32")
    return table[dtype]


def make_scheduler(name: str, config: dict[str, Any] | None = None):
    """A fresh diffusers scheduler for ``name`` ("dpmpp_2m" | "ddim" | "euler") on the model's training schedule."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    config = dict(config or SD15_SCHEDULER_CONFIG)
    if name == "dpmpp_2m":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2)
    if name == "ddim":
        return DDIMScheduler.from_config(config, clip_sample=False)  # latents are not in -1..1
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    raise ZoneInputError(f"unknown scheduler {name!r}; choose dpmpp_2m, ddim or euler")


def check_ip2p_unet(unet: Any, what: str = "InstructPix2Pix") -> None:
    """ZoneInputError unless ``unet`` (a UNet or its config dict) takes 8 input channels (noisy + image latent)."""
    config = unet if isinstance(unet, dict) else unet.config
    channels = int(config.get("in_channels", -1))
    if channels != IP2P_IN_CHANNELS:
        raise ZoneInputError(
            f"the {what} UNet has {channels} input channels, an instruction-editing model needs "
            f"{IP2P_IN_CHANNELS} (noisy latent + image latent): load an InstructPix2Pix or MagicBrush model, "
            "not a plain Stable Diffusion one"
        )


class _Encoders:
    """Text encoder + tokenizer + VAE of one model."""

    def __init__(self, text_encoder, tokenizer, vae) -> None:
        self.text_encoder, self.tokenizer, self.vae = text_encoder, tokenizer, vae

    def _embed(self, texts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(texts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.text_encoder.device))[0]

    def embeddings(self, instructions: list[str]) -> torch.Tensor:
        """[3B, 77, D]: rows [instruction]*B, [""]*B, [""]*B (encoded as two calls, like the pipeline)."""
        text = self._embed(instructions)
        empty = self._embed([""] * len(instructions))
        return torch.cat([text, empty, empty])

    def image_latents(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, h, w, 3] 0..1 -> [3B, 4, h/8, w/8]: posterior mode (unscaled) twice, then zeros."""
        pixels = images.permute(0, 3, 1, 2).contiguous().to(self.vae.device, self.vae.dtype) * 2.0 - 1.0
        latents = self.vae.encode(pixels).latent_dist.mode()
        return torch.cat([latents, latents, torch.zeros_like(latents)])


class DiffusersTrajectory:
    """One model's guided trajectory, exactly the denoising loop of StableDiffusionInstructPix2PixPipeline."""

    def __init__(self, unet, scheduler, embeddings, image_latents, settings: SamplerSettings, hook=None,
                 pause: DiffusersAttentionHook | None = None) -> None:
        """hook: removed by close(); pause: a hook on the same UNet object that must not record this model's calls."""
        self.unet, self.scheduler, self.settings, self.hook, self.pause = unet, scheduler, settings, hook, pause
        self.embeddings = embeddings.to(unet.device, unet.dtype)
        self.image_latents = image_latents.to(unet.device, unet.dtype)
        scheduler.set_timesteps(settings.steps, device=unet.device)
        if len(scheduler.timesteps) != settings.steps:
            raise ZoneInputError(f"scheduler {settings.scheduler} made {len(scheduler.timesteps)} timesteps for {settings.steps} steps")

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        return noise.to(self.unet.device, torch.float32) * self.scheduler.init_noise_sigma

    def step(self, latents: torch.Tensor, index: int) -> torch.Tensor:
        t = self.scheduler.timesteps[index]
        model_input = self.scheduler.scale_model_input(torch.cat([latents] * 3), t)
        model_input = torch.cat([model_input.to(self.unet.dtype), self.image_latents], dim=1)
        if self.pause is not None:
            self.pause.paused = True
        try:
            eps = self.unet(model_input, t, encoder_hidden_states=self.embeddings, return_dict=False)[0]
        finally:
            if self.pause is not None:
                self.pause.paused = False
        e_text, e_image, e_uncond = eps.float().chunk(3)
        eps = guided_eps(e_text, e_image, e_uncond, self.settings.text_scale, self.settings.image_scale)
        return self.scheduler.step(eps, t, latents, return_dict=False)[0]

    def close(self) -> None:
        if self.hook is not None:
            self.hook.remove()


class DiffusersBackend:
    """The fused sampler's backend on diffusers models (see the module docstring).

    unet / text_encoder / tokenizer / vae: the IP2P model; magicbrush_unet (+ optional own text encoder, tokenizer,
    VAE): the MagicBrush model. scheduler_config: the training noise schedule (SD1.5's if None).
    """

    def __init__(self, unet, text_encoder, tokenizer, vae, *, scheduler_config: dict | None = None,
                 magicbrush_unet=None, magicbrush_text_encoder=None, magicbrush_tokenizer=None, magicbrush_vae=None) -> None:
        check_ip2p_unet(unet)
        if magicbrush_unet is not None:
            check_ip2p_unet(magicbrush_unet, "MagicBrush")
        self.unet, self.magicbrush_unet = unet, magicbrush_unet
        self.ip2p = _Encoders(text_encoder, tokenizer, vae)
        own = magicbrush_text_encoder is not None and magicbrush_tokenizer is not None and magicbrush_vae is not None
        self.magicbrush = _Encoders(magicbrush_text_encoder, magicbrush_tokenizer, magicbrush_vae) if own else self.ip2p
        self.scheduler_config = dict(scheduler_config or SD15_SCHEDULER_CONFIG)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the UNet runs in (the engine's NaN message suggests fp32 only after fp16)."""
        return self.unet.dtype

    def make_scheduler(self, name: str):
        return make_scheduler(name, self.scheduler_config)

    def token_count(self, instruction: str) -> int:
        """L = instruction tokens including the start and end tokens; ZoneInputError beyond 77 (no truncation:
        a cut instruction would lose its end token, which stage 3 reads)."""
        tok = self.ip2p.tokenizer
        count = len(tok(instruction).input_ids)
        if count > tok.model_max_length:
            raise ZoneInputError(
                f"the instruction is too long: {count - 2} tokens, the text encoder takes at most "
                f"{tok.model_max_length - 2}; shorten it"
            )
        return count

    def encode_prompts(self, instructions: list[str]) -> tuple[dict[str, torch.Tensor], list[int]]:
        counts = [self.token_count(t) for t in instructions]
        conditioning = {"ip2p": self.ip2p.embeddings(instructions)}
        if self.magicbrush_unet is not None:
            own = self.magicbrush is not self.ip2p
            conditioning["magicbrush"] = self.magicbrush.embeddings(instructions) if own else conditioning["ip2p"]
        return conditioning, counts

    def encode_images(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        latents = {"ip2p": self.ip2p.image_latents(images)}
        if self.magicbrush_unet is not None:
            own = self.magicbrush is not self.ip2p
            latents["magicbrush"] = self.magicbrush.image_latents(images) if own else latents["ip2p"]
        return latents

    def initial_noise(self, shape: Sequence[int], seed: int) -> torch.Tensor:
        return seeded_noise(shape, seed)

    def trajectories(self, conditioning, image_latents, settings: SamplerSettings, recorder: AttentionRecorder | None):
        hook = DiffusersAttentionHook(self.unet, recorder).install() if recorder is not None else None
        try:
            ip2p = DiffusersTrajectory(self.unet, self.make_scheduler(settings.scheduler), conditioning["ip2p"],
                                       image_latents["ip2p"], settings, hook)
            magicbrush = None
            if self.magicbrush_unet is not None:
                same_unet = hook if self.magicbrush_unet is self.unet else None
                magicbrush = DiffusersTrajectory(self.magicbrush_unet, self.make_scheduler(settings.scheduler),
                                                 conditioning["magicbrush"], image_latents["magicbrush"], settings,
                                                 pause=same_unet)
        except BaseException:
            if hook is not None:
                hook.remove()
            raise
        return ip2p, magicbrush

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.ip2p.vae
        images = vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        return (images.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)


def _require_folder(path: str | Path, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ZoneInputError(f"{what} folder {str(folder)!r} does not exist: give a local diffusers-format folder")
    return folder


@contextmanager
def _readable(folder: Path, what: str) -> Iterator[None]:
    """Turn a damaged model file (truncated weights, bad JSON config, unreadable file) into a ZoneInputError."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, SafetensorError, EOFError, pickle.UnpicklingError) as exc:
        raise ZoneInputError(f"cannot load the {what} model from {str(folder)!r}: {' '.join(str(exc).split())} "
                             "(the files look damaged or incomplete: download them again)") from exc


def _low_cpu_mem_usage() -> bool:
    """diffusers loads weights without a random init first only with ``accelerate``; say which, so it stays quiet."""
    import importlib.util

    return importlib.util.find_spec("accelerate") is not None


def _load_unet(folder: Path, what: str, dtype: torch.dtype, device):
    from diffusers import UNet2DConditionModel

    subfolder = "unet" if (folder / "unet" / "config.json").is_file() else None
    if subfolder is None and not (folder / "config.json").is_file():
        raise ZoneInputError(f"{what} folder {str(folder)!r} has no unet/config.json: not a diffusers-format model folder")
    config = UNet2DConditionModel.load_config(str(folder), subfolder=subfolder, local_files_only=True)
    check_ip2p_unet(dict(config), what)
    unet = UNet2DConditionModel.from_pretrained(
        str(folder), subfolder=subfolder, local_files_only=True, torch_dtype=dtype, low_cpu_mem_usage=_low_cpu_mem_usage()
    )
    check_finite(unet.named_parameters(), f"the {what} UNet in {str(folder)!r}")
    return unet.to(device).eval(), subfolder is not None


def _load_encoders(folder: Path, what: str, dtype: torch.dtype, device) -> _Encoders:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    for sub in ("text_encoder", "tokenizer", "vae"):
        if not (folder / sub).is_dir():
            raise ZoneInputError(f"{what} folder {str(folder)!r} has no {sub}/ subfolder: not a complete diffusers pipeline folder")
    text_encoder = CLIPTextModel.from_pretrained(str(folder / "text_encoder"), local_files_only=True, torch_dtype=dtype)
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
    vae = AutoencoderKL.from_pretrained(
        str(folder), subfolder="vae", local_files_only=True, torch_dtype=dtype, low_cpu_mem_usage=_low_cpu_mem_usage()
    )
    check_finite(text_encoder.named_parameters(), f"the {what} text encoder in {str(folder)!r}")
    check_finite(vae.named_parameters(), f"the {what} VAE in {str(folder)!r}")
    return _Encoders(text_encoder.to(device).eval(), tokenizer, vae.to(device).eval())


def load_diffusers_backend(ip2p_path: str | Path, magicbrush_path: str | Path | None = None, *, device: str = "cpu",
                           dtype: str | torch.dtype = "auto", share_encoders: bool = False) -> DiffusersBackend:
    """Load IP2P (and MagicBrush) from local diffusers-format folders. dtype: "auto" (fp16 on CUDA, fp32 on CPU),
    "fp16", "bf16", "fp32". Raises ZoneInputError for a missing folder or a UNet without 8 input channels."""
    import json

    torch_dtype = resolve_dtype(dtype, device)
    folder = _require_folder(ip2p_path, "InstructPix2Pix")
    with _readable(folder, "InstructPix2Pix"):
        unet, _ = _load_unet(folder, "InstructPix2Pix", torch_dtype, device)
        ip2p = _load_encoders(folder, "InstructPix2Pix", torch_dtype, device)
        scheduler_file = folder / "scheduler" / "scheduler_config.json"
        try:
            scheduler_config = json.loads(scheduler_file.read_text()) if scheduler_file.is_file() else None
        except json.JSONDecodeError as exc:
            raise OSError(f"{scheduler_file} is not valid JSON ({exc})") from exc
    mb_unet, mb = None, None
    if magicbrush_path is not None:
        mb_folder = _require_folder(magicbrush_path, "MagicBrush")
        with _readable(mb_folder, "MagicBrush"):
            mb_unet, full = _load_unet(mb_folder, "MagicBrush", torch_dtype, device)
            if full and not share_encoders and (mb_folder / "text_encoder").is_dir():
                mb = _load_encoders(mb_folder, "MagicBrush", torch_dtype, device)
    return DiffusersBackend(
        unet, ip2p.text_encoder, ip2p.tokenizer, ip2p.vae, scheduler_config=scheduler_config, magicbrush_unet=mb_unet,
        magicbrush_text_encoder=mb and mb.text_encoder, magicbrush_tokenizer=mb and mb.tokenizer,
        magicbrush_vae=mb and mb.vae,
    )
