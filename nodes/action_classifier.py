"""Stage 1 node: ZONE Action Classifier (instruction -> change / add / remove, and the fusion weight beta)."""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..zone_ops import params as P
from ..zone_ops.stages.action_classifier import classify
from .comfy_runtime import Progress, cache_folder, check_interrupt


def _token_mask(tokens: Any, length: int) -> torch.Tensor:
    """Real-token mask [1, length] from ComfyUI tokens (``clip.tokenize(text, return_word_ids=True)``).

    Each 77-token chunk counts its start token, its word tokens (word id > 0) and the end token after them."""
    chunks = next(iter(tokens.values())) if isinstance(tokens, dict) else tokens
    mask = torch.zeros(1, length, dtype=torch.bool)
    offset = 0
    for chunk in chunks:
        words = [i for i, tok in enumerate(chunk) if len(tok) > 2 and tok[2] > 0]
        n = min((max(words) + 2) if words else 2, len(chunk))
        mask[0, offset : min(offset + n, length)] = True
        offset += len(chunk)
    return mask


def clip_text_encoder(clip: Any) -> Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]:
    """A ``zone_ops`` text encoder from a ComfyUI CLIP: texts -> (last hidden states [N, T, D], mask [N, T]).

    Uses ``clip.tokenize`` + ``clip.encode_from_tokens`` (per-token states, e.g. [1, 77, 768] for SD1.5 / IP2P);
    the mask marks start, word and end tokens. Texts that fit one 77-token chunk are encoded in ONE call: ComfyUI
    encodes a prompt's chunks as a batch and joins them along the token axis, so N one-chunk texts given as the N
    chunks of one prompt come back as [1, N*77, D] (training the head on first use is then one batched pass
    instead of a thousand calls). Longer texts are encoded one by one."""

    def encode_one(tokens: Any) -> torch.Tensor:
        cond = clip.encode_from_tokens(tokens)
        cond = cond[0] if isinstance(cond, (tuple, list)) else cond
        return cond.detach().to("cpu", torch.float32)

    def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokenized = [clip.tokenize(text, return_word_ids=True) for text in texts]
        single = [isinstance(t, dict) and all(len(chunks) == 1 for chunks in t.values()) for t in tokenized]
        if texts and all(single) and len({tuple(t) for t in tokenized}) == 1:
            joined = {key: [t[key][0] for t in tokenized] for key in tokenized[0]}
            cond = encode_one(joined)
            if cond.shape[1] % len(texts) == 0:
                hidden = cond.reshape(len(texts), cond.shape[1] // len(texts), cond.shape[2])
                mask = torch.cat([_token_mask(t, hidden.shape[1]) for t in tokenized])
                return hidden, mask
        states = [encode_one(t) for t in tokenized]
        masks = [_token_mask(t, s.shape[1]) for t, s in zip(tokenized, states)]
        length = max(s.shape[1] for s in states)
        hidden = torch.cat([torch.nn.functional.pad(s, (0, 0, 0, length - s.shape[1])) for s in states])
        mask = torch.cat([torch.nn.functional.pad(m, (0, length - m.shape[1])) for m in masks])
        return hidden, mask

    return encode


class ZoneActionClassifier:
    DESCRIPTION = (
        "Labels the instruction as change, add or remove (ZONE stage 1). The label sets the MagicBrush fusion "
        "weight beta and which image SAM segments (the original for remove). With a CLIP connected (the IP2P "
        "checkpoint's), the paper's MLP head on the CLIP token states decides. The head is trained once per text "
        "encoder, on the first run, and cached: that first run encodes 900 training instructions and takes "
        "minutes on a CPU (ComfyUI runs CLIP-L in fp16 there), seconds on a GPU; a progress bar shows it and "
        "Cancel works. Without CLIP a keyword classifier decides, instantly. 'mode' overrides."
    )
    CATEGORY = "ZONE"
    FUNCTION = "classify"
    RETURN_TYPES = ("ZONE_ACTION", "STRING")
    RETURN_NAMES = ("action", "label")
    OUTPUT_TOOLTIPS = (
        "Label, class probabilities, beta and which classifier decided: for the fused sampler and SAM Region IoU.",
        "The label (change / add / remove), for display.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "instruction": ("STRING", {"multiline": True, "default": "", "tooltip": "The edit instruction."}),
                "mode": P.ACTION_MODE.widget(),
                "beta_remove": P.BETA_REMOVE.widget(),
                "beta_other": P.BETA_OTHER.widget(),
            },
            "optional": {
                "clip": ("CLIP", {"tooltip": (
                    "Text encoder of the IP2P checkpoint; optional (keywords without it). The first run with a new "
                    "encoder trains the head: minutes on a CPU, then cached.")}),
            },
        }

    def classify(self, instruction: str, mode: str, beta_remove: float, beta_other: float, clip: Any = None):
        if clip is None or mode != "auto":
            encoder = None
        elif hasattr(clip, "tokenize") and hasattr(clip, "encode_from_tokens"):
            encoder = clip_text_encoder(clip)
        elif callable(clip):  # a zone_ops text encoder (texts -> states, mask)
            encoder = clip
        else:
            raise TypeError(f"clip must be a ComfyUI CLIP or a text-encoder callable, got {type(clip).__name__}")
        action = classify(
            instruction,
            encoder=encoder,
            cache_dir=cache_folder("action_classifier"),
            mode=mode,
            beta_remove=beta_remove,
            beta_other=beta_other,
            encoder_name="clip-mlp",
            progress=Progress(100) if encoder is not None else None,
            check=check_interrupt,
        )
        return (action, action.label.name.lower())


NODE_CLASS_MAPPINGS: dict[str, type] = {"ZoneActionClassifier": ZoneActionClassifier}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"ZoneActionClassifier": "ZONE Action Classifier"}
