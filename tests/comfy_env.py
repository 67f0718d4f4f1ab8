"""Import a real ComfyUI in-process for tests (CPU settings), or skip; and tiny random ComfyUI models.

- ``import_comfy()``: puts ``$ZONE_COMFYUI_PATH`` on sys.path, forces ``--cpu`` (ComfyUI's args object, no argv
  parsing) and imports the comfy modules the tests use. Calls ``pytest.skip`` when the variable is unset or the
  checkout does not import (so plain ``pytest`` runs skip these tests cleanly).
- ``tiny_ip2p_model(seed, in_channels=8)``: a ModelPatcher of ComfyUI's SD15_instructpix2pix with a tiny UNet in SD1.5's
  block layout (model_channels 32, context 32), so input blocks 7/8 and output blocks 3/4/5 are the 1/32-resolution
  cross-attention blocks as in the real model. ``in_channels=4`` gives a plain SD1.5 (text-to-image) model.
- ``tiny_clip(seed)``: comfy.sd.CLIP with ComfyUI's real SD1 tokenizer and a 2-layer, 32-wide CLIP text model.
- ``tiny_vae(seed)``: comfy.sd.VAE with a 32-channel AutoencoderKL (8x downsampling, 4 latent channels).
- ``ip2p_model`` / ``clip_model`` / ``vae_model``: the same builders for any configuration (the benchmarks build the
  real SD1.5 sizes with them); ``comfy_ip2p``: ComfyUI's own InstructPix2Pix graph, the parity peer.
ComfyUI builds layers without weight initialisation; these helpers initialise them with torch's defaults.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import pytest
import torch

ENV_VAR = "ZONE_COMFYUI_PATH"
CONTEXT_DIM = 32


def import_comfy() -> ModuleType:
    """The ``comfy`` package of the checkout at $ZONE_COMFYUI_PATH on CPU. Skips when the variable is unset; FAILS
    when it is set but wrong, so a developer who asked for the ComfyUI tests never silently gets none."""
    path = os.environ.get(ENV_VAR)
    if not path:
        pytest.skip(f"set {ENV_VAR} to a ComfyUI checkout to run the ComfyUI tests")
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "comfy", "model_management.py")):
        pytest.fail(f"{ENV_VAR}={path} is not a ComfyUI checkout")
    if path in sys.path:
        sys.path.remove(path)
    # first on the path: ComfyUI's top-level modules (``nodes``, ``folder_paths``) must win over a folder of the same
    # name elsewhere on it (this repository's ``nodes/``, put on the path by a benchmark script a test imported)
    sys.path.insert(0, path)
    try:
        import comfy.cli_args

        comfy.cli_args.args.cpu = True
        import comfy.model_base  # noqa: F401
        import comfy.model_management  # noqa: F401
        import comfy.model_patcher  # noqa: F401
        import comfy.sample  # noqa: F401
        import comfy.sampler_helpers  # noqa: F401
        import comfy.samplers  # noqa: F401
        import comfy.sd  # noqa: F401
        import nodes as comfy_nodes  # ComfyUI's nodes.py, cached now for comfy_extras' ``import nodes``

        if not os.path.abspath(comfy_nodes.__file__).startswith(path):
            raise ImportError(f"'nodes' resolves to {comfy_nodes.__file__}, not to ComfyUI's nodes.py")
        import comfy.sd1_clip  # noqa: F401
        import comfy.supported_models  # noqa: F401
    except Exception as exc:  # asked for, but broken or incompatible: say so loudly
        pytest.fail(f"ComfyUI at {path} does not import: {exc!r} (run the tests with ComfyUI's Python)")
    return comfy


def init_weights(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Initialise every layer with torch's own reset_parameters (ComfyUI's ops skip it), seeded."""
    torch.manual_seed(seed)
    for sub in module.modules():
        for cls in type(sub).__mro__:
            if cls.__module__.startswith("torch.nn") and "reset_parameters" in cls.__dict__:
                cls.reset_parameters(sub)
                break
    return module


def ip2p_model(unet_config: dict, seed: int = 0, num_heads: int | None = None):
    """ModelPatcher of ComfyUI's SD15_instructpix2pix (``in_channels`` 8 in ``unet_config``) or SD15 (4), weights
    initialised with torch's defaults (seeded). ``num_heads`` overrides the model family's head count."""
    comfy = import_comfy()
    kind = comfy.supported_models.SD15_instructpix2pix if unet_config["in_channels"] == 8 else comfy.supported_models.SD15
    config = kind(dict(unet_config))
    if num_heads is not None:
        config.unet_config["num_heads"] = num_heads
    model = config.get_model({})
    init_weights(model.diffusion_model, seed)
    device = comfy.model_management.get_torch_device()
    return comfy.model_patcher.ModelPatcher(model, load_device=device, offload_device=comfy.model_management.unet_offload_device())


def tiny_ip2p_model(seed: int = 0, in_channels: int = 8):
    """ModelPatcher of a tiny SD1.5-layout InstructPix2Pix UNet (CPU, float32)."""
    unet_config = {
        "context_dim": CONTEXT_DIM, "model_channels": 32, "use_linear_in_transformer": False, "adm_in_channels": None,
        "use_temporal_attention": False, "in_channels": in_channels, "out_channels": 4,
        "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 1, 2, 2],
        "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
        "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "use_spatial_transformer": True, "legacy": False, "dtype": torch.float32, "image_size": 32,
    }
    return ip2p_model(unet_config, seed, num_heads=2)  # SD1.5's 8 heads would leave 4 channels per head


class _ClipTarget:
    params: dict = {}

    def __init__(self) -> None:
        import comfy.sd1_clip

        self.clip = comfy.sd1_clip.SD1ClipModel
        self.tokenizer = comfy.sd1_clip.SD1Tokenizer


def clip_model(seed: int = 0, clip_l_config: dict | None = None, dtype: torch.dtype = torch.float32):
    """comfy.sd.CLIP with ComfyUI's real SD1 tokenizer; the text model is CLIP-L (``clip_l_config`` None) or the
    given configuration, weights initialised (seeded)."""
    comfy = import_comfy()
    options = {"dtype": dtype} if clip_l_config is None else {"clip_l_model_config": clip_l_config, "dtype": dtype}
    clip = comfy.sd.CLIP(target=_ClipTarget(), model_options=options)
    init_weights(clip.cond_stage_model, seed)
    return clip


def vae_model(ddconfig: dict, seed: int = 0, dtype: torch.dtype = torch.float32):
    """comfy.sd.VAE: an AutoencoderKL of ``ddconfig`` (LDM format), 4 latent channels, weights initialised."""
    comfy = import_comfy()
    vae = comfy.sd.VAE(sd={}, config={"params": {"embed_dim": 4, "ddconfig": dict(ddconfig)}}, dtype=dtype)
    init_weights(vae.first_stage_model, seed)
    return vae


def tiny_clip(seed: int = 0):
    """comfy.sd.CLIP: real SD1 tokenizer, CLIP text model of width 32 and 2 layers."""
    tiny = {"hidden_size": CONTEXT_DIM, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
            "projection_dim": CONTEXT_DIM}
    return clip_model(seed, tiny)


def tiny_vae(seed: int = 0):
    """comfy.sd.VAE with a tiny AutoencoderKL (32 channels, 8x downsampling, 4 latent channels)."""
    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
                "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}
    return vae_model(ddconfig, seed)


def comfy_ip2p(models: dict, image: torch.Tensor, instruction: str, seed: int, steps: int, text_scale: float,
               image_scale: float, sampler: str, scheduler: str, model_key: str = "ip2p") -> torch.Tensor:
    """ComfyUI's own InstructPix2Pix graph, node by node; returns IMAGE [B, H, W, 3].

    CLIPTextEncode (clip.encode_from_tokens_scheduled) -> InstructPixToPixConditioning -> DualCFGGuider(cond1 =
    instruction+image, cond2 = ""+image, negative = "" without image, cfg_conds = text_scale, cfg_cond2_negative =
    image_scale, "regular": u + cfg2*(m-u) + cfg1*(p-m)) -> RandomNoise + KSamplerSelect + BasicScheduler ->
    SamplerCustomAdvanced -> VAEDecode (vae.decode). ``models``: {"clip", "vae", model_key: MODEL}.
    """
    from comfy_extras.nodes_custom_sampler import (
        BasicScheduler, DualCFGGuider, KSamplerSelect, Noise_RandomNoise, SamplerCustomAdvanced,
    )
    from comfy_extras.nodes_ip2p import InstructPixToPixConditioning

    clip, vae, model = models["clip"], models["vae"], models[model_key]
    with torch.no_grad():
        positive = clip.encode_from_tokens_scheduled(clip.tokenize(instruction))
        negative = clip.encode_from_tokens_scheduled(clip.tokenize(""))
        cond1, cond2, latent = InstructPixToPixConditioning.execute(positive, negative, pixels=image, vae=vae).result
        guider = DualCFGGuider().get_guider(model, cond1, cond2, negative, text_scale, image_scale, "regular")[0]
        sigmas = BasicScheduler().get_sigmas(model, scheduler, steps, 1.0)[0]
        sampler_object = KSamplerSelect().get_sampler(sampler)[0]
        out = SamplerCustomAdvanced().sample(Noise_RandomNoise(seed), guider, sampler_object, sigmas, latent)[0]
        return vae.decode(out["samples"])
