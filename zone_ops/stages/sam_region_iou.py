"""Stage 4, Region-IoU (Li et al., CVPR 2024): snap the coarse edit mask to the SAM segments that overlap it best.

SAM's automatic mask generator ("segment everything", official defaults: 32 points per side, pred_iou_thresh
0.88, stability_score_thresh 0.95, box NMS 0.7) segments one image (the canvas for change/add, the ORIGINAL for
remove); the segment S with the largest IoU(S, M) = |S & M| / |S | M| with the coarse mask M is the refined mask
(rule ``official``).

Rule ``union``: SAM often returns an object as several parts (a car as windows and wheels), and the
single best part then covers a fraction of the edit, which stage 5 can never get back. ``union`` starts from the
official best segment and adds segments that lie mostly inside M (|S & M| / |S| >= ``min_inside``, most inside
first) as long as each addition raises the IoU of the union with M. It starts from the official choice and only
accepts improvements, so its IoU is never lower than the official one.

Rule ``evidence`` (default): the edit's own evidence, a second vote. The attention map is 16x16 at 512 px (cells of
~32 px), so on an object under ~100 px, or a long thin one, the coarse mask covers only part of it and ``union``
stays at the coarse mask's size. ``evidence`` takes ``union``'s region (guard included) and adds every segment that
TOUCHES the coarse mask and is MOSTLY CHANGED: at least ``min_changed`` of its pixels lie in the change map
``changed`` (where the canvas differs from the original beyond the global colour drift, e.g. the any-editor
Difference To Mask, ``any_editor.edit_to_mask``), counting only the changed regions connected to the coarse mask,
eroded by ``EVIDENCE_ERODE`` px (slivers along the edit's border do not count).
A changed region not connected to the coarse mask adds nothing, and a change map covering more than
``GLOBAL_CHANGE`` of the picture (a global re-render) is not used. For remove the segments are the ORIGINAL's, so
the object that disappeared is the one added. Its mask always contains ``union``'s; without a change map it IS
``union``'s. On benchmarks/overedit.py (29 cases, classical segments for SAM) the mean edit kept goes from 0.908
(union) to 0.991, the lowest from 0.185 to 0.968, with no case worse than the raw canvas.

Guard (``min_iou``, all rules): when the chosen region's IoU with M is below ``min_iou``, it explains the coarse
mask poorly (a coarse mask shifted off a small object, a background segment); the refined mask is then the chosen
region united with M (``extended``), and the message says so. ``min_iou`` 0 turns the guard off (official).

Differences from the official code, on purpose:
- No overlapping segment (or no segment at all, or an empty coarse mask): the coarse mask is returned with
  ``fell_back=True`` and a message saying why (the official code crashes).
- Ties: the first segment in generation order wins (argmax semantics).
- ``crop=True``: segments are generated only on the coarse mask's bounding box plus ``crop_margin`` (a fraction
  of the box's longer side), which is faster and finer for small regions. The crop contains the whole coarse
  mask, so IoUs equal full-frame IoUs of the pasted-back segments; a segment cut by the crop border is reported.
- A coarse mask of another size than the segmented image is resized to it (linear, >= 0.5) and the message says
  so (``refine_with_sam``); ``refine_with_segments`` / ``best_segment`` require equal sizes.

Public API: ``best_segment``, ``union_segments``, ``evidence_segments``, ``connected_change``,
``refine_with_segments``, ``refine_with_sam``, ``generate_segments``, ``region_crop_box``, ``segment_image_choice``,
``preview_segments``, ``Segments``, ``RefineResult``, ``AMG_DEFAULTS``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..core.cancel import check_cancel as _cancel_hook
from ..core.images import ZoneInputError, binary_mask, check_number, mask_box, resize_image, resize_mask, to_rgb
from ..core.preview import overlay_mask
from ..core.types import ZoneAction
from .fft_edge_smoother import size_scale

#: Official automatic-mask-generation parameters (segment_anything defaults, used by ZONE with ViT-H).
#: Longest side at which SAM segments (SAM's own input size); 0 segments at full resolution.
SEGMENT_MAX_SIDE = 1024

AMG_DEFAULTS: dict[str, Any] = {
    "points_per_side": 32,
    "points_per_batch": 64,
    "pred_iou_thresh": 0.88,
    "stability_score_thresh": 0.95,
    "box_nms_thresh": 0.7,
    "crop_n_layers": 0,
    "min_mask_region_area": 0,
}

#: Region-IoU rules: "evidence" (default) adds the changed segments touching the coarse mask to union's region;
#: "union" adds parts of the edited object to the best segment; "official" keeps one.
RULES = ("evidence", "union", "official")
RULE_DEFAULT = "evidence"
#: evidence: a segment touching the coarse mask joins when at least this fraction of it is changed.
MIN_CHANGED = 0.5
#: evidence: a change map covering more than this fraction of the picture is a global re-render and is not used.
GLOBAL_CHANGE = 0.5
#: evidence: the change map is eroded by this many px (at 512x512, scaled with sqrt(H*W)) before segments are
#: counted, so slivers along the edit's border (blur, resampling) do not make a border segment "changed".
EVIDENCE_ERODE = 2.0
#: union: a segment may join when at least this fraction of its pixels lies inside the coarse mask.
MIN_INSIDE = 0.4
#: Guard: a chosen region whose IoU with the coarse mask is below this is extended with the coarse mask (0: off).
MIN_IOU = 0.3

Progress = Callable[[int, int], None]


@dataclass
class Segments:
    """SAM segments in a frame of the image: the whole image, or the crop box of crop mode.

    masks:     bool [h, w] each (frame-local).
    boxes:     int [N, 4] (y0, y1, x0, x1), frame-local, end-exclusive bounding boxes.
    areas:     int [N] pixel counts.
    offset:    (y, x) of the frame's top-left corner in the full image.
    full_size: (H, W) of the full image.
    """

    masks: list[np.ndarray]
    boxes: np.ndarray
    areas: np.ndarray
    offset: tuple[int, int] = (0, 0)
    full_size: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def frame(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the frame in the full image."""
        h, w = self.masks[0].shape if self.masks else (self.full_size or (0, 0))
        return self.offset[0], self.offset[0] + h, self.offset[1], self.offset[1] + w

    def full(self, index: int) -> np.ndarray:
        """Segment ``index`` pasted into a bool [H, W] array of the full image."""
        return self.union((index,))

    def union(self, indices: Sequence[int]) -> np.ndarray:
        """The union of the segments ``indices`` pasted into a bool [H, W] array of the full image."""
        size = self.full_size or self.masks[indices[0]].shape
        out = np.zeros(size, dtype=bool)
        y0, y1, x0, x1 = self.frame
        view = out[y0:y1, x0:x1]
        for i in indices:
            view |= self.masks[i]
        return out

    @classmethod
    def from_masks(cls, masks: np.ndarray | Sequence[np.ndarray]) -> "Segments":
        """Wrap bool [N, H, W] (or a list of [H, W]) full-frame masks, computing boxes and areas."""
        arrays = [_as_bool(m, f"segment {i}") for i, m in enumerate(masks)]
        boxes = np.array([_bbox(m) or (0, 0, 0, 0) for m in arrays], dtype=np.int64).reshape(-1, 4)
        areas = np.array([np.count_nonzero(m) for m in arrays], dtype=np.int64)
        return cls(arrays, boxes, areas, (0, 0), arrays[0].shape if arrays else None)


@dataclass
class RefineResult:
    """Outcome of Region-IoU.

    mask:         bool [H, W] refined mask (the chosen segments, united with the coarse mask when ``extended``;
                  the coarse mask when ``fell_back``).
    iou:          IoU of the chosen segments' union with the coarse mask, before rule evidence's additions (0.0
                  when falling back).
    index:        index of the best single segment in ``segments`` (-1 when falling back).
    fell_back:    True when the coarse mask was returned instead of a segment.
    message:      "" when all went as planned, otherwise what happened, for the user.
    num_segments: number of segments SAM produced.
    segments:     the segments (for previews), or None.
    crop_box:     (y0, y1, x0, x1) of crop mode, or None.
    indices:      the chosen segments (``index`` first; more with rules "union" and "evidence"); () when falling back.
    extended:     True when the guard united the chosen region with the coarse mask (IoU below ``min_iou``).
    added:        the segments rule "evidence" added (also in ``indices``); () otherwise.
    """

    mask: np.ndarray
    iou: float
    index: int
    fell_back: bool
    message: str
    num_segments: int
    segments: Segments | None = field(default=None, repr=False)
    crop_box: tuple[int, int, int, int] | None = None
    indices: tuple[int, ...] = ()
    extended: bool = False
    added: tuple[int, ...] = ()


def _as_bool(mask: Any, name: str) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype == bool:
        if arr.ndim != 2:
            raise ZoneInputError(f"{name} must be [H, W], got shape {arr.shape}")
        return arr
    return binary_mask(arr, name=name)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) end-exclusive bounding box of a bool [H, W] mask, None if empty (``mask_box`` as ints)."""
    box = mask_box(mask)
    return None if box is None else (box[0].start, box[0].stop, box[1].start, box[1].stop)


def best_segment(
    segments: np.ndarray | Sequence[np.ndarray] | Segments,
    coarse: np.ndarray,
    *,
    boxes: np.ndarray | None = None,
    areas: np.ndarray | None = None,
) -> tuple[int, float]:
    """Index and IoU of the segment with the largest IoU with ``coarse``; (-1, 0.0) when none overlaps.

    segments: bool [N, H, W], a list of bool [H, W], or ``Segments`` (same frame as ``coarse``).
    coarse:   bool [H, W] (float masks are thresholded at 0.5).
    boxes / areas: optional (y0, y1, x0, x1) end-exclusive bounding boxes and pixel counts of the segments
    (``Segments`` carries them); with them only the overlap of the two boxes is read.
    Ties go to the lowest index. Counting is restricted to bounding boxes, so 100 segments of 2048x2048 take
    milliseconds, not seconds.
    """
    if isinstance(segments, Segments):
        boxes = segments.boxes if boxes is None else boxes
        areas = segments.areas if areas is None else areas
        segments = segments.masks
    m = _as_bool(coarse, "coarse mask")
    n = len(segments)
    cb = _bbox(m)
    if n == 0 or cb is None:
        return -1, 0.0
    m_area = int(np.count_nonzero(m))
    cy0, cy1, cx0, cx1 = cb
    best, best_iou = -1, 0.0
    for i in range(n):
        if i % 64 == 0:
            _cancel_hook()
        s = segments[i]
        if s.dtype != bool:
            s = _as_bool(s, f"segment {i}")
        if s.shape != m.shape:
            raise ZoneInputError(f"segment {i} is {s.shape[0]}x{s.shape[1]} but the coarse mask is {m.shape[0]}x{m.shape[1]}")
        y0, y1, x0, x1 = cy0, cy1, cx0, cx1
        if boxes is not None:
            by0, by1, bx0, bx1 = (int(v) for v in boxes[i])
            y0, y1, x0, x1 = max(y0, by0), min(y1, by1), max(x0, bx0), min(x1, bx1)
            if y0 >= y1 or x0 >= x1:
                continue
        inter = int(np.count_nonzero(s[y0:y1, x0:x1] & m[y0:y1, x0:x1]))
        if inter == 0:
            continue
        area = int(areas[i]) if areas is not None else int(np.count_nonzero(s))
        iou = inter / (area + m_area - inter)
        if iou > best_iou:
            best, best_iou = i, iou
    return best, float(best_iou)


def union_segments(
    segments: Segments, coarse: np.ndarray, start: int, min_inside: float = MIN_INSIDE
) -> tuple[tuple[int, ...], float]:
    """Rule "union": grow segment ``start`` by segments lying mostly inside ``coarse`` while the IoU improves.

    segments: ``Segments``; coarse: bool [h, w] in the segments' frame. Candidates are the segments with
    |S & M| / |S| >= ``min_inside``, tried most-inside first (ties: larger first), in passes until none is added;
    one joins when the union's IoU with ``coarse`` strictly rises. Returns (chosen indices, ``start`` first; the
    union's IoU). Counting is restricted to bounding boxes.
    """
    m = _as_bool(coarse, "coarse mask")
    cb = _bbox(m)
    if cb is None or not 0 <= start < len(segments):
        return (), 0.0
    cy0, cy1, cx0, cx1 = cb
    m_area = int(np.count_nonzero(m))
    current = segments.masks[start].copy()
    area = int(np.count_nonzero(current))
    inter = int(np.count_nonzero(current & m))
    iou = inter / (area + m_area - inter)
    candidates = []
    for i, (box, seg_area) in enumerate(zip(segments.boxes, segments.areas)):
        if i % 64 == 0:
            _cancel_hook()
        by0, by1, bx0, bx1 = (int(v) for v in box)
        y0, y1, x0, x1 = max(cy0, by0), min(cy1, by1), max(cx0, bx0), min(cx1, bx1)
        if i == start or seg_area <= 0 or y0 >= y1 or x0 >= x1:
            continue
        inside = np.count_nonzero(segments.masks[i][y0:y1, x0:x1] & m[y0:y1, x0:x1]) / float(seg_area)
        if inside >= min_inside:
            candidates.append((-inside, -int(seg_area), i))
    chosen = [start]
    pending = [i for _, _, i in sorted(candidates)]
    while pending:
        left = []
        for i in pending:
            by0, by1, bx0, bx1 = (int(v) for v in segments.boxes[i])
            box = (slice(by0, by1), slice(bx0, bx1))
            new = segments.masks[i][box] & ~current[box]
            grow = int(np.count_nonzero(new))
            gain = int(np.count_nonzero(new & m[box]))
            better = (inter + gain) / (area + grow + m_area - inter - gain) if grow else iou
            if better > iou:
                current[box] |= new
                area, inter, iou = area + grow, inter + gain, better
                chosen.append(i)
            elif grow:
                left.append(i)
        if len(left) == len(pending):
            break
        pending = left
    return tuple(chosen), float(iou)


def connected_change(changed: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """The changed regions connected to the coarse mask: the 8-connected components of ``changed`` (bool [H, W])
    that overlap ``coarse`` (bool [H, W]). New bool [H, W]."""
    hit = changed & coarse
    if not hit.any():
        return np.zeros(changed.shape, bool)
    _, labels = cv2.connectedComponents(np.ascontiguousarray(changed, np.uint8), connectivity=8)
    keep = np.zeros(int(labels.max()) + 1, bool)
    keep[np.unique(labels[hit])] = True
    keep[0] = False
    return keep[labels]


def evidence_segments(
    segments: Segments, coarse: np.ndarray, changed: np.ndarray, chosen: Sequence[int] = (),
    min_changed: float = MIN_CHANGED,
) -> tuple[int, ...]:
    """Rule "evidence": the segments (not in ``chosen``) that touch ``coarse`` and are mostly changed.

    segments: ``Segments``; coarse, changed: bool [h, w] in the segments' frame, ``changed`` already restricted
    to the regions connected to the coarse mask (``connected_change``). A segment joins when it overlaps
    ``coarse`` and at least ``min_changed`` of its pixels are in ``changed``. Returns the added indices in
    generation order. Counting is restricted to bounding boxes.
    """
    m = _as_bool(coarse, "coarse mask")
    cb = _bbox(m)
    if cb is None or not changed.any():
        return ()
    cy0, cy1, cx0, cx1 = cb
    skip = set(chosen)
    added = []
    for i, (box, seg_area) in enumerate(zip(segments.boxes, segments.areas)):
        by0, by1, bx0, bx1 = (int(v) for v in box)
        if i in skip or seg_area <= 0 or max(cy0, by0) >= min(cy1, by1) or max(cx0, bx0) >= min(cx1, bx1):
            continue
        seg = segments.masks[i][by0:by1, bx0:bx1]
        if not (seg & m[by0:by1, bx0:bx1]).any():
            continue
        if np.count_nonzero(seg & changed[by0:by1, bx0:bx1]) >= min_changed * float(seg_area):
            added.append(i)
    return tuple(added)


def check_rule(rule: str = RULE_DEFAULT, min_inside: float = MIN_INSIDE, min_iou: float = MIN_IOU,
               min_changed: float = MIN_CHANGED) -> str:
    """Validate the Region-IoU rule parameters (ZoneInputError naming the widget); returns the rule."""
    if rule not in RULES:
        raise ZoneInputError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    for name, value in (("min_inside", min_inside), ("min_iou", min_iou), ("min_changed", min_changed)):
        if not (isinstance(value, numbers.Real) and 0.0 <= float(value) <= 1.0):
            raise ZoneInputError(f"{name} must be a number in 0..1, got {value!r}")
    return rule


def refine_with_segments(
    segments: np.ndarray | Sequence[np.ndarray] | Segments,
    coarse: np.ndarray,
    *,
    crop_box: tuple[int, int, int, int] | None = None,
    rule: str = RULE_DEFAULT,
    min_inside: float = MIN_INSIDE,
    min_iou: float = MIN_IOU,
    changed: np.ndarray | None = None,
    min_changed: float = MIN_CHANGED,
) -> RefineResult:
    """Region-IoU on given segments (any source). ``coarse`` is bool [H, W] of the FULL image.

    ``segments``: ``Segments`` (its frame may be a crop of the full image) or full-frame masks [N, H, W].
    rule: "evidence" (default: union's region plus the segments touching the coarse mask that are at least
    ``min_changed`` changed, see ``evidence_segments``), "union" (the best segment plus the parts lying mostly
    inside the coarse mask, see ``union_segments``) or "official" (the single best segment). min_iou: when the
    chosen region's IoU with the coarse mask is below it, the coarse mask is added to the region (``extended``;
    0 = off). changed: bool/float [H, W] change map of the full image (where the canvas differs from the original
    beyond the colour drift; resized if needed), used by rule "evidence" only; None: evidence gives union's mask.
    These defaults are the node's. Returns the refined mask at full size, or the coarse mask with ``fell_back``
    and a message.
    """
    check_rule(rule, min_inside, min_iou, min_changed)
    m = _as_bool(coarse, "coarse mask")
    segs = segments if isinstance(segments, Segments) else Segments.from_masks(segments)
    n = len(segs)
    if segs.full_size is not None and tuple(segs.full_size) != m.shape:
        raise ZoneInputError(
            f"the segments are for a {segs.full_size[0]}x{segs.full_size[1]} image but the coarse mask is "
            f"{m.shape[0]}x{m.shape[1]}; resize the mask to the image first"
        )
    if not m.any():
        return RefineResult(m.copy(), 0.0, -1, True, "the coarse mask is empty, nothing to refine: kept it as is", n, segs, crop_box)
    if n == 0:
        msg = "SAM found no segments: kept the coarse mask (lower pred_iou_thresh / stability_score_thresh or add points)"
        return RefineResult(m.copy(), 0.0, -1, True, msg, 0, segs, crop_box)
    y0, y1, x0, x1 = segs.frame
    local = m[y0:y1, x0:x1]
    if np.count_nonzero(local) != np.count_nonzero(m):
        raise ZoneInputError("the segments' frame does not contain the whole coarse mask")
    index, iou = best_segment(segs, local)
    if index < 0:
        msg = f"none of the {n} SAM segments overlaps the coarse mask: kept the coarse mask"
        return RefineResult(m.copy(), 0.0, -1, True, msg, n, segs, crop_box)
    indices = (index,)
    if rule != "official":
        indices, iou = union_segments(segs, local, index, min_inside)
    notes = []
    added: tuple[int, ...] = ()
    if rule == "evidence":
        added, note = _evidence(segs, m, changed, indices, min_changed)
        indices += added
        notes += [note] if note else []
    if crop_box is not None:
        h, w = segs.masks[index].shape
        H, W = m.shape
        for i in indices:
            by0, by1, bx0, bx1 = (int(v) for v in segs.boxes[i])
            if (by0 == 0 and y0 > 0) or (bx0 == 0 and x0 > 0) or (by1 == h and y1 < H) or (bx1 == w and x1 < W):
                notes.append("the chosen segment reaches the crop border and may be cut: raise crop_margin or turn "
                             "crop mode off")
                break
    mask = segs.union(indices)
    extended = iou < min_iou
    if extended:
        mask |= m
        notes.append(f"the chosen region explains the coarse mask poorly (IoU {iou:.3f} < min_iou {min_iou:g}): "
                     "extended it with the coarse mask")
    return RefineResult(mask, iou, index, False, "; ".join(notes), n, segs, crop_box, indices, extended, added)


def _evidence(segs: Segments, coarse: np.ndarray, changed: np.ndarray | None, chosen: tuple[int, ...],
              min_changed: float) -> tuple[tuple[int, ...], str]:
    """Rule "evidence" on full-size bool ``coarse`` and the change map ``changed`` (or None): (added segments,
    a note for the user or "")."""
    if changed is None:
        return (), ""
    c = binary_mask(changed, coarse.shape, "changed mask")
    share = float(np.count_nonzero(c)) / c.size
    if share > GLOBAL_CHANGE:
        return (), (f"the canvas differs from the original over {100 * share:.0f} % of the picture (a global "
                    f"re-render, more than {100 * GLOBAL_CHANGE:.0f} %): the change map was not used")
    y0, y1, x0, x1 = segs.frame
    near = connected_change(c, coarse)
    r = int(round(EVIDENCE_ERODE * size_scale(c.shape)))
    if r > 0:
        near = cv2.erode(near.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)).view(bool)
    near = near[y0:y1, x0:x1]
    added = evidence_segments(segs, coarse[y0:y1, x0:x1], near, chosen, min_changed)
    if not added:
        return (), ""
    return added, (f"added {len(added)} changed segment{'s' if len(added) > 1 else ''} touching the coarse mask "
                   f"({'+'.join(str(i) for i in added)}, >= {min_changed:g} changed)")


def region_crop_box(coarse: np.ndarray, margin: float = 0.5, min_size: int = 32) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) crop around the coarse mask: its bounding box grown by ``margin`` x its longer side on each
    side (at least 8 px), at least ``min_size`` px per side where the image allows, clipped to the image.
    None for an empty mask."""
    m = _as_bool(coarse, "coarse mask")
    box = _bbox(m)
    if box is None:
        return None
    H, W = m.shape
    y0, y1, x0, x1 = box
    pad = max(8, int(math.ceil(float(margin) * max(y1 - y0, x1 - x0))))
    y0, y1, x0, x1 = y0 - pad, y1 + pad, x0 - pad, x1 + pad
    cy = _grow(y0, y1, min_size, H)
    cx = _grow(x0, x1, min_size, W)
    return cy[0], cy[1], cx[0], cx[1]


def _grow(a: int, b: int, min_size: int, limit: int) -> tuple[int, int]:
    """Clip [a, b) to [0, limit) after widening it around its centre to ``min_size`` (shifted inside the image)."""
    if b - a < min_size:
        a = (a + b) // 2 - min_size // 2
        b = a + min_size
        if a < 0:
            a, b = 0, b - a
        if b > limit:
            a, b = a - (b - limit), limit
    return max(0, a), min(limit, b)


def _amg_backend(sam: Any) -> tuple[type, Callable[..., Any]]:
    """The automatic mask generator class and ``generate_crop_boxes`` of the package that made ``sam``: SAM 2 / 2.1
    (``sam2``) or SAM v1 (``segment_anything``). Both take the same settings and return the same records."""
    from ..models.sam2_loader import is_sam2_model

    if is_sam2_model(sam):
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        from sam2.utils.amg import generate_crop_boxes

        return SAM2AutomaticMaskGenerator, generate_crop_boxes
    from segment_anything import SamAutomaticMaskGenerator
    from segment_anything.utils.amg import generate_crop_boxes

    return SamAutomaticMaskGenerator, generate_crop_boxes


def _sam2_hole_filling_off(generator: Any) -> None:
    """SAM 2's predictor fills holes / removes specks of ``min_mask_region_area`` with its optional compiled
    extension and warns on every batch when it is missing (a CPU install): turn that step off then. The generator's
    own OpenCV small-region removal (the same as SAM v1's) still runs."""
    transforms = getattr(getattr(generator, "predictor", None), "_transforms", None)
    if transforms is None:
        return
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        transforms.max_hole_area = transforms.max_sprinkle_area = 0.0


class _ReportingGenerator:
    """Builds an automatic mask generator subclass (SAM v1 or SAM 2, ``_amg_backend``) that reports each point
    batch and honours cancel."""

    @staticmethod
    def make(sam: Any, progress: Progress | None, check_cancel: Callable[[], None] | None, **params: Any) -> Any:
        import torch

        base, generate_crop_boxes = _amg_backend(sam)

        class Generator(base):  # type: ignore[valid-type, misc]
            def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
                _, layers = generate_crop_boxes(image.shape[:2], self.crop_n_layers, self.crop_overlap_ratio)
                self._total = sum(math.ceil(len(self.point_grids[k]) / self.points_per_batch) for k in layers)
                self._done = 0
                if progress:
                    progress(0, self._total)
                return super().generate(image)

            def _process_crop(self, *args: Any) -> Any:
                data = super()._process_crop(*args)
                if len(data["rles"]) == 0:  # segment-anything leaves [0] here, then indexes it as [N, 4] boxes
                    data["crop_boxes"] = torch.zeros((0, 4), dtype=torch.int64)
                return data

            def _process_batch(self, *args: Any, **kwargs: Any) -> Any:
                if check_cancel:
                    check_cancel()
                data = super()._process_batch(*args, **kwargs)
                self._done += 1
                if progress:
                    progress(self._done, self._total)
                return data

        generator = Generator(sam, output_mode="binary_mask", **params)
        _sam2_hole_filling_off(generator)
        return generator


def generate_segments(
    sam: Any,
    image: np.ndarray,
    *,
    points_per_side: int = 32,
    points_per_batch: int = 64,
    pred_iou_thresh: float = 0.88,
    stability_score_thresh: float = 0.95,
    box_nms_thresh: float = 0.7,
    crop_n_layers: int = 0,
    min_mask_region_area: int = 0,
    box: tuple[int, int, int, int] | None = None,
    progress: Progress | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Segments:
    """SAM automatic mask generation on ``image`` (float [H, W, 3] 0..1, or uint8), or on its ``box`` =
    (y0, y1, x0, x1) only. Returns the segments in that frame. ``progress(done, total)`` is called per point batch,
    ``check_cancel()`` before each (it raises to abort)."""
    rgb = to_rgb(image, "image")
    H, W = rgb.shape[:2]
    y0, y1, x0, x1 = box if box is not None else (0, H, 0, W)
    if not (0 <= y0 < y1 <= H and 0 <= x0 < x1 <= W):
        raise ZoneInputError(f"crop box {box} is outside the {H}x{W} image")
    if points_per_side < 1 or points_per_batch < 1:
        raise ZoneInputError("points_per_side and points_per_batch must be at least 1")
    u8 = np.ascontiguousarray((rgb[y0:y1, x0:x1] * 255.0 + 0.5).astype(np.uint8))
    gen = _ReportingGenerator.make(
        sam,
        progress,
        check_cancel,
        points_per_side=int(points_per_side),
        points_per_batch=int(points_per_batch),
        pred_iou_thresh=float(pred_iou_thresh),
        stability_score_thresh=float(stability_score_thresh),
        box_nms_thresh=float(box_nms_thresh),
        crop_n_layers=int(crop_n_layers),
        min_mask_region_area=int(min_mask_region_area),
    )
    records = gen.generate(u8)
    masks = [np.asarray(r["segmentation"], dtype=bool) for r in records]
    h, w = u8.shape[:2]
    boxes = np.zeros((len(records), 4), dtype=np.int64)
    for i, r in enumerate(records):  # AMG bbox: XYWH with inclusive max -> end-exclusive (y0, y1, x0, x1)
        bx, by, bw, bh = (int(round(v)) for v in r["bbox"])
        boxes[i] = (max(0, by), min(h, by + bh + 1), max(0, bx), min(w, bx + bw + 1))
    areas = np.array([int(r["area"]) for r in records], dtype=np.int64)
    return Segments(masks, boxes, areas, (y0, x0), (H, W))


def refine_with_sam(
    sam: Any,
    image: np.ndarray,
    coarse: np.ndarray,
    *,
    crop: bool = False,
    crop_margin: float = 0.5,
    max_side: int = SEGMENT_MAX_SIDE,
    rule: str = RULE_DEFAULT,
    min_inside: float = MIN_INSIDE,
    min_iou: float = MIN_IOU,
    changed: np.ndarray | None = None,
    min_changed: float = MIN_CHANGED,
    progress: Progress | None = None,
    check_cancel: Callable[[], None] | None = None,
    **amg: Any,
) -> RefineResult:
    """Segment ``image`` (float [H, W, 3] 0..1) with SAM and pick the segment best matching ``coarse`` [H, W].

    ``amg``: the automatic-mask-generation parameters of ``generate_segments`` (names and official defaults in
    ``AMG_DEFAULTS``: points_per_side, points_per_batch, pred_iou_thresh, stability_score_thresh, box_nms_thresh,
    crop_n_layers, min_mask_region_area). ``crop=True`` segments only ``region_crop_box(coarse, crop_margin)``.
    A coarse mask of another size is resized to the image (noted in the message). An empty coarse mask returns at
    once (no SAM run) with ``fell_back``.
    ``max_side``: SAM segments a copy whose longest side is at most this (0: full resolution). SAM predicts masks
    at 256x256 and upsamples them, so nothing is lost, while the automatic mask generator's full-resolution
    upsampling of every candidate (GBs and minutes at 2048-4096 px) is avoided. Only the chosen segment is
    upsampled to the image size; on a fallback the full-resolution coarse mask is returned unchanged.
    ``rule``, ``min_inside``, ``min_iou``, ``changed`` (change map, any size), ``min_changed``: the choice among
    the segments (``refine_with_segments``).
    """
    check_rule(rule, min_inside, min_iou, min_changed)
    unknown = set(amg) - set(AMG_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown SAM parameter(s) {sorted(unknown)}; known: {sorted(AMG_DEFAULTS)}")
    crop_margin = check_number(crop_margin, "crop_margin", 0.0)
    rgb = to_rgb(image, "image")
    size = rgb.shape[:2]
    notes = []
    m = _as_bool(coarse, "coarse mask")
    if m.shape != size:
        notes.append(f"coarse mask {m.shape[0]}x{m.shape[1]} resized to the image's {size[0]}x{size[1]}")
        m = binary_mask(m, size)
    if not m.any():
        empty = Segments([], np.zeros((0, 4), np.int64), np.zeros(0, np.int64), (0, 0), size)
        result = refine_with_segments(empty, m, rule=rule, min_inside=min_inside, min_iou=min_iou,
                                      min_changed=min_changed)
    else:
        work = segment_size(size, max_side)
        work_rgb, work_m = (rgb, m) if work == size else (resize_image(rgb, work), binary_mask(m, work))
        if not work_m.any():  # a sliver that vanished when shrinking: keep every pixel it touches
            work_m = resize_mask(m, work) > 0
        box = region_crop_box(work_m, crop_margin) if crop else None
        segs = generate_segments(sam, work_rgb, box=box, progress=progress, check_cancel=check_cancel, **amg)
        result = refine_with_segments(segs, work_m, crop_box=box, rule=rule, min_inside=min_inside, min_iou=min_iou,
                                      changed=changed, min_changed=min_changed)
        if work != size:
            if result.fell_back:
                result.mask = m.copy()
            else:  # upscale the chosen segments only; the guard's extension uses the full-resolution coarse mask
                result.mask = binary_mask(segs.union(result.indices), size)
                if result.extended:
                    result.mask |= m
            notes.append(f"segmented at {work[1]}x{work[0]} (max side {max_side}), chosen segment upscaled")
    if notes:
        result.message = "; ".join(notes + ([result.message] if result.message else []))
    return result


def segment_size(size: tuple[int, int], max_side: int = SEGMENT_MAX_SIDE) -> tuple[int, int]:
    """(h, w) at which SAM segments an image of ``size`` = (H, W): longest side at most ``max_side`` (0: no limit)."""
    longest = max(size)
    if max_side <= 0 or longest <= max_side:
        return (int(size[0]), int(size[1]))
    scale = max_side / longest
    return (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))


def segment_image_choice(choice: str = "auto", action: ZoneAction | None = None) -> str:
    """Which image SAM segments: "canvas" or "original". ``auto`` follows the action (original for remove,
    Li et al., CVPR 2024), and the canvas when no action is given."""
    choice = (choice or "auto").strip().lower()
    if choice in ("canvas", "original"):
        return choice
    if choice != "auto":
        raise ZoneInputError(f"segment_on must be auto, canvas or original, not {choice!r}")
    return "original" if action is not None and action.segments_original else "canvas"


def _palette(n: int) -> np.ndarray:
    """``n`` distinct bright colours (golden-ratio hues), float32 [n, 3] in 0..1."""
    hues = ((np.arange(n) * 0.618033988749895) % 1.0 * 179).astype(np.uint8)
    hsv = np.stack([hues, np.full(n, 200, np.uint8), np.full(n, 255, np.uint8)], axis=-1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0].astype(np.float32) / 255.0


def preview_segments(image: np.ndarray, result: RefineResult, coarse: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """Float32 [H, W, 3]: every segment faintly coloured, the chosen one tinted green and outlined, the coarse mask
    outlined in red, the crop box (crop mode) drawn in yellow. Drawn at the size SAM segmented at (``max_side``),
    then resized to the image."""
    out = to_rgb(image).copy()
    segs = result.segments
    size = out.shape[:2]
    work = segs.full_size if segs is not None and segs.full_size else size
    if tuple(work) != size:
        out = resize_image(out, work)
        coarse = binary_mask(coarse, work)
        result = RefineResult(binary_mask(result.mask, work), result.iou, result.index, result.fell_back,
                              result.message, result.num_segments, segs, result.crop_box)
    if segs is not None and len(segs):
        y0, y1, x0, x1 = segs.frame
        labels = np.full((y1 - y0, x1 - x0), -1, dtype=np.int32)
        for i in np.argsort(-segs.areas, kind="stable"):  # small segments painted last, on top
            by0, by1, bx0, bx1 = segs.boxes[i]
            view = labels[by0:by1, bx0:bx1]
            view[segs.masks[i][by0:by1, bx0:bx1]] = i
        colours = _palette(len(segs))
        region = out[y0:y1, x0:x1]
        hit = labels >= 0
        region[hit] = region[hit] * (1.0 - alpha) + colours[labels[hit]] * alpha
    if not result.fell_back:
        out = overlay_mask(out, result.mask, color=(0.1, 1.0, 0.2), alpha=0.25)
    out = overlay_mask(out, coarse, color=(1.0, 0.15, 0.15), alpha=0.0)
    if result.crop_box is not None:
        y0, y1, x0, x1 = result.crop_box
        thickness = max(1, round(max(out.shape[:2]) / 256))
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (1.0, 0.9, 0.1), thickness)
    return out if tuple(work) == size else resize_image(out, size)
