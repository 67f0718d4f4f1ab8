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


def _short_text_model(clip: Any) -> Any | None:
    """The CLIP-L text model (``comfy.clip_model.CLIPTextModel_``) of an SD1-style ComfyUI CLIP, with its
    ``SDClipModel`` wrapper, when the structure is the one ``_encode_short`` assumes; else None."""
    outer = getattr(clip, "cond_stage_model", None)
    inner = getattr(outer, str(getattr(outer, "clip", "")), None)
    model = getattr(getattr(inner, "transformer", None), "text_model", None)
    needed = ("embeddings", "encoder", "final_layer_norm")
    if model is None or not all(hasattr(model, n) for n in needed) or getattr(inner, "enable_attention_masks", 0):
        return None
    if getattr(inner, "layer", None) not in ("last", "hidden") or getattr(inner, "zero_out_masked", False):
        return None
    return inner, model


def _encode_short(clip: Any, ids: torch.Tensor) -> torch.Tensor:
    """Last hidden states [N, T, D] (float32, CPU) of token ids [N, T] (start, words, end, padding up to the
    longest text of the batch: T << 77), computed as ComfyUI's CLIPTextModel_ computes them but over T positions.

    CLIP's text transformer is causal (each position attends to itself and the positions before it), so the states
    at the positions < T are the same as in ComfyUI's full 77-token pass; only the work on the padding is skipped
    (77 / T times less). ``clip_text_encoder`` checks the equality on real texts before it relies on it."""
    clip.cond_stage_model.reset_clip_options()
    if getattr(clip, "layer_idx", None) is not None:
        clip.cond_stage_model.set_clip_options({"layer": clip.layer_idx})
    clip.load_model()
    inner, model = _short_text_model(clip)
    device = model.embeddings.position_embedding.weight.device
    ids = ids.to(device)
    x = model.embeddings.token_embedding(ids, out_dtype=torch.float32)
    x = x + model.embeddings.position_embedding.weight[: ids.shape[1]].to(device, torch.float32)
    causal = torch.full((ids.shape[1], ids.shape[1]), -torch.finfo(x.dtype).max, dtype=x.dtype, device=device)
    index = inner.layer_idx if inner.layer == "hidden" else None
    x, hidden = model.encoder(x, mask=causal.triu_(1), intermediate_output=index)
    if inner.layer == "last":
        out = model.final_layer_norm(x)
    else:
        out = model.final_layer_norm(hidden) if inner.layer_norm_hidden_state else hidden
    return out.detach().to("cpu", torch.float32)


def _plain_ids(tokens: Any) -> list[int] | None:
    """The token ids up to and including the first end token of a one-chunk, unweighted, embedding-free ComfyUI
    tokenization (``{"l": [[(id, weight, word_id), ...]]}``); None for anything else."""
    if not isinstance(tokens, dict) or len(tokens) != 1:
        return None
    chunks = next(iter(tokens.values()))
    if len(chunks) != 1:
        return None
    chunk = chunks[0]
    if not all(len(t) > 2 and isinstance(t[0], int) and t[1] == 1.0 for t in chunk):
        return None
    words = [i for i, t in enumerate(chunk) if t[2] > 0]
    n = (max(words) + 2) if words else 2
    return [t[0] for t in chunk[:n]] if n <= len(chunk) else None


def clip_text_encoder(clip: Any) -> Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]:
    """A ``zone_ops`` text encoder from a ComfyUI CLIP: texts -> (last hidden states [N, T, D], mask [N, T]).

    The states are those of ``clip.encode_from_tokens`` (per-token, [1, 77, D] per text for SD1.5 / IP2P) at the
    real positions; the mask marks start, word and end tokens.
    Fast path (texts of one 77-token chunk, no prompt weights or embeddings, an SD1-style CLIP-L): the text model
    runs over the real tokens only, padded to the longest text of the batch (``_encode_short``: ~6x less work for
    instructions of ~10 words, which makes training the head on first use take seconds instead of minutes on a
    CPU). The first batch is encoded both ways and the fast path is used only if the states agree (to 1e-3 of their
    scale); otherwise, and for any other text, the standard path below.
    Standard path: texts that fit one chunk are encoded in ONE call: ComfyUI encodes a prompt's chunks as a batch
    and joins them along the token axis, so N one-chunk texts given as the N chunks of one prompt come back as
    [1, N*77, D]. Longer texts are encoded one by one."""
    state: dict[str, bool | None] = {"fast": None if _short_text_model(clip) is not None else False}

    def encode_one(tokens: Any) -> torch.Tensor:
        cond = clip.encode_from_tokens(tokens)
        cond = cond[0] if isinstance(cond, (tuple, list)) else cond
        return cond.detach().to("cpu", torch.float32)

    def standard(tokenized: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        single = [isinstance(t, dict) and all(len(chunks) == 1 for chunks in t.values()) for t in tokenized]
        if tokenized and all(single) and len({tuple(t) for t in tokenized}) == 1:
            joined = {key: [t[key][0] for t in tokenized] for key in tokenized[0]}
            cond = encode_one(joined)
            if cond.shape[1] % len(tokenized) == 0:
                hidden = cond.reshape(len(tokenized), cond.shape[1] // len(tokenized), cond.shape[2])
                mask = torch.cat([_token_mask(t, hidden.shape[1]) for t in tokenized])
                return hidden, mask
        states = [encode_one(t) for t in tokenized]
        masks = [_token_mask(t, s.shape[1]) for t, s in zip(tokenized, states)]
        length = max(s.shape[1] for s in states)
        hidden = torch.cat([torch.nn.functional.pad(s, (0, 0, 0, length - s.shape[1])) for s in states])
        mask = torch.cat([torch.nn.functional.pad(m, (0, length - m.shape[1])) for m in masks])
        return hidden, mask

    def short(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(len(i) for i in ids)
        padded = torch.tensor([i + [i[-1]] * (length - len(i)) for i in ids], dtype=torch.long)
        mask = torch.arange(length)[None, :] < torch.tensor([len(i) for i in ids])[:, None]
        return _encode_short(clip, padded), mask

    def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokenized = [clip.tokenize(text, return_word_ids=True) for text in texts]
        ids = [_plain_ids(t) for t in tokenized]
        plain = bool(texts) and all(i is not None for i in ids)
        if plain and state["fast"]:
            return short(ids)  # type: ignore[arg-type]
        hidden, mask = standard(tokenized)
        if plain and state["fast"] is None:
            try:
                fast_hidden, fast_mask = short(ids)  # type: ignore[arg-type]
            except Exception:  # a text model built otherwise than ComfyUI's CLIPTextModel_: the standard path only
                state["fast"] = False
                return hidden, mask
            n = fast_mask.shape[1]
            same = n <= mask.shape[1] and torch.equal(fast_mask, mask[:, :n]) and not mask[:, n:].any()
            if same:
                ref = hidden[:, :n][fast_mask]
                same = bool((fast_hidden[fast_mask] - ref).abs().max() <= 1e-3 * ref.abs().max().clamp_min(1e-6))
            state["fast"] = same
        return hidden, mask

    encode.fast_path = state  # type: ignore[attr-defined]  (tests read whether the fast path is on)
    return encode


class ZoneActionClassifier:
    DESCRIPTION = (
        "Labels the instruction as change, add or remove (ZONE stage 1). The label sets the MagicBrush fusion "
        "weight beta and which image SAM segments (the original for remove). With a CLIP connected (the IP2P "
        "checkpoint's), the paper's MLP head on the CLIP token states decides. The head is trained once per text "
        "encoder, on the first run, and cached in ComfyUI's user/comfyui_zone: that first run encodes 900 "
        "training instructions (their real tokens only) and takes about half a minute on a 2-core CPU, seconds on "
        "a GPU; a progress bar shows it and Cancel works. Without CLIP a keyword classifier decides, instantly. "
        "'mode' overrides."
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
                    "encoder trains the head: about half a minute on a CPU, then cached.")}),
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
