"""Random-initialised model files for a real ComfyUI's model folders (used by tests/test_comfyui_host.py).

Nothing here is downloaded and nothing is a trained model: the files only have the right SHAPES, so ComfyUI's
own loaders accept them exactly as they accept the real weights.

- ``build_ip2p_checkpoint(path, seed)``: an SD1.5-shaped InstructPix2Pix checkpoint in the original LDM format
  (UNet with 8 input channels under ``model.diffusion_model.``, CLIP-L under ``cond_stage_model.``, the SD VAE
  under ``first_stage_model.``), fp16 safetensors (~2 GB). ComfyUI's Load Checkpoint detects it as
  ``SD15_instructpix2pix``. The key layout is taken from ComfyUI's own model classes (``comfy.model_detection``,
  ``comfy.supported_models``), so it needs ComfyUI importable: call it in a process whose ``sys.path`` holds a
  ComfyUI checkout (``ensure_comfy_on_path``).
- ``build_sd15_checkpoint(ip2p_path, path)``: the same with 4 UNet input channels (a plain SD1.5: the wrong type).
- ``build_sam_checkpoint(path, seed)``: the tiny SAM of ``tests/tiny_models.py`` as a ``torch.save`` state dict.
- ``build_model_dir(base, seed)``: ``<base>/models/checkpoints/{zone_ip2p_random,zone_magicbrush_random}.safetensors``
  (MagicBrush = another seed; an IP2P fine-tune has the same architecture) and ``<base>/models/sams/zone_sam_tiny.pth``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from comfy_env import init_weights  # torch's default init (ComfyUI's layers skip it)
from tiny_models import tiny_sam

IP2P_NAME = "zone_ip2p_random.safetensors"
MAGICBRUSH_NAME = "zone_magicbrush_random.safetensors"
SAM_NAME = "zone_sam_tiny.pth"

# SD1.5's VAE (the "ddconfig" of ComfyUI's comfy/sd.py for SD1.x/2.x checkpoints).
SD_VAE_DDCONFIG = {
    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0,
}


def ensure_comfy_on_path(comfy_path: str | os.PathLike[str] | None = None) -> Path:
    """Put a ComfyUI checkout (``comfy_path`` or $ZONE_COMFYUI_PATH) first on ``sys.path``; returns it."""
    root = Path(comfy_path or os.environ.get("ZONE_COMFYUI_PATH", "")).resolve()
    if not (root / "comfy" / "model_detection.py").is_file():
        raise FileNotFoundError(f"not a ComfyUI checkout: {root} (set ZONE_COMFYUI_PATH)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return root


def ip2p_state_dict(seed: int = 0, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The LDM-format state dict of a random SD1.5 InstructPix2Pix checkpoint (UNet + CLIP-L + VAE)."""
    import comfy.cli_args

    if not torch.cuda.is_available():  # comfy.model_management probes CUDA at import unless told --cpu
        comfy.cli_args.args.cpu = True
    import comfy.ldm.models.autoencoder as autoencoder
    import comfy.model_detection as model_detection
    import comfy.sd1_clip as sd1_clip
    import comfy.supported_models as supported_models

    unet_config = sd15_unet_config(dtype)
    model = supported_models.SD15_instructpix2pix(unet_config).get_model({}, device="cpu")
    init_weights(model.diffusion_model, seed)

    clip = sd1_clip.SD1ClipModel(device="cpu", dtype=torch.float32)
    init_weights(clip, seed + 1)
    clip_sd = clip.state_dict()

    vae = autoencoder.AutoencoderKL(ddconfig=dict(SD_VAE_DDCONFIG), embed_dim=4)
    init_weights(vae, seed + 2)

    sd = model.state_dict_for_saving(clip_sd, vae.state_dict())
    detected = model_detection.model_config_from_unet(sd, "model.diffusion_model.")
    if type(detected).__name__ != "SD15_instructpix2pix":  # what Load Checkpoint will see
        raise RuntimeError(f"ComfyUI detects this state dict as {type(detected).__name__}, not SD15_instructpix2pix")
    out = {}
    for key, value in sd.items():
        value = value.detach()
        if value.is_floating_point() and "position_ids" not in key:
            value = value.to(dtype)
        out[key] = value.contiguous()
    return out


def sd15_unet_config(dtype: torch.dtype) -> dict:
    """SD1.5's UNet config as comfy.model_detection writes it, with IP2P's 8 input channels."""
    return {
        "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
        "adm_in_channels": None, "dtype": dtype, "in_channels": 8, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
        "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1,
        "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
        "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }


def build_ip2p_checkpoint(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write ``ip2p_state_dict(seed)`` as fp16 safetensors to ``path`` (~2 GB); returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(ip2p_state_dict(seed), str(path), metadata={"format": "pt", "note": "random weights for tests"})
    return path


def build_sd15_checkpoint(ip2p_path: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """A plain SD1.5 (text-to-image, 4 input channels) checkpoint made from an IP2P one: the wrong model type a
    user might wire into the sampler. Only the first UNet convolution differs."""
    from safetensors.torch import load_file, save_file

    sd = load_file(str(ip2p_path))
    key = "model.diffusion_model.input_blocks.0.0.weight"
    sd[key] = sd[key][:, :4].contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata={"format": "pt", "note": "random weights for tests"})
    return path


def build_sam_checkpoint(path: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny random SAM (tests/tiny_models.tiny_sam) as a plain ``torch.save`` state dict."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_sam(seed).state_dict(), str(path))
    return path


def build_model_dir(base: str | os.PathLike[str], seed: int = 0) -> dict[str, Path]:
    """Fill ``<base>/models`` for a ComfyUI started with ``--base-directory <base>``; returns the written paths.

    Files already present are kept (the IP2P checkpoint takes a minute to build), so a cache dir can be reused.
    """
    models = Path(base) / "models"
    paths = {
        "ip2p": models / "checkpoints" / IP2P_NAME,
        "magicbrush": models / "checkpoints" / MAGICBRUSH_NAME,
        "sam": models / "sams" / SAM_NAME,
    }
    if not paths["ip2p"].is_file():
        build_ip2p_checkpoint(paths["ip2p"], seed)
    if not paths["magicbrush"].is_file():
        build_ip2p_checkpoint(paths["magicbrush"], seed + 1)
    if not paths["sam"].is_file():
        build_sam_checkpoint(paths["sam"], seed)
    return paths


if __name__ == "__main__":  # python tests/comfy_models.py <base dir> [comfy path]: fill <base>/models
    ensure_comfy_on_path(sys.argv[2] if len(sys.argv) > 2 else None)
    for kind, written in build_model_dir(sys.argv[1]).items():
        print(kind, written, written.stat().st_size)
