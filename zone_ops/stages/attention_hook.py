"""Record the IP2P UNet's cross-attention on the five 1/32-resolution layers (Li et al., CVPR 2024),
backend-agnostic.

- ``attention_probs(q, k)``: the explicit probabilities softmax(QK^T / sqrt(d)) in fp32.
- ``AttentionRecorder``: keeps a RUNNING SUM per user-batch item (one [h*w, T] fp32 tensor each) and a row count,
  so its memory does not grow with the number of steps. Every ``add`` contributes, per kept row, the mean over
  heads; ``maps()`` divides by the count, i.e. the mean over heads, kept branches, layers and steps. Rows of
  branches not in ``record_branches`` are dropped (official: the two empty-prompt branches "image", "uncond").
  Backends may split the guidance batch over several calls in any way: the average is the same.
- ``DiffusersAttentionHook``: installs a small recording processor on ``transformer_blocks.*.attn2`` of the five
  ``RECORDED_LAYERS`` of a diffusers ``UNet2DConditionModel`` and restores the exact previous processor objects on
  ``remove()`` (also a context manager, so removal happens on error). The recording processor delegates the
  attention OUTPUT to the previous (fast) processor and only recomputes q/k for the probabilities, so the UNet's
  output is bit-identical with and without the hook; all other layers keep their processor untouched.
- ComfyUI (nodes/comfy_backend.py) uses ``COMFY_BLOCKS`` with an attn2 replace patch: it calls
  ``attention_probs(q, k)`` on the per-head q/k and ``recorder.add(...)`` with the rows' branches and items.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from ..core.types import ZoneAttention

#: diffusers module names of the five 1/32-resolution cross-attention layers (their transformer_blocks.*.attn2).
RECORDED_LAYERS: tuple[str, ...] = (
    "down_blocks.2.attentions.0",
    "down_blocks.2.attentions.1",
    "up_blocks.1.attentions.0",
    "up_blocks.1.attentions.1",
    "up_blocks.1.attentions.2",
)
#: The same layers as ComfyUI transformer-block keys (block name, block index) for attn2 patches.
COMFY_BLOCKS: tuple[tuple[str, int], ...] = (("input", 7), ("input", 8), ("output", 3), ("output", 4), ("output", 5))
#: Guidance branch names, in the order of the three-branch batch [instruction+image, ""+image, ""+zero image].
BRANCHES: tuple[str, ...] = ("text", "image", "uncond")
#: Official choice: the two empty-prompt branches.
DEFAULT_RECORD_BRANCHES: tuple[str, ...] = ("image", "uncond")


def attention_probs(q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """softmax(q k^T * scale) in float32; ``scale`` defaults to 1/sqrt(d).

    q: [B, heads, N, d] (N = h*w query positions), k: [B, heads, T, d] (T = 77 text tokens) -> [B, heads, N, T].
    """
    if q.ndim != 4 or k.ndim != 4 or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention_probs expects q [B,heads,N,d] and k [B,heads,T,d], got {tuple(q.shape)}, {tuple(k.shape)}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    return scores.softmax(dim=-1)


def guidance_rows(batch: int) -> tuple[list[str], list[int]]:
    """Row labels of the three-branch batch of ``batch`` user images: branches [text]*B+[image]*B+[uncond]*B, items."""
    return [b for b in BRANCHES for _ in range(batch)], list(range(batch)) * len(BRANCHES)


class AttentionRecorder:
    """Running mean of cross-attention probabilities per user-batch item (memory flat in steps).

    batch_size:      number of user images B (items 0..B-1).
    record_branches: branches whose rows are kept ("text", "image", "uncond"; default: the empty-prompt ones).
    """

    def __init__(self, batch_size: int, record_branches: Sequence[str] = DEFAULT_RECORD_BRANCHES) -> None:
        unknown = set(record_branches) - set(BRANCHES)
        if unknown or not record_branches:
            raise ValueError(f"record_branches must be a non-empty subset of {BRANCHES}, got {tuple(record_branches)}")
        self.batch_size = int(batch_size)
        self.record_branches = tuple(record_branches)
        self.map_hw: tuple[int, int] | None = None
        self._sum: torch.Tensor | None = None  # [B, h*w, T] float32 on the device of the first add
        self._rows = torch.zeros(self.batch_size, dtype=torch.float64)
        self.calls = 0
        self.layers: set[str] = set()

    def add(
        self,
        layer_key: Any,
        probs: torch.Tensor,
        branches: Sequence[str],
        items: Sequence[int],
        latent_hw: tuple[int, int],
    ) -> None:
        """Accumulate one layer call.

        probs:     [R, heads, N, T] attention probabilities (R batch rows, N = h*w query positions).
        branches:  the guidance branch of each row ("text" | "image" | "uncond").
        items:     which user-batch image each row belongs to (0..B-1).
        latent_hw: (h, w) of the UNet's latent input; the map size is derived from it and N (aspect kept).
        """
        rows = probs.shape[0]
        if len(branches) != rows or len(items) != rows:
            raise ValueError(f"{rows} attention rows but {len(branches)} branch labels and {len(items)} item labels")
        keep = [r for r in range(rows) if branches[r] in self.record_branches]
        self.calls += 1
        self.layers.add(layer_key)
        if not keep:
            return
        hw = _map_hw(int(probs.shape[2]), latent_hw)
        if self.map_hw is None:
            self.map_hw = hw
        elif hw != self.map_hw:
            raise ValueError(f"layer {layer_key!r} has attention at {hw}, others at {self.map_hw}; record one resolution")
        head_mean = probs[keep].float().mean(dim=1)  # [K, N, T]
        if self._sum is None:
            self._sum = torch.zeros((self.batch_size,) + tuple(head_mean.shape[1:]), dtype=torch.float32, device=head_mean.device)
        index = torch.as_tensor([items[r] for r in keep], device=head_mean.device)
        self._sum.index_add_(0, index, head_mean.to(self._sum.device))
        self._rows.index_add_(0, index.cpu(), torch.ones(len(keep), dtype=torch.float64))

    @property
    def nbytes(self) -> int:
        """Bytes held in tensors by the recorder (the running sum and counts)."""
        total = self._rows.element_size() * self._rows.nelement()
        if self._sum is not None:
            total += self._sum.element_size() * self._sum.nelement()
        return total

    def maps(self) -> torch.Tensor:
        """The averaged maps, float32 CPU [B, h, w, T]. Raises if nothing was recorded for some item."""
        if self._sum is None or self.map_hw is None:
            raise RuntimeError("no cross-attention was recorded: was the hook installed on the IP2P model?")
        if bool((self._rows == 0).any()):
            missing = [i for i in range(self.batch_size) if self._rows[i] == 0]
            raise RuntimeError(f"no cross-attention was recorded for batch items {missing}")
        mean = self._sum.cpu() / self._rows.to(torch.float32)[:, None, None]
        return mean.reshape(self.batch_size, self.map_hw[0], self.map_hw[1], -1).contiguous()

    def to_attention(self, token_counts: Sequence[int], image_size: tuple[int, int], steps: int) -> ZoneAttention:
        """Package the maps as ZoneAttention (image_size = ORIGINAL (H, W); token_counts per item, incl. start/end)."""
        return ZoneAttention(
            maps=self.maps(),
            token_counts=tuple(int(n) for n in token_counts),
            image_size=(int(image_size[0]), int(image_size[1])),
            steps=int(steps),
            branches=self.record_branches,
        )


def _map_hw(n: int, latent_hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of an attention map with ``n`` positions inside a latent of size ``latent_hw`` (same aspect)."""
    lh, lw = int(latent_hw[0]), int(latent_hw[1])
    factor = max(1, round(math.sqrt(lh * lw / n)))
    h, w = -(-lh // factor), -(-lw // factor)  # UNet downsamplers round up (stride 2, padding 1)
    if h * w != n:
        raise ValueError(f"cannot lay out {n} attention positions in a {lh}x{lw} latent")
    return h, w


class _RecordingProcessor:
    """attn2 processor: output from the previous processor, probabilities recorded on the side."""

    def __init__(self, hook: "DiffusersAttentionHook", layer_key: str, inner: Any) -> None:
        self.hook, self.layer_key, self.inner = hook, layer_key, inner

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        if encoder_hidden_states is not None and not self.hook.paused:
            self.hook._record(self.layer_key, attn, hidden_states, encoder_hidden_states)
        return self.inner(attn, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, **kwargs)


class DiffusersAttentionHook:
    """Install the recorder on a diffusers UNet's five recorded cross-attention layers; restore on remove().

    Usage: ``with DiffusersAttentionHook(unet, recorder): unet(...)`` or ``hook.install(unet, recorder)`` ...
    ``hook.remove()``. Rows are labelled by ``set_rows(branches, items)``; if never set, a batch of 3B rows is
    taken as the guidance batch [text]*B + [image]*B + [uncond]*B (``guidance_rows``). The latent size is read
    from the UNet input by a forward pre-hook.
    """

    def __init__(self, unet: Any = None, recorder: AttentionRecorder | None = None, layers: Sequence[str] = RECORDED_LAYERS) -> None:
        self.unet, self.recorder, self.layers = unet, recorder, tuple(layers)
        self._saved: list[tuple[Any, Any]] = []  # (attention module, previous processor)
        self._pre_hook = None
        self._latent_hw: tuple[int, int] | None = None
        self._rows: tuple[list[str], list[int]] | None = None
        self.paused = False  # True: the processors only delegate (e.g. while the same UNet runs another model's step)

    @property
    def installed(self) -> bool:
        return bool(self._saved)

    def install(self, unet: Any = None, recorder: AttentionRecorder | None = None) -> "DiffusersAttentionHook":
        """Put recording processors on the attn2 of every transformer block of the recorded layers."""
        if self.installed:
            raise RuntimeError("attention hook already installed")
        self.unet = unet if unet is not None else self.unet
        self.recorder = recorder if recorder is not None else self.recorder
        if self.unet is None or self.recorder is None:
            raise ValueError("DiffusersAttentionHook.install needs a UNet and a recorder")
        modules = dict(self.unet.named_modules())
        targets = []
        for layer in self.layers:
            if layer not in modules:
                raise ValueError(f"UNet has no layer {layer!r}: not an SD1.5-layout (InstructPix2Pix) UNet")
            targets += [(f"{layer}.{name}", m) for name, m in modules[layer].named_modules() if name.endswith("attn2")]
        if not targets:
            raise ValueError("no cross-attention (attn2) found in the recorded layers")
        try:
            for key, attn in targets:
                previous = attn.processor
                self._saved.append((attn, previous))
                attn.set_processor(_RecordingProcessor(self, key, previous))
            self._pre_hook = self.unet.register_forward_pre_hook(self._on_unet_call, with_kwargs=True)
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Restore the exact previous processor objects (idempotent)."""
        while self._saved:
            attn, previous = self._saved.pop()
            attn.set_processor(previous)
        if self._pre_hook is not None:
            self._pre_hook.remove()
            self._pre_hook = None

    def set_rows(self, branches: Sequence[str] | None, items: Sequence[int] | None = None) -> None:
        """Label the rows of the next UNet calls (None: the default guidance layout)."""
        self._rows = None if branches is None else (list(branches), list(items or []))

    def __enter__(self) -> "DiffusersAttentionHook":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.remove()

    def _on_unet_call(self, module, args, kwargs):
        sample = args[0] if args else kwargs.get("sample")
        self._latent_hw = (int(sample.shape[-2]), int(sample.shape[-1]))

    def _record(self, key: str, attn, hidden_states: torch.Tensor, context: torch.Tensor) -> None:
        if hidden_states.ndim == 4:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if getattr(attn, "norm_cross", None):
            context = attn.norm_encoder_hidden_states(context)
        batch = hidden_states.shape[0]
        q, k = attn.to_q(hidden_states), attn.to_k(context)
        d = k.shape[-1] // attn.heads
        q = q.view(batch, -1, attn.heads, d).transpose(1, 2)
        k = k.view(batch, -1, attn.heads, d).transpose(1, 2)
        if getattr(attn, "norm_q", None) is not None:
            q = attn.norm_q(q)
        if getattr(attn, "norm_k", None) is not None:
            k = attn.norm_k(k)
        if self._rows is not None:
            branches, items = self._rows
        elif batch % len(BRANCHES) == 0:
            branches, items = guidance_rows(batch // len(BRANCHES))
        else:
            raise RuntimeError(f"cannot label {batch} attention rows: call set_rows(branches, items) first")
        if self._latent_hw is None:
            raise RuntimeError("latent size unknown: the hook records only inside a UNet call")
        self.recorder.add(key, attention_probs(q, k), branches, items, self._latent_hw)
