"""Align any editor's output to the original's frame (the first step of ZONE's localization without attention).

Instruction editors (Qwen-Image-Edit, FLUX Kontext, Step1X-Edit, OmniGen2, ...) return the picture at another
resolution (a ~1 MP bucket, sides multiples of 16 or 32), often slightly zoomed or shifted, with a colour drift. To
compare it with the original pixel by pixel, and to paste its edit back bit-exactly, it has to be brought back to
the original's frame first. ``align_edit``:

1. resizes the edited image to the original's size (the editor's resize undone; this is also the fallback);
2. coarse estimate: ORB features on both at a working size, ratio-test matching, a robust fit (OpenCV USAC MAGSAC)
   of the chosen model: ``translation``, ``similarity`` (rotation + uniform scale + shift), ``affine`` or
   ``homography``;
3. fine estimate: corners of the original tracked into the resized edit at full resolution with pyramidal
   Lucas-Kanade, starting from the coarse model (sub-pixel), forward-backward checked, then the model refitted
   robustly on them (once more in the edit warped by that fit when it scales or shears by more than 5 %, e.g.
   an editor that cropped to another aspect). The edit itself (a local change) is an outlier of both fits: the model follows the unchanged
   background;
4. warps the edit into the original's frame (bicubic); ``valid`` marks the pixels the edit covers;
5. optionally, a dense residual flow (OpenCV DIS) for non-uniform shifts, capped at ``flow_cap`` px so that it can
   never move the edited content far.

When too few points agree, the result is the plain resize of step 1 and ``note`` says why.

Arrays: images float32 [H, W, 3] in 0..1; masks bool [H, W]. Matrices are 3x3 float64 and map ORIGINAL pixel
coordinates (x, y, 1) to coordinates in the RESIZED edit (step 1), in original-sized pixels. Nothing here mutates
its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
#: ... and at least this fraction of the tracked points (fewer: the model does not describe the editor's change).
MIN_INLIER_FRACTION = 0.2
#: A first fit that scales or shears by more than this is refined by tracking again in the edit warped by it.
RETRACK_DEFORMATION = 0.05
#: Reprojection thresholds (px at the coarse working size / at full size) for the robust fits.
COARSE_THRESHOLD = 3.0
FINE_THRESHOLD = 1.0
#: A fitted model that moves any corner further than this fraction of the diagonal is refused (not a drift).
MAX_CORNER_MOVE = 0.25


@dataclass(frozen=True)
class Alignment:
    """Result of ``align_edit``.

    image:    float32 [H, W, 3], the edit in the original's frame and size (0 outside ``valid``).
    valid:    bool [H, W], pixels the edit covers after alignment.
    matrix:   float64 [3, 3], original px -> resized-edit px (identity for the plain resize).
    model:    the model fitted ("resize" when it fell back).
    inliers / matches: points that agree with the model / points tried (fine stage).
    residual: median distance in original px between the tracked points and the model (inliers only).
    flow:     mean magnitude in px of the residual flow applied (0 when off).
    scale:    (x, y) size of the editor's output relative to the original's (its resize, undone in step 1).
    note:     "" when all went well, otherwise why the plain resize was used.
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

    @property
    def fell_back(self) -> bool:
        return self.model == "resize"

    def describe(self) -> str:
        """One line for a node's report: model, parameters, inliers and residual error."""
        sx, sy = self.scale
        head = f"editor output scale x{sx:.3f} / y{sy:.3f} vs the original"
        if self.fell_back:
            return f"plain resize ({head}): {self.note}"
        m = self.matrix
        if self.model == "homography":
            params = "H = [" + "; ".join(" ".join(f"{v:.4g}" for v in row) for row in m) + "]"
        else:
            h, w = self.valid.shape
            centre = np.float64([[(w - 1) / 2, (h - 1) / 2]])
            shift = (project(m, centre) - centre)[0]
            zoom = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
            angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
            params = f"centre shift ({shift[0]:+.2f}, {shift[1]:+.2f}) px, zoom {zoom:.4f}, rotation {angle:+.2f} deg"
            if self.model == "affine":
                params += f", A = [{m[0, 0]:.4f} {m[0, 1]:.4f}; {m[1, 0]:.4f} {m[1, 1]:.4f}]"
        flow = f", residual flow mean {self.flow:.2f} px" if self.flow else ""
        return (f"{self.model} ({head}): {params}; {self.inliers}/{self.matches} points agree, "
                f"residual {self.residual:.2f} px{flow}")


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


def _fine(orig_g: np.ndarray, edit_g: np.ndarray, guess: np.ndarray, model: str
          ) -> tuple[np.ndarray | None, int, int, float]:
    """Track corners of the original into the edit from ``guess`` with pyramidal LK, refit. Returns
    (3x3 or None, inliers, tracked points, median residual px)."""
    h, w = orig_g.shape
    spacing = max(4, int(np.sqrt(h * w / FINE_POINTS) / 2))
    corners = cv2.goodFeaturesToTrack(orig_g, FINE_POINTS, 0.005, spacing, blockSize=7)
    if corners is None or len(corners) < MIN_INLIERS:
        return None, 0, 0 if corners is None else len(corners), float("nan")
    p0 = corners.reshape(-1, 2).astype(np.float64)
    start = project(guess, p0).astype(np.float32)
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    p1, ok, _ = cv2.calcOpticalFlowPyrLK(orig_g, edit_g, p0.astype(np.float32), start.copy(),
                                         flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    back, ok_b, _ = cv2.calcOpticalFlowPyrLK(edit_g, orig_g, p1, p0.astype(np.float32).copy(),
                                             flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
    fb = np.linalg.norm(back.reshape(-1, 2) - p0, axis=1)
    keep = ok.ravel().astype(bool) & ok_b.ravel().astype(bool) & (fb < 0.5)
    p1 = p1.reshape(-1, 2).astype(np.float64)
    keep &= (p1[:, 0] >= 0) & (p1[:, 0] < w) & (p1[:, 1] >= 0) & (p1[:, 1] < h)
    src, dst = p0[keep], p1[keep]
    if len(src) < MIN_INLIERS:
        return None, 0, len(src), float("nan")
    m, inl = fit_model(src, dst, model, FINE_THRESHOLD)
    if m is None or inl.sum() < MIN_INLIERS:
        return None, int(inl.sum()), len(src), float("nan")
    m = least_squares(src[inl], dst[inl], model)
    residual = float(np.median(np.linalg.norm(project(m, src[inl]) - dst[inl], axis=1)))
    return m, int(inl.sum()), len(src), residual


def _plausible(m: np.ndarray, size: tuple[int, int]) -> bool:
    """No corner of the frame moves by more than MAX_CORNER_MOVE of the diagonal, and the map keeps orientation."""
    h, w = size
    corners = np.float64([[0, 0], [w, 0], [w, h], [0, h]])
    moved = project(m, corners)
    if not np.isfinite(moved).all() or np.linalg.det(m[:2, :2]) <= 0:
        return False
    return float(np.linalg.norm(moved - corners, axis=1).max()) <= MAX_CORNER_MOVE * float(np.hypot(h, w))


def _warp(image: np.ndarray, m: np.ndarray, size: tuple[int, int], flags: int) -> np.ndarray:
    h, w = size
    flags |= cv2.WARP_INVERSE_MAP  # m maps output (original) px to input (edit) px
    if np.allclose(m[2], [0.0, 0.0, 1.0]):
        return cv2.warpAffine(image, m[:2], (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.warpPerspective(image, m, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def residual_flow(original: np.ndarray, aligned: np.ndarray, cap: float) -> np.ndarray:
    """Dense flow float32 [H, W, 2] (OpenCV DIS, medium preset) from the original to ``aligned``, each vector's
    length capped at ``cap`` px. Both images float32 [H, W, 3] of one size."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_grey(original), _grey(aligned), None)
    length = np.linalg.norm(flow, axis=-1, keepdims=True)
    return (flow * np.minimum(1.0, cap / np.maximum(length, 1e-6))).astype(np.float32)


def _check_model(model: str) -> str:
    if model not in MODELS:
        raise ZoneInputError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    return model


def align_edit(original: np.ndarray, edited: np.ndarray, *, model: str = "affine", flow_cap: float = 0.0
               ) -> Alignment:
    """Bring ``edited`` (any size and aspect) into the frame and size of ``original`` (see the module docstring).

    original, edited: [H, W, C] in 0..1 (C = 1, 3 or 4). model: one of MODELS. flow_cap: > 0 adds the dense
    residual flow, each vector capped at this many px (0 = off).
    """
    _check_model(model)
    if not np.isfinite(flow_cap) or flow_cap < 0:
        raise ZoneInputError(f"flow_cap must be >= 0 px (0 = no residual flow), got {flow_cap}")
    orig = to_rgb(original, "original")
    edit = to_rgb(edited, "edited")
    size = orig.shape[:2]
    scale = (edit.shape[1] / size[1], edit.shape[0] / size[0])
    resized = resize_image(edit, size)
    identity = np.eye(3)

    def fallback(why: str) -> Alignment:
        return Alignment(resized, np.ones(size, bool), identity, "resize", scale=scale, note=why)

    if min(size) < MIN_SIDE or min(edit.shape[:2]) < MIN_SIDE:
        return fallback(f"image smaller than {MIN_SIDE} px: not aligned")
    og, eg = _grey(orig), _grey(resized)
    check_cancel()
    guess, _ = _coarse(og, eg, model)
    check_cancel()
    if guess is None or not _plausible(guess, size):
        guess = identity  # the editor kept the framing: LK starts from the plain resize
    m, inliers, tracked, residual = _fine(og, eg, guess, model)
    if m is not None and np.abs(m[:2, :2] - np.eye(2)).max() > RETRACK_DEFORMATION:
        # patches deformed this much track less precisely: track again in the edit warped by this first fit
        warped = _warp(eg, m, size, cv2.INTER_LINEAR)
        delta, inliers2, tracked2, residual2 = _fine(og, warped, identity, model)
        if delta is not None and inliers2 >= inliers // 2:
            m, inliers, tracked, residual = m @ delta, inliers2, tracked2, residual2
    if m is None or inliers < MIN_INLIER_FRACTION * tracked:
        return fallback(f"only {inliers} of {tracked} tracked points agree on a {model} (need {MIN_INLIERS} and "
                        f"{MIN_INLIER_FRACTION:.0%}): the pictures differ too much, have too little texture, or need "
                        "a more general model (affine or homography)")
    if not _plausible(m, size):
        return fallback(f"the fitted {model} moves the frame by more than {MAX_CORNER_MOVE:.0%} of the diagonal: "
                        "refused as implausible for an edit")
    aligned = _warp(resized, m, size, cv2.INTER_CUBIC)
    valid = _warp(np.ones(size, np.uint8), m, size, cv2.INTER_NEAREST).astype(bool)
    valid = cv2.erode(valid.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # no half-covered border px
    mean_flow = 0.0
    if flow_cap > 0:
        check_cancel()
        flow = residual_flow(orig, aligned, flow_cap)
        grid = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
        map_x, map_y = grid[1] + flow[..., 0], grid[0] + flow[..., 1]
        aligned = cv2.remap(aligned, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        valid = cv2.remap(valid.view(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderValue=0).astype(bool)
        mean_flow = float(np.linalg.norm(flow, axis=-1)[valid].mean()) if valid.any() else 0.0
    aligned = np.clip(aligned, 0.0, 1.0, out=aligned)
    aligned[~valid] = 0.0
    return Alignment(aligned, valid, m, model, inliers, tracked, residual, mean_flow, scale)
