"""The whole ZONE pipeline (stages 1-6) on one numpy image, for the command line and scripts (nodes do not use it).

``run_localize(original, edited, sam=None)`` is ZONE's localization for ANY editor's output: Align Edit and
Difference To Mask in place of stages 1-3, then stages 4-6 (``LocalizeRun``), all at the editor's ~1 MP scale;
only the final alpha is enlarged to the original's size and the edit pasted inside it (``any_editor.paste``).

``run_zone(image, instruction, backend, sam=None, params=ZoneParams())`` returns every stage's output and how long
each stage took (``ZoneRun``). ``backend`` is a fused-sampler backend (``backends.diffusers_backend``); ``sam`` a
segment-anything model or None. Without SAM, stage 4 is skipped: the coarse mask is used as the refined mask and
``ZoneRun.notes`` says so.

The defaults of ``ZoneParams`` are the stage modules' own (official) defaults, the same the nodes show.
Pixels where the composite's alpha is 0 (outside the final mask and the blend band) are bit-identical to the input.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .stages import attention_to_mask as _a2m
from .any_editor import edit_to_mask as _e2m
from .stages import fft_edge_smoother as _fft
from .stages import layer_composite as _lc
from .stages.action_classifier import classify
from .any_editor.align_edit import MODELS as ALIGN_MODELS
from .any_editor.align_edit import FLOW_CAP, Alignment, fit_alignment, reduce_to, work_shape
from .any_editor.paste import enlarge_mask, paste_full_res
from .stages.attention_to_mask import CoarseMask, attention_to_mask
from .any_editor.edit_to_mask import EditMask, edit_to_mask
from .stages.fft_edge_smoother import fft_edge_smooth
from .stages.fused_sampler import SamplerSettings, fused_edit
from .core.images import ZoneInputError, to_rgb
from .stages.layer_composite import CompositeResult, layer_composite
from .stages import sam_region_iou as _sri
from .stages.sam_region_iou import SEGMENT_MAX_SIDE, RefineResult, check_rule, refine_with_sam, segment_image_choice
from .core.types import DEFAULT_BETA_OTHER, DEFAULT_BETA_REMOVE, ZoneAction

ACTIONS = ("auto", "change", "add", "remove")
STAGES = ("action", "sampler", "attention_to_mask", "region_iou", "fft_edge_smoother", "layer_composite")


@dataclass(frozen=True)
class ZoneParams:
    """Every tunable of stages 1-6, with the official defaults (see each stage module for the meaning).

    Units are the nodes': action: "auto" (lexical classifier) or a manual "change" / "add" / "remove".
    beta: None = from the action (0.2 remove, 0.01 otherwise). threshold: stage 3 on D's 0..255 scale, None = the
    rule's own (54 official, 128 paper). segment_on: "auto" (original for remove, canvas otherwise), "canvas",
    "original". region_rule: "evidence", "union" or "official" (stage 4's ``rule``), min_inside / min_iou /
    min_changed in 0..1 (rule evidence's change map: Difference To Mask of the original and the canvas).
    fft_threshold: on the 0..255 scale (official 30). fft_drift: drift-aware difference (False: raw official).
    dilate / close / feather: px at 512x512. color_match: remove the canvas's colour drift from the pasted layer.
    """

    # stage 1
    action: str = "auto"
    beta: float | None = None
    beta_remove: float = DEFAULT_BETA_REMOVE
    beta_other: float = DEFAULT_BETA_OTHER
    # stage 2
    steps: int = SamplerSettings.steps
    text_scale: float = SamplerSettings.text_scale
    image_scale: float = SamplerSettings.image_scale
    scheduler: str = SamplerSettings.scheduler
    seed: int = SamplerSettings.seed
    working_size: int = SamplerSettings.working_size
    # stage 3
    threshold: float | None = None
    rule: str = "official"
    min_region: int = _a2m.MIN_REGION
    # stage 4
    segment_on: str = "auto"
    points_per_side: int = 32
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    sam_crop: bool = False
    sam_max_side: int = SEGMENT_MAX_SIDE
    region_rule: str = _sri.RULE_DEFAULT
    min_inside: float = _sri.MIN_INSIDE
    min_iou: float = _sri.MIN_IOU
    min_changed: float = _sri.MIN_CHANGED
    # stage 5
    fft_cutoff: float = _fft.CUTOFF
    fft_threshold: float = round(_fft.THRESHOLD * 255.0, 6)
    dilate: int = _fft.DILATE
    close: int = _fft.CLOSE
    fft_color: bool = True
    fft_drift: bool = True
    noise_factor: float = _fft.NOISE_FACTOR
    # stage 6
    composite: str = "official"
    band_alpha: float = _lc.BAND_ALPHA
    feather: float = _lc.FEATHER
    color_match: bool = _lc.COLOR_MATCH

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ZoneInputError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.composite not in _lc.MODES:
            raise ZoneInputError(f"composite must be one of {', '.join(_lc.MODES)}, got {self.composite!r}")
        if self.rule not in _a2m.RULES:
            raise ZoneInputError(f"rule must be one of {', '.join(_a2m.RULES)}, got {self.rule!r}")
        segment_image_choice(self.segment_on)
        check_rule(self.region_rule, self.min_inside, self.min_iou, self.min_changed)
        _fft.check_noise_factor(self.noise_factor)
        self.sampler_settings(None)  # validates steps, scales, beta, scheduler, working size before any model runs

    def sampler_settings(self, action: ZoneAction | None) -> SamplerSettings:
        """Stage 2 settings; beta from the action unless set explicitly (``beta_other`` without an action)."""
        beta = self.beta if self.beta is not None else (action.beta if action is not None else self.beta_other)
        return SamplerSettings(
            steps=self.steps, text_scale=self.text_scale, image_scale=self.image_scale, beta=beta, scheduler=self.scheduler, seed=self.seed,
            working_size=self.working_size,
        )


@dataclass
class ZoneRun:
    """Everything one run produced. Images float32 [H, W, 3] in 0..1 at the ORIGINAL size, masks bool [H, W].

    result: the edited image; canvas: the sampler's whole-image edit; coarse / refined / final: stage 3 / 4 / 5
    masks; composite: stage 6 (image, layer, alpha); refine: stage 4's result (None without SAM); timings: seconds
    per stage (``STAGES``); notes: what the user should know (fallbacks, skipped stages).
    """

    result: np.ndarray
    canvas: np.ndarray
    action: ZoneAction
    coarse: CoarseMask
    refined: np.ndarray
    final: np.ndarray
    composite: CompositeResult
    refine: RefineResult | None
    working_size: tuple[int, int]
    settings: SamplerSettings
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


NO_SAM_NOTE = "no SAM checkpoint given: stage 4 (Region-IoU) skipped, the coarse attention mask is the refined mask"


def _localize(original: np.ndarray, model_input: np.ndarray, canvas: np.ndarray, coarse: np.ndarray, sam: Any,
              params: ZoneParams, action: ZoneAction | None, timings: dict[str, float], notes: list[str],
              no_sam_note: str, check_cancel: Callable[[], None] | None = None, changed: np.ndarray | None = None
              ) -> tuple[RefineResult | None, np.ndarray, np.ndarray, CompositeResult]:
    """Stages 4-6 on a coarse mask: Region-IoU (skipped without SAM: the coarse mask is the refined one), FFT edge
    smoother, composite. ``changed``: rule evidence's change map (None: Difference To Mask of ``model_input`` and
    ``canvas``, computed here when the rule needs it). Appends to ``timings`` and ``notes``. Returns (refine,
    refined, final, composite)."""
    t = time.perf_counter()
    refine = None
    if sam is None:
        refined = coarse
        notes.append(no_sam_note)
    else:
        source = model_input if segment_image_choice(params.segment_on, action) == "original" else canvas
        if params.region_rule == "evidence" and changed is None:
            changed = edit_to_mask(model_input, canvas).mask
        refine = refine_with_sam(
            sam, source, coarse, points_per_side=params.points_per_side, pred_iou_thresh=params.pred_iou_thresh,
            stability_score_thresh=params.stability_score_thresh, box_nms_thresh=params.box_nms_thresh,
            crop=params.sam_crop, max_side=params.sam_max_side, rule=params.region_rule,
            min_inside=params.min_inside, min_iou=params.min_iou, check_cancel=check_cancel,
            changed=changed if params.region_rule == "evidence" else None, min_changed=params.min_changed,
        )
        refined = refine.mask
        if refine.message:
            notes.append(f"region-IoU: {refine.message}")
    timings["region_iou"] = time.perf_counter() - t

    t = time.perf_counter()
    final = fft_edge_smooth(original, canvas, refined, cutoff=params.fft_cutoff, threshold=params.fft_threshold / 255.0,
                            dilate=params.dilate, close=params.close, color=params.fft_color, drift=params.fft_drift,
                            noise_factor=params.noise_factor)
    timings["fft_edge_smoother"] = time.perf_counter() - t

    t = time.perf_counter()
    composite = layer_composite(original, canvas, final, refined, mode=params.composite, band_alpha=params.band_alpha,
                                feather=params.feather, color_match=params.color_match)
    if composite.note:
        notes.append(f"composite: {composite.note}")
    timings["layer_composite"] = time.perf_counter() - t
    return refine, np.asarray(refined, bool), np.asarray(final, bool), composite


def run_zone(
    image: np.ndarray,
    instruction: str,
    backend: Any,
    *,
    sam: Any = None,
    params: ZoneParams = ZoneParams(),
    progress: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> ZoneRun:
    """Run stages 1-6 on ``image`` ([H, W], [H, W, 1|3|4], uint8 or float 0..1; alpha ignored).

    ``progress(done, total)`` is called after every sampler step; ``check_cancel()`` before every step.
    Raises ZoneInputError for bad inputs or parameters.
    """
    original = to_rgb(image, "image", clip=False)  # kept exactly: the composite copies it outside the mask
    model_input = to_rgb(original)  # clipped to 0..1 for the models (the same array when already in range)
    size = original.shape[:2]
    timings: dict[str, float] = {}
    notes: list[str] = []

    t = time.perf_counter()
    action = classify(instruction, mode=params.action, beta_remove=params.beta_remove, beta_other=params.beta_other)
    timings["action"] = time.perf_counter() - t

    t = time.perf_counter()
    settings = params.sampler_settings(action)
    fused = fused_edit(backend, model_input, instruction, settings, progress=progress, check_cancel=check_cancel)
    canvas = fused.canvas[0]
    timings["sampler"] = time.perf_counter() - t

    t = time.perf_counter()
    attention = fused.attention
    coarse = attention_to_mask(attention.maps[0], attention.token_counts[0], size, threshold=params.threshold,
                               rule=params.rule, min_region=params.min_region)
    if coarse.note:
        notes.append(f"coarse mask: {coarse.note}")
    timings["attention_to_mask"] = time.perf_counter() - t

    refine, refined, final, composite = _localize(original, model_input, canvas, coarse.mask, sam, params, action,
                                                  timings, notes, NO_SAM_NOTE, check_cancel)
    return ZoneRun(
        result=composite.image, canvas=canvas, action=action, coarse=coarse, refined=refined, final=final,
        composite=composite, refine=refine, working_size=tuple(fused.working_size),
        settings=settings, timings=timings, notes=notes,
    )


# ------------------------------------------------------------------------------------------------ any editor
LOCALIZE_STAGES = ("align_edit", "edit_to_mask", "region_iou", "fft_edge_smoother", "layer_composite")
NO_SAM_LOCALIZE_NOTE = ("no SAM checkpoint given: stage 4 (Region-IoU) skipped, the difference mask is the refined "
                        "mask")


@dataclass(frozen=True)
class LocalizeParams:
    """The any-editor steps before stage 4 (ZONE Align Edit, ZONE Difference To Mask), node defaults.

    align_model: translation / similarity / affine / homography. flow_cap: editor px, 0 = no residual flow.
    diff_threshold: Delta E, None = automatic. diff_min_region / diff_close: px at 512x512.
    """

    align_model: str = "affine"
    flow_cap: float = FLOW_CAP
    diff_threshold: float | None = None
    diff_min_region: int = _e2m.MIN_REGION
    diff_close: int = _e2m.CLOSE

    def __post_init__(self) -> None:
        if self.align_model not in ALIGN_MODELS:
            raise ZoneInputError(f"align model must be one of {', '.join(ALIGN_MODELS)}, got {self.align_model!r}")
        if not (math.isfinite(self.flow_cap) and self.flow_cap >= 0):
            raise ZoneInputError(f"flow cap must be >= 0 px (0 = off), got {self.flow_cap}")
        if self.diff_threshold is not None and not (math.isfinite(self.diff_threshold) and self.diff_threshold >= 0):
            raise ZoneInputError(f"difference threshold must be a Delta E >= 0, got {self.diff_threshold}")
        if self.diff_min_region < 0 or self.diff_close < 0:
            raise ZoneInputError("difference min-region and close must be >= 0")


@dataclass
class LocalizeRun:
    """One any-editor localization. ``result`` and ``alpha`` at the ORIGINAL size; the alignment, difference and
    masks at the WORKING size (about the editor's pixel count, ``alignment.work_shape``), where the chain runs.

    result: the original with the edit pasted in (float32 [H, W, 3]); alpha: float32 [H, W], the paste opacity
    (0 = the original's pixel, bit for bit); alignment: ZONE Align Edit's result (aligned image, valid area, maps,
    report); difference: ZONE Difference To Mask's (coarse mask, threshold, colour drift); refined / final: stage
    4 / 5 masks; composite: stage 6 at the working size; refine: stage 4's result (None without SAM); timings per
    ``LOCALIZE_STAGES``; notes: fallbacks; pasted: False when nothing was pasted (a restyle, no match).
    """

    result: np.ndarray
    alpha: np.ndarray
    alignment: Alignment
    difference: EditMask
    refined: np.ndarray
    final: np.ndarray
    composite: CompositeResult
    refine: RefineResult | None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    pasted: bool = True

    def full_size(self, mask: np.ndarray) -> np.ndarray:
        """A working-size bool mask enlarged to the original's size."""
        return enlarge_mask(mask, self.result.shape[:2])


def run_localize(
    original: np.ndarray,
    edited: np.ndarray,
    *,
    sam: Any = None,
    params: ZoneParams = ZoneParams(),
    localize: LocalizeParams = LocalizeParams(),
    check_cancel: Callable[[], None] | None = None,
) -> LocalizeRun:
    """ZONE's localization for any editor's output, at full resolution: align ``edited`` (any size, ~1 MP) to
    ``original`` (any size) at the editor's scale, difference mask and stages 4-6 there (``params``: their
    settings; ``segment_on`` "auto" segments the aligned edit; rule evidence's change map is the difference mask),
    then the final alpha enlarged to the original's size and the edit resampled and pasted inside it only. Nothing is pasted (``pasted`` False, a note says why)
    when the pictures do not match or the editor changed most of the picture (a restyle)."""
    orig = to_rgb(original, "original", clip=False)  # kept exactly: the paste copies it outside the alpha
    model_input = to_rgb(orig)
    timings: dict[str, float] = {}
    notes: list[str] = []

    t = time.perf_counter()
    edited = to_rgb(edited, "edited")
    work = reduce_to(model_input, work_shape(model_input.shape[:2], edited.shape[:2]))  # the editor's scale
    alignment = fit_alignment(model_input, edited, model=localize.align_model, flow_cap=localize.flow_cap, work=work)
    if alignment.fell_back:
        notes.append(f"align: {alignment.note}")
    timings["align_edit"] = time.perf_counter() - t

    t = time.perf_counter()
    difference = edit_to_mask(work, alignment.image, alignment.valid, threshold=localize.diff_threshold,
                              min_region=localize.diff_min_region, close=localize.diff_close)
    if difference.note:
        notes.append(f"difference mask: {difference.note}")
    timings["edit_to_mask"] = time.perf_counter() - t

    restyle = ""
    if alignment.restyle:
        restyle = (f"the editor re-rendered the whole scene (detail agreement {alignment.detail:.2f}): a restyle, "
                   "not a local edit: nothing pasted")
    elif alignment.mismatch:
        restyle = "the edit does not match the original (a restyle of the whole scene?): nothing pasted"
    elif difference.restyle:
        restyle = (f"the editor changed {100 * difference.share:.0f} % of the picture (a restyle, not a local edit): "
                   "nothing pasted; use the editor's output as it is, or raise the difference threshold")
    if restyle:
        notes.append(restyle)
        empty = np.zeros(work.shape[:2], bool)
        composite = layer_composite(work, alignment.image, empty, empty)
        return LocalizeRun(orig.copy(), np.zeros(orig.shape[:2], np.float32), alignment, difference, empty, empty,
                           composite, None, timings, notes, pasted=False)

    refine, refined, final, composite = _localize(work, work, alignment.image, difference.mask, sam, params,
                                                  None, timings, notes, NO_SAM_LOCALIZE_NOTE, check_cancel,
                                                  changed=difference.mask)
    t = time.perf_counter()
    result, alpha = paste_full_res(orig, edited, alignment, composite.alpha, composite.drift)
    timings["layer_composite"] += time.perf_counter() - t
    return LocalizeRun(result, alpha, alignment, difference, refined, final, composite, refine, timings, notes)
