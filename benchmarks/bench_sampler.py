"""Sampling time with the attention hook ON vs OFF, and the recorder's memory at 5 vs 20 steps.

Runs the diffusers backend's IP2P trajectory (three-branch guidance, DPM-Solver++ 2M) on a mid-sized random UNet
with SD1.5's block layout (default block_out_channels 128,256,512,512; cross-attention dim 768 like CLIP-L, so the
recorded layers do the same kind of work as in the real model). Only the denoising steps are timed (no VAE).
Each step runs without and with the hook on the same inputs (paired, order alternating, against the drift of a
shared machine); the ratio of the totals and the median paired ratio are reported. Target: ratio <= 1.10. The
memory runs (5 vs 20 steps) use a smaller size by default (the recorder's size depends on the resolution only).

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

from zone_ops.stages.attention_hook import AttentionRecorder, DiffusersAttentionHook  # noqa: E402
from zone_ops.sampling.diffusers_backend import DiffusersTrajectory, make_scheduler  # noqa: E402
from zone_ops.stages.fused_sampler import LATENT_FACTOR, SamplerSettings, seeded_noise  # noqa: E402


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


def _inputs(size: int, cross_dim: int):
    lat = size // LATENT_FACTOR
    g = torch.Generator().manual_seed(1)
    return torch.randn(3, 77, cross_dim, generator=g), torch.randn(3, 4, lat, lat, generator=g), seeded_noise((1, 4, lat, lat), 0)


def _sync(unet) -> None:
    if unet.device.type == "cuda":
        torch.cuda.synchronize()


def paired_times(unet, size: int, steps: int, cross_dim: int) -> tuple[list[float], list[float], bool]:
    """Per step: the guided step without the hook and the same step with it (installed and removed around the step,
    so install/remove are counted), in alternating order. Pairing cancels the drift of a shared machine. Returns (off, on, same
    latents)."""
    settings = SamplerSettings(steps=steps, working_size=size)
    embeddings, image_latents, noise = _inputs(size, cross_dim)
    off = DiffusersTrajectory(unet, make_scheduler("dpmpp_2m"), embeddings, image_latents, settings)
    on = DiffusersTrajectory(unet, make_scheduler("dpmpp_2m"), embeddings, image_latents, settings)
    hook = DiffusersAttentionHook(unet, AttentionRecorder(1))
    t_off, t_on = [], []
    with torch.no_grad():
        x_off, x_on = off.start(noise), on.start(noise)
        for i in range(steps):
            for hooked in ((False, True) if i % 2 == 0 else (True, False)):  # alternate which runs first
                _sync(unet)
                start = time.perf_counter()
                if hooked:
                    with hook:
                        x_on = on.step(x_on, i)
                else:
                    x_off = off.step(x_off, i)
                _sync(unet)
                (t_on if hooked else t_off).append(time.perf_counter() - start)
    return t_off, t_on, bool(torch.equal(x_off, x_on))


def recorder_after(unet, size: int, steps: int, cross_dim: int) -> AttentionRecorder:
    """The recorder after a hooked run of ``steps`` steps."""
    settings = SamplerSettings(steps=steps, working_size=size)
    embeddings, image_latents, noise = _inputs(size, cross_dim)
    recorder = AttentionRecorder(1)
    hook = DiffusersAttentionHook(unet, recorder).install()
    trajectory = DiffusersTrajectory(unet, make_scheduler("dpmpp_2m"), embeddings, image_latents, settings, hook)
    try:
        with torch.no_grad():
            x = trajectory.start(noise)
            for i in range(steps):
                x = trajectory.step(x, i)
    finally:
        trajectory.close()
    return recorder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="working size in pixels (square)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-size", type=int, default=128, help="working size of the 5- vs 20-step memory runs")
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
    paired_times(unet, args.size, 1, args.cross_dim)  # warm-up (allocator, kernels)
    off, on, same = [], [], True
    for _ in range(args.repeats):
        o, n, equal = paired_times(unet, args.size, args.steps, args.cross_dim)
        off, on, same = off + o, on + n, same and equal
    ratios = sorted(b / a for a, b in zip(off, on))
    print(f"hook OFF: {sum(off):.3f} s for {len(off)} steps ({sum(off) / len(off):.3f} s/step)")
    print(f"hook ON:  {sum(on):.3f} s for {len(on)} steps ({sum(on) / len(on):.3f} s/step)")
    print(f"ratio ON/OFF: total {sum(on) / sum(off):.3f}, median of paired steps {ratios[len(ratios) // 2]:.3f} "
          f"(target <= 1.10); latents identical with and without the hook: {same}")
    memory = {}
    for steps in (5, 20):
        recorder = recorder_after(unet, args.memory_size, steps, args.cross_dim)
        memory[steps] = recorder.nbytes
        print(f"recorder memory after {steps:2d} steps at {args.memory_size} px: {recorder.nbytes} bytes "
              f"(maps {tuple(recorder.maps().shape)}, {recorder.calls} layer calls)")
    print(f"memory flat in steps: {memory[5] == memory[20]}")


if __name__ == "__main__":
    main()
