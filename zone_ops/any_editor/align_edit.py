"""Align any editor's output to the original's frame (the first step of ZONE's localization without attention).

Instruction editors (Qwen-Image-Edit, FLUX Kontext, Gemini, GPT-image, Seedream, ...) return the picture at another
resolution (a ~1 MP bucket of another aspect), slightly zoomed, cropped at a border, shifted UNEVENLY by a few px
and with a colour cast, noise and JPEG artefacts. The original may be far larger (a 12 MP photo). ``align_edit``
finds, for every pixel of the original, where it is in the editor's output:

1. working frame: the original reduced (area) to about the editor's pixel count (never enlarged): every fit and
   tolerance below is in EDITOR px, the scale at which the editor's distortions are defined;
2. coarse estimate: ORB features on both at 512 px, ratio test, a robust fit of the chosen global ``model``
   (``translation``, ``similarity``, ``affine``, ``homography``; OpenCV MAGSAC / RANSAC);
3. fine estimate, twice: the edit is warped into the working frame by the current estimate, corners of the
   original are tracked into it with pyramidal Lucas-Kanade (forward-backward checked) from where they should be,
   and the global model is refitted robustly with a LOOSE tolerance (``LOOSE_TOLERANCE`` editor px: an editor's
   uneven shift of a few px is not an outlier), then a smooth residual field (cubic B-spline on a
   ``SMOOTH_CONTROLS`` x ``SMOOTH_CONTROLS`` grid, curvature-penalised, Huber-reweighted) on the agreeing points,
   whose final inliers are those within ``TIGHT_TOLERANCE`` editor px of model + field. The edit itself is an
   outlier of both fits;
4. dense residual flow (on by default, ``flow_cap`` editor px): OpenCV DIS both ways between the original and the
   warped, colour-corrected edit; each vector is weighted by its forward-backward consistency and photometric
   agreement, the field is smoothed by normalised convolution (it fades to 0 where nothing is confident: inside
   the edit, flat areas), then capped;
5. ``valid`` marks the original's pixels that the edit covers (a crop by the editor leaves the rest invalid);
   ``image`` is the edit resampled once (bicubic, from an area-reduced copy when it is larger) into the frame.

When fewer than ``MIN_INLIER_FRACTION`` of the tracked points agree even at the loose tolerance, the pictures do
not match (a restyle that changed the whole scene, another picture): the result is the plain resize, ``fell_back``
is True and ``note`` says why. When they do match but the edit kept little of the original's fine detail anywhere
(``detail_agreement`` below ``DETAIL_MIN``: the editor re-rendered the whole scene), ``restyle`` is True. In both
cases ``mismatch`` is True and the pipeline and the nodes paste nothing rather than a patchwork.

``align_edit`` returns the aligned image at the ORIGINAL's size (for the nodes); ``fit_alignment`` keeps it at the
working size, and ``render_edit`` resamples the edit into any frame of the original's aspect, in a box only (the
full-resolution paste of ``paste.py``). Arrays: images float32 [H, W, 3] in 0..1, masks bool [H, W]. Maps: the
working frame's pixel (x, y) is at editor px (``map_x``, ``map_y``). ``matrix`` is the global model as a 3x3
float64 from ORIGINAL px to px of the edit resized to the original's size. Nothing here mutates its input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..core.color_drift import fit_color_drift
from ..core.cancel import check_cancel
from ..core.images import ZoneInputError, resize_image, to_rgb

MODELS = ("translation", "similarity", "affine", "homography")
#: Images smaller than this on either side cannot be aligned meaningfully (the plain resize is used).
MIN_SIDE = 32
#: Side the ORB coarse search runs at, and the number of features it keeps.
COARSE_SIDE = 512
COARSE_FEATURES = 1500
#: Corners tracked for the fine fit, and the least number of agreeing points accepted.
FINE_POINTS = 1500
MIN_INLIERS = 12
#: ... and at least this fraction of the tracked points (fewer: the pictures do not match).
MIN_INLIER_FRACTION = 0.25
#: Reprojection threshold (px at the coarse working size) of the ORB fit.
COARSE_THRESHOLD = 3.0
#: Global-model tolerance in EDITOR px: points this close to the model agree (an editor's uneven shift included).
LOOSE_TOLERANCE = 4.0
#: Final tolerance in editor px: points this close to model + smooth field are the inliers reported.
TIGHT_TOLERANCE = 1.0
#: Smooth residual field: control points per side, curvature penalty, cap (editor px).
SMOOTH_CONTROLS = 6
SMOOTH_LAMBDA = 0.05
SMOOTH_CAP = 8.0
#: Default cap of the dense residual flow, editor px (0 = off).
FLOW_CAP = 2.0
#: Dense flow: forward-backward error scale (working px), photometric scale (x the robust noise), smoothing sigma
#: (fraction of the working diagonal), support below which the flow fades to 0.
FLOW_FB_SIGMA = 0.5
FLOW_PHOTO_FACTOR = 3.0
FLOW_SMOOTH = 0.01
FLOW_MIN_SUPPORT = 0.3
#: Restyle test: the original's and the aligned edit's fine detail (grey, band-passed between DETAIL_SIGMAS px) are
#: correlated per tile of a DETAIL_TILES x DETAIL_TILES grid; a median below DETAIL_MIN means the editor re-rendered
#: the whole scene (a local edit keeps the rest's detail: ~0.99 on the benchmarks; a cartoon filter: 0.1-0.4).
DETAIL_SIGMAS = (1.0, 4.0)
DETAIL_TILES = 12
DETAIL_MIN = 0.5
#: A fitted model that moves any corner further than this fraction of the diagonal is refused (not a drift).
MAX_CORNER_MOVE = 0.25
#: The edit is resampled from an area-reduced copy when one of its px is smaller than the frame's by this factor.
REDUCE_ABOVE = 1.25
#: Rows x cols rendered at once by ``render_edit`` (bounds the maps' memory at any size).
RENDER_TILE = 1 << 20


@dataclass(frozen=True)
class Alignment:
    """Result of ``align_edit`` / ``fit_alignment``.

    image:    float32 [h, w, 3], the edit in the original's frame (0 outside ``valid``), at the original's size
              (``align_edit``) or the working size (``fit_alignment``).
    valid:    bool, same size, pixels the edit covers after alignment.
    matrix:   float64 [3, 3], global model: original px -> px of the edit resized to the original (identity when
              it fell back).
    model:    the model fitted ("resize" when it fell back).
    inliers / matches: points within TIGHT_TOLERANCE of the final map / points tracked.
    residual: median distance in editor px between the tracked points and the final map (inliers only).
    flow:     mean magnitude in editor px of the dense residual flow applied (0 when off).
    scale:    (x, y) size of the editor's output relative to the original's.
    note:     "" when all went well, otherwise why the plain resize was used.
    frame:    (H, W) of the original. work_matrix: 3x3, working px -> editor px (global model).
    map_x / map_y: float32 [hw, ww] editor px of each working px (global model + smooth field + flow); None when
              it fell back. smooth_max: the smooth field's correction at the tracked points (99th percentile),
              editor px. loose: points agreeing at
              LOOSE_TOLERANCE with the global model alone. flow_support: fraction of the working frame where the
              flow was confident. detail: median per-tile correlation of the fine detail of the original and
              the aligned edit (``detail_agreement``; NaN when not measurable).
    """

    image: np.ndarray
    valid: np.ndarray
    matrix: np.ndarray
    model: str
    inliers: int = 0
    matches: int = 0
    residual: float = float("nan")
    flow: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    note: str = ""
    frame: tuple[int, int] = (0, 0)
    work_matrix: np.ndarray | None = None
    map_x: np.ndarray | None = None
    map_y: np.ndarray | None = None
    smooth_max: float = 0.0
    loose: int = 0
    flow_support: float = 0.0
    too_small: bool = False
    detail: float = float("nan")

    @property
    def fell_back(self) -> bool:
        return self.model == "resize"

    @property
    def restyle(self) -> bool:
        """True when the edit kept little of the original's fine detail anywhere: the editor re-rendered the whole
        scene (``detail`` < DETAIL_MIN)."""
        return bool(self.detail < DETAIL_MIN)

    @property
    def mismatch(self) -> bool:
        """True when nothing should be pasted: the pictures do not match (it fell back, not because they are tiny)
        or the editor restyled the whole scene."""
        return (self.fell_back and not self.too_small) or self.restyle

    @property
    def work_shape(self) -> tuple[int, int]:
        return (self.map_x.shape if self.map_x is not None else self.image.shape[:2])

    def describe(self) -> str:
        """One line for a node's report: what was found (model, parameters, uneven shift, flow, crop, points)."""
        sx, sy = self.scale
        head = f"editor output scale x{sx:.3f} / y{sy:.3f} vs the original"
        if self.fell_back:
            return f"plain resize ({head}): {self.note}"
        m = self.matrix
        if self.model == "homography":
            params = "H = [" + "; ".join(" ".join(f"{v:.4g}" for v in row) for row in m) + "]"
        else:
            h, w = self.frame
            centre = np.float64([[(w - 1) / 2, (h - 1) / 2]])
            shift = (project(m, centre) - centre)[0]
            zoom = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
            angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
            params = f"centre shift ({shift[0]:+.2f}, {shift[1]:+.2f}) px, zoom {zoom:.4f}, rotation {angle:+.2f} deg"
            if self.model == "affine":
                params += f", A = [{m[0, 0]:.4f} {m[0, 1]:.4f}; {m[1, 0]:.4f} {m[1, 1]:.4f}]"
        uneven = f"; uneven shift up to {self.smooth_max:.2f} editor px (smooth field at the tracked points)"
        flow = (f"; residual flow mean {self.flow:.2f} editor px, confident on {100 * self.flow_support:.0f} %"
                if self.flow else "; residual flow off")
        cover = f"; the edit covers {100 * self.valid.mean():.1f} % of the original"
        if np.isfinite(self.detail):
            cover += f"; detail agreement {self.detail:.2f}"
            if self.restyle:
                cover += f" (< {DETAIL_MIN:g}: the editor re-rendered the whole scene, a restyle)"
        return (f"{self.model} ({head}): {params}{uneven}{flow}{cover}; {self.inliers}/{self.matches} points within "
                f"{TIGHT_TOLERANCE:g} editor px ({self.loose} within {LOOSE_TOLERANCE:g} of the {self.model} alone), "
                f"residual {self.residual:.2f} editor px")


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def _as_3x3(m: np.ndarray) -> np.ndarray:
    return m.astype(np.float64) if m.shape == (3, 3) else np.vstack([m.astype(np.float64), [0.0, 0.0, 1.0]])


def project(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 matrix to points [N, 2] (float64)."""
    p = np.c_[pts, np.ones(len(pts))] @ m.T
    return p[:, :2] / p[:, 2:3]


def fit_model(src: np.ndarray, dst: np.ndarray, model: str, threshold: float) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust fit of ``model`` mapping points ``src`` [N, 2] to ``dst`` [N, 2]. Returns (3x3 matrix or None, inlier
    bool [N]). translation: the median shift, inliers within ``threshold``; the others: OpenCV USAC MAGSAC."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    none = (None, np.zeros(len(src), bool))
    if len(src) < {"translation": 3, "similarity": 3, "affine": 4, "homography": 5}[model]:
        return none
    if model == "translation":
        d = dst - src
        shift = np.median(d, axis=0)
        for _ in range(3):  # re-centre on the points that agree
            inl = np.linalg.norm(d - shift, axis=1) < threshold
            if inl.sum() < 3:
                return none
            shift = d[inl].mean(axis=0)
        return np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]], np.float64), inl
    s32, d32 = src.astype(np.float32), dst.astype(np.float32)
    if model == "homography":
        m, inl = cv2.findHomography(s32, d32, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999)
    elif model == "affine":
        m, inl = cv2.estimateAffine2D(s32, d32, method=cv2.USAC_MAGSAC, ransacReprojThreshold=threshold,
                                      maxIters=2000, confidence=0.999)
    else:  # OpenCV's partial (similarity) estimator has no USAC variant: RANSAC with its LM refinement
        m, inl = cv2.estimateAffinePartial2D(s32, d32, method=cv2.RANSAC, ransacReprojThreshold=threshold,
                                             maxIters=2000, confidence=0.999)
    if m is None or inl is None or not np.isfinite(m).all():
        return none
    return _as_3x3(m), inl.ravel().astype(bool)


def least_squares(src: np.ndarray, dst: np.ndarray, model: str) -> np.ndarray:
    """Plain least-squares fit of ``model`` on points that all agree (float64 [N, 2] each). 3x3 matrix."""
    if model == "homography":
        m, _ = cv2.findHomography(src.astype(np.float32), dst.astype(np.float32), 0)
        return _as_3x3(m)
    n = len(src)
    x, y = src[:, 0], src[:, 1]
    if model == "translation":
        t = (dst - src).mean(axis=0)
        return np.array([[1, 0, t[0]], [0, 1, t[1]], [0, 0, 1]], np.float64)
    one, zero = np.ones(n), np.zeros(n)
    if model == "similarity":  # [a -b tx; b a ty]
        rows = np.vstack([np.c_[x, -y, one, zero], np.c_[y, x, zero, one]])
        a, b, tx, ty = np.linalg.lstsq(rows, np.r_[dst[:, 0], dst[:, 1]], rcond=None)[0]
        return np.array([[a, -b, tx], [b, a, ty], [0, 0, 1]], np.float64)
    design = np.c_[x, y, one]
    coef = np.linalg.lstsq(design, dst, rcond=None)[0]  # [3, 2]
    return np.vstack([coef.T, [0.0, 0.0, 1.0]])


def _coarse(orig_g: np.ndarray, edit_g: np.ndarray, model: str) -> tuple[np.ndarray | None, int]:
    """ORB + ratio test + robust fit at COARSE_SIDE. Returns (3x3 at full size or None, inliers)."""
    h, w = orig_g.shape
    f = min(1.0, COARSE_SIDE / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    a = cv2.resize(orig_g, size, interpolation=cv2.INTER_AREA) if f < 1 else orig_g
    b = cv2.resize(edit_g, size, interpolation=cv2.INTER_AREA) if f < 1 else edit_g
    orb = cv2.ORB_create(COARSE_FEATURES, fastThreshold=10, edgeThreshold=15, patchSize=15)
    ka, da = orb.detectAndCompute(a, None)
    kb, db = orb.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < MIN_INLIERS or len(kb) < MIN_INLIERS:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None, 0
    src = np.float64([ka[g.queryIdx].pt for g in good])
    dst = np.float64([kb[g.trainIdx].pt for g in good])
    m, inl = fit_model(src, dst, model, COARSE_THRESHOLD)
    if m is None or inl.sum() < MIN_INLIERS:
        return None, int(inl.sum())
    s = np.diag([f, f, 1.0])
    return np.linalg.inv(s) @ m @ s, int(inl.sum())


def _plausible(m: np.ndarray, size: tuple[int, int]) -> bool:
    """No corner of the frame moves by more than MAX_CORNER_MOVE of the diagonal, and the map keeps orientation."""
    h, w = size
    corners = np.float64([[0, 0], [w, 0], [w, h], [0, h]])
    moved = project(m, corners)
    if not np.isfinite(moved).all() or np.linalg.det(m[:2, :2]) <= 0:
        return False
    return float(np.linalg.norm(moved - corners, axis=1).max()) <= MAX_CORNER_MOVE * float(np.hypot(h, w))


# ------------------------------------------------------------------------------------------------ frames
def work_shape(frame: tuple[int, int], edit_shape: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the working frame: the original's aspect at about the editor's pixel count, never larger than
    the original."""
    (hh, ww), (he, we) = frame[:2], edit_shape[:2]
    f = min(1.0, float(np.sqrt(he * we / (hh * ww))))
    return max(1, round(hh * f)), max(1, round(ww * f))


def frame_map(a_shape: tuple[int, int], b_shape: tuple[int, int]) -> np.ndarray:
    """3x3 from px of a frame of ``a_shape`` (H, W) to px of a frame of ``b_shape`` covering the same extent
    (pixel centres, as cv2.resize: b = (a + 0.5) * B / A - 0.5)."""
    sx, sy = b_shape[1] / a_shape[1], b_shape[0] / a_shape[0]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def reduce_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` area-reduced to ``shape`` = (h, w); the same array when it already has that size."""
    if image.shape[:2] == tuple(shape):
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _source(edit: np.ndarray, px_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """The edit to resample from when one target px spans ``px_ratio`` editor px: an area-reduced copy when that
    is above REDUCE_ABOVE (no aliasing), else the edit. Returns (image, 3x3 editor px -> its px)."""
    if px_ratio <= REDUCE_ABOVE:
        return edit, np.eye(3)
    he, we = edit.shape[:2]
    shape = (max(1, round(he / px_ratio)), max(1, round(we / px_ratio)))
    return reduce_to(edit, shape), frame_map((he, we), shape)


# ------------------------------------------------------------------------------------------------ smooth field
def _bspline(coords: np.ndarray, n: int, length: int) -> np.ndarray:
    """Uniform cubic B-spline basis [N, n] over 0..length-1 (n >= 4 controls, every point has 4 non-zero)."""
    s = max(length - 1, 1) / (n - 3)
    x = np.abs(np.asarray(coords, np.float64)[:, None] / s + 1.0 - np.arange(n)[None, :])
    return np.where(x < 1, 2.0 / 3.0 - x * x + 0.5 * x ** 3, np.where(x < 2, (2.0 - x) ** 3 / 6.0, 0.0))


@dataclass(frozen=True)
class SmoothField:
    """A smooth 2-D displacement over a frame: cubic B-spline controls float64 [n, n, 2] (dx, dy), frame (h, w)."""

    controls: np.ndarray
    shape: tuple[int, int]

    def at(self, pts: np.ndarray) -> np.ndarray:
        """Displacement [N, 2] at points [N, 2] (x, y)."""
        n = self.controls.shape[0]
        by = _bspline(pts[:, 1], n, self.shape[0])
        bx = _bspline(pts[:, 0], n, self.shape[1])
        return np.einsum("ij,ik,jkc->ic", by, bx, self.controls)

    def dense(self, cap: float = np.inf) -> np.ndarray:
        """float32 [h, w, 2] over the whole frame, each vector's length capped at ``cap``."""
        n = self.controls.shape[0]
        by = _bspline(np.arange(self.shape[0]), n, self.shape[0])
        bx = _bspline(np.arange(self.shape[1]), n, self.shape[1])
        out = np.stack([by @ self.controls[..., c] @ bx.T for c in range(2)], axis=-1).astype(np.float32)
        return _cap(out, cap)


def _cap(vectors: np.ndarray, cap: float) -> np.ndarray:
    if not np.isfinite(cap):
        return vectors
    length = np.sqrt((vectors * vectors).sum(axis=-1, keepdims=True))
    return vectors * np.minimum(1.0, cap / np.maximum(length, 1e-6)).astype(vectors.dtype)


def fit_smooth(pts: np.ndarray, residuals: np.ndarray, shape: tuple[int, int], *, controls: int = SMOOTH_CONTROLS,
               smoothness: float = SMOOTH_LAMBDA, huber: float = TIGHT_TOLERANCE, iterations: int = 5) -> SmoothField:
    """Robust smooth field through ``residuals`` [N, 2] at ``pts`` [N, 2] (x, y) of a frame ``shape``: B-spline
    least squares with a curvature (second-difference) penalty of relative weight ``smoothness`` and a tiny ridge
    (no data, no displacement), Huber-reweighted at ``huber``."""
    n = controls
    by = _bspline(pts[:, 1], n, shape[0])
    bx = _bspline(pts[:, 0], n, shape[1])
    design = (by[:, :, None] * bx[:, None, :]).reshape(len(pts), n * n)
    d2 = np.diff(np.eye(n), 2, axis=0)
    pen = np.kron(d2, np.eye(n))
    pen2 = np.kron(np.eye(n), d2)
    penalty = pen.T @ pen + pen2.T @ pen2
    w = np.ones(len(pts))
    coef = np.zeros((n * n, 2))
    for _ in range(iterations):
        normal = (design.T * w) @ design
        scale = np.trace(normal) / (n * n) + 1e-12
        coef = np.linalg.solve(normal + scale * (smoothness * penalty + 1e-4 * np.eye(n * n)),
                               (design.T * w) @ residuals)
        err = np.linalg.norm(residuals - design @ coef, axis=1)
        w = np.where(err <= huber, 1.0, huber / np.maximum(err, 1e-12))
    return SmoothField(coef.reshape(n, n, 2), tuple(shape))


# ------------------------------------------------------------------------------------------------ maps
def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    return (np.broadcast_to(np.arange(w, dtype=np.float32)[None, :], (h, w)),
            np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)))


def _apply_global(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matrix ``m`` on coordinate arrays (float32 out)."""
    mx = m[0, 0] * x + m[0, 1] * y + m[0, 2]
    my = m[1, 0] * x + m[1, 1] * y + m[1, 2]
    if not np.allclose(m[2], [0.0, 0.0, 1.0]):
        z = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        mx, my = mx / z, my / z
    return mx.astype(np.float32, copy=False), my.astype(np.float32, copy=False)


def _dense_map(m: np.ndarray, field: np.ndarray | None, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = _grid(shape)
    mx, my = _apply_global(m, gx, gy)
    if field is not None:
        mx, my = mx + field[..., 0], my + field[..., 1]
    return mx, my


def _to_source(src_map: np.ndarray, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if np.array_equal(src_map, np.eye(3)):
        return mx, my
    return ((mx * src_map[0, 0] + src_map[0, 2]).astype(np.float32),
            (my * src_map[1, 1] + src_map[1, 2]).astype(np.float32))


def _inside(mx: np.ndarray, my: np.ndarray, edit_shape: tuple[int, int]) -> np.ndarray:
    he, we = edit_shape
    return (mx >= -0.5) & (mx <= we - 0.5) & (my >= -0.5) & (my <= he - 0.5)


# ------------------------------------------------------------------------------------------------ the fit
LK = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))


def _corners(grey: np.ndarray) -> np.ndarray | None:
    h, w = grey.shape
    spacing = max(4, int(np.sqrt(h * w / FINE_POINTS) / 2))
    c = cv2.goodFeaturesToTrack(grey, FINE_POINTS, 0.005, spacing, blockSize=7)
    return None if c is None else c.reshape(-1, 2).astype(np.float32)


def _track(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pyramidal LK of ``pts`` from grey ``a`` into grey ``b`` (same frame, starting where they are), checked
    forward-backward. Returns (displacement [N, 2] float64, kept bool [N])."""
    p1, ok, _ = cv2.calcOpticalFlowPyrLK(a, b, pts, None, **LK)
    back, ok_b, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **LK)
    fb = np.linalg.norm(back.reshape(-1, 2) - pts, axis=1)
    h, w = a.shape
    p1 = p1.reshape(-1, 2)
    keep = ok.ravel().astype(bool) & ok_b.ravel().astype(bool) & (fb < 0.5)
    keep &= (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
    return (p1 - pts).astype(np.float64), keep


@dataclass(frozen=True)
class _Fit:
    matrix: np.ndarray
    field: SmoothField
    loose: int
    tight: int
    tracked: int
    residual: float
    uneven: float  # 99th percentile of the smooth field at the inliers


def _fit_points(p: np.ndarray, q: np.ndarray, model: str, shape: tuple[int, int], loose_tol: float,
                tight_tol: float) -> _Fit | None:
    """Global model at ``loose_tol`` editor px, least squares on its inliers, then the smooth field on their
    residuals; inliers of the whole within ``tight_tol``. None when too few points agree."""
    m, inl = fit_model(p, q, model, loose_tol)
    need = max(MIN_INLIERS, MIN_INLIER_FRACTION * len(p))
    if m is None or inl.sum() < need:
        return None
    loose = int(inl.sum())
    m = least_squares(p[inl], q[inl], model)
    r = q - project(m, p)
    field = fit_smooth(p[inl], r[inl], shape, huber=tight_tol)
    err = np.linalg.norm(r - field.at(p), axis=1)
    keep = inl & (err < loose_tol)
    field = fit_smooth(p[keep], r[keep], shape, huber=tight_tol)
    err = np.linalg.norm(r - field.at(p), axis=1)
    tight = err < tight_tol
    if tight.sum() < MIN_INLIERS:
        return None
    uneven = float(np.percentile(np.linalg.norm(field.at(p[tight]), axis=1), 99))
    return _Fit(m, field, loose, int(tight.sum()), len(p), float(np.median(err[tight])), uneven)


def residual_flow(original: np.ndarray, aligned: np.ndarray, cap: float, valid: np.ndarray | None = None
                  ) -> tuple[np.ndarray, float]:
    """Confidence-weighted dense flow float32 [H, W, 2] (px of this frame) from ``original`` to ``aligned`` (float32
    [H, W, 3], one size): OpenCV DIS both ways on colour-corrected grey levels, each vector weighted by its
    forward-backward consistency and photometric agreement, smoothed by normalised convolution (fading to 0
    where little is confident), each vector's length capped at ``cap``. Returns (flow, confident fraction)."""
    h, w = original.shape[:2]
    area = np.ones((h, w), bool) if valid is None else valid
    drift = fit_color_drift(original, aligned, area, max_samples=20_000)
    if drift.plausible:
        aligned = np.clip(drift.invert(aligned), 0.0, 1.0)
    a, b = _grey(original), _grey(aligned)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    fwd = dis.calc(a, b, None)
    bwd = dis.calc(b, a, None)
    gx, gy = _grid((h, w))
    tx, ty = gx + fwd[..., 0], gy + fwd[..., 1]
    back = cv2.remap(bwd, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fb = np.linalg.norm(fwd + back, axis=-1)
    seen = cv2.remap(b, tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    photo = np.abs(a.astype(np.float32) - seen)
    sigma = 1.4826 * float(np.median(photo[area])) + 1.0 if area.any() else 1.0
    conf = np.exp(-(fb / FLOW_FB_SIGMA) ** 2 - (photo / (FLOW_PHOTO_FACTOR * sigma)) ** 2).astype(np.float32)
    conf *= area
    # normalised convolution at a quarter of the size (the field is smooth), back to the frame
    k = 4 if min(h, w) >= 64 else 1
    small = (max(1, w // k), max(1, h // k))
    sig = max(1.0, FLOW_SMOOTH * float(np.hypot(h, w)) / k)
    num = cv2.GaussianBlur(cv2.resize(fwd * conf[..., None], small, interpolation=cv2.INTER_AREA), (0, 0), sig)
    den = cv2.GaussianBlur(cv2.resize(conf, small, interpolation=cv2.INTER_AREA), (0, 0), sig)
    flow = num / np.maximum(den, 1e-6)[..., None] * np.clip(den / FLOW_MIN_SUPPORT, 0.0, 1.0)[..., None]
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    support = float((cv2.resize(den, (w, h), interpolation=cv2.INTER_LINEAR) >= FLOW_MIN_SUPPORT)[area].mean()) \
        if area.any() else 0.0
    return _cap(flow.astype(np.float32), cap), support


def detail_agreement(original: np.ndarray, aligned: np.ndarray, valid: np.ndarray, tiles: int = DETAIL_TILES
                     ) -> float:
    """Median over tiles of the correlation of the fine detail (grey, difference of Gaussians at DETAIL_SIGMAS px)
    of ``original`` and ``aligned`` (float32 [H, W, 3], one frame) where ``valid``; tiles mostly invalid or flat
    are skipped. NaN when no tile is measurable. A local edit leaves most tiles near 1."""
    lo, hi = DETAIL_SIGMAS

    def band(image: np.ndarray) -> np.ndarray:
        g = cv2.GaussianBlur(_grey(image).astype(np.float32), (0, 0), lo)
        return g - cv2.GaussianBlur(g, (0, 0), hi)

    a, b = band(original), band(aligned)
    h, w = a.shape
    scores = []
    for i in range(tiles):
        for j in range(tiles):
            tile = (slice(i * h // tiles, (i + 1) * h // tiles), slice(j * w // tiles, (j + 1) * w // tiles))
            v = valid[tile]
            if v.size == 0 or v.mean() < 0.9:
                continue
            x, y = a[tile][v], b[tile][v]
            if x.std() < 1.0 or y.std() < 1e-3:  # flat in the original (nothing to compare) or in the edit
                if x.std() >= 1.0:
                    scores.append(0.0)  # the edit flattened detail that was there
                continue
            scores.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.median(scores)) if scores else float("nan")


def _check(model: str, flow_cap: float) -> None:
    if model not in MODELS:
        raise ZoneInputError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not np.isfinite(flow_cap) or flow_cap < 0:
        raise ZoneInputError(f"flow_cap must be >= 0 px (0 = no residual flow), got {flow_cap}")


def fit_alignment(original: np.ndarray, edited: np.ndarray, *, model: str = "affine", flow_cap: float = FLOW_CAP,
                  work: np.ndarray | None = None) -> Alignment:
    """Align ``edited`` (any size and aspect) to ``original`` at the WORKING size (see the module docstring);
    ``image`` / ``valid`` are in the working frame. original, edited: [H, W, C] in 0..1 (C = 1, 3 or 4).
    model: one of MODELS. flow_cap: editor px, > 0 adds the dense residual flow capped at it (0 = off).
    work: the original already reduced to ``work_shape(original, edited)`` (saves reducing it twice)."""
    _check(model, flow_cap)
    orig = to_rgb(original, "original")
    edit = to_rgb(edited, "edited")
    frame, eshape = orig.shape[:2], edit.shape[:2]
    wshape = work_shape(frame, eshape)
    scale = (eshape[1] / frame[1], eshape[0] / frame[0])
    plain = frame_map(wshape, eshape)  # working px -> editor px of the plain resize

    def fallback(why: str, small: bool = False) -> Alignment:
        return Alignment(resize_image(edit, wshape), np.ones(wshape, bool), np.eye(3), "resize", scale=scale,
                         note=why, frame=frame, work_matrix=plain, too_small=small)

    if min(frame) < MIN_SIDE or min(eshape) < MIN_SIDE:
        return fallback(f"image smaller than {MIN_SIDE} px: not aligned", small=True)
    work = reduce_to(orig, wshape) if work is None or work.shape[:2] != wshape else work
    px = float(np.sqrt(eshape[0] * eshape[1] / (wshape[0] * wshape[1])))  # editor px per working px
    src, src_map = _source(edit, px)
    to_src = src_map @ plain  # the fit runs in "r" px (the edit plain-resized to the working frame): -> src px
    og, sg = _grey(work), _grey(src)
    # tolerances in editor px; in r px when the editor's px are larger than the working frame's (a small original)
    loose_tol, tight_tol = LOOSE_TOLERANCE / min(1.0, px), TIGHT_TOLERANCE / min(1.0, px)

    check_cancel()
    guess, _ = _coarse(og, cv2.resize(_grey(edit), (wshape[1], wshape[0]), interpolation=cv2.INTER_AREA), model)
    m = guess if guess is not None and _plausible(guess, wshape) else np.eye(3)
    corners = _corners(og)
    if corners is None or len(corners) < MIN_INLIERS:
        return fallback("too little texture to track (fewer than "
                        f"{MIN_INLIERS} corners): the pictures cannot be matched")
    fit, field, tracked = None, None, 0
    for _ in range(2):  # track in the edit warped by the current estimate: what is left is small and sub-pixel
        check_cancel()
        rx, ry = _dense_map(m, field, wshape)
        warped = cv2.remap(sg, *_to_source(to_src, rx, ry), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        d, keep = _track(og, warped, corners)
        at = corners + d.astype(np.float32)
        qx, qy = _sample(rx, at), _sample(ry, at)
        keep &= _inside(qx, qy, wshape)
        p, q = corners[keep].astype(np.float64), np.c_[qx, qy][keep].astype(np.float64)
        tracked = len(p)
        new = _fit_points(p, q, model, wshape, loose_tol, tight_tol) if tracked >= MIN_INLIERS else None
        if new is None:
            break
        fit = new
        m, field = fit.matrix, fit.field.dense(SMOOTH_CAP / px)
    if fit is None:
        return fallback(f"fewer than {MIN_INLIER_FRACTION:.0%} of the {tracked} tracked points agree on a {model} "
                        f"within {loose_tol * px:g} editor px: the editor changed the whole scene (a restyle) or "
                        "the pictures differ too much (or need a more general model: affine or homography)")
    if not _plausible(m, wshape):
        return fallback(f"the fitted {model} moves the frame by more than {MAX_CORNER_MOVE:.0%} of the diagonal: "
                        "refused as implausible for an edit")
    rx, ry = _dense_map(m, field, wshape)
    mean_flow, support = 0.0, 0.0
    if flow_cap > 0:
        aligned = cv2.remap(src, *_to_source(to_src, rx, ry), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        check_cancel()
        flow, support = residual_flow(work, aligned, flow_cap / px, _inside(rx, ry, wshape))
        gx, gy = _grid(wshape)
        tx, ty = gx + flow[..., 0], gy + flow[..., 1]
        fx, fy = _apply_global(m, tx, ty)
        fx += cv2.remap(field[..., 0], tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fy += cv2.remap(field[..., 1], tx, ty, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rx, ry = fx, fy
        inside = _inside(rx, ry, wshape)
        mean_flow = float(np.linalg.norm(flow, axis=-1)[inside].mean()) * px if inside.any() else 0.0
    valid = _inside(rx, ry, wshape)
    image = cv2.remap(src, *_to_source(to_src, rx, ry), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    image = np.clip(image, 0.0, 1.0, out=image)
    image[~valid] = 0.0
    detail = detail_agreement(work, image, valid)
    em = plain @ m  # working px -> editor px
    matrix = np.linalg.inv(frame_map(frame, eshape)) @ em @ frame_map(frame, wshape)
    mx, my = _to_source(plain, rx, ry)
    smooth = fit.uneven * px
    return Alignment(image, valid, matrix, model, fit.tight, fit.tracked, fit.residual * px, mean_flow, scale, "",
                     frame, em, mx, my, smooth, fit.loose, support, detail=detail)


def edit_coords(alignment: Alignment, pts: np.ndarray) -> np.ndarray:
    """Editor px [N, 2] of ORIGINAL px ``pts`` [N, 2] (x, y) under ``alignment`` (float64)."""
    pts = np.asarray(pts, np.float64)
    wshape = alignment.work_shape
    p = project(frame_map(alignment.frame, wshape), pts)
    m = alignment.work_matrix if alignment.work_matrix is not None else np.eye(3)
    q = project(m, p)
    if alignment.map_x is not None:
        gx, gy = _apply_global(m, *_grid(wshape))
        for c, (full, glob) in enumerate(((alignment.map_x, gx), (alignment.map_y, gy))):
            q[:, c] += _sample(full - glob, p)
    return q


def _sample(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples [N] of float32 [H, W] at points [N, 2] (x, y), edges replicated (any N: cv2.remap takes
    maps of fewer than 32767 rows, so the points go in rows of 1024)."""
    n = len(pts)
    rows = -(-n // 1024)
    maps = np.zeros((2, rows * 1024), np.float32)
    maps[:, :n] = pts.T
    out = cv2.remap(image, maps[0].reshape(rows, 1024), maps[1].reshape(rows, 1024), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.ravel()[:n].astype(np.float64)


def render_edit(alignment: Alignment, edited: np.ndarray, size: tuple[int, int] | None = None,
                box: tuple[slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The edit resampled ONCE (bicubic) into a frame of ``size`` (H, W; default the original's) showing the
    original's extent, only inside ``box`` (rows, cols slices; default the whole frame). Returns (image float32
    [bh, bw, 3] in 0..1, 0 outside valid; valid bool [bh, bw]). Rendered in strips of RENDER_TILE px."""
    edit = to_rgb(edited, "edited")
    size = tuple(size or alignment.frame)
    rows, cols = box or (slice(0, size[0]), slice(0, size[1]))
    r0, r1, _ = rows.indices(size[0])
    c0, c1, _ = cols.indices(size[1])
    eshape = edit.shape[:2]
    if alignment.fell_back:  # the plain resize
        full = resize_image(edit, size)[r0:r1, c0:c1]
        return np.ascontiguousarray(full), np.ones(full.shape[:2], bool)
    wshape = alignment.work_shape
    m = alignment.work_matrix
    gx, gy = _apply_global(m, *_grid(wshape))
    res_x, res_y = alignment.map_x - gx, alignment.map_y - gy
    to_work = frame_map(size, wshape)
    src, src_map = _source(edit, float(np.sqrt(eshape[0] * eshape[1] / (size[0] * size[1]))))
    out = np.zeros((r1 - r0, c1 - c0, 3), np.float32)
    valid = np.zeros((r1 - r0, c1 - c0), bool)
    xs = (np.arange(c0, c1, dtype=np.float64) * to_work[0, 0] + to_work[0, 2]).astype(np.float32)
    step = max(1, RENDER_TILE // max(1, c1 - c0))
    for a in range(r0, r1, step):
        b = min(r1, a + step)
        ys = (np.arange(a, b, dtype=np.float64) * to_work[1, 1] + to_work[1, 2]).astype(np.float32)
        px = np.ascontiguousarray(np.broadcast_to(xs[None, :], (b - a, c1 - c0)))
        py = np.ascontiguousarray(np.broadcast_to(ys[:, None], (b - a, c1 - c0)))
        qx, qy = _apply_global(m, px, py)
        qx = qx + cv2.remap(res_x, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        qy = qy + cv2.remap(res_y, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = _inside(qx, qy, eshape)
        strip = cv2.remap(src, *_to_source(src_map, qx, qy), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        np.clip(strip, 0.0, 1.0, out=strip)
        strip[~inside] = 0.0
        out[a - r0:b - r0] = strip
        valid[a - r0:b - r0] = inside
    return out, valid


def align_edit(original: np.ndarray, edited: np.ndarray, *, model: str = "affine", flow_cap: float = FLOW_CAP
               ) -> Alignment:
    """``fit_alignment`` with ``image`` / ``valid`` at the ORIGINAL's size (the edit resampled once into it)."""
    al = fit_alignment(original, edited, model=model, flow_cap=flow_cap)
    frame = al.frame
    if al.image.shape[:2] == tuple(frame):
        return al
    if al.fell_back:
        return replace(al, image=resize_image(to_rgb(edited, "edited"), frame), valid=np.ones(frame, bool))
    image, valid = render_edit(al, edited, frame)
    return replace(al, image=image, valid=valid)
