"""``python -m zone_ops edit`` end to end on tiny random models written to a temporary folder (offline, CPU).

The models are random, so the masks say nothing about the cat; what is checked is the plumbing: every output and
the sidecar exist and are consistent, the result keeps the input's size and alpha, pixels where the composite's
alpha is 0 equal the input exactly, the no-SAM fallback says so, user errors give one line and status 2. Output
safety: inputs are never written over, earlier outputs only with --overwrite, inputs with clashing names get their
own folders, and --out is checked before any model loads.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT, photo
from tiny_models import save_ip2p_folder, tiny_sam
from zone_ops.cli.commands import OUTPUT_FILES, build_parser, main
from zone_ops.cli.safety import CliError, plan_outputs, prepare_out_dir, unique_names
from zone_ops.pipeline import STAGES
from zone_ops.models.checkpoint import available_devices

FAST = ["--steps", "2", "--working-size", "128", "--no-progress"]
INSTRUCTION = "make the cat blue"


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, f"cannot read {path}"
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[-1] == 4 else cv2.COLOR_BGR2RGB)
    return img


def assert_edit_landed(result: np.ndarray, canvas: np.ndarray, original: np.ndarray, alpha: np.ndarray,
                       final: np.ndarray) -> None:
    """The edit is in the result: it is the canvas where alpha is 1 (within 8-bit rounding: one level) and differs
    from the original inside the final mask (a composite of the original over itself would not)."""
    full, inside = alpha == alpha.max(), final > 0
    assert alpha.max() in (255, 65535) and full.any() and inside.any()
    one_level = 1 if result.dtype == np.uint8 else 257
    assert np.abs(result[full].astype(np.int64) - canvas[full]).max() <= one_level
    assert np.abs(result[inside].astype(np.int64) - original[inside]).mean() > 2 * one_level


def _write(path: Path, rgb_u8: np.ndarray) -> Path:
    if rgb_u8.ndim == 3:
        rgb_u8 = cv2.cvtColor(rgb_u8, cv2.COLOR_RGBA2BGRA if rgb_u8.shape[-1] == 4 else cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), rgb_u8)
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    sam_path = root / "tiny_sam.pth"
    torch.save(tiny_sam().state_dict(), sam_path)
    cat = (photo("chelsea")[60:156, 150:278] * 255).round().astype(np.uint8)  # 96 x 128, a real photo
    return {"ip2p": save_ip2p_folder(root / "ip2p"), "sam": sam_path, "image": _write(root / "cat.png", cat)}


def test_edit_one_image_with_sam(assets, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["edit", str(assets["image"]), "--instruction", INSTRUCTION, "--ip2p", str(assets["ip2p"]),
               "--sam", str(assets["sam"]), "--out", str(out), "--seed", "7", *FAST,
               # random tiny SAM: accept all its segments, so that Region-IoU picks a real (partial) one; the random
               # attention's coarse mask covers the whole image, so the min-iou guard is off to keep the mask partial
               "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--points-per-side", "4", "--min-iou", "0"])
    assert rc == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["cat"]
    out = out / "cat"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES.values())

    original = _read(assets["image"])
    result, canvas = _read(out / "result.png"), _read(out / "canvas.png")
    assert result.shape == canvas.shape == original.shape == (96, 128, 3)
    masks = {k: _read(out / f"{k}.png") for k in ("mask_coarse", "mask_refined", "mask_final", "alpha")}
    for k in ("mask_coarse", "mask_refined", "mask_final"):
        assert masks[k].shape == (96, 128) and set(np.unique(masks[k])) <= {0, 255}, k
    untouched = masks["alpha"] == 0
    assert untouched.any() and (~untouched).any(), "the tiny SAM segment should give a partial mask"
    np.testing.assert_array_equal(result[untouched], original[untouched])  # bit-identical outside the edit
    assert not (untouched & ((masks["mask_final"] > 0) | (masks["mask_refined"] > 0))).any()
    assert np.abs(canvas.astype(int) - original).mean() > 1  # the model did edit the whole image
    assert_edit_landed(result, canvas, original, masks["alpha"], masks["mask_final"])

    meta = json.loads((out / "edit.json").read_text())
    assert meta["outputs"]["result"] == "result.png" and meta["input"] == str(assets["image"])
    assert meta["instruction"] == INSTRUCTION and meta["seed"] == 7 and meta["image_size"] == [96, 128]
    action = meta["action"]
    assert action["label"] == "change" and action["decided_by"] == "lexical" and action["beta"] == 0.01
    assert abs(sum(action["probabilities"].values()) - 1) < 1e-6
    assert max(action["probabilities"], key=action["probabilities"].get) == "change"
    assert meta["parameters"]["steps"] == 2 and meta["parameters"]["text_scale"] == 7.5
    assert meta["parameters"]["image_scale"] == 1.5 and meta["parameters"]["scheduler"] == "dpmpp_2m"
    assert set(STAGES) <= set(meta["timings_s"]) and all(v >= 0 for v in meta["timings_s"].values())
    assert meta["masks"]["sam_used"] and not meta["masks"]["sam_fell_back"] and meta["masks"]["sam_segments"] >= 1
    assert meta["masks"]["changed_px"] == int((~untouched).sum())
    assert meta["masks"]["refined_px"] == int((masks["mask_refined"] > 0).sum())
    assert {"torch", "diffusers", "zone_ops"} <= set(meta["versions"])


def test_folder_of_two_images_without_sam(assets, tmp_path, capsys):
    """A folder (an RGBA and a grey image, plus a non-image file) without --sam: the coarse mask is used, and said."""
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = _read(assets["image"])
    alpha = np.tile(np.linspace(0, 255, 128).astype(np.uint8), (96, 1))
    _write(folder / "a_rgba.png", np.dstack([rgb, alpha]))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:64, :80]
    _write(folder / "b_grey.png", grey)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    rc = main([str(folder), "-i", "remove the cat", "--ip2p", str(assets["ip2p"]), "--out", str(out),
               "--threshold", "2", *FAST, "--working-size", "64"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert err.count("no --sam checkpoint") == 1 and "coarse" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_rgba", "b_grey"]

    a, b = _read(out / "a_rgba" / "result.png"), _read(out / "b_grey" / "result.png")
    assert a.shape == (96, 128, 4) and b.shape == (64, 80, 3)
    np.testing.assert_array_equal(a[..., 3], alpha)  # the input's alpha channel is kept
    for stem, result, original in (("a_rgba", a[..., :3], rgb), ("b_grey", b, np.repeat(grey[..., None], 3, -1))):
        coarse, refined = _read(out / stem / "mask_coarse.png"), _read(out / stem / "mask_refined.png")
        np.testing.assert_array_equal(coarse, refined)
        untouched = _read(out / stem / "alpha.png") == 0
        np.testing.assert_array_equal(result[untouched], original[untouched])
        assert_edit_landed(result, _read(out / stem / "canvas.png")[..., :3], original, _read(out / stem / "alpha.png"),
                           _read(out / stem / "mask_final.png"))
        meta = json.loads((out / stem / "edit.json").read_text())
        assert meta["masks"]["sam_used"] is False and any("no SAM" in n for n in meta["notes"])
        assert meta["action"]["label"] == "remove" and meta["action"]["beta"] == 0.2


def test_16_bit_colour_keeps_its_depth_and_exact_pixels(assets, tmp_path, capsys):
    """A 16-bit RGB PNG (which Pillow would read as 8 bit) comes back 16-bit, untouched pixels equal exactly."""
    rgb16 = (photo("chelsea")[60:156, 150:278] * 65535).round().astype(np.uint16)
    rgb16[::7, ::5] += 1  # odd low bits an 8-bit round trip would lose
    src = _write(tmp_path / "deep.png", rgb16)
    out = tmp_path / "out"
    rc = main([str(src), "-i", INSTRUCTION, "--ip2p", str(assets["ip2p"]), "--sam", str(assets["sam"]),
               "--out", str(out), "--seed", "7", *FAST,
               "--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--points-per-side", "4", "--min-iou", "0"])
    assert rc == 0, capsys.readouterr().err
    result = _read(out / "deep" / "result.png")
    assert result.dtype == np.uint16 and result.shape == rgb16.shape
    untouched = _read(out / "deep" / "alpha.png") == 0
    assert untouched.any()
    np.testing.assert_array_equal(result[untouched], rgb16[untouched])
    assert_edit_landed(result, _read(out / "deep" / "canvas.png"), rgb16, _read(out / "deep" / "alpha.png"),
                       _read(out / "deep" / "mask_final.png"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"image": "missing.png"}, "does not exist"),
        ({"--ip2p": "no_such_model"}, "--ip2p folder"),
        ({"--sam": "no_such_sam.pth"}, "--sam checkpoint"),
        ({"--min-inside": "1.5"}, "--min-inside must be a finite number from 0 to 1, got 1.5"),
        ({"--min-iou": "-0.1"}, "--min-iou must be a finite number from 0 to 1, got -0.1"),
        ({"--min-changed": "1.5"}, "--min-changed must be a finite number from 0 to 1, got 1.5"),
        ({"--noise-factor": "-1"}, "--noise-factor must be a finite number from 0 to 20, got -1"),
    ],
)
def test_user_errors_are_one_line_and_status_2(assets, tmp_path, capsys, change, message):
    args = {"image": str(assets["image"]), "--ip2p": str(assets["ip2p"]), "--sam": None, "--out": str(tmp_path / "o")}
    args.update({k: v if k.startswith(("--min", "--noise")) else str(tmp_path / v) for k, v in change.items()})
    argv = ["edit", args.pop("image"), "-i", INSTRUCTION, *FAST]
    for k, v in args.items():
        if v is not None:
            argv += [k, v]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("zone-edit: error:")
    assert not (tmp_path / "o").exists()  # nothing written before the inputs are checked


def test_python_dash_m_reports_a_missing_image_without_traceback(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "zone_ops", "edit", str(tmp_path / "nope.jpg"), "-i", "x", "--ip2p", str(tmp_path),
         "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 2
    assert "nope.jpg" in proc.stderr and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------ output safety
def _argv(assets, *inputs, out, extra=()):
    return ["edit", *map(str, inputs), "-i", INSTRUCTION, "--ip2p", str(assets["ip2p"]), "--out", str(out), *FAST,
            "--steps", "1", "--working-size", "64", *extra]


def _one_line_error(capsys, *words) -> str:
    """The error is the last line of stderr, alone (the no-SAM notice may come before it), with no traceback."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "Traceback" not in err and lines and lines[-1].startswith("zone-edit: error:"), err
    assert sum("error" in line for line in lines) == 1, err
    for word in words:
        assert word in err, err
    return err


def test_never_writes_over_an_input_even_with_overwrite(assets, tmp_path, capsys):
    """An input that sits exactly where an output would go (out/canvas/canvas.png) is refused, not replaced."""
    out = tmp_path / "out"
    victim = out / "canvas" / "canvas.png"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(assets["image"].read_bytes())
    before = victim.read_bytes()
    for extra in ((), ("--overwrite",)):
        assert main(_argv(assets, victim, out=out, extra=extra)) == 2
        _one_line_error(capsys, "over the input", str(victim))
        assert victim.read_bytes() == before
    assert sorted(p.name for p in victim.parent.iterdir()) == ["canvas.png"]


def test_out_next_to_the_input_keeps_the_input(assets, tmp_path, capsys):
    """--out = the input's own folder: the outputs go into a folder of their own, the photo is untouched."""
    src = tmp_path / "cat.png"
    src.write_bytes(assets["image"].read_bytes())
    before = src.read_bytes()
    assert main(_argv(assets, src, out=tmp_path)) == 0, capsys.readouterr().err
    assert src.read_bytes() == before
    assert (tmp_path / "cat" / "result.png").is_file()


def test_a_second_run_needs_overwrite(assets, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv(assets, assets["image"], out=out)) == 0, capsys.readouterr().err
    capsys.readouterr()
    record = out / "cat" / "edit.json"
    first = record.read_text()
    # refused before any model loads: an --ip2p folder that is not a model would fail later, not first
    argv = _argv(assets, assets["image"], out=out)
    argv[argv.index("--ip2p") + 1] = str(tmp_path)
    assert main(argv) == 2
    _one_line_error(capsys, "already exists", "--overwrite")
    assert record.read_text() == first
    assert main(_argv(assets, assets["image"], out=out, extra=("--overwrite", "--seed", "3"))) == 0
    assert json.loads(record.read_text())["seed"] == 3


def test_inputs_with_clashing_names_get_their_own_folders(tmp_path):
    """X.png beside X_canvas.png, the same stem in two folders and in two formats, and an input already named like
    a renamed one (cat_2): every input gets its own folder and no two planned files are the same."""
    names = ["X.png", "X_canvas.png", "a/cat.png", "b/cat.png", "cat.jpg", "cat_2.png", "CAT.webp"]
    sources = [tmp_path / n for n in names]
    for s in sources:
        s.parent.mkdir(parents=True, exist_ok=True)
        s.write_bytes(b"x")
    folders = unique_names(sources)
    assert folders[:2] == ["X", "X_canvas"] and folders[2] == "cat" and folders[5] == "cat_2"
    assert len({f.lower() for f in folders}) == len(folders)
    plans = plan_outputs(sources, prepare_out_dir(tmp_path / "out"), OUTPUT_FILES)
    targets = [t for plan in plans for t in plan.files.values()]
    assert len(set(targets)) == len(targets) == len(sources) * len(OUTPUT_FILES)
    assert all(plan.folder.is_dir() for plan in plans) and [p.source for p in plans] == sources


def test_plan_refuses_a_folder_name_taken_by_a_file(tmp_path):
    (tmp_path / "cat").write_text("a file where the output folder would go")
    with pytest.raises(CliError, match="a file has that name"):
        plan_outputs([tmp_path / "cat.png"], tmp_path, OUTPUT_FILES)


def test_unwritable_out_fails_before_any_model_loads(assets, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub"):  # --out is a file; its parent is a file
        argv = _argv(assets, assets["image"], out=out)
        argv[argv.index("--ip2p") + 1] = str(tmp_path)  # not a model: loading it would fail differently
        assert main(argv) == 2
        _one_line_error(capsys, "--out", str(out))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_read_only_out_fails_with_one_line(assets, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(_argv(assets, assets["image"], out=ro / "out")) == 2
        _one_line_error(capsys, "cannot write into --out")
    finally:
        ro.chmod(0o700)


def test_unavailable_device_is_one_line_and_not_offered(assets, tmp_path, capsys):
    help_text = build_parser().format_help()
    for device in ("mps", "cuda", "cuda:7", "tpu"):
        if device in available_devices():
            continue
        assert f"{device}," not in help_text and not help_text.rstrip().endswith(device)
        assert main(_argv(assets, assets["image"], out=tmp_path / "o", extra=("--device", device))) == 2
        _one_line_error(capsys, repr(device), "choose one of auto, cpu")
        assert not (tmp_path / "o").exists()


def test_corrupt_model_file_is_one_line(assets, tmp_path, capsys):
    import shutil

    ip2p = Path(shutil.copytree(assets["ip2p"], tmp_path / "ip2p"))
    weights = next((ip2p / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    argv = _argv(assets, assets["image"], out=tmp_path / "o")
    argv[argv.index("--ip2p") + 1] = str(ip2p)
    assert main(argv) == 2
    _one_line_error(capsys, "InstructPix2Pix", "damaged")


def test_diverged_canvas_in_fp32_does_not_blame_fp16(assets, tmp_path, capsys):
    """A UNet whose weights are finite but huge (3e38: every output overflows) diverges in fp32: the one-line error
    says so without blaming fp16. (Guidance scales that large are refused by their range now.)"""
    import shutil

    from safetensors.torch import load_file, save_file

    ip2p = Path(shutil.copytree(assets["ip2p"], tmp_path / "ip2p"))
    weights = next((ip2p / "unet").glob("*.safetensors"))
    sd = load_file(weights)
    sd["conv_out.weight"] = torch.full_like(sd["conv_out.weight"], 3e38)
    save_file(sd, weights)
    argv = _argv(assets, assets["image"], out=tmp_path / "o", extra=("--dtype", "fp32"))
    argv[argv.index("--ip2p") + 1] = str(ip2p)
    assert main(argv) == 2
    err = _one_line_error(capsys, "NaN/inf", "text_scale")
    assert "fp16" not in err


def test_guidance_scale_outside_its_range_is_refused_before_loading(assets, tmp_path, capsys):
    argv = _argv(assets, assets["image"], out=tmp_path / "o", extra=("--text-scale", "1e38"))
    argv[argv.index("--ip2p") + 1] = str(tmp_path)  # not a model: loading it would fail differently
    assert main(argv) == 2
    _one_line_error(capsys, "--text-scale must be a finite number from 0 to 30, got 1e+38")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag", ["--feather", "--fft-cutoff", "--text-scale", "--threshold"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_refused(assets, tmp_path, capsys, flag, value):
    assert main(_argv(assets, assets["image"], out=tmp_path / "o", extra=(flag, value))) == 2
    _one_line_error(capsys, flag, "finite")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------ nothing lost, round 2
@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_an_output_that_is_a_link_is_replaced_itself_never_followed(assets, tmp_path, capsys):
    """--overwrite replaces a link at an output's name by a plain file; the file it pointed to (outside --out) is
    untouched. Without --overwrite the link counts as an existing output."""
    outside = tmp_path / "precious.png"
    outside.write_bytes(b"do not touch")
    out = tmp_path / "out"
    (out / "cat").mkdir(parents=True)
    (out / "cat" / "result.png").symlink_to(outside)
    assert main(_argv(assets, assets["image"], out=out)) == 2
    _one_line_error(capsys, "already exists")
    assert main(_argv(assets, assets["image"], out=out, extra=("--overwrite",))) == 0, capsys.readouterr().err
    assert outside.read_bytes() == b"do not touch"
    result = out / "cat" / "result.png"
    assert not result.is_symlink() and _read(result).shape == (96, 128, 3)
    assert sorted(p.name for p in (out / "cat").iterdir()) == sorted(OUTPUT_FILES.values())  # no lock, no temp left


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_per_input_folder_that_is_a_link_is_refused(assets, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "cat").symlink_to(elsewhere, target_is_directory=True)
    for extra in ((), ("--overwrite",)):
        assert main(_argv(assets, assets["image"], out=out, extra=extra)) == 2
        _one_line_error(capsys, "symbolic link", str(out / "cat"))
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("instruction", ["", "   "])
def test_empty_instruction_is_refused_before_loading(assets, tmp_path, capsys, instruction):
    argv = _argv(assets, assets["image"], out=tmp_path / "o")
    argv[argv.index("-i") + 1] = instruction
    argv[argv.index("--ip2p") + 1] = str(tmp_path)  # not a model: loading it would fail differently
    assert main(argv) == 2
    _one_line_error(capsys, "instruction is empty")
    assert not (tmp_path / "o").exists()


def test_a_folder_held_by_a_live_run_is_refused_and_a_dead_runs_lock_taken_over(tmp_path):
    import socket

    from zone_ops.cli.safety import LOCK_NAME

    out = prepare_out_dir(tmp_path / "out")
    (out / "cat").mkdir()
    lock = out / "cat" / LOCK_NAME
    lock.write_text(f"{os.getpid()} {socket.gethostname()} 0\n")  # this process: alive
    with pytest.raises(CliError, match="another run"):
        plan_outputs([tmp_path / "cat.png"], out, OUTPUT_FILES)
    assert lock.exists()  # not ours to remove
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{dead.stdout.strip()} {socket.gethostname()} 0\n")  # a pid that has exited
    plans = plan_outputs([tmp_path / "cat.png"], out, OUTPUT_FILES)
    assert lock.read_text().split()[0] == str(os.getpid())
    plans[0].release()
    assert not lock.exists()


def test_write_output_never_replaces_what_appeared_meanwhile(tmp_path):
    from zone_ops.cli.safety import write_output

    target = tmp_path / "result.png"
    write_output(target, b"first")
    with pytest.raises(CliError, match="appeared while"):
        write_output(target, b"second")
    assert target.read_bytes() == b"first"
    write_output(target, b"third", overwrite=True)
    assert target.read_bytes() == b"third" and sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]


def test_unet_with_nan_weights_names_the_tensor(assets, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    ip2p = Path(shutil.copytree(assets["ip2p"], tmp_path / "ip2p"))
    weights = next((ip2p / "unet").glob("*.safetensors"))
    sd = load_file(weights)
    sd["conv_in.weight"][0, 0, 0, 0] = float("inf")
    save_file(sd, weights)
    argv = _argv(assets, assets["image"], out=tmp_path / "o")
    argv[argv.index("--ip2p") + 1] = str(ip2p)
    assert main(argv) == 2
    _one_line_error(capsys, "InstructPix2Pix UNet", "damaged", "conv_in.weight (1 of")


# ------------------------------------------------------------------------------------------------ flags vs their specs
def _parse(flag: str, value: str):
    """Parse ``flag value`` with the subcommand that has the flag and check it as ``main`` does, loading nothing."""
    from zone_ops.cli.commands import build_localize_parser, check_args

    edit_parser = build_parser()
    if any(flag in a.option_strings for a in edit_parser._actions):
        args = edit_parser.parse_args(["x.png", "-i", "x", "--ip2p", "d", "--out", "o", f"{flag}={value}"])
    else:
        args = build_localize_parser().parse_args(["a.png", "b.png", "--out", "o", f"{flag}={value}"])
    check_args(args)
    return getattr(args, flag.lstrip("-").replace("-", "_"))


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _numeric_flags():
    from zone_ops.params import CLI_FLAGS

    return sorted(f for f, (spec, _) in CLI_FLAGS.items() if spec.kind in ("INT", "FLOAT"))


@pytest.mark.parametrize("flag", _numeric_flags())
def test_every_numeric_flag_takes_its_range_and_refuses_the_rest(flag):
    """Hypothesis over each flag: values inside the spec's range (the nodes' range) parse to themselves; values
    outside it, NaN and infinities are refused in one CliError naming the flag and the range."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from zone_ops.params import CLI_FLAGS

    spec = CLI_FLAGS[flag][0]
    low, high = spec.min, spec.max
    if spec.kind == "INT":
        inside = st.integers(int(low), int(high))
        outside = st.one_of(st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1))
    else:
        inside = st.floats(low, high, allow_nan=False)
        outside = st.one_of(st.floats(max_value=low, exclude_max=True), st.floats(min_value=high, exclude_min=True),
                            st.just(math.nan), st.just(-math.inf))

    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inside, outside)
    def check(good, bad):
        assert _parse(flag, repr(good)) == good
        with pytest.raises(CliError) as info:
            _parse(flag, repr(bad))
        message = str(info.value)
        assert message.startswith(f"{flag} must be a finite number from {_bound(low)} to {_bound(high)}"), message

    check()


def test_choice_flags_take_the_nodes_choices():
    from zone_ops.params import CLI_FLAGS

    for flag, (spec, _) in CLI_FLAGS.items():
        if spec.kind != "COMBO":
            continue
        for choice in spec.choices:
            assert _parse(flag, choice) == choice
        with pytest.raises(SystemExit):  # argparse: usage error, status 2
            _parse(flag, "not-a-choice")


def test_ctrl_c_midway_keeps_what_was_written_and_leaves_no_lock_or_temp(assets, tmp_path, monkeypatch, capsys):
    """Ctrl+C while the second of three inputs runs: status 130, the first input's files are kept whole, nothing
    else is left (no lock, no temporary file, no empty folder)."""
    import zone_ops.pipeline as pipeline

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.png").write_bytes(assets["image"].read_bytes())
    real, calls = pipeline.run_zone, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_zone", interrupted)
    out = tmp_path / "out"
    assert main(_argv(assets, folder, out=out)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["a"]
    assert sorted(p.name for p in (out / "a").iterdir()) == sorted(OUTPUT_FILES.values())
    json.loads((out / "a" / "edit.json").read_text())  # whole
