"""One whole ZONE edit against its floor, in one run: interleaved, repeated, per stage, with peak memory.

The floor is the work ZONE cannot avoid: two plain InstructPix2Pix samplings (IP2P and MagicBrush, three
guidance branches each, the same steps and size) and one SAM automatic-mask run at the same settings. Everything
ZONE does on top of that (attention recording, mask stages, conversions, previews, model moves) is overhead.

Paths (each runs in its own child process, so one path's models never sit in the other's memory):
- ``diffusers`` (always): ``zone_ops.pipeline.run_zone`` (stages 1-6, the diffusers backend) against
  2 x diffusers ``StableDiffusionInstructPix2PixPipeline`` + segment-anything ``SamAutomaticMaskGenerator``.
- ``comfyui`` (when ``ZONE_COMFYUI_PATH`` points at a ComfyUI checkout): the ZONE nodes of the
  ``zone_local_edit`` workflow (Action Classifier with the CLIP, Fused IP2P Sampler with MagicBrush, Attention To
  Mask, SAM Region IoU, FFT Edge Smoother, Layer Composite; widget defaults, called in-process under
  ``torch.inference_mode()`` as ComfyUI calls them) against ComfyUI's own IP2P graph (CLIPTextEncode ->
  InstructPixToPixConditioning -> DualCFGGuider -> SamplerCustomAdvanced -> VAEDecode) run once per model + SAM.

Models: random weights of the REAL sizes, so the compute is real and the pictures are not: SD1.5's UNet (8 input
channels, two of them: IP2P and MagicBrush), CLIP-L's text model, SD's VAE, SAM (segment_anything's own builder,
no checkpoint). The floor and ZONE share the same model objects (the floor's two pipelines share the text encoder
and VAE, as ZONE does). The diffusers path uses a byte-level tokenizer (one token per character; the real CLIP-L
vocabulary is not shipped offline), the ComfyUI path ComfyUI's real SD1 tokenizer. The input is a photo at
exactly the working size, so neither side resizes. The Action Classifier's head is trained once per text
encoder before anything is timed (cached under ``--cache``, so later runs only load it).

Measurement: one warm-up of each side (1 step at 64 px; ``--no-warmup`` skips it), then ``--repeats`` rounds of
ZONE and floor, the order alternating per round, so the drift of a shared machine hits both. Per round and
side: time per stage (time.perf_counter, CUDA synchronised) and peak RSS (Linux VmHWM, reset before every stage through /proc/self/clear_refs; the models
are resident, so the peak includes them), and on a GPU peak VRAM (torch.cuda.max_memory_allocated, reset per
stage). Reported: per-stage medians, and the e2e ratio = median over rounds of ZONE time / floor time, with
min..max over rounds. Target: ratio <= 1.15 on both paths.

    python benchmarks/bench_e2e.py --quick          # CPU: 128 px, 2 steps, 8x8 SAM points, ViT-B (minutes)
    python benchmarks/bench_e2e.py --quick --shared-unet   # the same compute with one UNet less in memory
    python benchmarks/bench_e2e.py --device cuda    # GPU: fp16, 512 px, 20 steps, 32x32 points, ViT-H
    ZONE_COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_e2e.py --quick   # both paths

The last line is ``e2e ratio R (ZONE / floor) ...`` with R the worse of the paths run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # the random-model builders shared with the tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGET = 1.15
#: The warm-up runs (imports, allocator, kernels) use the smallest working size: they are not measured.
WARMUP_SIZE = 64
INSTRUCTION = "make the helmet red"
RESULT_TAG = "E2E_RESULT "
#: SD1.5's VAE in diffusers' layout.
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512,
)


# ------------------------------------------------------------------------------------------------ measuring
def _rss_peak_mb() -> float:
    """Peak resident set size of this process since the last reset, MiB (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1)) / 1024
    except (OSError, AttributeError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_reset() -> None:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); a no-op where that is not allowed."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")


class Meter:
    """Times named stages of one run; peak RSS (and peak VRAM on CUDA) per stage."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.stages: dict[str, dict[str, float]] = {}
        self.whole: dict[str, float] | None = None  # set when the stages were timed inside one measured call

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def stage(self, name: str):
        self._sync()
        _rss_reset()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        yield
        self._sync()
        record = {"s": time.perf_counter() - start, "rss_mb": _rss_peak_mb()}
        if self.cuda:
            record["vram_mb"] = torch.cuda.max_memory_allocated() / 2**20
        self.stages[name] = record

    def add(self, name: str, seconds: float) -> None:
        """A stage timed elsewhere (e.g. run_zone's own timings); no memory figure of its own."""
        self.stages[name] = {"s": seconds}

    @property
    def total(self) -> float:
        return self.whole["s"] if self.whole is not None else sum(r["s"] for r in self.stages.values())


def _sam(kind: str, device: str):
    from segment_anything import sam_model_registry

    if kind == "tiny":
        from tiny_models import tiny_sam

        return tiny_sam(3).to(device)
    torch.manual_seed(3)
    return sam_model_registry[kind](checkpoint=None).to(device).eval()


def _photo(size: int) -> np.ndarray:
    """skimage's astronaut (a real photo) at size x size, float32 0..1."""
    from skimage import data

    from zone_ops.core.images import resize_image

    return resize_image(data.astronaut().astype(np.float32) / 255.0, (size, size))


def _floor_sam(sam, canvas: np.ndarray, points: int) -> int:
    """The floor's SAM: segment_anything's automatic mask generator at the official settings; number of masks."""
    from segment_anything import SamAutomaticMaskGenerator

    u8 = np.ascontiguousarray((np.clip(canvas, 0, 1) * 255.0 + 0.5).astype(np.uint8))
    generator = SamAutomaticMaskGenerator(sam, points_per_side=points, pred_iou_thresh=0.88,
                                          stability_score_thresh=0.95, box_nms_thresh=0.7)
    return len(generator.generate(u8))


# ------------------------------------------------------------------------------------------------ diffusers path
def diffusers_models(device: str, dtype: torch.dtype, sam_kind: str, tiny: bool = False, shared: bool = False) -> dict[str, Any]:
    """SD1.5-size IP2P + MagicBrush UNets, CLIP-L text model, SD VAE (random), the SAM, on ``device``.
    ``tiny``: the tests' tiny models instead (a smoke test of this script; its figures mean nothing).
    ``shared``: MagicBrush is the IP2P UNet object (the same compute, one UNet less in memory)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from tiny_models import tiny_text_encoder, tiny_tokenizer, tiny_unet, tiny_vae

    if tiny:
        return {"ip2p": tiny_unet(0), "magicbrush": tiny_unet(1), "text_encoder": tiny_text_encoder(0),
                "tokenizer": tiny_tokenizer(), "vae": tiny_vae(2), "sam": _sam("tiny", device)}

    def unet(seed: int):
        torch.manual_seed(seed)  # diffusers' defaults are SD1.x's blocks (320, 640, 1280, 1280), 8 heads
        return UNet2DConditionModel(in_channels=8, cross_attention_dim=768, sample_size=64).to(device, dtype).eval()

    torch.manual_seed(2)
    vae = AutoencoderKL(**SD_VAE).to(device, dtype).eval()
    text = tiny_text_encoder(0, 768, 3072, 12, 12, 49408).to(device, dtype).eval()  # CLIP-L's text model
    ip2p = unet(0)
    return {"ip2p": ip2p, "magicbrush": ip2p if shared else unet(1), "text_encoder": text, "tokenizer": tiny_tokenizer(), "vae": vae,
            "sam": _sam(sam_kind, device)}


def run_diffusers(args: argparse.Namespace) -> dict[str, Any]:
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from zone_ops.sampling.diffusers_backend import DiffusersBackend, make_scheduler
    from zone_ops.stages.fused_sampler import LATENT_FACTOR, seeded_noise
    from zone_ops.pipeline import ZoneParams, run_zone

    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    m = diffusers_models(args.device, dtype, args.sam, args.tiny, args.shared_unet)
    backend = DiffusersBackend(m["ip2p"], m["text_encoder"], m["tokenizer"], m["vae"], magicbrush_unet=m["magicbrush"])
    pipes = {
        name: StableDiffusionInstructPix2PixPipeline(
            vae=m["vae"], text_encoder=m["text_encoder"], tokenizer=m["tokenizer"], unet=m[name],
            scheduler=make_scheduler("dpmpp_2m"), safety_checker=None, feature_extractor=None,
            requires_safety_checker=False,
        )
        for name in ("ip2p", "magicbrush")
    }
    for pipe in pipes.values():
        pipe.set_progress_bar_config(disable=True)

    def zone(steps: int, size: int) -> Meter:
        meter = Meter(args.device)
        params = ZoneParams(steps=steps, working_size=size, points_per_side=args.points, seed=0)
        photo = _photo(size)
        with meter.stage("run_zone"):
            run = run_zone(photo, INSTRUCTION, backend, sam=m["sam"], params=params)
        meter.whole = meter.stages.pop("run_zone")  # its stages are run_zone's own timings
        for name, seconds in run.timings.items():
            meter.add(name, seconds)
        return meter

    def floor(steps: int, size: int) -> Meter:
        meter = Meter(args.device)
        pixels = torch.from_numpy(_photo(size)).permute(2, 0, 1)[None].to(args.device, dtype)
        noise = seeded_noise((1, 4, size // LATENT_FACTOR, size // LATENT_FACTOR), 0).to(args.device, dtype)
        canvas = None
        for name, pipe in pipes.items():
            with meter.stage(f"{name} pipeline"):
                out = pipe(INSTRUCTION, image=pixels, num_inference_steps=steps, guidance_scale=7.5,
                           image_guidance_scale=1.5, latents=noise, output_type="np").images[0]
            canvas = out if canvas is None else canvas
        with meter.stage("SAM automatic masks"):
            _floor_sam(m["sam"], canvas, args.points)
        return meter

    return measure("diffusers", zone, floor, args)


# ------------------------------------------------------------------------------------------------ ComfyUI path
def _load_pack():
    """The repository imported as ComfyUI imports a custom node pack (the tests' loader, tests/conftest.py)."""
    from conftest import load_pack

    return load_pack()


def _node(cls: type, **given: Any) -> tuple:
    """Call a node like ComfyUI: widget inputs not given take their INPUT_TYPES defaults."""
    inputs = dict(given)
    for name, spec in cls.INPUT_TYPES()["required"].items():
        if name not in inputs and len(spec) > 1 and "default" in spec[1]:
            inputs[name] = spec[1]["default"]
    return getattr(cls(), cls.FUNCTION)(**inputs)


def run_comfyui(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, os.path.abspath(os.environ["ZONE_COMFYUI_PATH"]))
    import comfy.cli_args

    comfy.cli_args.args.cpu = not args.device.startswith("cuda")
    import comfy.model_management  # reads args.cpu once, at import: import_comfy's later "cpu = True" is moot
    import comfy_env

    comfy = comfy_env.import_comfy()
    import comfy.utils
    import folder_paths

    comfy.utils.set_progress_bar_enabled(False)  # the sampler's console bar (ZONE's node bar is silent here)
    logging.getLogger().setLevel(logging.ERROR)  # e.g. "Missing VAE keys" for the weightless VAE built below

    from comfy_models import SD_VAE_DDCONFIG, sd15_unet_config

    user_dir = Path(args.cache) / "comfyui_user"  # the Action Classifier's trained head is cached here
    user_dir.mkdir(parents=True, exist_ok=True)
    folder_paths.set_user_directory(str(user_dir))
    pack = _load_pack()
    nodes = pack.NODE_CLASS_MAPPINGS

    gpu = args.device.startswith("cuda")
    unet_dtype = comfy.model_management.unet_dtype() if gpu else torch.float32
    vae_dtype = comfy.model_management.vae_dtype() if gpu else torch.float32
    models = {"ip2p": comfy_env.tiny_ip2p_model(0), "clip": comfy_env.tiny_clip(0), "vae": comfy_env.tiny_vae(2)} if args.tiny else {
        "ip2p": comfy_env.ip2p_model(sd15_unet_config(unet_dtype), 0),
        "clip": comfy_env.clip_model(0),  # CLIP-L; ComfyUI picks its device and dtype
        "vae": comfy_env.vae_model(SD_VAE_DDCONFIG, 2, vae_dtype),
    }
    models["magicbrush"] = models["ip2p"] if args.shared_unet else (
        comfy_env.tiny_ip2p_model(1) if args.tiny else comfy_env.ip2p_model(sd15_unet_config(unet_dtype), 1))
    sam = _sam("tiny" if args.tiny else args.sam, args.device)
    start = time.perf_counter()  # train (or load) the Action Classifier's head for this CLIP once, untimed, and
    _node(nodes["ZoneActionClassifier"], instruction=INSTRUCTION, clip=models["clip"])  # outside inference mode
    images = {size: torch.from_numpy(_photo(size))[None] for size in (WARMUP_SIZE, args.size)}
    print(f"[comfyui] Action Classifier head for this CLIP ready in {time.perf_counter() - start:.1f} s", flush=True)

    def zone(steps: int, size: int) -> Meter:
        meter, image = Meter(args.device), images[size]
        with torch.inference_mode():
            with meter.stage("action_classifier"):
                action, _ = _node(nodes["ZoneActionClassifier"], instruction=INSTRUCTION, clip=models["clip"])
            with meter.stage("fused_sampler"):
                canvas, attention, _ = _node(
                    nodes["ZoneFusedIP2PSampler"], ip2p_model=models["ip2p"], clip=models["clip"], vae=models["vae"],
                    image=image, instruction=INSTRUCTION, steps=steps, working_size=size,
                    magicbrush_model=models["magicbrush"], action=action,
                )
            with meter.stage("attention_to_mask"):
                coarse = _node(nodes["ZoneAttentionToMask"], attention=attention, image=image)[0]
            with meter.stage("sam_region_iou"):
                refined = _node(nodes["ZoneSAMRegionIoU"], sam_model=sam, original=image, canvas=canvas,
                                coarse_mask=coarse, points_per_side=args.points, action=action)[0]
            with meter.stage("fft_edge_smoother"):
                final = _node(nodes["ZoneFFTEdgeSmoother"], original=image, canvas=canvas, refined_mask=refined)[0]
            with meter.stage("layer_composite"):
                _node(nodes["ZoneLayerComposite"], original=image, canvas=canvas, final_mask=final, refined_mask=refined)
        return meter

    def floor(steps: int, size: int) -> Meter:
        meter, image = Meter(args.device), images[size]
        canvas = None
        with torch.inference_mode():
            for name in ("ip2p", "magicbrush"):
                with meter.stage(f"{name} graph"):
                    out = comfy_env.comfy_ip2p(models, image, INSTRUCTION, 0, steps, 7.5, 1.5, "dpmpp_2m", "normal",
                                               model_key=name)
                canvas = out if canvas is None else canvas
            with meter.stage("SAM automatic masks"):
                _floor_sam(sam, canvas[0].float().cpu().numpy(), args.points)
        return meter

    return measure("comfyui", zone, floor, args)


# ------------------------------------------------------------------------------------------------ both paths
def measure(path: str, zone: Callable[[int, int], Meter], floor: Callable[[int, int], Meter], args: argparse.Namespace) -> dict:
    """Warm-up (1 step at WARMUP_SIZE each), then ``args.repeats`` interleaved rounds; prints each round's stages
    and the per-stage medians; returns the figures."""
    if args.warmup:
        start = time.perf_counter()
        zone(1, WARMUP_SIZE)
        floor(1, WARMUP_SIZE)
        print(f"[{path}] warm-up (1 step at {WARMUP_SIZE} px each) {time.perf_counter() - start:.1f} s", flush=True)
    runs: dict[str, list[Meter]] = {"ZONE": [], "floor": []}
    for r in range(args.repeats):
        order = ("ZONE", "floor") if r % 2 == 0 else ("floor", "ZONE")
        for side in order:
            meter = (zone if side == "ZONE" else floor)(args.steps, args.size)
            runs[side].append(meter)
            stages = ", ".join(f"{name} {record['s']:.2f}" for name, record in meter.stages.items())
            print(f"[{path}] round {r + 1} {side}: {meter.total:.2f} s ({stages})", flush=True)
    ratios = [z.total / f.total for z, f in zip(runs["ZONE"], runs["floor"])]
    figures = {"path": path, "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}
    for side, meters in runs.items():
        totals = [m.total for m in meters]
        print(f"[{path}] {side}: median {statistics.median(totals):.2f} s (min {min(totals):.2f}, max {max(totals):.2f})")
        for name in meters[0].stages:
            records = [m.stages[name] for m in meters]
            line = f"    {name:<22} {statistics.median(r['s'] for r in records):8.3f} s"
            if "rss_mb" in records[0]:
                line += f"   peak RSS {max(r['rss_mb'] for r in records) / 1024:6.2f} GiB"
            if "vram_mb" in records[0]:
                line += f"   peak VRAM {max(r['vram_mb'] for r in records) / 1024:6.2f} GiB"
            print(line)
        if meters[0].whole is not None:
            print(f"    {'(whole run)':<22} {statistics.median(totals):8.3f} s   peak RSS "
                  f"{max(m.whole['rss_mb'] for m in meters) / 1024:6.2f} GiB"
                  + (f"   peak VRAM {max(m.whole['vram_mb'] for m in meters) / 1024:6.2f} GiB" if args.device.startswith("cuda") else ""))
        figures[side] = statistics.median(totals)
        records = [r for m in meters for r in list(m.stages.values()) + ([m.whole] if m.whole else [])]
        figures[f"{side}_peak_rss_gib"] = max(r.get("rss_mb", 0) for r in records) / 1024
        if args.device.startswith("cuda"):
            figures[f"{side}_peak_vram_gib"] = max(r.get("vram_mb", 0) for r in records) / 1024
    print(f"[{path}] ratio ZONE / floor per round: {', '.join(f'{r:.3f}' for r in ratios)}")
    return figures


def child(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"[{args.path}] {args.size}x{args.size} px, {args.steps} DPM++ 2M steps, SAM {args.sam} "
          f"{args.points}x{args.points} points, {args.repeats} rounds, device {args.device}, "
          f"torch threads {torch.get_num_threads()}", flush=True)
    start = time.perf_counter()
    figures = (run_diffusers if args.path == "diffusers" else run_comfyui)(args)
    figures["wall_s"] = time.perf_counter() - start
    print(RESULT_TAG + json.dumps(figures), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU sizes: 128 px, 2 steps, 8x8 SAM points, ViT-B")
    parser.add_argument("--size", type=int, help="working size = image size in pixels (default 512; quick 128)")
    parser.add_argument("--steps", type=int, help="sampler steps (default 20; quick 2)")
    parser.add_argument("--points", type=int, help="SAM points per side (default 32; quick 8)")
    parser.add_argument("--sam", choices=("vit_b", "vit_l", "vit_h"), help="SAM size (default vit_h on CUDA, else vit_b)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of ZONE and floor")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (fp16 models on CUDA, fp32 on CPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--paths", default="auto", help="diffusers,comfyui (auto: comfyui only with ZONE_COMFYUI_PATH)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "zone_bench_e2e"),
                        help="folder for the Action Classifier's trained head (kept between runs)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the warm-up (round 1's first side, ZONE, then pays the first-call costs)")
    parser.add_argument("--shared-unet", action="store_true",
                        help="MagicBrush = the IP2P UNet object: the same compute with one UNet (3.4 GB fp32) less in memory")
    parser.add_argument("--tiny", action="store_true", help="tiny random models: checks the script runs (figures mean nothing)")
    parser.add_argument("--path", choices=("diffusers", "comfyui"), help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    defaults = (128, 2, 8) if args.quick else (512, 20, 32)
    args.size = args.size or defaults[0]
    args.steps = args.steps or defaults[1]
    args.points = args.points or defaults[2]
    args.sam = args.sam or ("vit_h" if args.device.startswith("cuda") else "vit_b")
    if args.path:
        child(args)
        return
    paths = ["diffusers"] + (["comfyui"] if os.environ.get("ZONE_COMFYUI_PATH") else [])
    if args.paths != "auto":
        paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if "comfyui" in paths and not os.environ.get("ZONE_COMFYUI_PATH"):
        parser.error("the comfyui path needs ZONE_COMFYUI_PATH (a ComfyUI checkout)")
    results = []
    for path in paths:
        command = [sys.executable, __file__, "--path", path] + [a for a in sys.argv[1:]]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        for line in proc.stdout:
            if line.startswith(RESULT_TAG):
                results.append(json.loads(line[len(RESULT_TAG):]))
            else:
                print(line, end="", flush=True)
        if proc.wait() != 0:
            raise SystemExit(f"the {path} path failed (exit code {proc.returncode})")
    parts = []
    for r in results:
        part = (f"{r['path']} {r['ratio']:.3f} [{r['ratio_min']:.3f}..{r['ratio_max']:.3f}] "
                f"({r['ZONE']:.2f} s / {r['floor']:.2f} s, peak RSS {r['ZONE_peak_rss_gib']:.2f} / "
                f"{r['floor_peak_rss_gib']:.2f} GiB")
        if "ZONE_peak_vram_gib" in r:
            part += f", peak VRAM {r['ZONE_peak_vram_gib']:.2f} / {r['floor_peak_vram_gib']:.2f} GiB"
        parts.append(part + ")")
    worst = max(r["ratio"] for r in results)
    print(f"e2e ratio {worst:.3f} (ZONE / floor, median of {args.repeats} interleaved rounds; "
          f"{'; '.join(parts)}; target <= {TARGET})")


if __name__ == "__main__":
    main()
