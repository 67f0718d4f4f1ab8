"""SAM v1 vs SAM 2.1 as ZONE's segmenter: time and peak memory of one automatic-mask-generation pass.

Each model is built with RANDOM weights of the real size (SAM v1 through ``zone_ops.models.sam_loader.build_sam`` with the
official ViT arguments, SAM 2.1 through ``zone_ops.models.sam2_loader.build_sam2`` from the sam2 package's own configs), so
the compute is the real one while the masks are meaningless. Every model segments the same image with the same
settings through ``zone_ops.stages.sam_region_iou.generate_segments`` (the code path of the SAM Region IoU node): the
official thresholds (pred_iou 0.88, stability 0.95, box NMS 0.7), ``--points`` per side, one image of
``--size`` x ``--size`` (``skimage.data.astronaut`` resized; both models resize it to their 1024-px input).

Time: wall time of ``generate_segments`` (image encoder + point batches + filtering), the median of ``--runs`` runs
after one warm-up run. Peak memory: the peak resident set size of a separate process that builds the model and runs
the passes (so it includes the weights, float32, and torch itself; ``ru_maxrss``). ``--warmup 0`` times the first
pass, first-call overheads included. Each model runs in its own
process, one after the other.

Run:  python benchmarks/bench_sam.py [--models vit_b,vit_h,sam2.1_tiny,...] [--size 1024] [--points 8] [--runs 1]
      [--warmup 1] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ["vit_b", "vit_h", "sam2.1_tiny", "sam2.1_small", "sam2.1_base_plus", "sam2.1_large"]


def build(name: str):
    """A random-weight model of the real architecture ``name`` (vit_b / vit_l / vit_h / sam2.1_<size>)."""
    import torch

    torch.manual_seed(0)
    if name.startswith("vit_"):
        from zone_ops.models.sam_loader import OFFICIAL_VARIANTS, SamConfig, build_sam

        (embed, depth), (_, heads, global_idx) = next((k, v) for k, v in OFFICIAL_VARIANTS.items() if v[0] == name)
        return build_sam(SamConfig(name, embed, depth, heads, global_idx))
    from zone_ops.models.sam2_loader import build_sam2, official_sam2_config

    version, size = name[3:].split("_", 1)
    return build_sam2(official_sam2_config(version, size))


def run_one(name: str, size: int, points: int, runs: int, threads: int, warmup: int = 1) -> dict:
    """Build ``name``, segment ``warmup`` times untimed, then time ``runs`` passes (in this process)."""
    import cv2
    import numpy as np
    import torch
    from skimage import data

    from zone_ops.stages.sam_region_iou import generate_segments

    if threads:
        torch.set_num_threads(threads)
    image = cv2.resize(data.astronaut().astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA)
    model = build(name)
    params = sum(p.numel() for p in model.parameters())
    times, found = [], 0
    with torch.inference_mode():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            segs = generate_segments(model, image, points_per_side=points)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
            found = len(segs)
    return {"model": name, "params_m": params / 1e6, "seconds": statistics.median(times), "runs": times,
            "segments": found, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS} (+ vit_l)")
    parser.add_argument("--size", type=int, default=1024, help="square image side in pixels")
    parser.add_argument("--points", type=int, default=8, help="points per side (official 32)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs after one warm-up run")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (0: the first-call overhead is timed)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one model in this process, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.size, args.points, args.runs, args.threads, args.warmup)))
        return
    print(f"image {args.size}x{args.size}, {args.points}x{args.points} points, official thresholds, "
          f"median of {args.runs} run(s) after {args.warmup} warm-up run(s), random weights of the real sizes, CPU")
    print(f"{'model':<18} {'params':>9} {'time':>9} {'peak RSS':>9} {'segments':>9} threads")
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--size", str(args.size), "--points", str(args.points),
               "--runs", str(args.runs), "--threads", str(args.threads), "--warmup", str(args.warmup)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"{name:<18} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['model']:<18} {r['params_m']:>8.1f}M {r['seconds']:>8.1f}s {r['peak_rss_gb']:>8.2f}G "
              f"{r['segments']:>9} {r['threads']}")


if __name__ == "__main__":
    main()
