"""What flows between the stages: plain dataclasses, no ComfyUI types.

``ZoneAction`` is produced by stage 1 and read by stages 2 (beta) and 4 (which image SAM segments).
``ZoneAttention`` is produced by stage 2 and read by stage 3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import torch


class Action(IntEnum):
    """The three edit kinds of the paper, with the paper's class indices."""

    CHANGE = 0
    ADD = 1
    REMOVE = 2

    @classmethod
    def parse(cls, value: "Action | int | str") -> "Action":
        """Accept an Action, its index, or its name in any case ("remove")."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(f"unknown action {value!r}; expected one of change, add, remove") from None
        return cls(int(value))


#: Official fusion weights (Li et al., CVPR 2024): beta = 0.2 for remove, 0.01 otherwise.
DEFAULT_BETA_REMOVE = 0.2
DEFAULT_BETA_OTHER = 0.01


def default_beta(action: Action, beta_remove: float = DEFAULT_BETA_REMOVE, beta_other: float = DEFAULT_BETA_OTHER) -> float:
    """Fusion weight for ``action``: ``beta_remove`` for REMOVE, ``beta_other`` for CHANGE and ADD."""
    return beta_remove if Action.parse(action) is Action.REMOVE else beta_other


@dataclass(frozen=True)
class ZoneAction:
    """The classified instruction (ComfyUI type ``ZONE_ACTION``).

    label:          the decided action.
    probabilities:  (p_change, p_add, p_remove), each in 0..1, summing to 1.
    beta:           fusion weight the sampler uses (Li et al., CVPR 2024).
    decided_by:     which classifier decided: "manual", "lexical", "clip-mlp", or an encoder name.
    instruction:    the instruction text that was classified.
    """

    label: Action
    probabilities: tuple[float, float, float]
    beta: float
    decided_by: str
    instruction: str = ""

    @property
    def segments_original(self) -> bool:
        """SAM segments the ORIGINAL image for remove, the canvas otherwise (Li et al., CVPR 2024)."""
        return self.label is Action.REMOVE


@dataclass(frozen=True)
class ZoneAttention:
    """Averaged cross-attention of the IP2P UNet (ComfyUI type ``ZONE_ATTENTION``).

    maps:         float32 CPU tensor [B, h, w, T] (T = 77 text tokens): softmax(QK^T/sqrt(d)) averaged over heads,
                  recorded batch branches, the five 1/32-resolution cross-attention layers and all steps.
                  The maps cover the WHOLE original image (the sampler resizes, it never pads), so stage 3 maps
                  them to the original frame by a plain resize.
    token_counts: per batch item, L = number of instruction tokens INCLUDING the start and end tokens.
    image_size:   (H, W) of the ORIGINAL image, in pixels.
    steps:        number of denoising steps that were averaged.
    branches:     which guidance branches were averaged (official: ("image", "uncond"), the empty-prompt ones).
    """

    maps: torch.Tensor
    token_counts: tuple[int, ...]
    image_size: tuple[int, int]
    steps: int = 0
    branches: tuple[str, ...] = field(default=("image", "uncond"))

    def __post_init__(self) -> None:
        if self.maps.ndim != 4:
            raise ValueError(f"ZoneAttention.maps must be [B, h, w, tokens], got shape {tuple(self.maps.shape)}")
        if len(self.token_counts) != self.maps.shape[0]:
            raise ValueError(
                f"ZoneAttention has {self.maps.shape[0]} maps but {len(self.token_counts)} token counts"
            )
        for n in self.token_counts:
            if not 2 <= n <= self.maps.shape[-1]:
                raise ValueError(f"token count {n} outside 2..{self.maps.shape[-1]} (start + end token at least)")

    @property
    def batch_size(self) -> int:
        return int(self.maps.shape[0])
