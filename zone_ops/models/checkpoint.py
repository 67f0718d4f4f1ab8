"""What both SAM loaders share: devices, reading a checkpoint file safely, describing and assigning its tensors.

- ``load_state_dict(path)``: the tensors of a ``.safetensors`` / ``.pth`` / ``.pt`` / ``.bin`` file, read with
  ``weights_only=True`` (no pickled code runs), unwrapped from ``{"model": sd}`` / ``{"state_dict": sd}`` and from a
  ``module.`` / ``model.`` / ``sam.`` / ``_orig_mod.`` key prefix.
- ``assign_checked`` / ``finish_model``: put the tensors into a model built on the meta device, refusing any
  missing, unexpected, misshapen or non-finite (NaN / inf) tensor with a message naming it (``check_finite``, also
  used by the diffusers backend and the action head cache).
- ``resolve_device`` / ``available_devices``: the device choices a loader widget or ``--device`` offers.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch

from ..core.images import ZoneInputError

_PREFIXES = ("module.", "model.", "sam.", "_orig_mod.")


class SamCheckpointError(ZoneInputError):
    """The file is not a loadable SAM (v1 or 2 / 2.1) checkpoint; the message says what was found."""


def available_devices() -> tuple[str, ...]:
    """The device choices this machine supports: "auto", "cpu", plus "cuda" / "cuda:N" and "mps" when present."""
    choices = ["auto", "cpu"]
    if torch.cuda.is_available():
        choices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append("mps")
    return tuple(choices)


def resolve_device(choice: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; ``"cpu"`` / ``"cuda"`` / ``"cuda:1"`` / ``"mps"`` / a torch.device
    as given.

    Raises ZoneInputError for a device this machine does not have (the message lists ``available_devices()``).
    """
    if isinstance(choice, torch.device):
        return choice
    text = (choice or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    choices = available_devices()
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or text not in choices:
        what = "unknown device" if device is None else "device not available on this machine:"
        raise ZoneInputError(f"{what} {choice!r}; choose one of {', '.join(choices)}")
    return device


def _unwrap_state_dict(obj: Any, path: str) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint, with a common key prefix removed."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise SamCheckpointError(f"{os.path.basename(path)} holds a {type(obj).__name__}, not a state dict of tensors")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    changed = True
    while changed and sd:
        changed = False
        for prefix in _PREFIXES:
            if all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                changed = True
    return sd


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint file (.safetensors, or .pth/.pt/.bin with ``weights_only=True``) on CPU."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SAM checkpoint not found: {path}")
    name = os.path.basename(path)
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load_file

            obj: Any = load_file(path, device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, pickled code, truncated file, not a checkpoint at all
        raise SamCheckpointError(
            f"cannot read {name} as a checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}). "
            "Use an official Segment Anything file such as sam_vit_h_4b8939.pth or sam2.1_hiera_large.pt, or a "
            ".safetensors copy of it"
        ) from exc
    return _unwrap_state_dict(obj, path)


def describe_state_dict(sd: Mapping[str, torch.Tensor]) -> str:
    keys = list(sd)
    roots = sorted({k.split(".")[0] for k in keys})
    hint = ""
    if any(k.startswith("image_encoder.trunk.") or k.startswith("sam_mask_decoder.") for k in keys):
        hint = " It looks like a SAM 2 checkpoint."
    elif any(k.startswith("image_encoder.layers.") for k in keys):
        hint = " It looks like MobileSAM (TinyViT encoder), which this loader does not build."
    elif any(k.startswith("model.diffusion_model.") for k in keys) or any("diffusion_model" in r for r in roots):
        hint = " It looks like a Stable Diffusion checkpoint; put it in models/checkpoints instead."
    return f"{len(keys)} tensors with top-level names {roots[:8]}{' ...' if len(roots) > 8 else ''}.{hint}"


def nonfinite_tensors(named: Any) -> list[str]:
    """Names of the floating-point tensors in ``named`` ((name, tensor) pairs or a mapping) holding NaN or inf,
    each with how many such values: ``["blocks.3.attn.qkv.weight (12 of 2359296 values)"]``."""
    items = named.items() if isinstance(named, Mapping) else named
    bad = []
    for key, tensor in items:
        if not isinstance(tensor, torch.Tensor) or tensor.is_meta or not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        flat = tensor.detach().reshape(-1)
        count = 0
        for start in range(0, flat.numel(), 1 << 24):  # bounded temporary memory on huge tensors
            count += int((~torch.isfinite(flat[start:start + (1 << 24)])).sum())
        if count:
            bad.append(f"{key} ({count} of {flat.numel()} values)")
    return bad


def check_finite(named: Any, name: str, error: type[ZoneInputError] = ZoneInputError) -> None:
    """Raise ``error`` naming the damaged tensor(s) of ``name`` when any floating tensor holds NaN or inf."""
    bad = nonfinite_tensors(named)
    if bad:
        more = f" (+{len(bad) - 3} more tensors)" if len(bad) > 3 else ""
        raise error(f"{name} is damaged: NaN or infinite weights in {'; '.join(bad[:3])}{more}. "
                    "Download the file again")


def assign_checked(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], describe: str, name: str) -> None:
    """Assign the tensors of ``sd`` to ``model`` (built on the meta device) after checking that every key and shape
    fits and every weight is finite; raises SamCheckpointError naming the first misfits or the damaged tensor
    (``describe``: the detected architecture)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"missing {k}" for k in expected if k not in sd]
    problems += [f"unexpected {k}" for k in sd if k not in expected]
    problems += [f"{k} is {tuple(sd[k].shape)}, expected {s}" for k, s in expected.items() if k in sd and tuple(sd[k].shape) != s]
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SamCheckpointError(f"{name}: the tensors do not fit the detected {describe}: {'; '.join(problems[:3])}{more}")
    check_finite(sd, name, SamCheckpointError)
    model.load_state_dict(sd, strict=True, assign=True)


def finish_model(model: torch.nn.Module, cfg: Any, device: torch.device) -> torch.nn.Module:
    """``model`` (its tensors assigned) as float32 in eval mode on ``device``, its detected architecture in
    ``model.zone_config`` (``cfg``, which has ``describe()``). Raises SamCheckpointError when a tensor was left on the
    meta device (the checkpoint lacks it)."""
    left = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if left:
        raise SamCheckpointError(f"checkpoint lacks {left[:3]} for the detected {cfg.describe()}")
    model = model.float().to(device).eval()
    model.zone_config = cfg
    return model
