"""Cold first use of the Action Classifier with a real-size CLIP-L in ComfyUI (random weights, CPU by default).

Usage: ``ZONE_COMFYUI_PATH=/work/comfy python benchmarks/action_classifier_cold.py [--limit N] [--standard]
[--device cuda]``. Builds ComfyUI's SD1 CLIP (CLIP-L: 12 layers, width 768) in the dtype ComfyUI picks for the
device (fp16 weights on a CPU, computed in fp32 through ComfyUI's manual-cast ops), then times what the node does
on its first run with an empty cache: encode the training split and fit the head (``load_or_train``), then one
classification with the cached head. ``--standard`` turns the real-token fast path off (ComfyUI's full 77-token
pass for every text, as before); ``--limit N`` trains on the first N training texts only (to extrapolate a slow
path). Prints wall and CPU seconds, and the largest difference between the two paths' states on real tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="train on the first N training texts (0 = all)")
    parser.add_argument("--standard", action="store_true", help="ComfyUI's 77-token path for every text")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(os.environ["ZONE_COMFYUI_PATH"]))
    import comfy.cli_args

    comfy.cli_args.args.cpu = not args.device.startswith("cuda")
    import torch

    import comfy_env
    from conftest import load_pack

    comfy = comfy_env.import_comfy()
    mm = comfy.model_management
    load_pack()
    from comfyui_zone.nodes import action_classifier as node
    from comfyui_zone.zone_ops.stages import action_classifier as ac

    dtype = mm.text_encoder_dtype(mm.text_encoder_device())
    clip = comfy_env.clip_model(0, dtype=dtype)
    print(f"CLIP-L on {mm.text_encoder_device()}, weights {dtype}, torch threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.2f}")
    examples = ac.load_dataset(split="train")
    examples = examples[: args.limit] if args.limit else examples
    encoder = node.clip_text_encoder(clip)
    if args.standard:
        encoder.fast_path["fast"] = False
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            result = ac.train_head(encoder, examples)
            ac._save(result, Path(tmp) / f"action_head_{result.fingerprint}.pt")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"first use ({len(examples)} texts, {'standard 77-token' if args.standard else 'fast'} path "
              f"[{'on' if encoder.fast_path['fast'] else 'off'}]): {wall:.1f} s wall, {cpu:.1f} s CPU; "
              f"load {os.getloadavg()[0]:.2f}")
        start = time.perf_counter()
        with torch.inference_mode():
            action = ac.classify("remove the dog", encoder=node.clip_text_encoder(clip), cache_dir=tmp)
        print(f"cached head, one classification: {time.perf_counter() - start:.2f} s ({action.decided_by})")
    texts = [e.text for e in examples[:64]]
    with torch.inference_mode():
        slow = node.clip_text_encoder(clip)
        slow.fast_path["fast"] = False
        fast = node.clip_text_encoder(clip)
        fast.fast_path["fast"] = True
        (hs, ms), (hf, mf) = slow(texts), fast(texts)
    n = mf.shape[1]
    print(f"fast vs 77-token states on {len(texts)} texts: max |diff| {(hs[:, :n][mf] - hf[mf]).abs().max():.2e} "
          f"(scale {hs[ms].abs().max():.1f}); masks equal: {bool((ms[:, :n] == mf).all() and not ms[:, n:].any())}")


if __name__ == "__main__":
    main()
