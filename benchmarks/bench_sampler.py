"""Sampling time with the attention hook ON vs OFF, and the recorder's memory at 5 vs 20 steps.

Runs the diffusers backend's IP2P trajectory (three-branch guidance, DPM-Solver++ 2M) on a mid-sized random UNet
with SD1.5's block layout (default block_out_channels 128,256,512,512; cross-attention dim 768 like CLIP-L, so the
recorded layers do the same kind of work as in the real model). Only the denoising loop is timed (no VAE). ON and
OFF runs alternate; the minimum over repeats is reported. Target: ratio <= 1.10.

    .venv/bin/python benchmarks/bench_sampler.py [--size 256] [--steps 5] [--repeats 3] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zone_ops.attention_hook import AttentionRecorder, DiffusersAttentionHook  # noqa: E402
from zone_ops.backends.diffusers_backend import DiffusersTrajectory, make_scheduler  # noqa: E402
from zone_ops.fused_sampler import LATENT_FACTOR, SamplerSettings, seeded_noise  # noqa: E402


def mid_unet(channels: tuple[int, ...], cross_dim: int, device: str, dtype: torch.dtype):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=8, out_channels=4, block_out_channels=channels, layers_per_block=2, attention_head_dim=8,
        cross_attention_dim=cross_dim,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    )
    unet = unet.to(device).eval()
    return unet if dtype == torch.float32 else unet.to(dtype)


def run_loop(unet, size: int, steps: int, cross_dim: int, record: bool) -> tuple[float, AttentionRecorder | None]:
    """Seconds for ``steps`` guided steps (batch of 1 image = 3 UNet rows) and the recorder used (or None)."""
    settings = SamplerSettings(steps=steps, working_size=size)
    lat = size // LATENT_FACTOR
    g = torch.Generator().manual_seed(1)
    embeddings = torch.randn(3, 77, cross_dim, generator=g)
    image_latents = torch.randn(3, 4, lat, lat, generator=g)
    recorder = AttentionRecorder(1) if record else None
    hook = DiffusersAttentionHook(unet, recorder).install() if record else None
    trajectory = DiffusersTrajectory(unet, make_scheduler("dpmpp_2m"), embeddings, image_latents, settings, hook)
    try:
        with torch.no_grad():
            x = trajectory.start(seeded_noise((1, 4, lat, lat), 0))
            if unet.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for i in range(steps):
                x = trajectory.step(x, i)
            if unet.device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start, recorder
    finally:
        trajectory.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="working size in pixels (square)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--channels", default="128,256,512,512", help="UNet block_out_channels")
    parser.add_argument("--cross-dim", type=int, default=768)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    channels = tuple(int(c) for c in args.channels.split(","))
    unet = mid_unet(channels, args.cross_dim, args.device, dtype)
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    print(f"UNet {channels} ({params:.1f} M params), {args.size}x{args.size} px, {args.steps} DPM++ 2M steps, "
          f"device {args.device} {args.dtype}, torch threads {torch.get_num_threads()}")
    run_loop(unet, args.size, 1, args.cross_dim, record=True)  # warm-up (allocator, kernels)
    run_loop(unet, args.size, 1, args.cross_dim, record=False)
    on, off = [], []
    for _ in range(args.repeats):
        off.append(run_loop(unet, args.size, args.steps, args.cross_dim, record=False)[0])
        on.append(run_loop(unet, args.size, args.steps, args.cross_dim, record=True)[0])
    print(f"hook OFF: {min(off):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in off)})")
    print(f"hook ON:  {min(on):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in on)})")
    print(f"ratio ON/OFF (min over runs): {min(on) / min(off):.3f}  (target <= 1.10)")
    memory = {}
    for steps in (5, 20):
        _, recorder = run_loop(unet, args.size, steps, args.cross_dim, record=True)
        memory[steps] = recorder.nbytes
        print(f"recorder memory after {steps:2d} steps: {recorder.nbytes} bytes "
              f"(maps {tuple(recorder.maps().shape)}, {recorder.calls} layer calls)")
    print(f"memory flat in steps: {memory[5] == memory[20]}")


if __name__ == "__main__":
    main()
