"""ZoneFusedIP2PSampler: fused InstructPix2Pix (+ MagicBrush) sampling with the attention hook (stage 2).

The method lives in zone_ops.stages.fused_sampler.fused_edit; the ComfyUI models are adapted by nodes/comfy_backend.py
(imported lazily: this module imports without ComfyUI).
"""

from __future__ import annotations

import numpy as np
import torch

from ..zone_ops import params as P
from ..zone_ops.stages.fused_sampler import SIZE_MULTIPLE, SamplerSettings, fused_edit
from ..zone_ops.core.images import ZoneInputError
from ..zone_ops.core.preview import heatmap
from ..zone_ops.core.types import Action, ZoneAction, ZoneAttention, default_beta
from .comfy_backend import SIGMA_SCHEDULES  # the module imports ComfyUI only inside its functions
from .comfy_runtime import Progress, check_interrupt
from .convert import to_image

DEFAULT_BETA = default_beta(Action.CHANGE)  # 0.01

#: Record-branch choices -> guidance branches whose attention is averaged.
RECORD_CHOICES: dict[str, tuple[str, ...]] = {
    "empty prompt (official)": ("image", "uncond"),
    "instruction": ("text",),
    "all branches": ("text", "image", "uncond"),
}


def attention_preview(attention: ZoneAttention) -> torch.Tensor:
    """IMAGE [B, H, W, 3]: heat map of first-token minus last-token attention over the original frame."""
    previews = []
    for i in range(attention.batch_size):
        maps = attention.maps[i].numpy()
        previews.append(heatmap(maps[..., 0] - maps[..., attention.token_counts[i] - 1], attention.image_size))
    return to_image(previews)


def resolve_beta(action: ZoneAction | None, beta: float = DEFAULT_BETA) -> float:
    """The fusion weight: the action's when one is connected (set on the Action Classifier: 0.2 remove, 0.01
    change / add, as in the paper), else ``beta``."""
    if action is None:
        return float(beta)
    if not isinstance(action, ZoneAction):
        raise ZoneInputError("action must be a ZONE_ACTION from ZONE Action Classifier")
    return float(action.beta)


class ZoneFusedIP2PSampler:
    DESCRIPTION = (
        "Stage 2 of ZONE: edits the whole image with InstructPix2Pix (optionally fused with MagicBrush after every "
        "step: `x = (x_ip2p + beta · x_mb) / (1 + beta)`) and records the cross-attention of the five "
        "1/32-resolution layers. Guidance: `u + text_scale · (text - image) + image_scale · (image - u)`. Runs at a "
        "working resolution (longest side, multiple of 64, aspect kept) and returns the canvas at the ORIGINAL size."
    )
    CATEGORY = "ZONE"
    FUNCTION = "sample"
    RETURN_TYPES = ("IMAGE", "ZONE_ATTENTION", "IMAGE")
    RETURN_NAMES = ("canvas", "attention", "attention_preview")
    OUTPUT_TOOLTIPS = (
        "The edited whole image (IP2P canvas) at the original size.",
        "Averaged cross-attention maps for ZONE Attention To Mask.",
        "Heat map of start-token minus last-token attention (dark = where the edit goes).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "ip2p_model": ("MODEL", {"tooltip": "InstructPix2Pix checkpoint (Load Checkpoint): 8 UNet input channels."}),
                "clip": ("CLIP", {"tooltip": "CLIP of the IP2P checkpoint."}),
                "vae": ("VAE", {"tooltip": "VAE of the IP2P checkpoint."}),
                "image": ("IMAGE", {"tooltip": "Image(s) to edit; any size and aspect."}),
                "instruction": ("STRING", {"multiline": True, "default": "", "tooltip": "What to change, e.g. 'make his tie blue'."}),
                "seed": P.SEED.widget(),
                "steps": P.STEPS.widget(),
                "text_scale": P.TEXT_SCALE.widget(),
                "image_scale": P.IMAGE_SCALE.widget(),
                "sampler": P.SAMPLER.widget(),
                "scheduler": (list(SIGMA_SCHEDULES), {"default": "normal", "tooltip": "Sigma schedule (ComfyUI's)."}),
                "working_size": P.WORKING_SIZE.widget(),
                "record_branches": (list(RECORD_CHOICES), {"default": "empty prompt (official)", "tooltip": (
                    "Which guidance branches' attention is averaged; the official code keeps the two empty-prompt ones.")}),
            },
            "optional": {
                "magicbrush_model": ("MODEL", {"tooltip": "MagicBrush checkpoint, fused into the IP2P trajectory (optional)."}),
                "action": ("ZONE_ACTION", {"tooltip": (
                    "From ZONE Action Classifier: sets beta (its beta_remove 0.2 / beta_other 0.01) instead of the "
                    "beta widget.")}),
                "beta": P.BETA.widget(),
            },
        }

    def sample(
        self, ip2p_model, clip, vae, image: torch.Tensor, instruction: str, seed: int, steps: int, text_scale: float,
        image_scale: float, sampler: str, scheduler: str, working_size: int, record_branches: str,
        magicbrush_model=None, action: ZoneAction | None = None, beta: float = DEFAULT_BETA,
    ):
        if not isinstance(instruction, str) or not instruction.strip():
            raise ZoneInputError("the instruction is empty: write what to change, e.g. 'make the sky pink'")
        if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[0] < 1 or image.shape[-1] not in (1, 3, 4):
            raise ZoneInputError(f"image must be an IMAGE [B, H, W, C], got {getattr(image, 'shape', type(image).__name__)}")
        if working_size % SIZE_MULTIPLE:
            raise ZoneInputError(f"working_size must be a multiple of {SIZE_MULTIPLE}, got {working_size}")
        if record_branches not in RECORD_CHOICES:
            raise ZoneInputError(f"record_branches must be one of {', '.join(RECORD_CHOICES)}, got {record_branches!r}")
        settings = SamplerSettings(
            steps=int(steps), text_scale=float(text_scale), image_scale=float(image_scale),
            beta=resolve_beta(action, float(beta)), scheduler=sampler, seed=int(seed),
            record_branches=RECORD_CHOICES[record_branches], working_size=int(working_size),
        )
        from .comfy_backend import ComfyBackend

        backend = ComfyBackend(ip2p_model, clip, vae, magicbrush=magicbrush_model, sigma_schedule=scheduler)
        result = fused_edit(
            backend, image, instruction, settings, progress=Progress(settings.steps), check_cancel=check_interrupt
        )
        canvas = to_image([np.asarray(c) for c in result.canvas])
        return (canvas, result.attention, attention_preview(result.attention))


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneFusedIP2PSampler": ZoneFusedIP2PSampler}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneFusedIP2PSampler": "ZONE Fused IP2P Sampler"}
