"""ComfyUI backend of the fused sampler (zone_ops.stages.fused_sampler.Backend) on ComfyUI's MODEL / CLIP / VAE.

What it feeds the UNet is what ComfyUI's own InstructPix2Pix path feeds it (CLIPTextEncode ->
InstructPixToPixConditioning -> DualCFGGuider -> SamplerCustomAdvanced), so without MagicBrush the canvas equals
that path's output for the same seed, sampler, schedule and steps (tests/test_fused_sampler_comfy.py):
- text: ``clip.tokenize`` + ``clip.encode_from_tokens`` of the instruction and of "" (one 77-token chunk; longer
  instructions are refused). Token count L = start token + instruction tokens + end token.
- image: ``vae.encode`` of the working-size image (ComfyUI returns the posterior MODE, unscaled), given to the model
  as ``concat_latent_image`` for the text and image branches; the uncond branch has none, so ComfyUI's IP2P
  ``concat_cond`` concatenates zeros, as the official code does.
- guidance: ``comfy.samplers.calc_cond_batch`` on [uncond, image, text] then zone_ops' three-branch formula on the
  x0 predictions. DualCFGGuider("regular") computes u + cfg2*(m - u) + cfg1*(p - m) = ours with
  cfg1 = text_scale, cfg2 = image_scale (cond1 = instruction+image, cond2 = ""+image, negative = "" without image).
  The formula is linear with weights summing to 1, so mixing x0 predictions equals mixing eps predictions.
- steps: zone_ops.sampling.sigma_samplers (k-diffusion's dpmpp_2m / euler formulas; ComfyUI's "ddim" sampler is the Euler
  step) on ``comfy.samplers.calculate_sigmas`` of the model's model_sampling ("normal" / "karras" schedule), the
  initial latent scaled like ComfyUI's KSAMPLER (noise * sqrt(1 + sigma_max^2)); decode = process_latent_out +
  ``vae.decode``.
- attention: attn2 REPLACE patches for COMFY_BLOCKS on a CLONE of the IP2P ModelPatcher (the user's MODEL is never
  patched). The patch computes softmax(QK^T/sqrt(d)) explicitly (only there), feeds the recorder with each row's
  branch (from ``cond_or_uncond``) and item, and returns probs @ v (or the output of a replace patch the MODEL
  already had on that block, so other packs' patches keep working).
- latent lock: a MODEL patched by ZONE Latent Lock (nodes/latent_lock.py) is honoured: each trajectory's guided
  x0 prediction goes through the lock, and the MagicBrush trajectory follows the IP2P MODEL's lock (both start from
  the same noise), so the fused result's latent equals the original's outside the region too.
- memory: both UNets are loaded together with comfy.model_management.load_models_gpu (ComfyUI picks the dtype:
  fp16/bf16 on GPUs); the VAE and CLIP load themselves. Model-level sampler CFG hooks (sampler_cfg_function,
  post-CFG patches) are not applied: the three-branch formula is the method.

Everything ComfyUI is imported inside functions: this module imports without ComfyUI.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from ..zone_ops.stages.attention_hook import COMFY_BLOCKS, AttentionRecorder, attention_probs
from ..zone_ops.stages.fused_sampler import IP2P_IN_CHANNELS, SamplerSettings, guided_eps, seeded_noise
from ..zone_ops.core.images import ZoneInputError
from ..zone_ops.sampling.sigma_samplers import SigmaStepper
from .latent_lock import begin_run, locked_prediction, share_run

#: Sigma schedules offered (ComfyUI scheduler names).
SIGMA_SCHEDULES: tuple[str, ...] = ("normal", "karras")
#: Order of the conds handed to calc_cond_batch; its ``cond_or_uncond`` holds indices into this tuple.
COND_ORDER: tuple[str, ...] = ("uncond", "image", "text")
_CHECKPOINT_HINT = (
    "ZONE needs an SD1.5 InstructPix2Pix checkpoint (e.g. instruct-pix2pix-00-22000.safetensors) or a MagicBrush "
    "checkpoint, loaded with Load Checkpoint"
)


def check_ip2p_model(model: Any, what: str = "ip2p model") -> None:
    """Raise ZoneInputError unless ``model`` is a ComfyUI MODEL of an SD1.5 InstructPix2Pix-type checkpoint."""
    diffusion = getattr(getattr(model, "model", None), "diffusion_model", None)
    if diffusion is None:
        raise ZoneInputError(f"{what}: expected a MODEL from Load Checkpoint, got {type(model).__name__}. {_CHECKPOINT_HINT}.")
    channels = getattr(diffusion, "in_channels", None)
    if channels != IP2P_IN_CHANNELS:
        raise ZoneInputError(
            f"{what} has {channels} UNet input channels, not {IP2P_IN_CHANNELS} (noise + image latent): it is not an "
            f"instruction-editing model. {_CHECKPOINT_HINT}."
        )
    import comfy.model_base

    if not isinstance(model.model, comfy.model_base.SD15_instructpix2pix):
        raise ZoneInputError(f"{what} is a {type(model.model).__name__} model. {_CHECKPOINT_HINT} (SDXL IP2P is not supported).")


def _token_count(clip: Any, text: str) -> int:
    """L = number of tokens of ``text`` including start and end token; refuses more than one 77-token chunk."""
    tokens = clip.tokenize(text, return_word_ids=True)
    chunks = next(iter(tokens.values()))
    if len(chunks) != 1:
        raise ZoneInputError(
            f"the instruction is too long ({len(chunks)} chunks of 75 tokens): InstructPix2Pix reads one chunk; shorten it"
        )
    words = [i for i, entry in enumerate(chunks[0]) if len(entry) > 2 and entry[2] > 0]
    return (words[-1] + 2) if words else 2


def _attention_patch(recorder: AttentionRecorder, block: tuple[str, int], previous: Any = None):
    """An attn2 replace patch recording softmax(QK^T/sqrt(d)) and returning the attention output [R, N, heads*d]."""

    def patch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict) -> torch.Tensor:
        heads = int(extra_options["n_heads"])
        rows, tokens, inner = q.shape
        d = inner // heads
        qh, kh, vh = (t.view(rows, -1, heads, d).transpose(1, 2) for t in (q, k, v))
        probs = attention_probs(qh, kh)
        branches, items = row_labels(rows, extra_options.get("cond_or_uncond"))
        shape = extra_options["original_shape"]
        recorder.add(block + (extra_options.get("block_index", 0),), probs, branches, items, (int(shape[-2]), int(shape[-1])))
        if previous is not None:
            return previous(q, k, v, extra_options)
        out = torch.matmul(probs, vh.float()).to(q.dtype)
        return out.transpose(1, 2).reshape(rows, tokens, inner)

    return patch


def row_labels(rows: int, cond_or_uncond: Sequence[int] | None) -> tuple[list[str], list[int]]:
    """Branch and user-batch item of each of ``rows`` UNet batch rows: calc_cond_batch concatenates one chunk of B
    rows per entry of ``cond_or_uncond`` (an index into COND_ORDER)."""
    if not cond_or_uncond or rows % len(cond_or_uncond):
        raise RuntimeError(f"cannot label {rows} attention rows with cond_or_uncond={cond_or_uncond}")
    chunk = rows // len(cond_or_uncond)
    branches = [COND_ORDER[int(c)] for c in cond_or_uncond for _ in range(chunk)]
    return branches, list(range(chunk)) * len(cond_or_uncond)


def patched_clone(model: Any, recorder: AttentionRecorder) -> Any:
    """A clone of the ModelPatcher ``model`` with recording attn2 replace patches on COMFY_BLOCKS."""
    clone = model.clone()
    existing = clone.model_options.get("transformer_options", {}).get("patches_replace", {}).get("attn2", {})
    for block in COMFY_BLOCKS:
        clone.set_model_attn2_replace(_attention_patch(recorder, block, existing.get(block)), block[0], block[1])
    return clone


class ComfyTrajectory:
    """One model's guided trajectory through ComfyUI's model machinery (Trajectory protocol of the engine)."""

    def __init__(self, patcher: Any, conds: dict, model_options: dict, sigmas: torch.Tensor, settings: SamplerSettings) -> None:
        self.patcher, self.conds, self.model_options = patcher, conds, model_options
        self.model = patcher.model
        self.sigmas = sigmas
        self.settings = settings
        self.stepper = SigmaStepper(settings.scheduler, sigmas)
        self.lock_partner: ComfyTrajectory | None = None
        self.lock_target: torch.Tensor | None = None  # the image latent (sampler space): a lock's default target
        self._closed = False

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        """Unit noise -> the first latent, as ComfyUI's KSAMPLER scales it (empty latent image). Starts the
        MODEL's ZONE Latent Lock for this run, if it has one (shared with ``lock_partner``, the MagicBrush
        trajectory, unless that MODEL has its own)."""
        sampling = self.model.model_sampling
        noise = noise.to(self.patcher.load_device, torch.float32)
        run = begin_run(self.model_options, self.model, noise, self.sigmas, self.lock_target)
        if run is not None and self.lock_partner is not None:
            share_run(self.lock_partner.model_options, run)
        sigma, sigma_max = float(self.sigmas[0]), float(sampling.sigma_max)
        max_denoise = math.isclose(sigma_max, sigma, rel_tol=1e-05) or sigma > sigma_max
        return sampling.noise_scaling(self.sigmas[0], noise, torch.zeros_like(noise), max_denoise)

    def denoised(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """Guided x0 prediction at sigmas[index], through the MODEL's ZONE Latent Lock if it has one (the only
        PREDICT_NOISE wrapper applied here: other packs' expect ComfyUI's guider around them)."""
        if getattr(self.model, "current_patcher", None) is not self.patcher:  # two MODELs sharing one UNet
            self.model.current_patcher = self.patcher
        sigma = self.sigmas[index] * x.new_ones([x.shape[0]])
        return locked_prediction(self._guided, self.model, x, sigma, self.model_options, self.settings.seed)

    def _guided(self, x: torch.Tensor, sigma: torch.Tensor, model_options: dict, seed: Any = None) -> torch.Tensor:
        """The three-branch guided x0 prediction (one calc_cond_batch call)."""
        import comfy.samplers

        conds = [self.conds[name] for name in ("negative", "middle", "positive")]
        uncond, image, text = comfy.samplers.calc_cond_batch(self.model, conds, x, sigma, model_options)
        return guided_eps(text, image, uncond, self.settings.text_scale, self.settings.image_scale)

    def step(self, latents: torch.Tensor, index: int) -> torch.Tensor:
        return self.stepper.step(latents, self.denoised(latents, index), index)

    def close(self) -> None:
        """ComfyUI's end-of-sampling cleanup for this patcher (idempotent)."""
        if self._closed:
            return
        self._closed = True
        import comfy.sampler_helpers

        self.patcher.cleanup()
        comfy.sampler_helpers.cleanup_models(self.conds, [])


class ComfyBackend:
    """Backend of zone_ops.stages.fused_sampler.fused_edit on ComfyUI objects.

    ip2p / magicbrush: ComfyUI MODELs (ModelPatcher) of SD1.5 IP2P-type checkpoints (never mutated);
    clip / vae: ComfyUI CLIP and VAE (of the IP2P checkpoint); sigma_schedule: "normal" | "karras".
    """

    def __init__(self, ip2p: Any, clip: Any, vae: Any, magicbrush: Any = None, sigma_schedule: str = "normal") -> None:
        check_ip2p_model(ip2p, "ip2p model")
        if magicbrush is not None:
            check_ip2p_model(magicbrush, "magicbrush model")
        if not hasattr(clip, "tokenize") or not hasattr(clip, "encode_from_tokens"):
            raise ZoneInputError(f"clip: expected a CLIP from Load Checkpoint, got {type(clip).__name__}")
        if not hasattr(vae, "encode") or not hasattr(vae, "decode"):
            raise ZoneInputError(f"vae: expected a VAE from Load Checkpoint, got {type(vae).__name__}")
        if getattr(vae, "latent_channels", 4) != 4:
            raise ZoneInputError(f"vae has {vae.latent_channels} latent channels; IP2P needs an SD1.5 VAE (4 channels)")
        if sigma_schedule not in SIGMA_SCHEDULES:
            raise ZoneInputError(f"unknown schedule {sigma_schedule!r}; choose one of {', '.join(SIGMA_SCHEDULES)}")
        self.ip2p, self.clip, self.vae, self.magicbrush = ip2p, clip, vae, magicbrush
        self.sigma_schedule = sigma_schedule

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype ComfyUI runs the IP2P UNet in (None if the model does not say)."""
        model_dtype = getattr(self.ip2p, "model_dtype", None)
        return model_dtype() if callable(model_dtype) else None

    # --- Backend protocol -------------------------------------------------------------------------------------
    def encode_prompts(self, instructions: list[str]) -> tuple[dict[str, torch.Tensor], list[int]]:
        """{"text": [B, 77, D], "empty": [1, 77, D]} CLIP last hidden states, and L per instruction."""
        cache: dict[str, torch.Tensor] = {}

        def encode(text: str) -> torch.Tensor:
            if text not in cache:
                cache[text] = self.clip.encode_from_tokens(self.clip.tokenize(text))
            return cache[text]

        counts = [_token_count(self.clip, text) for text in instructions]
        text = torch.cat([encode(t) for t in instructions])
        return {"text": text, "empty": encode("")}, counts

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """[B, h, w, 3] in 0..1 -> VAE latents [B, 4, h/8, w/8] (posterior mode, unscaled), as InstructPixToPixConditioning."""
        return self.vae.encode(images[..., :3])

    def initial_noise(self, shape: Sequence[int], seed: int) -> torch.Tensor:
        """Unit noise; the same numbers as comfy.sample.prepare_noise(latent, seed) (torch CPU generator)."""
        return seeded_noise(shape, seed)

    def trajectories(
        self, conditioning: dict[str, torch.Tensor], image_latents: torch.Tensor, settings: SamplerSettings,
        recorder: AttentionRecorder | None,
    ) -> tuple[ComfyTrajectory, ComfyTrajectory | None]:
        """Load the UNet(s) together and set up one trajectory per model (the IP2P clone records attention)."""
        import comfy.model_management
        import comfy.model_patcher
        import comfy.sampler_helpers
        import comfy.samplers

        ip2p = patched_clone(self.ip2p, recorder) if recorder is not None else self.ip2p
        patchers = [ip2p] + ([self.magicbrush] if self.magicbrush is not None else [])
        noise_shape = tuple(image_latents.shape)
        text = {"cross_attn": conditioning["text"], "concat_latent_image": image_latents}
        middle = {"cross_attn": conditioning["empty"], "concat_latent_image": image_latents, "prompt_type": "negative"}
        negative = {"cross_attn": conditioning["empty"]}

        prepared, extra_models = [], []
        memory, minimum = 0, 0
        for patcher in patchers:
            conds = {
                name: comfy.sampler_helpers.convert_cond([[c.pop("cross_attn"), c]])
                for name, c in (("positive", dict(text)), ("middle", dict(middle)), ("negative", dict(negative)))
            }
            options = comfy.model_patcher.create_model_options_clone(patcher.model_options)
            options.setdefault("transformer_options", {})["sample_sigmas"] = None
            comfy.sampler_helpers.prepare_model_patcher(patcher, conds, options)
            extra_models += patcher.get_nested_additional_models()
            extra_models += comfy.sampler_helpers.get_additional_models_from_model_options(options)
            need, least = comfy.sampler_helpers.estimate_memory(patcher, noise_shape, conds)
            memory, minimum = max(memory, need), max(minimum, least)
            prepared.append((patcher, conds, options))
        comfy.model_management.load_models_gpu(patchers + extra_models, memory_required=memory, minimum_memory_required=minimum)

        trajectories: list[ComfyTrajectory] = []
        started: list[Any] = []
        try:
            for patcher, conds, options in prepared:
                device = patcher.load_device
                sigmas = comfy.samplers.calculate_sigmas(
                    patcher.get_model_object("model_sampling"), self.sigma_schedule, settings.steps
                ).to(device)
                options["transformer_options"]["sample_sigmas"] = sigmas
                comfy.samplers.cast_to_load_options(options, device=device, dtype=patcher.model_dtype())
                patcher.pre_run()
                started.append(patcher)
                noise = torch.zeros(noise_shape, device=device)
                conds = comfy.samplers.process_conds(patcher.model, noise, conds, device, None, None, settings.seed)
                trajectories.append(ComfyTrajectory(patcher, conds, options, sigmas, settings))
                trajectories[-1].lock_target = patcher.model.process_latent_in(image_latents.to(device, torch.float32))
        except BaseException:
            for trajectory in trajectories:
                trajectory.close()
            for patcher in started[len(trajectories):]:
                patcher.cleanup()
            raise
        if len(trajectories) > 1:
            trajectories[0].lock_partner = trajectories[1]  # MagicBrush follows IP2P's latent lock (fused after each step)
        return trajectories[0], (trajectories[1] if len(trajectories) > 1 else None)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Sampler-space latents -> images [B, h, w, 3] in 0..1 (process_latent_out + vae.decode, as VAEDecode)."""
        return self.vae.decode(self.ip2p.model.process_latent_out(latents.to(torch.float32)))
