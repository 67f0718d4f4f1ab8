"""Mutation score: do the tests catch one-line bugs in the method's formulas, the nodes' widget wiring, the shipped
workflows, the algorithms' boundaries and the batch loops?

Each mutation below replaces ONE fragment of ONE file (a formula, a comparison, an argument a node or the pipeline
passes on) by a plausible wrong version; a workflow mutation may edit its UI and API files together (``also``), so
the files stay valid and agree and only the semantics tables can see it. Each is applied alone to a temporary COPY of the repository (the working
tree is never touched), and the tests mapped to it are run there (`python -m pytest -x`, in the copy, so the copy's
`zone_ops` is imported: tests/conftest.py checks it). A mutation is

- caught:   the tests fail with it;
- survived: the tests still pass: a bug of that kind would go unnoticed;
- stale:    its original fragment is no longer in the file (or is there more than once): update the list;
- error:    the mutated file does not compile, or the mapped tests could not be collected (bad test id);
- timeout:  the tests ran past --timeout (an endless loop, or an overloaded machine: rerun it with -k ID).

Before any mutation, the union of the mapped tests must pass on the unmutated copy (otherwise nothing can be
caught honestly and the script stops). Usage:

    python benchmarks/mutation_score.py -j 2            # all (each 20-150 s on 2 shared, busy cores: 1-2 h)
    python benchmarks/mutation_score.py -k fft -k node  # ids containing any of these strings
    python benchmarks/mutation_score.py --kind workflow --kind boundary --kind batch  # kinds (KINDS)
    python benchmarks/mutation_score.py --list          # the list, with each fragment's state (found / stale)

Prints one line per mutation and a total; exit status 1 if any mutation survived or was stale/error.
ComfyUI is not needed (run it without ZONE_COMFYUI_PATH: every mapped test runs on CPU without ComfyUI).
To keep the run short each mutation runs only its mapped tests (`tests`), chosen to be the fast tests of the
stage and node it lives in; after a merge, fix fragments reported stale and map new tests here.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # path relative to the repository root
    original: str  # an exact fragment, found exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository root
    kind: str = "formula"  # one of KINDS
    also: tuple[tuple[str, str, str], ...] = ()  # more (file, original, mutated) edits applied with this one

    @property
    def edits(self) -> tuple[tuple[str, str, str], ...]:
        return ((self.file, self.original, self.mutated),) + self.also


#: formula: the method's maths; wiring: a node / pipeline argument; workflow: a shipped workflow's link or value
#: (often in BOTH its files, so the UI / API twin check cannot see it); boundary: a comparison, a rounding, an
#: order or a pass at the edge of an algorithm; batch: a batch item read at the wrong index.
KINDS = ("formula", "wiring", "workflow", "boundary", "batch")


T = "tests/"
AC, TY = "zone_ops/stages/action_classifier.py", "zone_ops/core/types.py"
FS, SS = "zone_ops/stages/fused_sampler.py", "zone_ops/sampling/sigma_samplers.py"
A2M, SAM, FFT, LC = ("zone_ops/stages/attention_to_mask.py", "zone_ops/stages/sam_region_iou.py", "zone_ops/stages/fft_edge_smoother.py",
                     "zone_ops/stages/layer_composite.py")
IMG, PIPE = "zone_ops/core/images.py", "zone_ops/pipeline.py"
DRIFT, ALIGN, E2M = "zone_ops/core/color_drift.py", "zone_ops/any_editor/align_edit.py", "zone_ops/any_editor/edit_to_mask.py"
N_ALIGN, N_E2M, N_WID = "nodes/align_edit.py", "nodes/edit_to_mask.py", "nodes/widgets.py"
N_AC, N_FS, N_A2M = "nodes/action_classifier.py", "nodes/fused_sampler.py", "nodes/attention_to_mask.py"
N_SAM, N_FFT, N_LC = "nodes/sam_region_iou.py", "nodes/fft_edge_smoother.py", "nodes/layer_composite.py"

# test selections
AC_T = (T + "test_action_classifier.py::test_lexical_examples", T + "test_action_classifier.py::test_override_modes",
        T + "test_action_classifier.py::test_node_passes_every_widget_to_the_library",
        T + "test_action_classifier.py::test_node_without_clip_uses_keywords")
AC_HEAD_T = (T + "test_action_classifier.py::test_node_with_comfy_clip_and_with_callable",)
FORMULA_T = (T + "test_fused_sampler.py::test_formulas_and_working_size",)
ENGINE_T = (T + "test_fused_sampler.py::test_engine_fuses_after_every_step_and_leaves_magicbrush_unfused",)
STEP_T = (T + "test_sigma_samplers.py",)
N_FS_T = (T + "test_fused_sampler_node.py::test_node_passes_every_widget_to_the_engine",
          T + "test_fused_sampler_node.py::test_resolve_beta")
A2M_T = (T + "test_attention_to_mask.py",)
N_A2M_T = (T + "test_attention_to_mask.py::test_node_passes_every_widget_to_the_library",)
IOU_T = (T + "test_sam_region_iou.py::test_disjoint_rectangles_known_iou",
         T + "test_sam_region_iou.py::test_tie_goes_to_the_lowest_index",
         T + "test_sam_region_iou.py::test_matches_brute_force_on_random_masks",
         T + "test_sam_region_iou.py::test_crop_box_contains_coarse_and_is_clipped",
         T + "test_sam_region_iou.py::test_segment_image_choice")
UNION_T = (T + "test_sam_region_iou.py::test_union_recovers_an_object_split_into_parts_on_a_real_photo",
           T + "test_sam_region_iou.py::test_union_respects_min_inside",
           T + "test_sam_region_iou.py::test_union_never_has_a_lower_iou_than_official",
           T + "test_sam_region_iou.py::test_guard_extends_a_poor_choice_with_the_coarse_mask")
EVIDENCE_T = (T + "test_sam_region_iou.py::test_evidence_gives_a_small_object_whose_coarse_mask_covers_a_third_of_it_back_whole",
              T + "test_sam_region_iou.py::test_evidence_needs_the_segment_mostly_changed",
              T + "test_sam_region_iou.py::test_a_changed_region_not_connected_to_the_coarse_mask_adds_nothing",
              T + "test_sam_region_iou.py::test_a_change_map_over_most_of_the_picture_is_a_global_rerender_and_is_not_used",
              T + "test_sam_region_iou.py::test_remove_takes_the_originals_segments_where_the_canvas_differs",
              T + "test_sam_region_iou.py::test_evidence_contains_union_and_official_ignores_the_change_map")
SLIVER_T = (T + "test_sam_region_iou.py::test_a_sliver_that_vanishes_when_shrunk_keeps_every_pixel_it_touches",)
N_SAM_T = (T + "test_sam_region_iou.py::test_node_passes_every_widget_to_the_library",)
N_SAM_ACTION_T = (T + "test_sam_region_iou.py::test_node_remove_segments_original_and_errors",)
FFT_T = (T + "test_fft_edge_smoother.py",)
N_FFT_T = (T + "test_fft_edge_smoother.py::test_node_passes_every_widget_to_the_library",)
LC_T = (T + "test_layer_composite.py::test_official_blend_values_in_float_without_wraparound",
        T + "test_layer_composite.py::test_every_pixel_with_alpha_above_zero_is_blended_by_its_alpha",
        T + "test_layer_composite.py::test_feather_values_are_the_smoothstep_of_the_signed_edge_distance",
        T + "test_layer_composite.py::test_feather_mode_composites_with_the_soft_alpha",
        T + "test_layer_composite.py::test_outside_alpha_is_bit_identical_on_real_photos",
        T + "test_layer_composite.py::test_feather_alpha_is_soft_monotone_and_bounded",
        T + "test_layer_composite.py::test_out_of_range_original_is_kept_exactly_outside_alpha")
N_LC_T = (T + "test_layer_composite.py::test_node_passes_every_widget_to_the_library",)
MATCH_T = (T + "test_layer_composite.py::test_color_match_pastes_the_edit_in_the_photo_tones",
           T + "test_layer_composite.py::test_color_match_is_validated_and_a_given_drift_is_used",
           T + "test_layer_composite.py::test_outside_alpha_is_bit_identical_on_real_photos")
DRIFT_T = (T + "test_color_drift.py",)
ALIGN_T = (T + "test_align_edit.py",)
N_ALIGN_T = (T + "test_align_edit.py::test_node_passes_every_widget_to_the_library",)
E2M_T = (T + "test_edit_to_mask.py",)
N_E2M_T = (T + "test_edit_to_mask.py::test_node_passes_every_widget_to_the_library",)
WID_T = (T + "test_widgets.py",)
LOCALIZE_T = (T + "test_pipeline.py::test_localize_passes_every_parameter_to_its_stage",)
IMG_T = (T + "test_images.py",)
PIPE_T = (T + "test_pipeline.py",)
PIPE_EVIDENCE_T = (T + "test_pipeline.py::test_rule_evidence_gets_its_change_map_in_both_chains",)
CLI_T = (T + "test_cli.py::test_edit_one_image_with_sam",)
OVEREDIT_T = (T + "test_overedit.py::test_pipeline_keeps_the_original_outside_its_mask_and_beats_the_canvas",)
# issue 20: what the user gets (workflow tables) and the algorithms' edges
WF_T = (T + "test_workflow_semantics.py",)
A2M_EDGE_T = (T + "test_attention_to_mask_edges.py",)
SAM_EDGE_T = (T + "test_sam_region_iou_edges.py",)
FFT_EDGE_T = (T + "test_fft_edge_smoother_edges.py",)
LC_EDGE_T = (T + "test_layer_composite_edges.py",)
E2M_EDGE_T = (T + "test_edit_to_mask_edges.py",)
AC_EDGE_T = (T + "test_action_classifier_edges.py",)
BATCH_T = (T + "test_node_batches.py",)


def M(id: str, file: str, original: str, mutated: str, tests: tuple[str, ...], kind: str = "formula") -> Mutation:
    return Mutation(id, file, original, mutated, tests, kind)


def W(id: str, file: str, original: str, mutated: str, tests: tuple[str, ...]) -> Mutation:
    return Mutation(id, file, original, mutated, tests, "wiring")


def B(id: str, file: str, original: str, mutated: str, tests: tuple[str, ...]) -> Mutation:
    return Mutation(id, file, original, mutated, tests, "boundary")


def BATCH(id: str, file: str, original: str, mutated: str, tests: tuple[str, ...]) -> Mutation:
    return Mutation(id, file, original, mutated, tests, "batch")


def WF(id: str, *edits: tuple[str, str, str]) -> Mutation:
    """A workflow mutation: one or more (file, original, mutated) edits of workflow files, applied together."""
    (file, original, mutated), *more = edits
    return Mutation(id, file, original, mutated, WF_T, "workflow", tuple(more))


MUTATIONS: tuple[Mutation, ...] = (
    # ---- stage 1: action classifier
    M("ac.head-probs-mislabelled", AC, "probs = (p[0], p[1], p[2])", "probs = (p[1], p[0], p[2])", AC_HEAD_T),
    M("ac.lexical-probs-mislabelled", AC, "return label, (probs[0], probs[1], probs[2])",
      "return label, (probs[1], probs[0], probs[2])", AC_T),
    M("types.beta-swapped", TY, "return beta_remove if Action.parse(action) is Action.REMOVE else beta_other",
      "return beta_other if Action.parse(action) is Action.REMOVE else beta_remove", AC_T),
    M("types.segments-original-for-add", TY, "return self.label is Action.REMOVE", "return self.label is Action.ADD",
      IOU_T),
    W("node.ac.beta_remove", N_AC, "beta_remove=beta_remove,", "beta_remove=0.2,", AC_T),
    W("node.ac.beta_other", N_AC, "beta_other=beta_other,", "beta_other=0.01,", AC_T),
    W("node.ac.mode", N_AC, "            mode=mode,", "            mode=\"auto\",", AC_T),
    # ---- stage 2: guidance, fusion, engine, step rules
    M("fs.guidance-text-branch", FS, "text_scale * (e_text - e_image)", "text_scale * (e_text - e_uncond)", FORMULA_T),
    M("fs.guidance-image-branch", FS, "image_scale * (e_image - e_uncond)", "image_scale * (e_text - e_uncond)",
      FORMULA_T),
    M("fs.guidance-scales-swapped", FS,
      "return e_uncond + text_scale * (e_text - e_image) + image_scale * (e_image - e_uncond)",
      "return e_uncond + image_scale * (e_text - e_image) + text_scale * (e_image - e_uncond)", FORMULA_T),
    M("fs.fuse-arguments-swapped", FS, "return (x_ip2p + beta * x_mb) / (1 + beta)",
      "return (x_mb + beta * x_ip2p) / (1 + beta)", FORMULA_T),
    M("fs.fuse-not-normalised", FS, "return (x_ip2p + beta * x_mb) / (1 + beta)", "return (x_ip2p + beta * x_mb)",
      FORMULA_T),
    M("fs.engine-fuses-magicbrush", FS, "x = fuse(x, y, settings.beta)", "y = fuse(x, y, settings.beta)", ENGINE_T),
    M("fs.working-size-floor", FS, "int(round(side * scale / multiple)) * multiple",
      "int(side * scale / multiple) * multiple", FORMULA_T),
    M("ss.dpmpp2m-coefficient", SS, "denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised",
      "denoised_d = (1 + 1 / r) * denoised - (1 / r) * old_denoised", STEP_T),
    M("ss.dpmpp2m-ratio-inverted", SS, "r = h_last / h", "r = h / h_last", STEP_T),
    M("ss.dpmpp2m-first-order", SS, "return ratio * x - (-h).expm1() * denoised\n    h_last",
      "return ratio * x - h * denoised\n    h_last", STEP_T),
    M("ss.dpmpp2m-keeps-latents", SS, "self._old_denoised = denoised", "self._old_denoised = x", STEP_T),
    M("ss.dpmpp2m-wrong-previous-sigma", SS, "previous = sigmas[index - 1] if index > 0 else None",
      "previous = sigmas[index + 1] if index > 0 else None", STEP_T),
    M("ss.euler-direction", SS, "return x + d * (sigma_next - sigma)", "return x + d * (sigma - sigma_next)", STEP_T),
    M("ss.euler-derivative", SS, "d = (x - denoised) / _append_dims(sigma, x.ndim)",
      "d = (denoised - x) / _append_dims(sigma, x.ndim)", STEP_T),
    W("node.fs.steps", N_FS, "steps=int(steps)", "steps=20", N_FS_T),
    W("node.fs.text_scale", N_FS, "text_scale=float(text_scale)", "text_scale=7.5", N_FS_T),
    W("node.fs.image_scale", N_FS, "image_scale=float(image_scale)", "image_scale=1.5", N_FS_T),
    W("node.fs.sampler", N_FS, "scheduler=sampler", "scheduler=\"dpmpp_2m\"", N_FS_T),
    W("node.fs.seed", N_FS, "seed=int(seed)", "seed=0", N_FS_T),
    W("node.fs.working_size", N_FS, "working_size=int(working_size)", "working_size=512", N_FS_T),
    W("node.fs.record_branches", N_FS, "record_branches=RECORD_CHOICES[record_branches]",
      "record_branches=RECORD_CHOICES[\"empty prompt (official)\"]", N_FS_T),
    W("node.fs.beta", N_FS, "beta=resolve_beta(action, float(beta))", "beta=resolve_beta(action, -1.0)", N_FS_T),
    W("node.fs.beta-from-action", N_FS, "return float(action.beta)", "return float(beta)", N_FS_T),
    W("node.fs.scheduler", N_FS, "sigma_schedule=scheduler", "sigma_schedule=\"normal\"", N_FS_T),
    W("node.fs.magicbrush", N_FS, "magicbrush=magicbrush_model", "magicbrush=None", N_FS_T),
    # ---- stage 3: attention to mask
    M("a2m.wrong-last-token", A2M, "pair = maps[..., [0, int(token_count) - 1]]",
      "pair = maps[..., [0, int(token_count) - 2]]", A2M_T),
    M("a2m.difference-swapped", A2M, "diff = np.maximum(scaled[..., 0] - scaled[..., 1], 0.0)",
      "diff = np.maximum(scaled[..., 1] - scaled[..., 0], 0.0)", A2M_T),
    M("a2m.no-per-map-scaling", A2M, "pair * (255.0 / np.where(peak > 0, peak, 1.0))", "pair * 255.0", A2M_T),
    M("a2m.paper-rule-inclusive", A2M, "raw = diff < thr if rule == \"paper\" else diff <= thr",
      "raw = diff <= thr if rule == \"paper\" else diff <= thr", A2M_T),
    M("a2m.official-rule-strict", A2M, "raw = diff < thr if rule == \"paper\" else diff <= thr",
      "raw = diff < thr if rule == \"paper\" else diff < thr", A2M_T),
    M("a2m.min-area-not-scaled", A2M, "float(min_region) * image_size[0] * image_size[1] / REFERENCE_AREA",
      "float(min_region)", A2M_T),
    M("a2m.keeps-regions-below-min", A2M, "keep = stats[:, cv2.CC_STAT_AREA] >= min_area",
      "keep = stats[:, cv2.CC_STAT_AREA] >= 1", A2M_T),
    M("a2m.default-thresholds-swapped", A2M,
      "return PAPER_THRESHOLD if _check_rule(rule) == \"paper\" else OFFICIAL_THRESHOLD",
      "return OFFICIAL_THRESHOLD if _check_rule(rule) == \"paper\" else PAPER_THRESHOLD", A2M_T),
    W("node.a2m.official_threshold", N_A2M, "threshold=paper_threshold if rule == \"paper\" else official_threshold",
      "threshold=paper_threshold if rule == \"paper\" else OFFICIAL_THRESHOLD", N_A2M_T),
    W("node.a2m.paper_threshold", N_A2M, "threshold=paper_threshold if rule == \"paper\" else official_threshold",
      "threshold=PAPER_THRESHOLD if rule == \"paper\" else official_threshold", N_A2M_T),
    W("node.a2m.rule", N_A2M, "rule=rule, min_region=min_region", "rule=\"official\", min_region=min_region", N_A2M_T),
    W("node.a2m.min_region", N_A2M, "rule=rule, min_region=min_region", "rule=rule, min_region=MIN_REGION", N_A2M_T),
    # ---- stage 4: Region-IoU
    M("sam.iou-is-containment", SAM, "iou = inter / (area + m_area - inter)\n        if iou",
      "iou = inter / area\n        if iou", IOU_T),
    M("sam.ties-go-to-last", SAM, "if iou > best_iou:", "if iou >= best_iou:", IOU_T),
    M("sam.sliver-fallback-deleted", SAM, "work_m = resize_mask(m, work) > 0", "pass", SLIVER_T),
    M("sam.auto-always-canvas", SAM,
      "return \"original\" if action is not None and action.segments_original else \"canvas\"",
      "return \"canvas\"", IOU_T),
    M("sam.crop-margin-ignored", SAM, "pad = max(8, int(math.ceil(float(margin) * max(y1 - y0, x1 - x0))))",
      "pad = 8", IOU_T),
    M("sam.union-start-iou-is-containment", SAM, "iou = inter / (area + m_area - inter)\n    candidates",
      "iou = inter / area\n    candidates", UNION_T),
    M("sam.union-inside-of-the-mask", SAM, "/ float(seg_area)", "/ float(m_area)", UNION_T),
    M("sam.union-ignores-min-inside", SAM, "if inside >= min_inside:", "if inside > 0:", UNION_T),
    M("sam.union-accepts-without-gain", SAM, "if better > iou:", "if grow:", UNION_T),
    M("sam.union-rule-ignored", SAM, "if rule != \"official\":\n        indices", "if False:\n        indices", UNION_T),
    M("sam.evidence-unconnected", SAM, "    near = connected_change(c, coarse)\n", "    near = c\n", EVIDENCE_T),
    M("sam.evidence-global-guard-off", SAM, "if share > GLOBAL_CHANGE:", "if share > 1.0:", EVIDENCE_T),
    M("sam.evidence-touch-ignored", SAM, "if not (seg & m[by0:by1, bx0:bx1]).any():", "if False:", EVIDENCE_T),
    M("sam.evidence-min-changed-ignored", SAM, ">= min_changed * float(seg_area)", ">= 0", EVIDENCE_T),
    M("sam.guard-inverted", SAM, "extended = iou < min_iou", "extended = iou > min_iou", UNION_T),
    M("sam.guard-keeps-the-region", SAM, "        mask |= m\n", "        pass\n", UNION_T),
    W("node.sam.segment_on", N_SAM, "segment_image_choice(segment_on, ", "segment_image_choice(\"auto\", ", N_SAM_T),
    W("node.sam.points_per_side", N_SAM, "points_per_side=points_per_side,", "points_per_side=32,", N_SAM_T),
    W("node.sam.points_per_batch", N_SAM, "points_per_batch=points_per_batch,", "points_per_batch=64,", N_SAM_T),
    W("node.sam.pred_iou_thresh", N_SAM, "pred_iou_thresh=pred_iou_thresh,", "pred_iou_thresh=0.88,", N_SAM_T),
    W("node.sam.stability_score_thresh", N_SAM, "stability_score_thresh=stability_score_thresh,",
      "stability_score_thresh=0.95,", N_SAM_T),
    W("node.sam.box_nms_thresh", N_SAM, "box_nms_thresh=box_nms_thresh,", "box_nms_thresh=0.7,", N_SAM_T),
    W("node.sam.crop_n_layers", N_SAM, "crop_n_layers=crop_n_layers,", "crop_n_layers=0,", N_SAM_T),
    W("node.sam.min_mask_region_area", N_SAM, "min_mask_region_area=min_mask_region_area,",
      "min_mask_region_area=0,", N_SAM_T),
    W("node.sam.crop_to_region", N_SAM, "crop=crop_to_region,", "crop=False,", N_SAM_T),
    W("node.sam.crop_margin", N_SAM, "crop_margin=crop_margin,", "crop_margin=0.5,", N_SAM_T),
    W("node.sam.max_side", N_SAM, "max_side=max_side,", "max_side=SEGMENT_MAX_SIDE,", N_SAM_T),
    W("node.sam.rule", N_SAM, "rule=rule, min_inside=min_inside,", "rule=RULE_DEFAULT, min_inside=min_inside,", N_SAM_T),
    W("node.sam.min_inside", N_SAM, "rule=rule, min_inside=min_inside,", "rule=rule, min_inside=MIN_INSIDE,", N_SAM_T),
    W("node.sam.min_iou", N_SAM, "min_iou=min_iou, changed=", "min_iou=MIN_IOU, changed=", N_SAM_T),
    W("node.sam.min_changed", N_SAM, "min_changed=min_changed,\n", "min_changed=MIN_CHANGED,\n", N_SAM_T),
    W("node.sam.changed_mask", N_SAM, "if changed_mask is not None\n", "if False\n", EVIDENCE_T),
    W("node.sam.action", N_SAM, "segment_image_choice(segment_on, _item_action(action, i))",
      "segment_image_choice(segment_on, _item_action(None, i))", N_SAM_ACTION_T),
    # ---- stage 5: FFT edge smoother
    M("fft.colour-any-channel-to-mean", FFT, ".max(axis=2)", ".mean(axis=2)", FFT_T),
    M("fft.threshold-doubled", FFT, "self.magnitude > np.float32(self.threshold)",
      "self.magnitude > np.float32(2 * self.threshold)", FFT_T),
    M("fft.dilation-half-size", FFT, "np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)",
      "np.ones((radius + 1, radius + 1), np.uint8)", FFT_T),
    M("fft.dilation-not-scaled", FFT, "radius = int(round(dilate * scale))", "radius = int(round(dilate))", FFT_T),
    M("fft.close-not-scaled", FFT, "_odd(close * scale) if close > 0 else 1", "_odd(close) if close > 0 else 1",
      FFT_T),
    M("fft.lowpass-radius-not-squared", FFT, "keep = fy * fy + fx * fx <= np.float32(cutoff * cutoff)",
      "keep = fy * fy + fx * fx <= np.float32(cutoff)", FFT_T),
    M("fft.lowpass-wrong-axis", FFT, "fy = np.fft.fftfreq(shape[0])", "fy = np.fft.fftfreq(shape[1])", FFT_T),
    M("fft.size-scale-constant", FFT, "return float(np.sqrt(shape[0] * shape[1]) / REFERENCE_SIDE)", "return 1.0",
      FFT_T),
    M("fft.grey-ignores-original", FFT,
      "delta -= cv2.cvtColor(np.ascontiguousarray(original), cv2.COLOR_RGB2GRAY)", "delta -= np.float32(0.5)", FFT_T),
    M("fft.search-band-ignored", FFT, "delta *= md[..., None]", "delta *= np.float32(1)", FFT_T),
    M("fft.no-hole-filling", FFT, "out[box] = fill_holes(crop) if fill else crop.view(bool)",
      "out[box] = crop.view(bool)", FFT_T),
    M("fft.drift-not-removed", FFT, "canvas = fitted.invert(canvas)", "canvas = fitted.apply(canvas)", FFT_T),
    M("fft.drift-fitted-inside", FFT, "np.zeros(original.shape[:2], bool) if md is None else md)",
      "np.zeros(original.shape[:2], bool) if md is None else ~md)", FFT_T),
    M("fft.noise-floor-ignored", FFT,
      "threshold = max(float(threshold), float(noise_factor) * float(fitted.noise.max()))",
      "threshold = float(threshold)", FFT_T),
    M("fft.noise-floor-lowest-channel", FFT, "float(noise_factor) * float(fitted.noise.max())",
      "float(noise_factor) * float(fitted.noise.min())", FFT_T),
    M("fft.noise-floor-replaces-threshold", FFT,
      "threshold = max(float(threshold), float(noise_factor) * float(fitted.noise.max()))",
      "threshold = float(noise_factor) * float(fitted.noise.max())", FFT_T),
    W("fft.drift-argument-dropped", FFT, "color=color, drift=drift,", "color=color, drift=True,", FFT_T),
    W("fft.noise_factor-argument-dropped", FFT, "noise_factor=noise_factor, workers=workers)",
      "noise_factor=NOISE_FACTOR, workers=workers)", FFT_T),
    W("node.fft.threshold", N_FFT, "threshold=threshold / 255.0", "threshold=THRESHOLD", N_FFT_T),
    W("node.fft.cutoff", N_FFT, "cutoff=cutoff,", "cutoff=CUTOFF,", N_FFT_T),
    W("node.fft.dilate", N_FFT, "dilate=dilate,", "dilate=DILATE,", N_FFT_T),
    W("node.fft.close", N_FFT, "close=close, ", "close=CLOSE, ", N_FFT_T),
    W("node.fft.scale_with_size", N_FFT, "scale_with_size=scale_with_size,", "scale_with_size=True,", N_FFT_T),
    W("node.fft.difference", N_FFT, "color=difference == \"color\"", "color=True", N_FFT_T),
    W("node.fft.drift", N_FFT, "drift=drift == DRIFT_CHOICES[0]", "drift=True", N_FFT_T),
    W("node.fft.noise_factor", N_FFT, "noise_factor=noise_factor)", "noise_factor=NOISE_FACTOR)", N_FFT_T),
    # ---- colour drift fit (stages 5 and 6, Difference To Mask)
    M("drift.invert-multiplies", DRIFT, "- self.offset) / self.gain)", "- self.offset) * self.gain)", DRIFT_T),
    M("drift.apply-subtracts-offset", DRIFT, "* self.gain + self.offset)", "* self.gain - self.offset)", DRIFT_T),
    M("drift.offset-ignores-gain", DRIFT, "b_new = float(my - a_new * mx)", "b_new = float(my - mx)", DRIFT_T),
    M("drift.slope-not-normalised", DRIFT, "a_new = float((w * (x - mx) * (y - my)).sum() / var)",
      "a_new = float((w * (x - mx) * (y - my)).sum())", DRIFT_T),
    M("drift.noise-not-sigma", DRIFT, "sigma = MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r))))\n    return",
      "sigma = float(np.median(np.abs(r - np.median(r))))\n    return", DRIFT_T),
    M("drift.fit-inside-region", DRIFT, "untouched = ~region", "untouched = region", FFT_T),
    M("drift.implausible-kept", DRIFT, "return drift if drift.plausible else ColorDrift.identity()", "return drift",
      FFT_T),
    # ---- stage 6: layer composite
    M("lc.skips-alpha-below-half", LC, "np.copyto(o, blend, where=a > 0)", "np.copyto(o, blend, where=a > 0.5)", LC_T),
    M("lc.band-gets-canvas", LC, "np.copyto(o, c, where=a >= 1)", "np.copyto(o, c, where=a > 0)", LC_T),
    M("lc.layer-only-where-opaque", LC, "np.copyto(layer[box], c, where=a > 0)",
      "np.copyto(layer[box], c, where=a >= 1)", LC_T),
    M("lc.feather-linear", LC, "alpha[box] = x * x * (3.0 - 2.0 * x)", "alpha[box] = x", LC_T),
    M("lc.feather-edge-not-centred", LC, "(inside - outside + np.float32(radius)) / np.float32(2 * radius)",
      "(inside - outside) / np.float32(2 * radius)", LC_T),
    # (final | refined) instead of (final & refined) is an equivalent mutant: the band assignment overwrites it
    M("lc.band-only-on-final-side", LC, "alpha[final ^ refined] = np.float32(band_alpha)",
      "alpha[final & ~refined] = np.float32(band_alpha)", LC_T),
    M("lc.band-alpha-constant", LC, "alpha[final ^ refined] = np.float32(band_alpha)",
      "alpha[final ^ refined] = np.float32(BAND_ALPHA)", LC_T),
    M("lc.feather-not-scaled", LC, "alpha = feather_alpha(final, feather * scale)", "alpha = feather_alpha(final, feather)",
      LC_T),
    W("node.lc.mode", N_LC, "mode=mode, band_alpha=band_alpha", "mode=\"official\", band_alpha=band_alpha", N_LC_T),
    W("node.lc.band_alpha", N_LC, "band_alpha=band_alpha, feather", "band_alpha=BAND_ALPHA, feather", N_LC_T),
    W("node.lc.feather", N_LC, "feather=feather,", "feather=FEATHER,", N_LC_T),
    W("node.lc.color_match", N_LC, "color_match=color_match,", "color_match=COLOR_MATCH,", N_LC_T),
    M("lc.color-match-ignored", LC, "box_canvas = np.clip(drift.invert(canv[box]), 0.0, 1.0)",
      "box_canvas = canv[box]", MATCH_T),
    M("lc.color-match-given-drift-ignored", LC, "if drift is None:\n            drift = fit_drift_outside",
      "if True:\n            drift = fit_drift_outside", MATCH_T),
    M("lc.color-match-fitted-inside", LC, "fit_drift_outside(orig, canv, alpha > 0,",
      "fit_drift_outside(orig, canv, alpha <= 0,", MATCH_T),
    M("lc.color-match-not-clipped", LC, "np.clip(drift.invert(canv[box]), 0.0, 1.0)", "drift.invert(canv[box])",
      MATCH_T),
    # ---- any editor: Align Edit, Difference To Mask
    M("align.translation-sign", ALIGN, "d = dst - src\n        shift", "d = src - dst\n        shift", ALIGN_T),
    M("align.similarity-rotation-sign", ALIGN, "rows = np.vstack([np.c_[x, -y, one, zero]",
      "rows = np.vstack([np.c_[x, y, one, zero]", ALIGN_T),
    M("align.flow-not-capped", ALIGN, "return (flow * np.minimum(1.0, cap / np.maximum(length, 1e-6))).astype",
      "return (flow * np.float32(1.0)).astype", ALIGN_T),
    M("align.valid-not-warped", ALIGN,
      "valid = _warp(np.ones(size, np.uint8), m, size, cv2.INTER_NEAREST).astype(bool)",
      "valid = np.ones(size, bool)", ALIGN_T),
    M("align.inlier-fraction-ignored", ALIGN, "if m is None or inliers < MIN_INLIER_FRACTION * tracked:",
      "if m is None:", ALIGN_T),
    M("align.flow-cap-ignored", ALIGN, "if flow_cap > 0:", "if False:", ALIGN_T),
    M("e2m.drift-not-removed", E2M, "e = np.clip(unclip_drift(o, e, drift), 0.0, 1.0)", "e = np.clip(e, 0.0, 1.0)",
      E2M_T),
    M("e2m.clipped-channels-counted", E2M, "return np.where(clipped, np.asarray(original, np.float32), out)",
      "return out", E2M_T),
    M("e2m.not-tolerant", E2M, "diff = delta_e(o, e)", "diff = delta_e(o, e, tolerant=False)", E2M_T),
    M("e2m.tolerance-takes-max", E2M, "np.minimum(_range_distance(le, lo, k), _range_distance(lo, le, k))",
      "np.maximum(_range_distance(le, lo, k), _range_distance(lo, le, k))", E2M_T),
    M("e2m.auto-threshold-no-floor", E2M, "max(MIN_DELTA_E, NOISE_FACTOR * float(np.median(plain)))",
      "NOISE_FACTOR * float(np.median(plain))", E2M_T),
    M("e2m.threshold-ignored", E2M, "thr = threshold\n", "thr = None\n", E2M_T),
    M("e2m.min-region-not-scaled", E2M, "scaled_min_area(min_region, work)", "min_region", E2M_T),
    M("e2m.close-not-scaled", E2M, "k = _odd(close * scale)", "k = _odd(close)", E2M_T),
    # "mask &= area" deleted is equivalent up to 768 px (the working size): "fill_holes(mask) & a" already cut it
    M("e2m.global-change-not-reported", E2M, "elif share > WHOLE_IMAGE:", "elif share > 1.0:", E2M_T),
    W("node.align.model", N_ALIGN, "model=model, flow_cap=flow_cap)", "model=\"affine\", flow_cap=flow_cap)",
      N_ALIGN_T),
    W("node.align.flow_cap", N_ALIGN, "model=model, flow_cap=flow_cap)", "model=model, flow_cap=0.0)", N_ALIGN_T),
    W("node.e2m.threshold", N_E2M, 'threshold=threshold if threshold_mode == "manual" else None', "threshold=None", N_E2M_T),
    W("node.e2m.min_region", N_E2M, "min_region=min_region, close=close)", "min_region=MIN_REGION, close=close)",
      N_E2M_T),
    W("node.e2m.close", N_E2M, "min_region=min_region, close=close)", "min_region=min_region, close=CLOSE)", N_E2M_T),
    W("node.e2m.valid_mask", N_E2M, "None if valid_mask is None else mask_item(valid_mask, i)", "None", N_E2M_T),
    # ---- widget checks of every node (nodes/widgets.py)
    W("widgets.float-unchecked", N_WID, "if kind == \"FLOAT\":", "if kind == \"FLOAT64\":", WID_T),
    W("widgets.int-fraction-accepted", N_WID, "isinstance(value, float) and value.is_integer()",
      "isinstance(value, float)", WID_T),
    W("widgets.int-range-unchecked", N_WID, "raise ZoneInputError(f\"{where} must be a whole number, got {value!r}\")\n"
      "        check_number(", "raise ZoneInputError(f\"{where} must be a whole number, got {value!r}\")\n"
      "        (lambda *a: None)(", WID_T),
    W("widgets.bool-unchecked", N_WID, "if not isinstance(value, bool):", "if False:", WID_T),
    W("widgets.bool-as-number", N_WID, "    if kind == \"FLOAT\":\n        if isinstance(value, bool):",
      "    if kind == \"FLOAT\":\n        if False:", WID_T),
    W("widgets.combo-unchecked", N_WID, "and kind and value not in kind:", "and kind and False:", WID_T),
    W("widgets.string-unchecked", N_WID, "if not isinstance(value, str):", "if False:", WID_T),
    W("widgets.optional-skipped", N_WID, "for section in (\"required\", \"optional\"):",
      "for section in (\"required\",):", WID_T),
    # ---- images
    M("img.uint8-not-scaled", IMG, "return arr.astype(np.float32) / np.float32(255.0)", "return arr.astype(np.float32)",
      IMG_T),
    M("img.clip-to-255", IMG, "return np.clip(arr, 0.0, 1.0) if clip", "return np.clip(arr, 0.0, 255.0) if clip",
      IMG_T),
    M("img.clip-only-below-0", IMG, "if clip and (arr.min() < 0.0 or arr.max() > 1.0) else arr",
      "if clip and arr.min() < 0.0 else arr", IMG_T),
    M("img.mask-threshold-any", IMG, "arr = to_mask(arr, name) >= 0.5", "arr = to_mask(arr, name) > 0", IMG_T),
    M("img.original-clipped", IMG, "orig = to_rgb(original, \"original\", clip=False)",
      "orig = to_rgb(original, \"original\")", LC_T),
    # ---- the pipeline (CLI / scripts)
    M("pipe.original-over-itself", PIPE, "composite = layer_composite(original, canvas, final",
      "composite = layer_composite(original, original, final", PIPE_T + CLI_T),
    M("pipe.result-is-original", PIPE, "result=composite.image,", "result=original,", PIPE_T + CLI_T),
    M("pipe.fft-on-coarse-mask", PIPE, "final = fft_edge_smooth(original, canvas, refined,",
      "final = fft_edge_smooth(original, canvas, coarse.mask,", PIPE_T),
    W("pipe.segment_on", PIPE, "source = model_input if segment_image_choice(params.segment_on, action)",
      "source = canvas if segment_image_choice(params.segment_on, action)", PIPE_T),
    W("pipe.threshold", PIPE, "threshold=params.threshold,", "threshold=None,", PIPE_T),
    W("pipe.rule", PIPE, "rule=params.rule,", "rule=\"official\",", PIPE_T),
    W("pipe.min_region", PIPE, "min_region=params.min_region)", "min_region=_a2m.MIN_REGION)", PIPE_T),
    W("pipe.points_per_side", PIPE, "points_per_side=params.points_per_side,", "points_per_side=32,", PIPE_T),
    W("pipe.sam_crop", PIPE, "crop=params.sam_crop,", "crop=False,", PIPE_T),
    W("pipe.sam_max_side", PIPE, "max_side=params.sam_max_side,", "max_side=SEGMENT_MAX_SIDE,", PIPE_T),
    W("pipe.fft_threshold", PIPE, "threshold=params.fft_threshold / 255.0", "threshold=_fft.THRESHOLD", PIPE_T),
    W("pipe.fft_cutoff", PIPE, "cutoff=params.fft_cutoff,", "cutoff=_fft.CUTOFF,", PIPE_T),
    W("pipe.dilate", PIPE, "dilate=params.dilate,", "dilate=_fft.DILATE,", PIPE_T),
    W("pipe.close", PIPE, "close=params.close,", "close=_fft.CLOSE,", PIPE_T),
    W("pipe.fft_color", PIPE, "color=params.fft_color,", "color=True,", PIPE_T),
    W("pipe.composite", PIPE, "mode=params.composite,", "mode=\"official\",", PIPE_T),
    W("pipe.band_alpha", PIPE, "band_alpha=params.band_alpha,", "band_alpha=_lc.BAND_ALPHA,", PIPE_T),
    W("pipe.feather", PIPE, "feather=params.feather,", "feather=_lc.FEATHER,", PIPE_T),
    W("pipe.text_scale", PIPE, "text_scale=self.text_scale,", "text_scale=7.5,", PIPE_T),
    W("pipe.image_scale", PIPE, "image_scale=self.image_scale,", "image_scale=1.5,", PIPE_T),
    W("pipe.region_rule", PIPE, "rule=params.region_rule,", "rule=_sri.RULE_DEFAULT,", PIPE_T),
    W("pipe.min_inside", PIPE, "min_inside=params.min_inside,", "min_inside=_sri.MIN_INSIDE,", PIPE_T),
    W("pipe.min_iou", PIPE, "min_iou=params.min_iou,", "min_iou=_sri.MIN_IOU,", PIPE_T),
    W("pipe.fft_drift", PIPE, "drift=params.fft_drift,", "drift=True,", PIPE_T),
    W("pipe.noise_factor", PIPE, "noise_factor=params.noise_factor)", "noise_factor=_fft.NOISE_FACTOR)", PIPE_T),
    W("pipe.color_match", PIPE, "color_match=params.color_match)", "color_match=_lc.COLOR_MATCH)", PIPE_T),
    W("pipe.align_model", PIPE, "model=localize.align_model,", "model=\"affine\",", LOCALIZE_T),
    W("pipe.flow_cap", PIPE, "flow_cap=localize.flow_cap)", "flow_cap=0.0)", LOCALIZE_T),
    W("pipe.diff_threshold", PIPE, "threshold=localize.diff_threshold,", "threshold=None,", LOCALIZE_T),
    W("pipe.diff_min_region", PIPE, "min_region=localize.diff_min_region,", "min_region=_e2m.MIN_REGION,",
      LOCALIZE_T),
    W("pipe.diff_close", PIPE, "close=localize.diff_close)", "close=_e2m.CLOSE)", LOCALIZE_T),
    W("pipe.localize-change-map", PIPE, "changed=difference.mask)", "changed=None)", PIPE_EVIDENCE_T),
    W("pipe.min_changed", PIPE, "min_changed=params.min_changed,", "min_changed=_sri.MIN_CHANGED,", PIPE_EVIDENCE_T),
    # ---- the over-edit benchmark's own pipeline (its test is the end-to-end check of stages 4-6)
    M("overedit.original-over-itself", "benchmarks/overedit.py",
      "comp = layer_composite(case.original, case.canvas, final", "comp = layer_composite(case.original, case.original, final",
      OVEREDIT_T),
    # ---- issue 20: shipped workflows (links by output name, widget values), checked by tests/test_workflow_semantics.py
    WF("wf.local.save-reads-layer-in-both-files",  # Save Image <- Layer Composite.layer: valid, twins agree
       ("workflows/api/zone_local_edit_api.json", '"images": [\n    "15",\n    0\n   ],\n   "filename_prefix"',
        '"images": [\n    "15",\n    1\n   ],\n   "filename_prefix"'),
       ("workflows/zone_local_edit.json", "   27,\n   15,\n   0,\n   17,", "   27,\n   15,\n   1,\n   17,"),
       ("workflows/zone_local_edit.json", '"slot_index": 0,\n     "links": [\n      27\n     ]',
        '"slot_index": 0,\n     "links": []'),
       ("workflows/zone_local_edit.json", '"slot_index": 1,\n     "links": [\n      32\n     ]',
        '"slot_index": 1,\n     "links": [\n      32,\n      27\n     ]')),
    WF("wf.mask_only.fft-threshold-in-both-files",
       ("workflows/api/zone_mask_only_api.json", '"threshold": 30,', '"threshold": 31,'),
       ("workflows/zone_mask_only.json", '"widgets_values": [\n    30,\n    0.390625,',
        '"widgets_values": [\n    31,\n    0.390625,')),
    WF("wf.mask_only.segment_on-in-both-files",
       ("workflows/api/zone_mask_only_api.json", '"segment_on": "canvas",', '"segment_on": "auto",'),
       ("workflows/zone_mask_only.json", '"widgets_values": [\n    "canvas",', '"widgets_values": [\n    "auto",')),
    WF("wf.local.save-prefix-in-both-files",
       ("workflows/api/zone_local_edit_api.json", '"filename_prefix": "ZONE/edit"', '"filename_prefix": "ComfyUI"'),
       ("workflows/zone_local_edit.json", '"ZONE/edit"', '"ComfyUI"')),
    WF("wf.local.seed-randomizes", ("workflows/zone_local_edit.json", '"fixed"', '"randomize"')),
    WF("wf.any_editor.difference-reads-the-raw-edit",  # Difference To Mask.edited <- the unaligned edited image
       ("workflows/api/zone_any_editor_api.json", '"edited": [\n    "5",\n    0\n   ],\n   "threshold_mode"',
        '"edited": [\n    "3",\n    0\n   ],\n   "threshold_mode"')),
    WF("wf.qwen.sampler-cfg", ("workflows/api/zone_qwen_image_edit_api.json", '"cfg": 2.5,', '"cfg": 8.0,')),
    WF("wf.kontext.save-reads-layer-in-both-files",  # Result <- Layer Composite.layer in the editor + ZONE graph
       ("workflows/api/zone_flux_kontext_api.json", '"images": [\n    "22",\n    0\n   ],\n   "filename_prefix"',
        '"images": [\n    "22",\n    1\n   ],\n   "filename_prefix"'),
       ("workflows/zone_flux_kontext.json", "   34,\n   22,\n   0,\n   24,", "   34,\n   22,\n   1,\n   24,"),
       ("workflows/zone_flux_kontext.json", '"slot_index": 0,\n     "links": [\n      34\n     ]',
        '"slot_index": 0,\n     "links": []'),
       ("workflows/zone_flux_kontext.json", '"slot_index": 1,\n     "links": [\n      39\n     ]',
        '"slot_index": 1,\n     "links": [\n      39,\n      34\n     ]')),
    WF("wf.kontext.guidance-in-both-files",  # FluxGuidance back to its default 3.5 (the template ships 2.5)
       ("workflows/api/zone_flux_kontext_api.json", '"guidance": 2.5', '"guidance": 3.5'),
       ("workflows/zone_flux_kontext.json", '"widgets_values": [\n    2.5\n   ],\n   "title": "FluxGuidance"',
        '"widgets_values": [\n    3.5\n   ],\n   "title": "FluxGuidance"')),
    WF("wf.multi_turn.turn2-edits-turn1-layer",  # Turn 2 edits Turn 1's layer cut-out instead of its composite
       ("workflows/api/zone_multi_turn_api.json", '"image": [\n    "14",\n    0\n   ],\n   "instruction"',
        '"image": [\n    "14",\n    1\n   ],\n   "instruction"')),
    Mutation("wf.node-default.band_alpha", N_LC, '"default": BAND_ALPHA,', '"default": 0.5,', WF_T, "workflow"),
    Mutation("wf.node-default.min_iou", N_SAM, '"default": MIN_IOU,', '"default": 0.0,', WF_T, "workflow"),
    # ---- issue 20: boundaries (exactly at a threshold, at 0, round vs int of size-scaled sizes)
    B("a2m.min-area-truncated", A2M, "max(1, int(round(float(min_region) * image_size[0] * image_size[1] / REFERENCE_AREA)))",
      "max(1, int(float(min_region) * image_size[0] * image_size[1] / REFERENCE_AREA))", A2M_EDGE_T),
    B("a2m.min-area-exclusive", A2M, "keep = stats[:, cv2.CC_STAT_AREA] >= min_area",
      "keep = stats[:, cv2.CC_STAT_AREA] > min_area", A2M_EDGE_T),
    B("a2m.fallback-fraction-floor", A2M, "int(np.ceil(FALLBACK_FRACTION * flat.size))",
      "int(FALLBACK_FRACTION * flat.size)", A2M_EDGE_T),
    B("a2m.fallback-level-exclusive", A2M, "low = (diff <= level).view(np.uint8)", "low = (diff < level).view(np.uint8)",
      A2M_EDGE_T),
    B("a2m.token-count-last-refused", A2M, "if not 2 <= int(token_count) <= maps.shape[-1]:",
      "if not 2 <= int(token_count) < maps.shape[-1]:", A2M_EDGE_T),
    B("sam.guard-inclusive", SAM, "extended = iou < min_iou", "extended = iou <= min_iou", SAM_EDGE_T),
    B("sam.union-min-inside-exclusive", SAM, "if inside >= min_inside:", "if inside > min_inside:", SAM_EDGE_T),
    B("sam.union-accepts-equal-iou", SAM, "if better > iou:", "if better >= iou:", SAM_EDGE_T),
    B("sam.union-one-pass", SAM, "        pending = left\n", "        pending = []\n", SAM_EDGE_T),
    B("sam.union-least-inside-first", SAM, "pending = [i for _, _, i in sorted(candidates)]",
      "pending = [i for _, _, i in sorted(candidates, reverse=True)]", SAM_EDGE_T),
    B("sam.union-ties-smaller-first", SAM, "candidates.append((-inside, -int(seg_area), i))",
      "candidates.append((-inside, int(seg_area), i))", SAM_EDGE_T),
    B("sam.upscale-best-segment-only", SAM, "result.mask = binary_mask(segs.union(result.indices), size)",
      "result.mask = binary_mask(segs.full(result.index), size)", SAM_EDGE_T),
    B("sam.upscale-segments-one-by-one", SAM, "result.mask = binary_mask(segs.union(result.indices), size)",
      "result.mask = np.logical_or.reduce([binary_mask(segs.full(i), size) for i in result.indices])", SAM_EDGE_T),
    B("sam.segment-size-truncated", SAM, "return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))",
      "return (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))", SAM_EDGE_T),
    # (longest < max_side instead of <= is an equivalent mutant: at longest == max_side the scale is exactly 1)
    B("sam.crop-pad-rounded", SAM, "pad = max(8, int(math.ceil(float(margin) * max(y1 - y0, x1 - x0))))",
      "pad = max(8, int(round(float(margin) * max(y1 - y0, x1 - x0))))", SAM_EDGE_T),
    B("fft.changed-inclusive", FFT, "return self.magnitude > np.float32(self.threshold)",
      "return self.magnitude >= np.float32(self.threshold)", FFT_EDGE_T),
    B("fft.lowpass-rim-dropped", FFT, "keep = fy * fy + fx * fx <= np.float32(cutoff * cutoff)",
      "keep = fy * fy + fx * fx < np.float32(cutoff * cutoff)", FFT_EDGE_T),
    B("fft.dilate-truncated", FFT, "radius = int(round(dilate * scale)) if dilate > 0 else 0",
      "radius = int(dilate * scale) if dilate > 0 else 0", FFT_EDGE_T),
    B("fft.odd-truncated", FFT, "n = max(1, int(round(x)))", "n = max(1, int(x))", FFT_EDGE_T),
    B("node.fft.threshold-scale", N_FFT, "threshold=threshold / 255.0", "threshold=threshold / 256.0", FFT_EDGE_T),
    B("lc.match-margin-truncated", LC, "int(round(MATCH_MARGIN * scale))", "int(MATCH_MARGIN * scale)", LC_EDGE_T),
    B("lc.layer-at-alpha-0", LC, "np.copyto(layer[box], c, where=a > 0)", "np.copyto(layer[box], c, where=a >= 0)",
      LC_EDGE_T),
    B("lc.canvas-exact-above-1-only", LC, "np.copyto(o, c, where=a >= 1)", "np.copyto(o, c, where=a > 1)", LC_EDGE_T),
    # (radius < 0 instead of <= 0 in feather_alpha is equivalent: radius 0 divides by 0, giving exactly 1 inside the
    # mask (distance >= 1) and 0 outside, the hard mask, with a numpy warning)
    B("e2m.threshold-inclusive", E2M, "raw = (diff > thr).view(np.uint8)", "raw = (diff >= thr).view(np.uint8)",
      E2M_EDGE_T),
    B("e2m.open-truncated", E2M, "r = int(round(OPEN * scale))", "r = int(OPEN * scale)", E2M_EDGE_T),
    B("e2m.odd-truncated", E2M, "n = max(1, int(round(x)))", "n = max(1, int(x))", E2M_EDGE_T),
    # ---- issue 20: classifier ties and the head's outputs
    B("ac.lexical-tie-change-first", AC, "order = (Action.REMOVE, Action.CHANGE, Action.ADD)",
      "order = (Action.CHANGE, Action.REMOVE, Action.ADD)", AC_EDGE_T),
    B("ac.lexical-tie-add-before-change", AC, "order = (Action.REMOVE, Action.CHANGE, Action.ADD)",
      "order = (Action.REMOVE, Action.ADD, Action.CHANGE)", AC_EDGE_T),
    B("ac.lexical-temperature", AC, "torch.tensor(scores, dtype=torch.float64) * 1.5, 0)",
      "torch.tensor(scores, dtype=torch.float64) * 1.0, 0)", AC_EDGE_T),
    B("ac.head-tie-goes-to-last", AC, "label = Action(max(range(3), key=lambda i: p[i]))",
      "label = Action(max(reversed(range(3)), key=lambda i: p[i]))", AC_EDGE_T),
    M("ac.head-mean-counts-padding", AC, "return (self.token_logits(hidden) * m).sum(1) / m.sum(1).clamp_min(1.0)",
      "return self.token_logits(hidden).mean(1)", AC_EDGE_T),
    M("ac.head-std-multiplies", AC, "return self.mlp((hidden.to(self.mean) - self.mean) / self.std)",
      "return self.mlp((hidden.to(self.mean) - self.mean) * self.std)", AC_EDGE_T),
    M("ac.head-no-relu", AC, "nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 3)",
      "nn.Linear(dim, hidden), nn.Identity(), nn.Linear(hidden, 3)", AC_EDGE_T),
    M("ac.predict-softmax-over-texts", AC, "torch.softmax(head(hidden, mask), dim=-1)",
      "torch.softmax(head(hidden, mask), dim=0)", AC_EDGE_T),
    # ---- issue 20: batch items read at the wrong index
    BATCH("node.sam.original-item-0", N_SAM, 'orig = to_rgb(image_item(original, i), "original")',
          'orig = to_rgb(image_item(original, 0), "original")', BATCH_T),
    BATCH("node.sam.canvas-item-0", N_SAM, 'image = to_rgb(image_item(canvas, i), "canvas")',
          'image = to_rgb(image_item(canvas, 0), "canvas")', BATCH_T),
    BATCH("node.sam.coarse-item-0", N_SAM, 'coarse = np_mask(mask_item(coarse_mask, i), "coarse_mask")',
          'coarse = np_mask(mask_item(coarse_mask, 0), "coarse_mask")', BATCH_T),
    BATCH("node.sam.action-item-0", N_SAM, "segment_image_choice(segment_on, _item_action(action, i))",
          "segment_image_choice(segment_on, _item_action(action, 0))", BATCH_T),
    BATCH("node.a2m.attention-item-0", N_A2M, "a = i if attention.batch_size > 1 else 0", "a = 0", BATCH_T),
    BATCH("node.fft.refined-item-0", N_FFT, "refined = mask_item(refined_mask, i)", "refined = mask_item(refined_mask, 0)",
          BATCH_T),
    BATCH("node.fft.canvas-item-0", N_FFT, 'canv = to_rgb(image_item(canvas, i), "canvas")',
          'canv = to_rgb(image_item(canvas, 0), "canvas")', BATCH_T),
    BATCH("node.lc.final-item-0", N_LC, "mask_item(final_mask, i),", "mask_item(final_mask, 0),", BATCH_T),
    BATCH("node.lc.refined-item-0", N_LC, "None if refined_mask is None else mask_item(refined_mask, i),",
          "None if refined_mask is None else mask_item(refined_mask, 0),", BATCH_T),
    BATCH("node.e2m.edited-item-0", N_E2M, "edit = image_item(edited, i)", "edit = image_item(edited, 0)", BATCH_T),
    BATCH("node.e2m.valid-item-0", N_E2M, "None if valid_mask is None else mask_item(valid_mask, i)",
          "None if valid_mask is None else mask_item(valid_mask, 0)", BATCH_T),
    BATCH("node.align.edited-item-0", N_ALIGN, "image_item(edited, i), model=model", "image_item(edited, 0), model=model",
          BATCH_T),
)

IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info",
                                "build", "dist")


def fragment_state(m: Mutation, root: Path) -> str:
    for file, original, _ in m.edits:
        path = root / file
        if not path.is_file():
            return f"stale ({file} missing)"
        n = path.read_text().count(original)
        if n != 1:
            return f"stale (fragment not found in {file})" if n == 0 else f"stale (fragment found {n} times in {file})"
    return "found"


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """'pass', 'fail', 'timeout' or 'error' (pytest could not collect / usage error), and the seconds taken."""
    env = {k: v for k, v in os.environ.items() if k != "ZONE_COMFYUI_PATH"}
    env.update(PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore", *tests]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t
    seconds = time.perf_counter() - t
    if proc.returncode == 0:
        return "pass", seconds
    if proc.returncode in (1, 2):  # failures / collection errors caused by the mutation (e.g. an import failing)
        return "fail", seconds
    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
    return "error", seconds


def apply_and_run(m: Mutation, copy: Path, timeout: float) -> tuple[str, str]:
    """Apply ``m`` to ``copy``, run its tests, restore the file: (verdict, report line)."""
    state = fragment_state(m, copy)
    if state != "found":
        return "stale", f"{'STALE':9s} {m.id:40s} {state}"
    sources: dict[Path, str] = {}
    changed: dict[Path, str] = {}
    for file, original, replacement in m.edits:
        path = copy / file
        sources.setdefault(path, path.read_text())
        changed[path] = changed.get(path, sources[path]).replace(original, replacement, 1)
    for path, text in changed.items():
        try:
            if path.suffix == ".py":
                compile(text, str(path), "exec")
            elif path.suffix == ".json":
                json.loads(text)
        except (SyntaxError, ValueError) as exc:
            return "error", f"{'ERROR':9s} {m.id:40s} the mutated {path.name} does not parse: {exc}"
    try:
        for path, text in changed.items():
            path.write_text(text)
        outcome, seconds = run_tests(copy, m.tests, timeout)
    finally:
        for path, text in sources.items():
            path.write_text(text)
    verdict = {"fail": "caught", "timeout": "timeout", "pass": "survived", "error": "error"}[outcome]
    return verdict, f"{verdict.upper():9s} {m.id:40s} {m.kind:7s} {seconds:5.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", action="append", default=[], help="run mutations whose id contains this (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations and whether their fragments exist")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per test run (then: timeout)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run (not recommended)")
    parser.add_argument("--kind", choices=KINDS, action="append", help="only the mutations of this kind (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutations run at once, each in its own copy")
    args = parser.parse_args(argv)

    ids = [m.id for m in MUTATIONS]
    assert len(ids) == len(set(ids)), "duplicate mutation ids"
    chosen = [m for m in MUTATIONS if (not args.k or any(k in m.id for k in args.k))
              and (not args.kind or m.kind in args.kind)]
    if args.list:
        for m in chosen:
            print(f"{m.id:40s} {m.kind:8s} {m.file:38s} {fragment_state(m, ROOT)}")
        print(f"{len(chosen)} mutations")
        return 0

    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="zone_mutation_") as tmp:
        copies = []
        for j in range(max(1, args.jobs)):  # one copy per worker: a worker's mutation never meets another's
            copy = Path(tmp) / f"repo{j}"
            shutil.copytree(ROOT, copy, ignore=IGNORE, symlinks=True)
            copies.append(copy)
        live = [m for m in chosen if fragment_state(m, copies[0]) == "found"]
        if live and not args.no_baseline:
            union = tuple(dict.fromkeys(t for m in live for t in m.tests))
            state, seconds = run_tests(copies[0], union, args.timeout * 3)
            print(f"baseline (unmutated, {len(union)} test selections): {state} in {seconds:.0f} s", flush=True)
            if state != "pass":
                print("the mapped tests do not pass on the unmutated tree: fix them first", file=sys.stderr)
                return 2
        free = queue.Queue()
        for copy in copies:
            free.put(copy)

        def one(m: Mutation) -> None:
            copy = free.get()
            try:
                verdict, line = apply_and_run(m, copy, args.timeout)
            finally:
                free.put(copy)
            results[m.id] = verdict
            print(line, flush=True)

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            list(pool.map(one, chosen))

    counts = {k: sum(v == k for v in results.values()) for k in ("caught", "survived", "stale", "error", "timeout")}
    live_n = counts["caught"] + counts["survived"]
    score = counts["caught"] / live_n if live_n else float("nan")
    print(f"\nmutation score: {counts['caught']} caught / {live_n} live = {score:.1%}; "
          f"survived {counts['survived']}, stale {counts['stale']}, error {counts['error']}, "
          f"timeout {counts['timeout']}")
    for kind in KINDS:
        ks = [m.id for m in chosen if m.kind == kind and results.get(m.id) in ("caught", "survived")]
        caught = sum(results[i] == "caught" for i in ks)
        print(f"  {kind}: {caught} / {len(ks)} caught")
    survivors = [i for i, v in results.items() if v != "caught"]
    if survivors:
        print("not caught: " + ", ".join(survivors))
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())
