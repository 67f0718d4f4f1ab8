"""Latent lock: the seam it leaves vs pasting after the fact (analytic stand-in), and what it costs (real ComfyUI).

1. Seam (no ComfyUI needed): the stand-in editor of tests/standin_editor.py edits a rectangle IN CONTEXT (its edit is
   the mean of its surroundings + delta) and drifts the whole latent (gain 1.15, offset 0.3). The ideal is the same
   editor without the drift. Compared, at latent resolution, over several seeds:
   - paste: the unlocked result inside the region, the original outside (hard, or with the lock's soft border);
   - lock: ZONE Latent Lock with the region given (hard / default soft border) or found while sampling;
   - lock + paste: the default lock, then the hard paste.
   Metrics vs the ideal: ``band`` = mean |result - ideal| within 2 latent px of the region's border (both sides);
   ``jump`` = mean over neighbouring pixel pairs across the border of |step(result) - step(ideal)| (the seam's
   gradient discontinuity); ``inside`` = mean |result - ideal| inside the region; ``outside`` = max |result -
   original| where the lock's keep is 0 (exactness).
2. Cost (needs ZONE_COMFYUI_PATH): the same KSampler run (dpmpp_2m, cfg 6) of a random UNet in SD1.5's layout
   (``--channels`` 320 = SD1.5's 860 M parameters; fewer channels = cheaper steps, so the lock's share and the ratio
   are an upper bound; random 768-d conditioning) unpatched, locked with a mask and locked with the region found, interleaved
   over rounds (order rotating), CPU time (process_time) and wall time per run; ratio of the totals.
   Target: <= 1.05.

    .venv/bin/python benchmarks/bench_latent_lock.py [--seeds 8] [--cost] [--size 256] [--steps 8] [--rounds 2]
        [--channels 320] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # the stand-in editor and the random-model builders shared with the tests

import conftest  # noqa: E402,F401  (loads the pack as ComfyUI does, under the name comfyui_zone)
from standin_editor import karras_sigmas, sample, standin  # noqa: E402
from comfyui_zone.zone_ops.sampling.latent_lock import LatentLock, LockSettings, lock, soft_mask  # noqa: E402

BAND = 2


def _border_pairs(region: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inside, outside) index masks of horizontally / vertically neighbouring pixels across the region's border."""
    pairs = []
    r = region
    for dim in (0, 1):
        a = r.narrow(dim, 0, r.shape[dim] - 1)
        b = r.narrow(dim, 1, r.shape[dim] - 1)
        pairs.append((a & ~b, dim, 0))  # inside at i, outside at i+1
        pairs.append((~a & b, dim, 1))  # outside at i, inside at i+1
    return pairs


def seam_metrics(result: torch.Tensor, ideal: torch.Tensor, original: torch.Tensor, region: torch.Tensor,
                 keep: torch.Tensor | None) -> dict[str, float]:
    grown = F.max_pool2d(region[None, None].float(), 2 * BAND + 1, stride=1, padding=BAND)[0, 0] > 0
    shrunk = -F.max_pool2d(-region[None, None].float(), 2 * BAND + 1, stride=1, padding=BAND)[0, 0] > 0
    band = grown & ~shrunk
    error = (result - ideal).abs()[0]  # [C, h, w]
    jumps = []
    for mask, dim, _ in _border_pairs(region):
        step_r = result[0].diff(dim=dim + 1)
        step_i = ideal[0].diff(dim=dim + 1)
        jumps.append((step_r - step_i).abs()[:, mask])
    outside = (keep[0, 0] == 0) if keep is not None else ~region
    return {
        "band": float(error[:, band].mean()),
        "jump": float(torch.cat(jumps, dim=1).mean()),
        "inside": float(error[:, region].mean()),
        "outside": float((result - original).abs()[0][:, outside].max()),
    }


def seam_comparison(seeds: int) -> dict[str, dict[str, float]]:
    sigmas = karras_sigmas(20)
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in range(seeds):
        editor = standin(seed=seed)
        ideal = sample(editor.ideal(), sigmas, editor.noise)
        unlocked = sample(editor, sigmas, editor.noise)
        region = editor.region
        hard = soft_mask(region.float(), region.shape, feather=0.0, grow=0)
        soft = soft_mask(region.float(), region.shape, feather=2.0, grow=0)

        def locked(keep=None, **settings):
            run = LatentLock(editor.original, sigmas, LockSettings(**settings), noise=editor.noise, keep=keep)
            return sample(lambda x, s: run(editor, x, s), sigmas, editor.noise), run.keep

        defaults = LockSettings()
        default_keep = soft_mask(region.float(), region.shape, defaults.feather, defaults.grow)
        lock_default, _ = locked(default_keep)
        variants = {
            "unlocked (editor output)": (unlocked, None),
            "paste, hard": (lock(unlocked, editor.original, hard), hard),
            "paste, soft border (2 px)": (lock(unlocked, editor.original, soft), soft),
            "lock, hard (feather 0, grow 0)": locked(hard),
            f"lock, default (feather {defaults.feather:g}, grow {defaults.grow})": (lock_default, default_keep),
            "lock, feather 2, grow 0": locked(soft),
            "lock, region found (defaults)": locked(None),
            "lock, region found, feather 0": locked(None, feather=0.0),
            "lock (default) + hard paste": (lock(lock_default, editor.original, hard), hard),
        }
        for name, (result, keep) in variants.items():
            rows.setdefault(name, []).append(seam_metrics(result, ideal, editor.original, region, keep))
    return {name: {k: statistics.fmean(r[k] for r in runs) for k in runs[0]} for name, runs in rows.items()}


# ------------------------------------------------------------------------------------------------------- cost
def cost(size: int, steps: int, rounds: int, channels: int) -> None:
    from comfy_env import import_comfy, ip2p_model
    from comfy_models import sd15_unet_config

    comfy = import_comfy()
    from comfyui_zone.nodes.latent_lock import ZoneLatentLock

    config = sd15_unet_config(torch.float32)
    config["in_channels"] = 4
    config["model_channels"] = channels  # SD1.5: 320; fewer = cheaper steps, so a HIGHER ratio (an upper bound)
    model = ip2p_model(config, seed=0)
    lat = size // 8
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, 77, 768, generator=g), {}]]
    negative = [[torch.randn(1, 77, 768, generator=g), {}]]
    original = torch.randn(1, 4, lat, lat, generator=g)
    mask = torch.zeros(1, size, size)
    mask[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1.0
    node = ZoneLatentLock()
    widgets = dict(feather=2.0, grow=1, find_at=0.3, threshold=3.0, min_change=0.25)
    variants = {
        "unpatched": model,
        "lock (mask)": node.patch(model, "mask", mask=mask, original={"samples": original}, **widgets)[0],
        "lock (found)": node.patch(model, "find while sampling", original={"samples": original}, **widgets)[0],
    }
    empty = torch.zeros(1, 4, lat, lat)
    noise = comfy.sample.prepare_noise(empty, 1)

    def run(m) -> tuple[float, float]:
        c0, w0 = time.process_time(), time.perf_counter()
        comfy.sample.sample(m, noise, steps, 6.0, "dpmpp_2m", "karras", positive, negative, empty, seed=1,
                            disable_pbar=True)
        return time.process_time() - c0, time.perf_counter() - w0

    run(model)  # warm-up (weights loaded, kernels chosen)
    names = list(variants)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(run(variants[name]))
    base_cpu = sum(t[0] for t in times["unpatched"])
    base_wall = sum(t[1] for t in times["unpatched"])
    params = sum(p.numel() for p in model.model.diffusion_model.parameters()) / 1e6
    print(f"\ncost: SD1.5-layout UNet, model_channels {channels} ({params:.0f} M parameters), {size}x{size} "
          f"({lat}x{lat} latent), {steps} dpmpp_2m steps, cfg 6, {rounds} interleaved rounds, torch threads "
          f"{torch.get_num_threads()}, load {os.getloadavg()[0]:.2f}")
    print(f"{'variant':<16} {'CPU s/run':>10} {'wall s/run':>11} {'CPU ratio':>10} {'wall ratio':>11} "
          f"{'median paired CPU ratio':>24}")
    for name in names:
        cpu = sum(t[0] for t in times[name])
        wall = sum(t[1] for t in times[name])
        paired = statistics.median(a[0] / b[0] for a, b in zip(times[name], times["unpatched"]))
        print(f"{name:<16} {cpu / rounds:>10.2f} {wall / rounds:>11.2f} {cpu / base_cpu:>10.3f} "
              f"{wall / base_wall:>11.3f} {paired:>24.3f}")
    overhead(lat, base_cpu / rounds / steps)


def overhead(lat: int, step_cpu: float, calls: int = 200, channels: int = 4) -> None:
    """The lock's own work per model call (the blends of input and output, the renoise), timed alone: the model is
    an identity, so what is measured is what the lock adds to every step."""
    g = torch.Generator().manual_seed(0)
    original = torch.randn(1, channels, lat, lat, generator=g)
    noise = torch.randn(1, channels, lat, lat, generator=g)
    sigmas = karras_sigmas(calls)
    keep = soft_mask(torch.ones(lat, lat).triu(), (lat, lat))
    run = LatentLock(original, sigmas, LockSettings(), noise=noise, keep=keep)
    x = torch.randn(1, channels, lat, lat, generator=g)
    start = time.process_time()
    for i in range(calls):
        run(lambda x_in, s: x_in, x, sigmas[i].reshape(1))
    per_call = (time.process_time() - start) / calls
    print(f"lock's own work: {per_call * 1e3:.3f} ms CPU per model call at {channels}x{lat}x{lat} (identity model), "
          f"{100 * per_call / step_cpu:.3f} % of this model's unpatched step ({step_cpu:.2f} s CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--cost", action="store_true", help="also time the lock in a real ComfyUI (ZONE_COMFYUI_PATH)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--channels", type=int, default=320, help="UNet model_channels (SD1.5: 320)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    table = seam_comparison(args.seeds)
    print(f"seam on the stand-in editor (48x64 latent, 16x20 region, drift gain 1.15 / offset 0.3, edit +2.5; "
          f"20 dpmpp_2m steps; mean of {args.seeds} seeds), latent units, vs the drift-free editor's output:")
    print(f"{'variant':<36} {'band L1':>8} {'jump':>8} {'inside L1':>10} {'outside max':>12}")
    for name, m in table.items():
        print(f"{name:<36} {m['band']:>8.4f} {m['jump']:>8.4f} {m['inside']:>10.4f} {m['outside']:>12.2e}")
    if args.cost:
        cost(args.size, args.steps, args.rounds, args.channels)


if __name__ == "__main__":
    main()
