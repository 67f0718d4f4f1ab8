"""One source of truth for every tunable parameter: name, type, default, range, choices and tooltip.

The nodes' ``INPUT_TYPES`` are built from these specs (``Param.widget()`` gives the ComfyUI declaration), and so
are the command line's flags (``Param.flag_type`` / ``Param.check``); ``nodes/widgets.py`` checks widget values with
``check_value``, the CLI checks its flags with the same function before any model loads. A range is therefore
written once, here; the defaults come from the stage modules (their official values).

    STEPS.widget()            -> ("INT", {"default": 20, "min": 1, "max": 200, "tooltip": ...})
    STEPS.check(300, "--steps")  -> ZoneInputError("--steps must be a finite number from 1 to 200, got 300")
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping

from .any_editor import align_edit as _align
from .any_editor import edit_to_mask as _e2m
from .core.images import ZoneInputError, check_number, range_text
from .core.types import DEFAULT_BETA_OTHER, DEFAULT_BETA_REMOVE
from .stages import attention_to_mask as _a2m
from .stages import fft_edge_smoother as _fft
from .stages import fused_sampler as _fs
from .stages import layer_composite as _lc
from .stages import sam_region_iou as _sri

KINDS = ("FLOAT", "INT", "BOOLEAN", "STRING", "COMBO")


def check_value(kind: Any, options: Mapping[str, Any], value: Any, where: str) -> Any:
    """``value`` checked against a declaration (``kind``: FLOAT / INT / BOOLEAN / STRING or a list of choices;
    ``options``: min / max). Raises ZoneInputError naming ``where``; returns the value. Numbers given as text,
    None and arrays are refused (ComfyUI never sends them; scripts that do get told which input)."""
    if value is None:
        raise ZoneInputError(f"{where} needs a value, got None")
    if kind in ("FLOAT", "INT"):
        if isinstance(value, (bool, str, bytes)) or not isinstance(value, numbers.Real):
            shown = f"the text {value!r}" if isinstance(value, str) else repr(value) if isinstance(value, bool) else \
                f"a {type(value).__name__}"
            raise ZoneInputError(f"{where} must be a {'number' if kind == 'FLOAT' else 'whole number'}, got {shown}")
        if kind == "INT" and not (isinstance(value, numbers.Integral) or float(value).is_integer()):
            raise ZoneInputError(f"{where} must be a whole number, got {value!r}")
        low, high = options.get("min", -math.inf), options.get("max", math.inf)
        if isinstance(value, numbers.Integral):  # compared exactly: 2**64 - 1 is past float precision
            if not low <= int(value) <= high:
                raise ZoneInputError(f"{where} must be a finite number{range_text(low, high)}, got {value!r}")
        else:
            check_number(value, where, low, high)
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ZoneInputError(f"{where} must be true or false, got {value!r}")
    elif kind == "STRING":
        if not isinstance(value, str):
            raise ZoneInputError(f"{where} must be text, got {type(value).__name__}")
    elif isinstance(kind, (list, tuple)) and kind:
        if not isinstance(value, str) or value not in kind:
            raise ZoneInputError(f"{where} must be one of {', '.join(map(str, kind))}; got {value!r}")
    return value


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` FLOAT / INT / BOOLEAN / STRING / COMBO, ``default``, ``min`` / ``max`` (numbers),
    ``choices`` (COMBO), ``tooltip``; ``extra``: further widget options (step, round, multiline...)."""

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    tooltip: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == "COMBO" and self.default not in self.choices:
            raise ValueError(f"{self.name}: default {self.default!r} is not a choice")
        if self.kind in ("FLOAT", "INT"):
            check_value(self.kind, self.bounds, self.default, f"{self.name} (default)")

    @property
    def bounds(self) -> dict[str, float]:
        return {k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    def widget(self, **override: Any) -> tuple[Any, dict[str, Any]]:
        """The ComfyUI declaration ``(type or choices, options)``; ``override`` replaces options (e.g. a tooltip)."""
        kind: Any = list(self.choices) if self.kind == "COMBO" else self.kind
        options: dict[str, Any] = {"default": self.default, **self.bounds, **dict(self.extra)}
        if self.tooltip:
            options["tooltip"] = self.tooltip
        options.update(override)
        return kind, options

    def check(self, value: Any, where: str | None = None) -> Any:
        """``value`` if it fits this spec, else ZoneInputError naming ``where`` (default: the parameter's name)."""
        kind = list(self.choices) if self.kind == "COMBO" else self.kind
        return check_value(kind, self.bounds, value, where or self.name)

    @property
    def flag_type(self) -> type:
        """The Python type a command-line flag is parsed with (the range is checked after, by ``check``)."""
        return {"FLOAT": float, "INT": int, "BOOLEAN": bool}.get(self.kind, str)


def _f(name: str, default: float, low: float, high: float, step: float, tooltip: str, **extra: Any) -> Param:
    return Param(name, "FLOAT", default, low, high, tooltip=tooltip, extra={"step": step, **extra})


def _i(name: str, default: int, low: int, high: int, tooltip: str = "", **extra: Any) -> Param:
    return Param(name, "INT", default, low, high, tooltip=tooltip, extra=extra)


def _c(name: str, choices: tuple[str, ...], default: str, tooltip: str) -> Param:
    return Param(name, "COMBO", default, choices=tuple(choices), tooltip=tooltip)


def _b(name: str, default: bool, tooltip: str) -> Param:
    return Param(name, "BOOLEAN", default, tooltip=tooltip)


# ------------------------------------------------------------------------------------------------ stage 1
ACTION_MODE = _c("mode", ("auto", "change", "add", "remove"), "auto",
                 "auto: classify (CLIP head if CLIP is connected, else keywords). Others: force the label.")
BETA_REMOVE = _f("beta_remove", DEFAULT_BETA_REMOVE, 0.0, 10.0, 0.01, "MagicBrush fusion weight for remove (official 0.2).")
BETA_OTHER = _f("beta_other", DEFAULT_BETA_OTHER, 0.0, 10.0, 0.01,
                "MagicBrush fusion weight for change and add (official 0.01).")
# ------------------------------------------------------------------------------------------------ stage 2
SEED = _i("seed", _fs.SamplerSettings.seed, 0, 0xFFFFFFFFFFFFFFFF, (
    "Seed of the starting noise (shared by IP2P and MagicBrush): the same seed, settings and image "
    "give the same edit; another seed gives another variant of the edit."), control_after_generate=True)
STEPS = _i("steps", _fs.SamplerSettings.steps, 1, 200, "Denoising steps (official: 20).")
TEXT_SCALE = _f("text_scale", _fs.SamplerSettings.text_scale, 0.0, 30.0, 0.1, "Instruction guidance (official 7.5).")
IMAGE_SCALE = _f("image_scale", _fs.SamplerSettings.image_scale, 0.0, 10.0, 0.05,
                 "Image guidance (official 1.5); higher = closer to the input.")
SAMPLER = _c("sampler", _fs.SCHEDULERS, _fs.SamplerSettings.scheduler, "dpmpp_2m = DPM-Solver++ 2M (official).")
WORKING_SIZE = _i("working_size", _fs.SamplerSettings.working_size, _fs.SIZE_MULTIPLE, 2048, (
    "Longest side the models run at (each side a multiple of 64, aspect kept). IP2P was trained at 512."),
    step=_fs.SIZE_MULTIPLE)
BETA = _f("beta", DEFAULT_BETA_OTHER, 0.0, 10.0, 0.01, (
    "Fusion weight of MagicBrush when no action is connected (official: 0.01 change / add, 0.2 "
    "remove). With an action connected, the action's beta is used."))
# ------------------------------------------------------------------------------------------------ stage 3
A2M_RULE = _c("rule", _a2m.RULES, "official",
              "official: D <= official_threshold; paper: first - last < paper_threshold.")
OFFICIAL_THRESHOLD = _f("official_threshold", _a2m.OFFICIAL_THRESHOLD, 0.0, 255.0, 1.0, (
    f"Used by the official rule, on the 0..255 scale of D (official {_a2m.OFFICIAL_THRESHOLD:g}). "
    "Higher = larger mask."))
PAPER_THRESHOLD = _f("paper_threshold", _a2m.PAPER_THRESHOLD, 0.0, 255.0, 1.0, (
    f"Used by the paper rule, on the 0..255 scale (paper {_a2m.PAPER_THRESHOLD:g}). Higher = larger mask."))
A2M_MIN_REGION = _i("min_region", _a2m.MIN_REGION, 0, 1 << 20, (
    "Drop connected regions smaller than this many pixels of a 512x512 image (scaled with the image area)."))
# ------------------------------------------------------------------------------------------------ any editor
ALIGN_MODEL = _c("model", _align.MODELS, "affine", (
    "translation: shift only; similarity: + zoom and rotation; affine: + uneven stretch (an "
    "aspect change, the usual editor bucket resize); homography: + perspective."))
FLOW_CAP = _f("flow_cap", _align.FLOW_CAP, 0.0, 32.0, 0.5, (
    "Dense residual flow (DIS, confidence-weighted, smoothed) for the uneven shifts left after the "
    "fit, each vector capped at this many EDITOR px so that it cannot move the edit far; 0 = off."))
THRESHOLD_MODES = ("automatic (noise floor)", "manual")
DIFF_THRESHOLD_MODE = _c("threshold_mode", THRESHOLD_MODES, THRESHOLD_MODES[0], (
    "automatic: from the noise floor (3 x the median Delta E of the image, at least 8); manual: the threshold below."))
DIFF_THRESHOLD = _f("threshold", 12.0, 0.0, 100.0, 0.5, (
    "manual mode: colour difference (CIELAB Delta E; 2.3 is just noticeable) that counts as an edit. "
    "Lower = larger mask."))
DIFF_MIN_REGION = _i("min_region", _e2m.MIN_REGION, 0, 1 << 20, (
    "Drop changed regions smaller than this many pixels of a 512x512 image (scaled with the area)."))
DIFF_CLOSE = _i("close", _e2m.CLOSE, 0, 255, (
    "Join fragments closer than about this many pixels at 512x512 (scaled with the size; 0 = off)."))
# ------------------------------------------------------------------------------------------------ stage 4
_AMG = _sri.AMG_DEFAULTS
SEGMENT_ON = _c("segment_on", ("auto", "canvas", "original"), "auto",
                "auto: the original for remove, the canvas for change/add (canvas without an action).")
POINTS_PER_SIDE = _i("points_per_side", _AMG["points_per_side"], 1, 128,
                     "Grid of point prompts per side (official 32). Fewer is faster, coarser.")
PRED_IOU_THRESH = _f("pred_iou_thresh", _AMG["pred_iou_thresh"], 0.0, 1.0, 0.01,
                     "Drop segments whose predicted quality is below this (official 0.88).")
STABILITY_SCORE_THRESH = _f("stability_score_thresh", _AMG["stability_score_thresh"], 0.0, 1.0, 0.01,
                            "Drop unstable segments (official 0.95).")
BOX_NMS_THRESH = _f("box_nms_thresh", _AMG["box_nms_thresh"], 0.0, 1.0, 0.01,
                    "Box IoU above which duplicate segments are removed (official 0.7).")
POINTS_PER_BATCH = _i("points_per_batch", _AMG["points_per_batch"], 1, 1024,
                      "Points run at once; lower it if memory runs out on large images.")
MIN_MASK_REGION_AREA = _i("min_mask_region_area", _AMG["min_mask_region_area"], 0, 1 << 20,
                          "Remove islands and holes smaller than this many pixels (0: off, official).")
CROP_N_LAYERS = _i("crop_n_layers", _AMG["crop_n_layers"], 0, 3,
                   "Also segment zoomed-in crops (0: off, official). Slower, finds small parts.")
CROP_TO_REGION = _b("crop_to_region", False, "Faster: segment only the coarse mask's box plus a margin.")
CROP_MARGIN = _f("crop_margin", 0.5, 0.0, 4.0, 0.05, "Margin around the coarse box, as a fraction of its longer side (crop mode).")
MAX_SIDE = _i("max_side", _sri.SEGMENT_MAX_SIDE, 0, 8192, (
    "SAM segments a copy at most this long (its own input is 1024); only the chosen "
    "segment is upscaled. 0: full resolution (slow, GBs of memory on large images)."), step=64)
REGION_RULE = _c("rule", _sri.RULES, _sri.RULE_DEFAULT, (
    "evidence: union, plus the segments touching the coarse mask that the edit mostly changed (a "
    "small or thin object comes back whole); union: the best segment plus the segments lying mostly "
    "inside the coarse mask, while the IoU improves (an object split into parts comes back whole); "
    "official: the single best segment."))
MIN_INSIDE = _f("min_inside", _sri.MIN_INSIDE, 0.0, 1.0, 0.05,
                "union: a segment may join when at least this fraction of it lies inside the coarse mask.")
MIN_IOU = _f("min_iou", _sri.MIN_IOU, 0.0, 1.0, 0.05, (
    "If the chosen region's IoU with the coarse mask is below this, the coarse mask is added to it "
    "(the edit is not dropped). 0: off (official)."))
MIN_CHANGED = _f("min_changed", _sri.MIN_CHANGED, 0.0, 1.0, 0.05,
                 "evidence: a segment touching the coarse mask joins when at least this fraction of it changed.")
# ------------------------------------------------------------------------------------------------ stage 5
FFT_THRESHOLD = _f("threshold", round(_fft.THRESHOLD * 255), 0.0, 255.0, 1.0,
                   "Difference (0..255 scale) that counts as changed.")
FFT_CUTOFF = _f("cutoff", _fft.CUTOFF, 0.01, 0.71, 0.005, (
    "Low-pass radius in cycles/pixel (official 200 bins at 512 = 0.39; 0.71 keeps all)."), round=False)
FFT_DILATE = _i("dilate", _fft.DILATE, 0, 256, "Search band around the refined mask, pixels at 512x512.")
FFT_CLOSE = _i("close", _fft.CLOSE, 0, 255, "Morphological close size, pixels at 512x512 (0 = off).")
SCALE_WITH_SIZE = _b("scale_with_size", True, "Scale dilate and close with sqrt(H*W)/512; off = official pixel sizes at any size.")
FFT_DIFFERENCE = _c("difference", ("color", "grey (official)"), "color", (
    "color: a pixel changed if any RGB channel changed (catches 'make it green' at equal brightness); "
    "grey: the official grey-level difference."))
DRIFT_CHOICES = ("remove", "off (official)")
FFT_DRIFT = _c("drift", DRIFT_CHOICES, DRIFT_CHOICES[0], (
    "remove: fit the canvas's global colour drift (per-channel gain + offset) outside the dilated "
    "mask and remove it before the difference; off: the raw official difference."))
NOISE_FACTOR = _f("noise_factor", _fft.NOISE_FACTOR, 0.0, 20.0, 0.5,
                  "drift remove: the threshold is at least this many times the noise measured outside the mask.")
# ------------------------------------------------------------------------------------------------ stage 6
COMPOSITE_MODE = _c("mode", _lc.MODES, "official",
                    "official: the paper's blend band; feather: soft edge around the final mask.")
BAND_ALPHA = _f("band_alpha", _lc.BAND_ALPHA, 0.0, 1.0, 0.05, "official: canvas weight in the band (0.6).")
FEATHER = _f("feather", _lc.FEATHER, 0.0, 512.0, 0.5,
             "feather: half-width of the soft edge in pixels at 512x512 (scaled with the image).")
COLOR_MATCH = _b("color_match", _lc.COLOR_MATCH, (
    "Remove the canvas's global colour cast (per-channel gain + offset measured outside the layer) "
    "from the pasted layer; off: paste the canvas as it is (official)."))

#: Command-line flag -> (the spec it takes its type and range from, whether None (= "automatic") is allowed).
CLI_FLAGS: dict[str, tuple[Param, bool]] = {
    "--beta": (BETA, True),
    "--steps": (STEPS, False),
    "--text-scale": (TEXT_SCALE, False),
    "--image-scale": (IMAGE_SCALE, False),
    "--scheduler": (SAMPLER, False),
    "--seed": (SEED, False),
    "--working-size": (WORKING_SIZE, False),
    "--threshold": (OFFICIAL_THRESHOLD, True),
    "--rule": (A2M_RULE, False),
    "--min-region": (A2M_MIN_REGION, False),
    "--segment-on": (SEGMENT_ON, False),
    "--points-per-side": (POINTS_PER_SIDE, False),
    "--pred-iou-thresh": (PRED_IOU_THRESH, False),
    "--stability-score-thresh": (STABILITY_SCORE_THRESH, False),
    "--box-nms-thresh": (BOX_NMS_THRESH, False),
    "--sam-max-side": (MAX_SIDE, False),
    "--region-rule": (REGION_RULE, False),
    "--min-inside": (MIN_INSIDE, False),
    "--min-iou": (MIN_IOU, False),
    "--min-changed": (MIN_CHANGED, False),
    "--fft-cutoff": (FFT_CUTOFF, False),
    "--fft-threshold": (FFT_THRESHOLD, False),
    "--dilate": (FFT_DILATE, False),
    "--close": (FFT_CLOSE, False),
    "--noise-factor": (NOISE_FACTOR, False),
    "--composite": (COMPOSITE_MODE, False),
    "--band-alpha": (BAND_ALPHA, False),
    "--feather": (FEATHER, False),
    "--align-model": (ALIGN_MODEL, False),
    "--flow-cap": (FLOW_CAP, False),
    "--diff-threshold": (DIFF_THRESHOLD, True),
    "--diff-min-region": (DIFF_MIN_REGION, False),
    "--diff-close": (DIFF_CLOSE, False),
}


def flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def check_flags(values: Mapping[str, Any]) -> None:
    """Check parsed command-line values (argparse dest -> value) against their specs (``CLI_FLAGS``); ZoneInputError
    naming the flag, e.g. "--dilate must be a finite number from 0 to 256, got -1"."""
    for flag, (spec, optional) in CLI_FLAGS.items():
        dest = flag_dest(flag)
        if dest not in values or (optional and values[dest] is None):
            continue
        spec.check(values[dest], flag)
