"""Tiny, randomly initialised models with the real architectures, built offline for the tests.

- ``tiny_tokenizer``: a real ``CLIPTokenizer`` on a byte-level vocabulary (every byte is a token, no merges), so
  any text tokenizes with the real start/end/padding logic. A word becomes one token per character.
- ``tiny_text_encoder``: ``CLIPTextModel`` (hidden size 32, 77 positions).
- ``tiny_unet``: ``UNet2DConditionModel`` with SD1.5's block layout (3 cross-attention down blocks, 3 up blocks,
  2 layers per block), 8 input channels like InstructPix2Pix, so ``down_blocks.2.attentions.{0,1}`` and
  ``up_blocks.1.attentions.{0,1,2}`` are the 1/32-resolution cross-attention layers, as in the real model.
- ``tiny_vae``: ``AutoencoderKL`` with 8x downsampling and 4 latent channels.
- ``tiny_sam``: segment-anything's ``Sam`` with a 1-block ViT on 256-pixel input.
- ``tiny_sam2``: ``sam2``'s ``SAM2Base`` from the package's tiny config, shrunk to a 4-block Hiera (embed 8).
- ``save_ip2p_folder``: all of the above as a diffusers-format folder (``model_index.json`` layout).
- ``tiny_backend``: zone_ops' DiffusersBackend on them; ``single_thread``: run torch on one thread in a block.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch

HIDDEN = 32


def _byte_chars() -> list[str]:
    """GPT-2 / CLIP byte-to-unicode table: one printable character per byte value."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _byte_vocab() -> dict[str, int]:
    chars = _byte_chars()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


def tiny_tokenizer(folder: str | Path | None = None):
    """A real CLIPTokenizer on a byte-level vocabulary (size 514), max length 77. Saved into ``folder`` if given."""
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.json"
        merges = Path(tmp) / "merges.txt"
        vocab.write_text(json.dumps(_byte_vocab()))
        merges.write_text("#version: 0.2\n")
        tok = CLIPTokenizer(str(vocab), str(merges), model_max_length=77, pad_token="<|endoftext|>")
        if folder is not None:
            tok.save_pretrained(str(folder))
    return tok


def tiny_text_encoder(seed: int = 0, hidden: int = HIDDEN, intermediate: int = 64, layers: int = 2, heads: int = 4,
                      vocab_size: int | None = None):
    """CLIPTextModel, hidden size 32, 77 positions, vocabulary matching ``tiny_tokenizer``. The sizes are
    parameters: ``tiny_text_encoder(0, 768, 3072, 12, 12, 49408)`` is CLIP-L's text model (SD1.5's)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    vocab = _byte_vocab()
    config = CLIPTextConfig(
        vocab_size=vocab_size or len(vocab),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    return CLIPTextModel(config).eval()


def tiny_unet(seed: int = 0, in_channels: int = 8, block_out_channels: tuple[int, ...] = (32, 32, 64, 64)):
    """UNet2DConditionModel with SD1.5's layout at tiny width (IP2P: 8 input channels)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=block_out_channels,
        layers_per_block=2,
        attention_head_dim=4,
        cross_attention_dim=HIDDEN,
        norm_num_groups=32,
    ).eval()


def tiny_vae(seed: int = 0):
    """AutoencoderKL, 8x downsampling, 4 latent channels."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
    ).eval()


def tiny_scheduler():
    """DPM-Solver++ 2M with SD1.5's training noise schedule."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
    )


def save_ip2p_folder(folder: str | Path, seed: int = 0) -> Path:
    """Write a complete diffusers-format InstructPix2Pix folder of tiny random models; returns ``folder``."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    folder = Path(folder)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=tiny_vae(seed),
        text_encoder=tiny_text_encoder(seed),
        tokenizer=tiny_tokenizer(),
        unet=tiny_unet(seed),
        scheduler=tiny_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_sam(seed: int = 0, img_size: int = 256):
    """segment-anything ``Sam`` with a 1-block ViT (embed 32) on ``img_size`` input, random weights."""
    from functools import partial

    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    prompt_dim, patch = 32, 16
    grid = img_size // patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=1,
            embed_dim=32,
            img_size=img_size,
            mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=2,
            patch_size=patch,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=(0,),
            window_size=4,
            out_chans=prompt_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(img_size, img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
            transformer_dim=prompt_dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def tiny_sam2(seed: int = 0, version: str = "2.1"):
    """A ``sam2`` ``SAM2Base`` built from the package's own tiny config with a 4-block Hiera (embed 8) and a 32-wide
    neck and SAM heads (memory modules as in the config), random weights; 1024-px input like the real ones."""
    from zone_ops.models.sam2_loader import Sam2Config, build_sam2

    torch.manual_seed(seed)
    cfg = Sam2Config(version, "custom", embed_dim=8, stages=(1, 1, 1, 1), pos_embed_size=(4, 4), window_size=8,
                     neck_dim=32, channel_list=(64, 32, 16, 8))
    return build_sam2(cfg)


@contextmanager
def single_thread():
    """Run torch on one CPU thread inside the block (restored after): tiny models run several times faster than on
    an oversubscribed thread pool of shared CI cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def tiny_backend(seed: int = 0, magicbrush_seed: int | None = None):
    """zone_ops' DiffusersBackend on the tiny IP2P models (+ a tiny 'MagicBrush' UNet sharing the encoders)."""
    from zone_ops.sampling.diffusers_backend import DiffusersBackend

    mb = tiny_unet(magicbrush_seed) if magicbrush_seed is not None else None
    return DiffusersBackend(tiny_unet(seed), tiny_text_encoder(seed), tiny_tokenizer(), tiny_vae(seed), magicbrush_unet=mb)
