"""Load a Segment Anything (SAM v1) checkpoint safely and build the matching ``segment_anything`` model;
``load_sam`` hands SAM 2 / 2.1 checkpoints to ``sam2_loader``.

- Formats: ``.pth`` / ``.pt`` / ``.bin`` through ``torch.load(weights_only=True)`` (no pickled code runs), and
  ``.safetensors``. A state dict wrapped as ``{"model": sd}`` / ``{"state_dict": sd}`` or saved with a
  ``model.`` / ``module.`` / ``sam.`` key prefix is accepted.
- Architecture: read from the tensor shapes (``infer_sam_config``): image-encoder embed dim (patch_embed), depth
  (number of blocks), head dim (rel_pos), input size (pos_embed), window size and global-attention blocks
  (rel_pos length: 2*grid-1 for global blocks, 2*window-1 for windowed ones), MLP ratio, prompt dim, mask-decoder
  depth / MLP / IoU head. The official checkpoints come out as ``vit_h`` / ``vit_l`` / ``vit_b`` with exactly the
  arguments of ``segment_anything.build_sam``; anything else (a distilled or test model) as ``custom``.
  The one thing shapes cannot tell is the mask decoder's head count: 8 for the official prompt dim 256,
  otherwise ``prompt_dim // 32`` (override with ``decoder_num_heads``).
- The model is built on the meta device (no random initialisation of 600M parameters) and the checkpoint
  tensors are assigned, so loading ViT-H costs the file read only.

Public API: ``load_sam(path, device="cpu", *, decoder_num_heads=None) -> Sam | SAM2Base``, ``assign_checked``,
``load_state_dict(path) -> dict``, ``infer_sam_config(state_dict) -> SamConfig``,
``build_sam(config) -> Sam``, ``resolve_device(choice) -> torch.device``, ``as_sam(obj) -> Sam | SAM2Base``
(unwraps ``.model`` / ``.sam`` wrappers), ``SamCheckpointError``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import torch

from ..core.images import ZoneInputError
from .checkpoint import (SamCheckpointError, assign_checked, describe_state_dict, finish_model,
                         load_state_dict, resolve_device)

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)

#: The official variants: (embed dim, depth) -> (name, heads, global attention blocks) as in build_sam.py.
OFFICIAL_VARIANTS: dict[tuple[int, int], tuple[str, int, tuple[int, ...]]] = {
    (1280, 32): ("vit_h", 16, (7, 15, 23, 31)),
    (1024, 24): ("vit_l", 16, (5, 11, 17, 23)),
    (768, 12): ("vit_b", 12, (2, 5, 8, 11)),
}

_REQUIRED = ("image_encoder.patch_embed.proj.weight", "prompt_encoder.point_embeddings.0.weight", "mask_decoder.mask_tokens.weight")


@dataclass(frozen=True)
class SamConfig:
    """Everything needed to build a ``segment_anything.modeling.Sam`` (the arguments of ``_build_sam``)."""

    variant: str  # "vit_h" | "vit_l" | "vit_b" | "custom"
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    use_rel_pos: bool = True
    prompt_dim: int = 256
    mask_in_chans: int = 16
    num_multimask_outputs: int = 3
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    attention_downsample_rate: int = 2
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256

    def describe(self) -> str:
        if self.variant != "custom":
            return self.variant
        return (
            f"custom SAM (embed {self.embed_dim}, depth {self.depth}, heads {self.num_heads}, input {self.img_size}px, "
            f"prompt dim {self.prompt_dim})"
        )


def _blocks(sd: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in sd if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def infer_sam_config(sd: Mapping[str, torch.Tensor], decoder_num_heads: int | None = None) -> SamConfig:
    """The architecture of a SAM v1 state dict, from its tensor shapes (see the module docstring)."""
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        raise SamCheckpointError(f"not a Segment Anything (v1) checkpoint: missing {missing[0]!r}; found {describe_state_dict(sd)}")
    try:
        patch_w = sd["image_encoder.patch_embed.proj.weight"]
        embed_dim, _, patch_size, _ = patch_w.shape
        depth = _blocks(sd, "image_encoder.blocks.")
        grid = int(sd["image_encoder.pos_embed"].shape[1]) if "image_encoder.pos_embed" in sd else 1024 // patch_size
        img_size = grid * int(patch_size)
        use_rel_pos = "image_encoder.blocks.0.attn.rel_pos_h" in sd
        global_idx: list[int] = []
        windows: set[int] = set()
        head_dim = 64
        if use_rel_pos:
            head_dim = int(sd["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
            for i in range(depth):
                length = int(sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0])
                if length == 2 * grid - 1:
                    global_idx.append(i)
                else:
                    windows.add((length + 1) // 2)
        if len(windows) > 1:
            raise SamCheckpointError(f"the image encoder mixes window sizes {sorted(windows)}; not a SAM v1 layout")
        mlp_dim = int(sd["image_encoder.blocks.0.mlp.lin1.weight"].shape[0])
        prompt_dim = int(sd["prompt_encoder.point_embeddings.0.weight"].shape[1])
        dec = "mask_decoder.transformer.layers.0."
        internal = int(sd[dec + "cross_attn_token_to_image.q_proj.weight"].shape[0])
        iou_layers = _blocks(sd, "mask_decoder.iou_prediction_head.layers.")
        default_heads = 8 if prompt_dim == 256 else max(1, prompt_dim // 32)
        heads = int(decoder_num_heads or default_heads)
        if internal % heads:
            raise SamCheckpointError(f"decoder_num_heads={heads} does not divide the decoder attention width {internal}")
        cfg = SamConfig(
            variant="custom",
            embed_dim=int(embed_dim),
            depth=depth,
            num_heads=max(1, int(embed_dim) // head_dim),
            global_attn_indexes=tuple(global_idx),
            img_size=img_size,
            patch_size=int(patch_size),
            window_size=windows.pop() if windows else 14,
            mlp_ratio=mlp_dim / int(embed_dim),
            qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in sd,
            use_rel_pos=use_rel_pos,
            prompt_dim=prompt_dim,
            mask_in_chans=int(sd["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
            num_multimask_outputs=int(sd["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
            decoder_depth=_blocks(sd, "mask_decoder.transformer.layers."),
            decoder_mlp_dim=int(sd[dec + "mlp.lin1.weight"].shape[0]),
            decoder_num_heads=heads,
            attention_downsample_rate=max(1, prompt_dim // internal),
            iou_head_depth=iou_layers,
            iou_head_hidden_dim=int(sd["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        )
    except KeyError as exc:
        raise SamCheckpointError(f"incomplete SAM checkpoint: missing {exc.args[0]!r}; found {describe_state_dict(sd)}") from None
    official = OFFICIAL_VARIANTS.get((cfg.embed_dim, cfg.depth))
    if official and (cfg.num_heads, cfg.global_attn_indexes, cfg.img_size) == official[1:] + (1024,) and cfg.prompt_dim == 256:
        cfg = SamConfig(**{**cfg.__dict__, "variant": official[0]})
    return cfg


def build_sam(cfg: SamConfig) -> torch.nn.Module:
    """A ``segment_anything.modeling.Sam`` with the architecture ``cfg`` (random weights, in eval mode)."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = cfg.img_size // cfg.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=cfg.depth,
            embed_dim=cfg.embed_dim,
            img_size=cfg.img_size,
            mlp_ratio=cfg.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=cfg.num_heads,
            patch_size=cfg.patch_size,
            qkv_bias=cfg.qkv_bias,
            use_rel_pos=cfg.use_rel_pos,
            global_attn_indexes=cfg.global_attn_indexes,
            window_size=cfg.window_size,
            out_chans=cfg.prompt_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.img_size, cfg.img_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=cfg.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_dim,
                mlp_dim=cfg.decoder_mlp_dim,
                num_heads=cfg.decoder_num_heads,
                attention_downsample_rate=cfg.attention_downsample_rate,
            ),
            transformer_dim=cfg.prompt_dim,
            iou_head_depth=cfg.iou_head_depth,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    ).eval()


def load_sam(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    decoder_num_heads: int | None = None,
) -> torch.nn.Module:
    """Load a SAM v1 checkpoint as a ``segment_anything.modeling.Sam``, or a SAM 2 / 2.1 one as a ``sam2``
    ``SAM2Base`` (``sam2_loader``; told apart by the keys), in eval mode on ``device``.

    ``device``: "auto" | "cpu" | "cuda" | torch.device. The model has float32 weights.
    The detected architecture is in ``sam.zone_config`` (SAM v1: a SamConfig, ``.variant`` vit_h/vit_l/vit_b/custom;
    SAM 2: a ``sam2_loader.Sam2Config``). ``decoder_num_heads`` applies to SAM v1 only.
    Raises FileNotFoundError for a missing file, SamCheckpointError (a ZoneInputError) for a file that is not a
    SAM checkpoint or whose tensors do not fit the detected architecture.
    """
    target = resolve_device(device)
    sd = load_state_dict(path)
    name = os.path.basename(os.fspath(path))
    from .sam2_loader import is_sam2_state_dict, sam2_from_state_dict

    if is_sam2_state_dict(sd):
        return sam2_from_state_dict(sd, target, name)
    cfg = infer_sam_config(sd, decoder_num_heads)
    with torch.device("meta"):
        sam = build_sam(cfg)
    assign_checked(sam, sd, cfg.describe(), name)
    # Non-persistent buffers are not in the state dict: give them real values.
    sam.pixel_mean = torch.tensor(PIXEL_MEAN, dtype=torch.float32).view(-1, 1, 1)
    sam.pixel_std = torch.tensor(PIXEL_STD, dtype=torch.float32).view(-1, 1, 1)
    return finish_model(sam, cfg, target)


def as_sam(model: Any) -> torch.nn.Module:
    """``model`` if it is a segment-anything ``Sam`` or a ``sam2`` ``SAM2Base``, or the one in its ``.model`` /
    ``.sam`` attribute or ``"model"`` key (wrappers of other packs). Raises ZoneInputError naming what was given
    otherwise."""
    from segment_anything.modeling import Sam

    from .sam2_loader import is_sam2_model

    candidates = [model] + [getattr(model, attr, None) for attr in ("model", "sam")]
    if isinstance(model, Mapping):
        candidates.append(model.get("model"))
    for inner in candidates:
        if isinstance(inner, Sam) or is_sam2_model(inner):
            return inner
    raise ZoneInputError(
        "sam_model must be a Segment Anything model (SAM v1 or SAM 2 / 2.1, from ZONE SAM Loader or Impact Pack's "
        f"SAMLoader), got {type(model).__name__}"
    )
