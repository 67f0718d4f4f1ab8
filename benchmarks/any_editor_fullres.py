"""Full-resolution any-editor benchmark: a 1 MP editor's output localized onto photos of up to 13.5 MP.

Every case has a KNOWN answer. A real ``skimage.data`` photo with one local edit (the over-edit benchmark's five
cases) is enlarged (bicubic) to a camera-sized original; the edit is applied at that resolution (the original
with the enlarged edit inside the enlarged true region, the rest bit-identical): that is the ground truth. The
simulated editor then does to it what Qwen-Image-Edit-2509, FLUX Kontext and the API editors do:

- a ~1 MP bucket of ANOTHER aspect (sides multiples of 32);
- a 1-3 % zoom about the centre and a crop of 0-1 % at each border (another window of the photo);
- a smooth NON-UNIFORM shift of 2-3 px at the editor's scale (a few random low-frequency waves);
- a colour cast (per-channel gain 0.93-1.07, offset +-0.03), noise (sigma 0.015) and JPEG (quality 88).

Compared, at the original's size: "plain upscale" (the editor's output resized to the original: what a user gets
without ZONE) and the chain ``zone_ops.pipeline.run_localize`` (what ``python -m zone_ops localize`` runs, without
SAM: the difference mask is the refined mask). Metrics: L1 to the ground truth (mean over pixels and channels),
its ratio to the plain upscale's; edit kept = sum(alpha x |gt - orig|) / sum(|gt - orig|); residual alignment =
median distance in EDITOR px between the fitted and the true map on 20k background points (outside the true
region, inside the editor's window); max |output - original| where alpha = 0 (must be exactly 0).

Timing (``--timing``): in a fresh process per size, the CLI's own read_image / png_bytes and run_localize:
read the original (JPEG q95) and the edit (PNG), run the chain, write the result (PNG); wall and CPU seconds of
each, the chain's ratio to read + write, and the process's peak resident memory (VmHWM).

Run:  python benchmarks/any_editor_fullres.py [--mp 12.2] [--cases coffee-green,...] [--seed 0] [--timing]
      [--timing-mp 12.2,13.5] [--threads 2]
Deterministic (seeded). About 1-2 min on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from any_editor import bucket_for  # noqa: E402
from overedit import BASE_CASES as CASES  # noqa: E402

from zone_ops.any_editor.align_edit import edit_coords  # noqa: E402
from zone_ops.core.images import resize_image  # noqa: E402
from zone_ops.pipeline import run_localize  # noqa: E402

BACKGROUND_POINTS = 20_000


@dataclass(frozen=True)
class FullResEditor:
    """A simulated editor's output and its exact geometry.

    image: float32 [he, we, 3]; window: (x0, y0, x1, y1), the original's extent (px edges) the output shows;
    waves: [K, 5] rows (axis, amplitude, fx, fy, phase) of the smooth shift in editor px; frame: (H, W)."""

    image: np.ndarray
    window: tuple[float, float, float, float]
    waves: np.ndarray
    frame: tuple[int, int]

    @property
    def bucket(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def _affine(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = self.window
        he, we = self.bucket
        return (px + 0.5 - x0) * we / (x1 - x0) - 0.5, (py + 0.5 - y0) * he / (y1 - y0) - 0.5

    def shift(self, qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The smooth shift (editor px) at editor px (qx, qy)."""
        he, we = self.bucket
        ux, uy = np.zeros_like(qx), np.zeros_like(qy)
        for axis, amp, fx, fy, phase in self.waves:
            v = amp * np.sin(2 * np.pi * (fx * qx / we + fy * qy / he) + phase)
            if axis == 0:
                ux = ux + v
            else:
                uy = uy + v
        return ux, uy

    def true_coords(self, pts: np.ndarray) -> np.ndarray:
        """Editor px [N, 2] of original px [N, 2]: q = A(P) + u(A(P))."""
        ax, ay = self._affine(pts[:, 0], pts[:, 1])
        ux, uy = self.shift(ax, ay)
        return np.c_[ax + ux, ay + uy]


def _waves(rng: np.random.Generator, peak: float) -> np.ndarray:
    rows = []
    for axis in (0, 1):
        for _ in range(3):
            rows.append((axis, 1.0, rng.uniform(0.2, 1.2), rng.uniform(0.2, 1.2), rng.uniform(0, 2 * np.pi)))
    waves = np.array(rows, np.float64)
    # scale so that the largest shift over the output is `peak` px
    he, we = 64, 64
    qy, qx = np.mgrid[0:he, 0:we].astype(np.float64) / 63.0
    biggest = 0.0
    for axis in (0, 1):
        sel = waves[waves[:, 0] == axis]
        v = sum(a * np.sin(2 * np.pi * (fx * qx + fy * qy) + ph) for _, a, fx, fy, ph in sel)
        biggest = max(biggest, float(np.abs(v).max()))
    waves[:, 1] *= peak / biggest
    return waves


def simulate_editor(truth: np.ndarray, rng: np.random.Generator, bucket: tuple[int, int] | None = None,
                    jpeg: int = 88, noise: float = 0.015) -> FullResEditor:
    """``truth`` (float32 [H, W, 3], any size) as a ~1 MP editor returns it (see the module docstring)."""
    h, w = truth.shape[:2]
    he, we = bucket or bucket_for((h, w))
    if he * w == we * h:  # same aspect: take the next bucket, editors do not keep it
        he, we = we, he
    zoom = rng.uniform(1.01, 1.03)
    crop = rng.uniform(0.0, 0.01, 4)  # left, top, right, bottom
    x0, x1 = crop[0] * w, (1 - crop[2]) * w
    y0, y1 = crop[1] * h, (1 - crop[3]) * h
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) / (2 * zoom), (y1 - y0) / (2 * zoom)
    editor = FullResEditor(np.zeros((he, we, 3), np.float32), (cx - hw, cy - hh, cx + hw, cy + hh),
                           _waves(rng, rng.uniform(2.0, 3.0)), (h, w))
    # where each editor px comes from: y + u(y) = q solved by fixed point, then the inverse of the affine part
    qy, qx = np.mgrid[0:he, 0:we].astype(np.float64)
    yx, yy = qx.copy(), qy.copy()
    for _ in range(6):
        ux, uy = editor.shift(yx, yy)
        yx, yy = qx - ux, qy - uy
    ox0, oy0, ox1, oy1 = editor.window
    px = (yx + 0.5) * (ox1 - ox0) / we - 0.5 + ox0
    py = (yy + 0.5) * (oy1 - oy0) / he - 0.5 + oy0
    # area-reduce the truth to about the editor's scale first (no aliasing), then one bicubic resample
    k = min(1.0, 1.5 * we / (ox1 - ox0))
    small = (max(1, round(h * k)), max(1, round(w * k)))
    src = cv2.resize(truth, (small[1], small[0]), interpolation=cv2.INTER_AREA) if k < 1 else truth
    mx = ((px + 0.5) * small[1] / w - 0.5).astype(np.float32)
    my = ((py + 0.5) * small[0] / h - 0.5).astype(np.float32)
    out = cv2.remap(src, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.93, 1.07, 3).astype(np.float32)
    offset = rng.uniform(-0.03, 0.03, 3).astype(np.float32)
    out = out * gain + offset + rng.normal(0.0, noise, out.shape).astype(np.float32)
    u8 = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    out = cv2.cvtColor(cv2.imdecode(enc, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return FullResEditor(out, editor.window, editor.waves, (h, w))


def enlarge_case(name: str, megapixels: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(original, truth, region) of an over-edit case enlarged to about ``megapixels``; the edit applied at that
    resolution: the truth is the enlarged original except inside the enlarged region."""
    case = CASES[name]()
    h, w = case.original.shape[:2]
    f = float(np.sqrt(megapixels * 1e6 / (h * w)))
    size = (round(h * f), round(w * f))
    original = resize_image(case.original, size)
    region = cv2.resize(case.region.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_LINEAR) > 0
    truth = original.copy()
    truth[region] = resize_image(case.truth, size)[region]
    return original, truth, region


def metrics(output: np.ndarray, alpha: np.ndarray, original: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """L1, edit kept, max |out - orig| where alpha == 0; float32 work, float64 sums (no full-size float64)."""
    err = np.abs(output - truth).sum(axis=-1, dtype=np.float64)
    change = np.abs(truth - original).sum(axis=-1)
    zero = alpha == 0
    return {"L1": float(err.sum() / (3 * err.size)),
            "edit_kept": float((alpha * change).sum(dtype=np.float64) / change.sum(dtype=np.float64)),
            "max_alpha0": float(np.abs(output[zero] - original[zero]).max()) if zero.any() else float("nan")}


def evaluate(name: str, seed: int, megapixels: float) -> dict:
    original, truth, region = enlarge_case(name, megapixels)
    rng = np.random.default_rng([seed, list(CASES).index(name), 23])
    editor = simulate_editor(truth, rng)
    t0 = time.perf_counter()
    run = run_localize(original, editor.image)
    seconds = time.perf_counter() - t0
    plain = resize_image(editor.image, original.shape[:2])
    plain_m = metrics(plain, np.ones(original.shape[:2], np.float32), original, truth)
    del plain
    chain = metrics(run.result, run.alpha, original, truth)
    # residual alignment on the background, editor px
    h, w = original.shape[:2]
    grow = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, round(0.01 * max(h, w))))
    x0, y0, x1, y1 = editor.window
    pick = np.random.default_rng(seed)
    xs = pick.uniform(max(0, x0) + 4, min(w, x1) - 5, 4 * BACKGROUND_POINTS)
    ys = pick.uniform(max(0, y0) + 4, min(h, y1) - 5, 4 * BACKGROUND_POINTS)
    keep = grow[ys.astype(int), xs.astype(int)] == 0
    pts = np.c_[xs[keep], ys[keep]][:BACKGROUND_POINTS]
    al = run.alignment
    residual = float("nan") if al.fell_back else float(
        np.median(np.linalg.norm(edit_coords(al, pts) - editor.true_coords(pts), axis=1)))
    return {"case": name, "size": original.shape[:2], "bucket": editor.bucket, "seconds": seconds,
            "plain": plain_m, "chain": chain, "residual_px": residual, "pasted": run.pasted,
            "report": al.describe(), "true_share": float(region.mean()), "alpha_share": float((run.alpha > 0).mean()),
            "notes": run.notes}


# ------------------------------------------------------------------------------------------------ timing
def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timing_child(folder: str) -> dict:
    """In a fresh process: read (CLI's read_image), run_localize, write (the CLI's png_bytes, then the file);
    seconds and peak RSS."""
    from zone_ops.cli.image_files import png_bytes, read_image

    before = _vm_hwm_mb()
    d = Path(folder)
    w0, c0 = time.perf_counter(), time.process_time()
    rgb, alpha, bits = read_image(d / "original.jpg")
    edited, _, _ = read_image(d / "edited.png")
    w1, c1 = time.perf_counter(), time.process_time()
    run = run_localize(rgb, edited)
    w2, c2 = time.perf_counter(), time.process_time()
    (d / "result.png").write_bytes(png_bytes(run.result, alpha, bits))
    w3, c3 = time.perf_counter(), time.process_time()
    return {"size": list(rgb.shape[:2]), "read_s": w1 - w0, "chain_s": w2 - w1, "write_s": w3 - w2,
            "read_cpu": c1 - c0, "chain_cpu": c2 - c1, "write_cpu": c3 - c2, "peak_mb": _vm_hwm_mb(),
            "start_mb": before, "timings": run.timings, "pasted": run.pasted}


def timing(megapixels: float, seed: int, threads: int, repeats: int = 3) -> dict:
    original, truth, _ = enlarge_case("coffee-green", megapixels)
    editor = simulate_editor(truth, np.random.default_rng(seed))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        u8 = (np.clip(original, 0, 1) * 255 + 0.5).astype(np.uint8)
        cv2.imwrite(f"{tmp}/original.jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        e8 = (np.clip(editor.image, 0, 1) * 255 + 0.5).astype(np.uint8)
        cv2.imwrite(f"{tmp}/edited.png", cv2.cvtColor(e8, cv2.COLOR_RGB2BGR))
        del original, truth, u8
        for _ in range(repeats):
            out = subprocess.run([sys.executable, __file__, "--child", tmp, "--threads", str(threads)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {k: float(np.median([r[k] for r in runs])) for k in
            ("read_s", "chain_s", "write_s", "read_cpu", "chain_cpu", "write_cpu", "peak_mb", "start_mb")}
    best["size"] = runs[0]["size"]
    best["timings"] = {k: float(np.median([r["timings"][k] for r in runs])) for k in runs[0]["timings"]}
    return best


def format_table(results: list[dict]) -> str:
    rows = ["| case | original | editor output | true edit % | pasted % | L1 plain upscale | L1 chain | ratio | "
            "edit kept | residual px (editor) | max abs(out-orig) where alpha=0 | chain s |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        p, c = r["plain"], r["chain"]
        rows.append(f"| {r['case']} | {r['size'][1]}x{r['size'][0]} ({r['size'][0] * r['size'][1] / 1e6:.1f} MP) "
                    f"| {r['bucket'][1]}x{r['bucket'][0]} | {100 * r['true_share']:.1f} | {100 * r['alpha_share']:.1f} "
                    f"| {p['L1']:.4f} | {c['L1']:.4f} | {c['L1'] / p['L1']:.3f} | {c['edit_kept']:.3f} "
                    f"| {r['residual_px']:.3f} | {c['max_alpha0']:g} | {r['seconds']:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="", help=f"comma-separated subset of: {', '.join(CASES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mp", default="12.2,4,13.5,2,12.2", help="megapixels of each case's original (cycled)")
    parser.add_argument("--timing", action="store_true", help="also time read + chain + write in fresh processes")
    parser.add_argument("--timing-mp", default="12.2", help="sizes (MP) of the timing runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)
    if args.child:
        print(json.dumps(timing_child(args.child)))
        return 0
    names = [c for c in args.cases.split(",") if c] or list(CASES)
    sizes = [float(v) for v in args.mp.split(",")]
    t0 = time.perf_counter()
    results = [evaluate(n, args.seed, sizes[i % len(sizes)]) for i, n in enumerate(names)]
    print(f"simulated 1 MP editor (another aspect, zoom 1-3 %, border crop 0-1 %, smooth shift 2-3 px, cast, noise, "
          f"JPEG 88); chain = run_localize defaults, no SAM; seed {args.seed}; OpenCV threads {args.threads}\n")
    print(format_table(results))
    ratio = float(np.mean([r["chain"]["L1"] / r["plain"]["L1"] for r in results]))
    kept = float(np.min([r["chain"]["edit_kept"] for r in results]))
    resid = float(np.max([r["residual_px"] for r in results]))
    worst = max(r["chain"]["max_alpha0"] for r in results)

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"

    print(f"\nL1 ratio to the plain upscale, mean: {ratio:.3f} (target <= 0.2: {ok(ratio <= 0.2)})")
    print(f"edit kept, worst case: {kept:.3f} (target >= 0.9: {ok(kept >= 0.9)})")
    print(f"residual alignment, worst case median: {resid:.3f} editor px (target <= 0.5: {ok(resid <= 0.5)})")
    print(f"max |out - original| where alpha = 0: {worst:g} (target exactly 0: {ok(worst == 0)})")
    for r in results:
        print(f"  {r['case']}: {r['report']}" + (f" | notes: {'; '.join(r['notes'])}" if r["notes"] else ""))
    if args.timing:
        print("\n| original | read s | chain s | write s | chain / (read + write) | chain CPU s | read+write CPU s "
              "| peak RSS MB (start) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
        for mp in (float(v) for v in args.timing_mp.split(",")):
            t = timing(mp, args.seed, args.threads)
            io = t["read_s"] + t["write_s"]
            io_cpu = t["read_cpu"] + t["write_cpu"]
            print(f"| {t['size'][1]}x{t['size'][0]} ({t['size'][0] * t['size'][1] / 1e6:.1f} MP) | {t['read_s']:.2f} "
                  f"| {t['chain_s']:.2f} | {t['write_s']:.2f} | {t['chain_s'] / io:.2f} (target <= 3: "
                  f"{ok(t['chain_s'] <= 3 * io)}) | {t['chain_cpu']:.2f} | {io_cpu:.2f} "
                  f"| {t['peak_mb']:.0f} ({t['start_mb']:.0f}) |")
            print("  stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in t["timings"].items()))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
