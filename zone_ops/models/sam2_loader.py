"""Load a SAM 2 / SAM 2.1 checkpoint safely and build the matching ``sam2`` model (``SAM2Base``).

- Formats: those of ``checkpoint.load_state_dict`` (``.pt`` / ``.pth`` with ``weights_only=True``, and
  ``.safetensors``; the official files wrap the tensors as ``{"model": sd}``). fp16 / bf16 copies (such as the
  safetensors files other ComfyUI packs keep in ``models/sam2``) are loaded as float32.
- Architecture: read from the tensor shapes, no config file needed. Version: SAM 2.1 checkpoints carry
  ``no_obj_embed_spatial`` (and ``obj_ptr_tpos_proj``), SAM 2 ones do not. Size: the Hiera trunk's embed dim and
  blocks per stage (a stage starts where a block changes width, i.e. has a ``proj``): 96 / (1, 2, 7, 2) tiny,
  96 / (1, 2, 11, 2) small, 112 / (2, 3, 16, 3) base+, 144 / (2, 6, 36, 4) large. The model is then built from the
  ``sam2`` package's own config of that variant (``sam2/configs/sam2.1/sam2.1_hiera_t.yaml`` ...), with the
  post-processing settings of ``sam2.build_sam.build_sam2``. Anything else (a test model) is ``custom``: the tiny
  config with the trunk width, stages, positional-embedding sizes and neck width read from the tensors (what
  shapes cannot tell, head counts, global-attention blocks and the 1024-px input, keeps the tiny config's values).
- The parameters are created on the meta device (no random initialisation of 224M parameters) and the
  checkpoint tensors are assigned, so loading costs the file read.

Public API: ``load_sam2(path, device="cpu")``, ``sam2_from_state_dict(sd, device, name)``,
``infer_sam2_config(sd) -> Sam2Config``, ``official_sam2_config(version, size)``, ``build_sam2(cfg)``,
``is_sam2_state_dict(sd)``, ``is_sam2_model(obj)``, ``OFFICIAL_SAM2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch.overrides import TorchFunctionMode

from .checkpoint import (SamCheckpointError, assign_checked, describe_state_dict, finish_model, load_state_dict,
                         resolve_device)

#: (trunk embed dim, blocks per stage) -> (size name, config suffix) of the official Hiera variants.
OFFICIAL_SAM2: dict[tuple[int, tuple[int, ...]], tuple[str, str]] = {
    (96, (1, 2, 7, 2)): ("tiny", "t"),
    (96, (1, 2, 11, 2)): ("small", "s"),
    (112, (2, 3, 16, 3)): ("base_plus", "b+"),
    (144, (2, 6, 36, 4)): ("large", "l"),
}

#: What ``sam2.build_sam.build_sam2`` adds to every config by default (apply_postprocessing=True).
POSTPROCESSING = {
    "dynamic_multimask_via_stability": True,
    "dynamic_multimask_stability_delta": 0.05,
    "dynamic_multimask_stability_thresh": 0.98,
}

_TRUNK = "image_encoder.trunk."
_REQUIRED = (_TRUNK + "patch_embed.proj.weight", _TRUNK + "pos_embed", _TRUNK + "pos_embed_window",
             "image_encoder.neck.convs.0.conv.weight", "sam_mask_decoder.iou_token.weight")


def is_sam2_state_dict(sd: Mapping[str, Any]) -> bool:
    """True when the keys are SAM 2's (a Hiera trunk or a ``sam_mask_decoder``), not SAM v1's."""
    return any(k.startswith(_TRUNK) or k.startswith("sam_mask_decoder.") for k in sd)


def is_sam2_model(obj: Any) -> bool:
    """True for a ``sam2`` model (``SAM2Base`` or a subclass such as the video predictor)."""
    try:
        from sam2.modeling.sam2_base import SAM2Base
    except ImportError:
        return False
    return isinstance(obj, SAM2Base)


@dataclass(frozen=True)
class Sam2Config:
    """A SAM 2 architecture: version, official size (or ``custom``) and the shape-derived values."""

    version: str  # "2" | "2.1"
    size: str  # "tiny" | "small" | "base_plus" | "large" | "custom"
    embed_dim: int
    stages: tuple[int, ...]
    pos_embed_size: tuple[int, int]
    window_size: int
    neck_dim: int
    channel_list: tuple[int, ...]

    @property
    def config_file(self) -> str:
        """The package config this model is built from (custom models: the tiny one, modified)."""
        suffix = next((s for name, s in OFFICIAL_SAM2.values() if name == self.size), "t")
        folder, stem = ("sam2.1", "sam2.1_hiera") if self.version == "2.1" else ("sam2", "sam2_hiera")
        return f"configs/{folder}/{stem}_{suffix}.yaml"

    def describe(self) -> str:
        if self.size != "custom":
            return f"SAM {self.version} hiera_{self.size}"
        return (f"custom SAM {self.version} (Hiera embed {self.embed_dim}, stages {list(self.stages)}, "
                f"neck {self.neck_dim})")


def _stages(sd: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """Blocks per Hiera stage: a new stage starts at every block that changes width (has ``proj``)."""
    pattern = re.compile(re.escape(_TRUNK) + r"blocks\.(\d+)\.")
    depth = max((int(m.group(1)) for k in sd if (m := pattern.match(k))), default=-1) + 1
    starts = [0] + [i for i in range(1, depth) if f"{_TRUNK}blocks.{i}.proj.weight" in sd] + [depth]
    return tuple(b - a for a, b in zip(starts, starts[1:]) if b > a)


def infer_sam2_config(sd: Mapping[str, torch.Tensor]) -> Sam2Config:
    """The architecture of a SAM 2 / 2.1 state dict, from its tensor shapes (see the module docstring)."""
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        raise SamCheckpointError(f"not a complete SAM 2 checkpoint: missing {missing[0]!r}; found {describe_state_dict(sd)}")
    convs = sorted(int(m.group(1)) for k in sd if (m := re.match(r"image_encoder\.neck\.convs\.(\d+)\.conv\.weight$", k)))
    embed_dim = int(sd[_TRUNK + "patch_embed.proj.weight"].shape[0])
    stages = _stages(sd)
    cfg = Sam2Config(
        version="2.1" if "no_obj_embed_spatial" in sd else "2",
        size="custom",
        embed_dim=embed_dim,
        stages=stages,
        pos_embed_size=tuple(int(s) for s in sd[_TRUNK + "pos_embed"].shape[2:4]),
        window_size=int(sd[_TRUNK + "pos_embed_window"].shape[2]),
        neck_dim=int(sd["image_encoder.neck.convs.0.conv.weight"].shape[0]),
        channel_list=tuple(int(sd[f"image_encoder.neck.convs.{i}.conv.weight"].shape[1]) for i in convs),
    )
    official = OFFICIAL_SAM2.get((embed_dim, stages))
    if official and cfg.neck_dim == 256 and cfg.window_size == 8:
        cfg = Sam2Config(**{**cfg.__dict__, "size": official[0]})
    return cfg


class _MetaParameters(TorchFunctionMode):
    """Creates tensors made by the usual factories (empty / zeros / ones / full / rand / randn) on the meta device
    while a model is built: no memory and no random initialisation. Unlike ``torch.device("meta")`` it leaves
    other tensors (``linspace`` read back with ``.item()``, RoPE tables) on the CPU."""

    FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in self.FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _model_config(cfg: Sam2Config) -> Any:
    """The OmegaConf ``model`` node of the package config for ``cfg`` (custom sizes patched in)."""
    from importlib import resources

    from omegaconf import OmegaConf

    try:
        text = (resources.files("sam2") / cfg.config_file).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise RuntimeError(f"the installed sam2 package lacks {cfg.config_file}; reinstall the pack's requirements") from exc
    model = OmegaConf.create(text).model
    if cfg.size == "custom":
        trunk, neck = model.image_encoder.trunk, model.image_encoder.neck
        trunk.embed_dim, trunk.stages = cfg.embed_dim, list(cfg.stages)
        trunk.window_pos_embed_bkg_spatial_size = list(cfg.pos_embed_size)
        windows = list(trunk.get("window_spec", (8, 4, 14, 7)))
        trunk.window_spec = [cfg.window_size] + windows[1:]
        neck.d_model, neck.backbone_channel_list = cfg.neck_dim, list(cfg.channel_list)
        neck.position_encoding.num_pos_feats = cfg.neck_dim  # equal in every official config
    model.sam_mask_decoder_extra_args = dict(POSTPROCESSING)
    return model


def build_sam2(cfg: Sam2Config, *, meta: bool = False) -> torch.nn.Module:
    """A ``sam2`` ``SAM2Base`` with the architecture ``cfg`` in eval mode: random weights, or (``meta=True``)
    parameters on the meta device, to be assigned from a checkpoint."""
    from hydra.utils import instantiate

    model = _model_config(cfg)
    if meta:
        with _MetaParameters():
            sam = instantiate(model, _recursive_=True)
    else:
        sam = instantiate(model, _recursive_=True)
    return sam.eval()


def official_sam2_config(version: str, size: str) -> Sam2Config:
    """The Sam2Config of an official variant (``version`` "2" / "2.1", ``size`` tiny / small / base_plus / large),
    read from the shapes of the package's own config built on the meta device."""
    if size not in {name for name, _ in OFFICIAL_SAM2.values()} or version not in ("2", "2.1"):
        raise ValueError(f"unknown SAM 2 variant {version!r} {size!r}")
    return infer_sam2_config(build_sam2(Sam2Config(version, size, 0, (), (0, 0), 0, 0, ()), meta=True).state_dict())


def sam2_from_state_dict(sd: Mapping[str, torch.Tensor], device: str | torch.device = "cpu", name: str = "checkpoint") -> torch.nn.Module:
    """A float32 ``SAM2Base`` in eval mode on ``device`` holding the tensors of ``sd`` (``zone_config``: the
    detected Sam2Config). Raises SamCheckpointError when the tensors do not fit the detected architecture."""
    target = resolve_device(device)
    cfg = infer_sam2_config(sd)
    sam = build_sam2(cfg, meta=True)
    assign_checked(sam, sd, cfg.describe(), name)
    return finish_model(sam, cfg, target)


def load_sam2(path: Any, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a SAM 2 / 2.1 checkpoint (.pt / .safetensors) as a ``SAM2Base`` (see ``sam2_from_state_dict``)."""
    import os

    return sam2_from_state_dict(load_state_dict(path), device, os.path.basename(os.fspath(path)))
