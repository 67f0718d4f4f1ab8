"""Command line: ``python -m zone_ops edit`` (also installed as ``zone-edit``) edits images headless, offline.

    python -m zone_ops edit photo.jpg more/ --instruction "make the coffee green" \\
        --ip2p models/instruct-pix2pix --sam models/sams/sam_vit_h_4b8939.pth --out edited/

Inputs: image files and/or folders (their images, not recursive). For each image ``NAME.ext`` it writes the folder
``--out/NAME/`` (``NAME_2``... when two inputs share a name): ``result.png`` (same size as the input; the input's
alpha channel is kept), ``canvas.png`` (the sampler's whole-image edit), ``mask_coarse.png`` / ``mask_refined.png``
/ ``mask_final.png`` (stages 3 / 4 / 5), ``alpha.png`` (stage 6 opacity: where it is 0 the result equals the input
exactly) and ``edit.json`` (action, parameters, timings per stage, seed, notes, versions).

Nothing is lost (``zone_ops.cli.safety``): an input file is never written over, existing outputs are replaced only
with ``--overwrite``, each per-input folder is claimed by a lock so that concurrent runs into one --out cannot
replace each other's files, every file is written under a temporary name and renamed (never through a symbolic
link), and --out is created and write-tested before any model loads. Every parameter's type and range come from
``zone_ops.params`` (the nodes' own declarations) and are checked before any model loads, as are the instruction
(not empty) and every input's header (readable, within ``--max-pixels``). Models come from local folders only
(diffusers-format IP2P / MagicBrush folders, a SAM v1 or SAM 2 checkpoint); nothing is downloaded.

Exit status: 0 every input written; 2 a user error (missing or damaged file, bad parameter, unavailable device,
unwritable or busy folder, image over the pixel limit, a diverged edit) in one line, nothing written for it; 3 some
inputs were skipped (each listed on stderr with its reason, then a summary) and the others written; 130 Ctrl+C
(files already written are kept, the input in progress leaves nothing); 1 a bug (a traceback).

``python -m zone_ops localize ORIGINAL EDITED --sam FILE --out DIR``: ZONE's localization for any editor's output
(two files, or two folders paired by file name), at the original's full resolution: the alignment and the masks
are found at the editor's scale (~1 MP) and only the final alpha's pixels are enlarged and pasted. For each pair
``NAME`` it writes ``--out/NAME/``: ``result.png`` (the original's size), ``aligned.png`` (the edit in the
original's frame at the working scale), ``mask_coarse.png`` (the difference mask), ``mask_refined.png``,
``mask_final.png``, ``alpha.png`` and ``localize.json`` (alignment report and matrix, colour drift, threshold,
parameters, timings, notes), with the same output safety (``zone_ops.cli.safety``; the edited files are inputs too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from ..core.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, ZoneInputError, max_pixels, number_text
from ..params import CLI_FLAGS, check_flags
from .image_files import image_header, png_bytes, read_image
from .safety import PARTIAL, USER_ERROR, CliError, OutputPlan, claimed_outputs, prepare_out_dir, run_cli, write_output
from ..pipeline import (ACTIONS, LOCALIZE_STAGES, NO_SAM_LOCALIZE_NOTE, NO_SAM_NOTE, STAGES, LocalizeParams, ZoneParams,
                       run_localize)
from ..models.checkpoint import available_devices

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
PROG = "zone-edit"
#: The files written per input, in ``--out/NAME/``.
OUTPUT_FILES = {
    "result": "result.png",
    "canvas": "canvas.png",
    "mask_coarse": "mask_coarse.png",
    "mask_refined": "mask_refined.png",
    "mask_final": "mask_final.png",
    "alpha": "alpha.png",
    "record": "edit.json",
}
__all__ = ["main", "build_parser", "CliError", "USER_ERROR", "OUTPUT_FILES"]


# ------------------------------------------------------------------------------------------------ arguments
def _flag(group: Any, flag: str, help: str | None = None) -> None:
    """Add ``flag`` with the type, choices, default and range of its parameter spec (``zone_ops.params.CLI_FLAGS``,
    the specs the nodes declare too); the range is checked by ``check_flags`` before anything loads."""
    spec, optional = CLI_FLAGS[flag]
    text = help or spec.tooltip
    if spec.kind == "COMBO":
        group.add_argument(flag, choices=spec.choices, default=spec.default, help=text)
        return
    low, high = spec.bounds.get("min"), spec.bounds.get("max")
    span = f" [{number_text(low)}..{number_text(high)}]" if low is not None and high is not None else ""
    group.add_argument(flag, type=spec.flag_type, default=None if optional else spec.default, help=f"{text}{span}")


def _add_stages_4_to_6(p: argparse.ArgumentParser) -> None:
    """The options of stages 4-6 (shared by ``edit`` and ``localize``)."""
    g = p.add_argument_group("stage 4: SAM region-IoU")
    _flag(g, "--segment-on")
    _flag(g, "--points-per-side")
    _flag(g, "--pred-iou-thresh")
    _flag(g, "--stability-score-thresh")
    _flag(g, "--box-nms-thresh")
    g.add_argument("--sam-crop", action="store_true", help="segment only around the coarse mask (faster)")
    _flag(g, "--sam-max-side", "SAM segments a copy at most this long; the chosen segment is upscaled (0: full size)")
    _flag(g, "--region-rule", "evidence: union plus the segments touching the coarse mask that the edit mostly changed; "
                              "union: the best segment plus the parts lying mostly inside the coarse mask; official: one")
    _flag(g, "--min-inside", "union: fraction of a segment that must lie inside the coarse mask")
    _flag(g, "--min-iou", "below this IoU with the coarse mask, the chosen region is extended with it (0: off)")
    _flag(g, "--min-changed", "evidence: fraction of a segment touching the coarse mask that must have changed")
    g = p.add_argument_group("stage 5: FFT edge smoother")
    _flag(g, "--fft-cutoff", "low-pass radius, cycles/pixel")
    _flag(g, "--fft-threshold", "0..255 scale (official 30)")
    _flag(g, "--dilate", "px at 512x512")
    _flag(g, "--close", "px at 512x512")
    g.add_argument("--fft-grey", dest="fft_color", action="store_false",
                   help="official grey-level difference (default: colour, any RGB channel)")
    g.add_argument("--fft-raw", dest="fft_drift", action="store_false",
                   help="raw official difference (default: the canvas's colour drift is removed first)")
    _flag(g, "--noise-factor", "drift-aware difference: threshold >= this x the noise floor outside the mask")
    g = p.add_argument_group("stage 6: layer composite")
    _flag(g, "--composite")
    _flag(g, "--band-alpha")
    _flag(g, "--feather", "px at 512x512 (feather mode)")
    g.add_argument("--color-match", action=argparse.BooleanOptionalAction, default=ZoneParams().color_match,
                   help="remove the canvas's global colour drift from the pasted layer")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=float, default=None, metavar="N",
                   help=f"refuse images over N pixels (width x height), read from the header before decoding; "
                   f"default ${MAX_PIXELS_ENV} or {DEFAULT_MAX_PIXELS:.0e}")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def build_parser() -> argparse.ArgumentParser:
    d = ZoneParams()
    p = argparse.ArgumentParser(
        prog=PROG,
        description="ZONE: zero-shot instruction-guided LOCAL image editing, headless and offline. "
        "Everything outside the edited object keeps its original pixels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("-i", "--instruction", required=True, help='the edit, e.g. "make his tie blue"')
    p.add_argument("--ip2p", required=True, metavar="DIR", help="diffusers-format InstructPix2Pix folder")
    p.add_argument("--magicbrush", metavar="DIR", help="diffusers-format MagicBrush folder (optional; fused sampling)")
    p.add_argument("--sam", metavar="FILE", help="SAM v1 or SAM 2 / 2.1 checkpoint (.pth/.pt/.safetensors); without it the coarse mask is used")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output folder (created if missing); each input gets its own folder OUT/NAME/")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run (never an input)")

    g = p.add_argument_group("stage 1: action")
    g.add_argument("--action", choices=ACTIONS, default=d.action, help="auto = lexical classifier of the instruction")
    _flag(g, "--beta", "fusion weight; default from the action (0.2 remove, 0.01 otherwise)")

    g = p.add_argument_group("stage 2: fused sampler")
    _flag(g, "--steps")
    _flag(g, "--text-scale")
    _flag(g, "--image-scale")
    _flag(g, "--scheduler")
    _flag(g, "--seed", "the same seed is used for every image")
    _flag(g, "--working-size", "longest side the models run at")
    g.add_argument("--device", default="auto", help=f"on this machine: {', '.join(available_devices())}")
    g.add_argument("--dtype", choices=("auto", "fp16", "bf16", "fp32"), default="auto", help="auto: fp16 on GPU, fp32 on CPU")

    g = p.add_argument_group("stage 3: attention to mask")
    _flag(g, "--threshold", "on D's 0..255 scale; default: the rule's own (54 official, 128 paper)")
    _flag(g, "--rule")
    _flag(g, "--min-region", "px at 512x512")

    _add_stages_4_to_6(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_common(p)
    return p


LOCALIZE_PROG = "python -m zone_ops localize"
#: The files ``localize`` writes per pair, in ``--out/NAME/`` (NAME: the original's file stem).
LOCALIZE_FILES = {
    "result": "result.png",
    "aligned": "aligned.png",
    "mask_coarse": "mask_coarse.png",
    "mask_refined": "mask_refined.png",
    "mask_final": "mask_final.png",
    "alpha": "alpha.png",
    "record": "localize.json",
}


def build_localize_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=LOCALIZE_PROG,
        description="ZONE's localization for ANY editor's output (Qwen-Image-Edit, FLUX Kontext, ...): align the "
        "edited image to the original, find what changed, snap it to a SAM segment and paste only that onto the "
        "original. ORIGINAL and EDITED are two image files, or two folders whose images are paired by file name "
        "(stem, without the extension).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("original", metavar="ORIGINAL", help="the unedited image, or a folder of them")
    p.add_argument("edited", metavar="EDITED", help="the editor's output (any size), or a folder of them")
    p.add_argument("--sam", metavar="FILE", help="SAM v1 or SAM 2 / 2.1 checkpoint (.pth/.pt/.safetensors); without it the difference "
                   "mask is used as the refined mask")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output folder (created if missing); each pair gets its own folder OUT/NAME/")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run (never an input)")
    p.add_argument("--device", default="auto", help=f"for SAM; on this machine: {', '.join(available_devices())}")
    g = p.add_argument_group("align edit")
    _flag(g, "--align-model")
    _flag(g, "--flow-cap", "dense residual flow cap in editor px (0 = off)")
    g = p.add_argument_group("difference to mask")
    _flag(g, "--diff-threshold", "CIELAB Delta E that counts as an edit; default: automatic from the noise floor")
    _flag(g, "--diff-min-region", "px at 512x512")
    _flag(g, "--diff-close", "px at 512x512")
    _add_stages_4_to_6(p)
    _add_common(p)
    return p


def check_args(args: argparse.Namespace) -> None:
    """Every flag with a parameter spec in its range (CliError naming the flag), and ``--max-pixels`` applied
    (it sets ``$ZONE_MAX_PIXELS`` for this process, so the library's checks use it too). Before any model loads."""
    try:
        check_flags(vars(args))
    except ZoneInputError as exc:
        raise CliError(str(exc)) from None
    limit = getattr(args, "max_pixels", None)
    if limit is not None:
        if not (math.isfinite(limit) and limit >= 1):
            raise CliError(f"--max-pixels must be a pixel count >= 1 (e.g. 2.5e8), got {limit:g}")
        os.environ[MAX_PIXELS_ENV] = str(int(limit))
    max_pixels()  # a bad $ZONE_MAX_PIXELS is reported now


def params_from_args(args: argparse.Namespace) -> ZoneParams:
    """ZoneParams from the parsed flags, after ``check_args``; CliError naming the flag for a value outside its
    spec's range (NaN and infinities included)."""
    check_args(args)
    names = {f.name for f in fields(ZoneParams)}
    values = {k: v for k, v in vars(args).items() if k in names}
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise CliError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    return ZoneParams(**values)


def localize_params_from_args(args: argparse.Namespace) -> LocalizeParams:
    """LocalizeParams from the parsed flags (checked by ``check_args``)."""
    check_args(args)
    return LocalizeParams(args.align_model, args.flow_cap, args.diff_threshold, args.diff_min_region, args.diff_close)


def collect_images(inputs: Sequence[str]) -> list[Path]:
    """Image files from files and folders (a folder's images sorted by name, not recursive)."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            images = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not images:
                raise CliError(f"folder {str(path)!r} has no images ({', '.join(IMAGE_EXTENSIONS)})")
            found.extend(images)
        elif path.is_file():
            found.append(path)
        else:
            raise CliError(f"input {str(path)!r} does not exist")
    return found


def image_pairs(original: str, edited: str) -> list[tuple[Path, Path]]:
    """(original, edited) file pairs: two files, or two folders whose images are paired by stem (unpaired images
    are reported on stderr and skipped; no pair at all is an error)."""
    a, b = Path(original).expanduser(), Path(edited).expanduser()
    if a.is_dir() != b.is_dir():
        raise CliError(f"ORIGINAL {str(a)!r} and EDITED {str(b)!r} must both be files or both be folders")
    left, right = collect_images([str(a)]), collect_images([str(b)])
    if not a.is_dir():
        return [(left[0], right[0])]
    by_stem: dict[str, list[Path]] = {}
    for f in right:
        by_stem.setdefault(f.stem, []).append(f)
    twice = sorted(stem for stem, files in by_stem.items() if len(files) > 1)
    if twice:
        raise CliError(f"folder {str(b)!r} has several images named {twice[0]!r} (different extensions): keep one")
    pairs = [(f, by_stem[f.stem][0]) for f in left if f.stem in by_stem]
    if not pairs:
        raise CliError(f"no image of {str(a)!r} has an image of the same name in {str(b)!r}")
    unpaired = sorted({f.name for f in left if f.stem not in by_stem} |
                      {f.name for f in right if f.stem not in {g.stem for g in left}})
    if unpaired:
        print(f"{LOCALIZE_PROG}: skipped {len(unpaired)} image(s) without a partner of the same name: "
              f"{', '.join(unpaired[:5])}{' ...' if len(unpaired) > 5 else ''}", file=sys.stderr)
    return pairs


# ------------------------------------------------------------------------------------------------ sidecar
def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"zone_ops": __version__, "python": platform.python_version()}
    for dist in ("torch", "diffusers", "transformers", "segment-anything", "numpy", "opencv-python-headless"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def mask_record(coarse: np.ndarray, run: Any) -> dict[str, Any]:
    """Mask sizes and the Region-IoU outcome of a ``ZoneRun`` or ``LocalizeRun`` (``coarse``: its coarse mask)."""
    refine = run.refine
    return {
        "coarse_px": int(coarse.sum()),
        "refined_px": int(run.refined.sum()),
        "final_px": int(run.final.sum()),
        "changed_px": int((getattr(run, "alpha", run.composite.alpha) > 0).sum()),
        "sam_used": refine is not None,
        "sam_fell_back": None if refine is None else bool(refine.fell_back),
        "sam_segments_chosen": None if refine is None else [int(i) for i in refine.indices],
        "sam_extended_with_coarse": None if refine is None else bool(refine.extended),
        "region_iou": None if refine is None else float(refine.iou),
        "sam_segments": None if refine is None else int(refine.num_segments),
    }


def sidecar(run: Any, params: ZoneParams, args: argparse.Namespace, source: Path, outputs: dict[str, str],
            device: str) -> dict[str, Any]:
    """The JSON record of one edited image."""
    action = run.action
    return {
        "input": str(source),
        "outputs": outputs,
        "instruction": args.instruction,
        "image_size": list(run.result.shape[:2]),
        "working_size": list(run.working_size),
        "action": {
            "label": action.label.name.lower(),
            "probabilities": dict(zip(("change", "add", "remove"), action.probabilities)),
            "beta": run.settings.beta,
            "decided_by": action.decided_by,
        },
        "seed": run.settings.seed,
        "parameters": asdict(params),
        "models": {"ip2p": args.ip2p, "magicbrush": args.magicbrush, "sam": args.sam, "device": device,
                   "dtype": args.dtype},
        "masks": mask_record(run.coarse.mask, run),
        "timings_s": {k: round(run.timings.get(k, 0.0), 4) for k in STAGES},
        "notes": run.notes,
        "versions": versions(),
    }


# ------------------------------------------------------------------------------------------------ main
def _quiet_libraries() -> None:
    """Silence diffusers' / transformers' loading chatter and bars (our own bars and messages stay)."""
    import diffusers
    import transformers

    for lib in (diffusers.utils.logging, transformers.utils.logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


def check_instruction(instruction: str) -> str:
    """The instruction, refused (CliError) when empty or blank: checked before any model loads."""
    if not instruction or not instruction.strip():
        raise CliError("the instruction is empty: write what to change, e.g. --instruction \"make the sky pink\"")
    return instruction


def usable_inputs(groups: Sequence[tuple[Path, ...]], prog: str) -> tuple[list[tuple[Path, ...]], list[str]]:
    """Check every file of every input group (one image, or an original + edited pair) BEFORE any model loads:
    readable image header, size within the pixel limit, file structure (``image_header(verify=True)``). Returns
    (the usable groups, one "name: reason" line per skipped group). CliError with the reason(s) when none is
    usable."""
    usable, skipped = [], []
    for group in groups:
        try:
            for path in group:
                image_header(path, verify=True)
        except CliError as exc:
            skipped.append(f"{group[0].name}: {exc}")
            continue
        usable.append(group)
    if not usable:
        if len(skipped) == 1:
            raise CliError(skipped[0].split(": ", 1)[1])
        raise CliError(f"none of the {len(groups)} inputs can be used: {'; '.join(skipped[:3])}"
                       f"{' ...' if len(skipped) > 3 else ''}")
    for line in skipped:
        print(f"{prog}: skipping {line}", file=sys.stderr)
    return usable, skipped


#: What one input may fail with midway without stopping the others (it is skipped and listed).
def _input_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (ZoneInputError, MemoryError, torch.OutOfMemoryError)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ZoneInputError):
        return " ".join(str(exc).split())
    return "out of memory (lower --working-size or --sam-max-side, or --max-pixels)"


def finish(prog: str, done: int, skipped: list[str], out: Path) -> int:
    """The run's exit status: 0 when every input was written; PARTIAL (3) when some were skipped (listed again
    on stderr); CliError (status 2) when none was."""
    if not skipped:
        return 0
    if done == 0:
        if len(skipped) == 1:
            raise CliError(skipped[0].split(": ", 1)[1])
        raise CliError(f"no input could be edited; skipped: {'; '.join(skipped[:3])}{' ...' if len(skipped) > 3 else ''}")
    print(f"{prog}: {len(skipped)} of {done + len(skipped)} inputs skipped ({', '.join(s.split(': ', 1)[0] for s in skipped[:10])}"
          f"{' ...' if len(skipped) > 10 else ''}); the other {done} are in {str(out)!r}", file=sys.stderr)
    return PARTIAL


def write_outputs(plan: OutputPlan, images: dict[str, bytes], record: dict[str, Any], overwrite: bool) -> None:
    """Write one input's files (each atomically, ``write_output``); the sidecar last."""
    for key, data in images.items():
        write_output(plan.files[key], data, overwrite=overwrite)
    write_output(plan.files["record"], json.dumps(record, indent=2).encode(), overwrite=overwrite)


def edit(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    check_instruction(args.instruction)
    images = collect_images(args.inputs)
    for flag, value in (("--ip2p", args.ip2p), ("--magicbrush", args.magicbrush)):
        if value is not None and not Path(value).expanduser().is_dir():
            raise CliError(f"{flag} folder {value!r} does not exist (give a local diffusers-format model folder)")
    if args.sam is not None and not Path(args.sam).expanduser().is_file():
        raise CliError(f"--sam checkpoint {args.sam!r} does not exist")
    from ..models.checkpoint import resolve_device

    device = str(resolve_device(args.device))
    groups, skipped = usable_inputs([(p,) for p in images], PROG)
    images = [g[0] for g in groups]
    out = prepare_out_dir(args.out)
    with claimed_outputs(images, out, OUTPUT_FILES, overwrite=args.overwrite) as plans:
        return _edit_claimed(args, params, plans, device, skipped, out)


def _edit_claimed(args: argparse.Namespace, params: ZoneParams, plans: list[OutputPlan], device: str,
                  skipped: list[str], out: Path) -> int:
    from tqdm.auto import tqdm

    from ..sampling.diffusers_backend import load_diffusers_backend
    from ..pipeline import run_zone

    _quiet_libraries()
    quiet = args.no_progress
    t = time.perf_counter()
    backend = load_diffusers_backend(args.ip2p, args.magicbrush, device=device, dtype=args.dtype)
    sam = None
    if args.sam is None:
        print(f"{PROG}: no --sam checkpoint: using the coarse attention mask as the refined mask (Region-IoU skipped)",
              file=sys.stderr)
    else:
        from ..models.sam_loader import load_sam

        sam = load_sam(args.sam, device=device)
    load_seconds = time.perf_counter() - t

    done = 0
    bar = tqdm(total=len(plans), desc="images", unit="img", disable=quiet, position=0)
    for plan in plans:
        path, files = plan.source, plan.files
        steps = tqdm(total=params.steps, desc=path.name, unit="step", leave=False, disable=quiet, position=1)

        def progress(n: int, total: int, _bar=steps) -> None:
            _bar.total = total
            _bar.n = n
            _bar.refresh()

        try:
            rgb, alpha, bits = read_image(path)
            run = run_zone(rgb, args.instruction, backend, sam=sam, params=params, progress=progress)
            encoded = {"result": png_bytes(run.result, alpha, bits), "canvas": png_bytes(run.canvas, None, bits)}
            for key, mask in (("mask_coarse", run.coarse.mask), ("mask_refined", run.refined),
                              ("mask_final", run.final), ("alpha", run.composite.alpha)):
                encoded[key] = png_bytes(np.asarray(mask, np.float32))
        except _input_errors() as exc:
            skipped.append(f"{path.name}: {_reason(exc)}")
            tqdm.write(f"{PROG}: skipping {skipped[-1]}", file=sys.stderr)
            plan.release(remove_if_empty=True)
            bar.update(1)
            continue
        finally:
            steps.close()
        record = sidecar(run, params, args, path, {k: f.name for k, f in files.items()}, device)
        record["timings_s"]["model_loading_once"] = round(load_seconds, 4)
        write_outputs(plan, encoded, record, args.overwrite)
        done += 1
        for note in run.notes:
            if note != NO_SAM_NOTE:  # said once above
                tqdm.write(f"{PROG}: {path.name}: {note}", file=sys.stderr)
        bar.update(1)
    bar.close()
    return finish(PROG, done, skipped, out)


def localize_sidecar(run: Any, pair: tuple[Path, Path], outputs: dict[str, str], params: ZoneParams,
                     localize_params: LocalizeParams, args: argparse.Namespace, device: str | None) -> dict[str, Any]:
    """The JSON record of one localized pair."""
    al, diff = run.alignment, run.difference
    return {
        "original": str(pair[0]),
        "edited": str(pair[1]),
        "outputs": outputs,
        "image_size": list(run.result.shape[:2]),
        "edited_size": [int(round(al.scale[1] * run.result.shape[0])), int(round(al.scale[0] * run.result.shape[1]))],
        "alignment": {
            "report": al.describe(),
            "model": al.model,
            "matrix_original_to_resized_edit": np.asarray(al.matrix).round(6).tolist(),
            "points_agree": al.inliers,
            "points_tracked": al.matches,
            "residual_px": None if al.residual != al.residual else round(float(al.residual), 4),
            "residual_flow_mean_px": round(float(al.flow), 4),
            "valid_fraction": round(float(al.valid.mean()), 6),
            "uneven_shift_max_px": round(float(al.smooth_max), 4),
            "flow_confident_fraction": round(float(al.flow_support), 4),
            "working_size": list(al.work_shape),
        },
        "pasted": run.pasted,
        "difference": {
            "delta_e_threshold": round(diff.threshold, 4),
            "colour_drift": {"gain": diff.drift.gain.round(5).tolist(), "offset": diff.drift.offset.round(5).tolist(),
                             "noise": diff.drift.noise.round(5).tolist()},
        },
        "masks": mask_record(diff.mask, run),
        "parameters": {**asdict(localize_params), **{k: v for k, v in asdict(params).items() if k in LOCALIZE_KEYS}},
        "models": {"sam": args.sam, "device": device},
        "timings_s": {k: round(run.timings.get(k, 0.0), 4) for k in LOCALIZE_STAGES},
        "notes": run.notes,
        "versions": versions(),
    }


#: The ZoneParams fields ``localize`` uses (stages 4-6).
LOCALIZE_KEYS = ("segment_on", "points_per_side", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh",
                 "sam_crop", "sam_max_side", "fft_cutoff", "fft_threshold", "dilate", "close", "fft_color",
                 "composite", "band_alpha", "feather")


def localize(args: argparse.Namespace) -> int:
    """``python -m zone_ops localize``: ZONE's localization for each (original, edited) pair."""
    params = params_from_args(args)
    localize_params = localize_params_from_args(args)
    pairs = image_pairs(args.original, args.edited)
    if args.sam is not None and not Path(args.sam).expanduser().is_file():
        raise CliError(f"--sam checkpoint {args.sam!r} does not exist")
    device = None
    if args.sam is not None:
        from ..models.checkpoint import resolve_device

        device = str(resolve_device(args.device))
    groups, skipped = usable_inputs(pairs, LOCALIZE_PROG)
    pairs = [(a, b) for a, b in groups]
    out = prepare_out_dir(args.out)
    with claimed_outputs([a for a, _ in pairs], out, LOCALIZE_FILES, overwrite=args.overwrite,
                         other_inputs=[b for _, b in pairs]) as plans:
        sam = None
        if args.sam is None:
            print(f"{LOCALIZE_PROG}: no --sam checkpoint: {NO_SAM_LOCALIZE_NOTE}", file=sys.stderr)
        else:
            from ..models.sam_loader import load_sam

            sam = load_sam(args.sam, device=device)
        done = 0
        for plan, (original, edited) in zip(plans, pairs):
            try:
                rgb, alpha, bits = read_image(original)
                edited_rgb, _, _ = read_image(edited)
                run = run_localize(rgb, edited_rgb, sam=sam, params=params, localize=localize_params)
                encoded = {"result": png_bytes(run.result, alpha, bits),
                           "aligned": png_bytes(run.alignment.image, None, bits)}
                for key, mask in (("mask_coarse", run.difference.mask), ("mask_refined", run.refined),
                                  ("mask_final", run.final)):  # found at the editor's scale, written at the photo's
                    encoded[key] = png_bytes(run.full_size(mask).view(np.uint8).astype(np.float32))
                encoded["alpha"] = png_bytes(run.alpha)
            except _input_errors() as exc:
                skipped.append(f"{original.name}: {_reason(exc)}")
                print(f"{LOCALIZE_PROG}: skipping {skipped[-1]}", file=sys.stderr)
                plan.release(remove_if_empty=True)
                continue
            record = localize_sidecar(run, (original, edited), {k: f.name for k, f in plan.files.items()}, params,
                                      localize_params, args, device)
            write_outputs(plan, encoded, record, args.overwrite)
            done += 1
            print(f"{LOCALIZE_PROG}: {original.name} + {edited.name}: {run.alignment.describe()}", file=sys.stderr)
            for note in run.notes:
                if note != NO_SAM_LOCALIZE_NOTE:  # said once above
                    print(f"{LOCALIZE_PROG}: {original.name}: {note}", file=sys.stderr)
    return finish(LOCALIZE_PROG, done, skipped, out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m zone_ops edit`` and the ``zone-edit`` console script. Returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    command, prog = edit, PROG
    if argv and argv[0] == "edit":  # `python -m zone_ops edit ...` and `zone-edit ...` take the same arguments
        argv = argv[1:]
    elif argv and argv[0] == "localize":
        argv, command, prog = argv[1:], localize, LOCALIZE_PROG
    parser = build_localize_parser() if command is localize else build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help / --version (0) or a usage error (2, message already printed)
        return int(exc.code or 0)
    saved = os.environ.get(MAX_PIXELS_ENV)  # --max-pixels sets it for this run only (main may be called in-process)
    try:
        return run_cli(prog, lambda: command(args))
    finally:
        if saved is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = saved
