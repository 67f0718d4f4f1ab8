"""ZoneLatentLock: a MODEL patch that locks everything outside the edit region to the original while sampling.

The maths is zone_ops.sampling.latent_lock (``LatentLock``); this module installs it in a ComfyUI MODEL the way
ComfyUI's own model patches do (comfy_extras/nodes_easycache.py), on a CLONE of the ModelPatcher:
- a SAMPLER_SAMPLE wrapper starts one ``LatentLock`` per sampling run with the run's unit noise, schedule and the
  model's own noise rule (``model_sampling.noise_scaling``) and puts it in that run's model_options;
- a PREDICT_NOISE wrapper (around the guider's guided x0 prediction, inside KSamplerX0Inpaint) applies it.
So it works with KSampler, KSamplerAdvanced and SamplerCustomAdvanced with any guider (CFG, DualCFG, Basic) and any
model family (SD1.5 IP2P, FLUX Kontext, Qwen-Image-Edit: 4-D and 5-D latents), and composes with a latent noise
mask (the core inpaint blend sits outside the guider). The ZONE Fused IP2P Sampler applies the same wrapper
itself (nodes/comfy_backend.py: ``begin_run`` / ``locked_prediction``), to the MagicBrush trajectory as well.
Everything ComfyUI is imported inside functions: this module imports without ComfyUI.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch

from ..zone_ops.core.images import ZoneInputError
from ..zone_ops.sampling.latent_lock import LatentLock, LockSettings, soft_mask

#: Key of the wrappers and of the lock template in transformer_options; RUN_KEY holds a run's LatentLock.
LOCK_KEY = "zone_latent_lock"
RUN_KEY = "zone_latent_lock_run"
REGION_MODES = ("mask", "find while sampling")
#: comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE / PREDICT_NOISE (their values: no ComfyUI import needed here).
SAMPLER_SAMPLE, PREDICT_NOISE = "sampler_sample", "predict_noise"
log = logging.getLogger("ComfyUI-ZONE")


class LockTemplate:
    """What the patched MODEL carries: the original latent (as VAE Encode gives it) or None (the sampler's own: its
    latent image, or the fused sampler's image latent), the mask (image resolution) or None (find mode) and the
    settings. Immutable: clones of the MODEL share it."""

    def __init__(self, original: torch.Tensor | None, mask: torch.Tensor | None, settings: LockSettings) -> None:
        self.original, self.mask, self.settings = original, mask, settings
        self.last_run: LatentLock | None = None  # the latest run (its found mask), for previews and tests

    def __deepcopy__(self, memo: dict) -> "LockTemplate":  # ModelPatcher.clone deep-copies model_options
        return self

    def start(self, model: Any, noise: torch.Tensor | None, sigmas: torch.Tensor,
              sampler_latent: torch.Tensor | None = None) -> LatentLock:
        """A LatentLock for one run of ``model`` (a comfy BaseModel: process_latent_in, model_sampling).
        ``sampler_latent``: the run's own latent in the sampler's space (KSampler's latent image, the fused
        sampler's image latent), the target when no original is connected."""
        device = noise.device if noise is not None else sigmas.device
        if self.original is not None:
            original = model.process_latent_in(self.original.to(device, torch.float32))
        elif sampler_latent is not None and bool(sampler_latent.any()):
            original = sampler_latent.to(device, torch.float32)
        else:
            raise ZoneInputError(
                "ZONE Latent Lock has no original to lock to: the sampler's latent is empty (e.g. "
                "InstructPixToPixConditioning's). Connect 'original' (VAE Encode of the image being edited)")
        keep = None
        if self.mask is not None:
            keep = soft_mask(self.mask, tuple(original.shape[-2:]), self.settings.feather, int(self.settings.grow))
            if not bool(keep.any()):
                log.warning("ZONE Latent Lock: the mask is empty, so the whole latent is locked to the original")
        sampling = model.model_sampling

        def renoise(sigma: torch.Tensor, unit: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
            return sampling.noise_scaling(sigma, unit, latent)

        self.last_run = LatentLock(original, sigmas, self.settings, noise=noise, keep=keep, renoise=renoise)
        return self.last_run


def begin_run(model_options: dict, model: Any, noise: torch.Tensor | None, sigmas: torch.Tensor | None,
              sampler_latent: torch.Tensor | None = None) -> LatentLock | None:
    """Start the lock of ``model_options`` (a run's options) for one sampling run; None when it has no lock.
    ``sampler_latent``: the run's own latent (sampler space), used when the lock has no original of its own."""
    options = model_options.setdefault("transformer_options", {})
    template = options.get(LOCK_KEY)
    if template is None:
        return None
    if sigmas is None:
        raise ZoneInputError("ZONE Latent Lock: the sampler did not give its sigma schedule (sample_sigmas)")
    run = template.start(model, noise, sigmas, sampler_latent)
    options[RUN_KEY] = run
    return run


def share_run(model_options: dict, run: LatentLock) -> None:
    """Apply ``run`` (another trajectory's lock, e.g. IP2P's) in these options too, unless they have their own."""
    options = model_options.setdefault("transformer_options", {})
    if options.get(LOCK_KEY) is None:
        options[RUN_KEY] = run


def locked_prediction(predict: Callable[..., torch.Tensor], model: Any, x: torch.Tensor, sigma: torch.Tensor,
                      model_options: dict, seed: Any = None) -> torch.Tensor:
    """``predict(x, sigma, model_options, seed)`` (a guided x0 prediction) through the run's lock, if any."""
    options = model_options.get("transformer_options", {})
    run = options.get(RUN_KEY)
    if run is None:
        if options.get(LOCK_KEY) is None:
            return predict(x, sigma, model_options, seed)
        run = begin_run(model_options, model, None, options.get("sample_sigmas"))  # a sampler without SAMPLER_SAMPLE
    was_found = run.found is not None
    out = run(lambda x_in, s: predict(x_in, s, model_options, seed), x, sigma)
    if run.found is not None and not was_found:
        cover = ", ".join(f"{100 * c:.1f} %" for c in run.found.coverage)
        log.info("ZONE Latent Lock: edit region found at step %d: %s of the latent", run.found_at, cover)
    return out


def _sampler_sample_wrapper(executor, *args, **kwargs):
    """SAMPLER_SAMPLE: args = (guider, sigmas, extra_args, callback, noise, latent_image, denoise_mask, ...)."""
    guider, sigmas, extra_args, noise = args[0], args[1], args[2], args[4]
    latent_image = args[5] if len(args) > 5 else kwargs.get("latent_image")
    begin_run(extra_args["model_options"], guider.inner_model, noise, sigmas, latent_image)
    return executor(*args, **kwargs)


def _predict_noise_wrapper(executor, x, timestep, model_options={}, seed=None):  # noqa: B006 (ComfyUI's signature)
    owner = executor.class_obj  # a CFGGuider (inner_model) or the fused sampler's trajectory (model)
    model = getattr(owner, "inner_model", None)
    model = getattr(owner, "model", None) if model is None else model
    return locked_prediction(executor, model, x, timestep, model_options, seed)


def patch_model(model: Any, original: torch.Tensor | None, mask: torch.Tensor | None, settings: LockSettings) -> Any:
    """A clone of the ModelPatcher ``model`` with the lock installed (a lock it had is replaced)."""
    clone = model.clone()
    for kind in (SAMPLER_SAMPLE, PREDICT_NOISE):
        clone.remove_wrappers_with_key(kind, LOCK_KEY)
    clone.model_options.setdefault("transformer_options", {})[LOCK_KEY] = LockTemplate(original, mask, settings)
    clone.add_wrapper_with_key(SAMPLER_SAMPLE, LOCK_KEY, _sampler_sample_wrapper)
    clone.add_wrapper_with_key(PREDICT_NOISE, LOCK_KEY, _predict_noise_wrapper)
    return clone


class ZoneLatentLock:
    DESCRIPTION = (
        "Locks everything outside the edit region to the ORIGINAL while sampling: at every step the model sees the "
        "original (at the current noise level) outside the region and its prediction there is replaced by the "
        "original, so the edit is generated in the true context and the result's latent equals the original's "
        "outside the region. Region: a painted / ZONE mask, or found while sampling (after `find_at` of the steps: "
        "where the model's x0 prediction differs from the original beyond a global drift). Works with KSampler and "
        "SamplerCustomAdvanced for any model (IP2P, FLUX Kontext, Qwen-Image-Edit) and with ZONE Fused IP2P Sampler."
    )
    CATEGORY = "ZONE"
    FUNCTION = "patch"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with the lock: connect it to the sampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        defaults = LockSettings()
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The editing model (after any other model patches)."}),
                "region": (list(REGION_MODES), {"default": REGION_MODES[0], "tooltip": (
                    "mask: the region is the connected mask. find while sampling: measured from the model's own "
                    "prediction after find_at of the steps (the mask input is then not needed).")}),
                "feather": ("FLOAT", {"default": defaults.feather, "min": 0.0, "max": 32.0, "step": 0.5, "tooltip": (
                    "Soft border in latent pixels (1 latent px = 8 image px), inside the region; 0 = hard.")}),
                "grow": ("INT", {"default": defaults.grow, "min": 0, "max": 64, "tooltip": (
                    "Grow the region by this many latent pixels before feathering.")}),
                "find_at": ("FLOAT", {"default": defaults.find_at, "min": 0.0, "max": 1.0, "step": 0.05, "tooltip": (
                    "find mode: fraction of the steps sampled freely before the region is measured and locked.")}),
                "threshold": ("FLOAT", {"default": defaults.threshold, "min": 0.1, "max": 50.0, "step": 0.1, "tooltip": (
                    "find mode: a latent pixel changed when its drift-removed change exceeds this many times the "
                    "fit's noise floor (and at least min_change).")}),
                "min_change": ("FLOAT", {"default": defaults.min_change, "min": 0.0, "max": 10.0, "step": 0.01, "tooltip": (
                    "find mode: smallest change that counts, in units of the latent channels' spread.")}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "mask mode: the edit region (painted, or from ZONE's stages); any size."}),
                "original": ("LATENT", {"tooltip": (
                    "The latent to lock to: VAE Encode of the image being edited at the size the sampler samples. "
                    "Leave it unconnected when the sampler's latent_image is that encode (FLUX Kontext, "
                    "Qwen-Image-Edit graphs) or with ZONE Fused IP2P Sampler (it uses its own image latent).")}),
            },
        }

    def patch(self, model, region: str, feather: float, grow: int, find_at: float, threshold: float,
              min_change: float, mask: torch.Tensor | None = None, original: dict | None = None):
        if not hasattr(model, "clone") or not hasattr(model, "add_wrapper_with_key"):
            raise ZoneInputError(f"model: expected a MODEL, got {type(model).__name__}")
        samples = original.get("samples") if isinstance(original, dict) else None
        if original is not None and (not isinstance(samples, torch.Tensor) or samples.ndim not in (4, 5)):
            raise ZoneInputError("original: expected a LATENT from VAE Encode")
        if region not in REGION_MODES:
            raise ZoneInputError(f"region must be one of {', '.join(REGION_MODES)}, got {region!r}")
        if region == "mask" and mask is None:
            raise ZoneInputError("region is 'mask' but no mask is connected: connect one, or choose 'find while sampling'")
        settings = LockSettings(feather=float(feather), grow=int(grow), find_at=float(find_at),
                                threshold=float(threshold), min_change=float(min_change))
        keep_mask = mask.detach().to("cpu", torch.float32).clone() if region == "mask" else None
        target = None if samples is None else samples.detach().to("cpu", torch.float32).clone()
        return (patch_model(model, target, keep_mask, settings),)


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneLatentLock": ZoneLatentLock}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneLatentLock": "ZONE Latent Lock"}
