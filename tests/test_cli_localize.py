"""``python -m zone_ops localize`` end to end: a real photo, a simulated editor output (another size, zoom, cast),
a tiny random SAM (plumbing only; its segments mean nothing), offline on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import photo
from tiny_models import tiny_sam
from zone_ops.cli.commands import LOCALIZE_FILES, main
from zone_ops.pipeline import LOCALIZE_STAGES


def _write(path: Path, rgb: np.ndarray) -> Path:
    u8 = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)
    assert cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))
    return path


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img


def _editor(img: np.ndarray) -> np.ndarray:
    """A local edit (a green disc), then a 2 % zoom with a shift, a resize to 1.5x another aspect and a cast."""
    h, w = img.shape[:2]
    out = img.copy()
    yy, xx = np.mgrid[0:h, 0:w]
    out[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h / 6) ** 2] = (0.1, 0.8, 0.2)
    out = cv2.warpAffine(out, np.float32([[1.02, 0, -3], [0, 1.02, -2]]), (w, h), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT)
    out = cv2.resize(out, (int(w * 1.6) // 32 * 32, int(h * 1.4) // 32 * 32), interpolation=cv2.INTER_CUBIC)
    return np.clip(out * np.float32([1.05, 0.97, 0.95]) + 0.02, 0, 1)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("localize")
    sam_path = root / "tiny_sam.pth"
    torch.save(tiny_sam().state_dict(), sam_path)
    (root / "orig").mkdir()
    (root / "edit").mkdir()
    cat = photo("chelsea")[40:232, 100:356]  # 192 x 256, a real photo
    coffee = photo("coffee")[::2, ::2]  # 200 x 300
    _write(root / "orig" / "cat.png", cat)
    _write(root / "orig" / "cup.png", coffee)
    _write(root / "orig" / "lonely.png", cat)
    _write(root / "edit" / "cat.png", _editor(cat))
    _write(root / "edit" / "cup.png", _editor(coffee))
    return {"root": root, "sam": sam_path}


SAM_FAST = ["--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--points-per-side", "4"]


def test_localize_one_pair_with_sam(assets, tmp_path, capsys):
    root, out = assets["root"], tmp_path / "out"
    rc = main(["localize", str(root / "orig" / "cat.png"), str(root / "edit" / "cat.png"), "--sam",
               str(assets["sam"]), "--out", str(out), *SAM_FAST])
    assert rc == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["cat"]  # one folder per input
    folder = out / "cat"
    assert sorted(p.name for p in folder.iterdir()) == sorted(LOCALIZE_FILES.values())
    original = _read(root / "orig" / "cat.png")
    result, alpha = _read(folder / "result.png"), _read(folder / "alpha.png")
    assert result.shape == original.shape and _read(folder / "aligned.png").shape == original.shape
    np.testing.assert_array_equal(result[alpha == 0], original[alpha == 0])  # untouched pixels bit-identical
    record = json.loads((folder / "localize.json").read_text())
    assert record["alignment"]["model"] == "affine" and record["alignment"]["residual_px"] < 0.5
    assert record["edited_size"] == [int(192 * 1.4) // 32 * 32, int(256 * 1.6) // 32 * 32]
    assert record["masks"]["sam_used"] and set(record["timings_s"]) == set(LOCALIZE_STAGES)
    assert record["difference"]["colour_drift"]["gain"][0] == pytest.approx(1.05, abs=0.03)
    coarse = _read(folder / "mask_coarse.png") > 127
    yy, xx = np.mgrid[0:192, 0:256]
    disc = (yy - 96) ** 2 + (xx - 128) ** 2 < 32 ** 2
    assert (coarse & disc).sum() / (coarse | disc).sum() > 0.8  # the difference mask found the edit


def test_localize_folders_pair_by_name_without_sam(assets, tmp_path, capsys):
    root, out = assets["root"], tmp_path / "out"
    rc = main(["localize", str(root / "orig"), str(root / "edit"), "--out", str(out), "--align-model", "similarity"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "no --sam checkpoint" in err and "lonely.png" in err  # unpaired images are named, then skipped
    assert {p.name for p in out.iterdir()} == {"cat", "cup"}
    record = json.loads((out / "cup" / "localize.json").read_text())
    assert record["alignment"]["model"] == "similarity" and not record["masks"]["sam_used"]
    assert record["masks"]["coarse_px"] == record["masks"]["refined_px"]  # no SAM: the difference mask is refined


@pytest.mark.parametrize("argv, words", [
    (lambda r, t: [str(r / "orig" / "cat.png"), str(r / "edit")], "both be files or both be folders"),
    (lambda r, t: [str(r / "orig" / "nope.png"), str(r / "edit" / "cat.png")], "does not exist"),
    (lambda r, t: [str(r / "orig" / "cat.png"), str(r / "edit" / "cat.png"), "--sam", str(t / "no.pth")],
     "--sam checkpoint"),
    (lambda r, t: [str(r / "orig" / "cat.png"), str(r / "edit" / "cat.png"), "--flow-cap", "-1"],
         "--flow-cap must be a finite number from 0 to 32"),
])
def test_user_errors_are_one_line_and_status_2(assets, tmp_path, capsys, argv, words):
    args = argv(assets["root"], tmp_path)
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    before = sorted(p.name for p in (assets["root"] / "orig").iterdir())
    assert main(["localize", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m zone_ops localize: error:") and words in err and "\n" not in err, err
    assert sorted(p.name for p in (assets["root"] / "orig").iterdir()) == before  # nothing written over inputs


def test_out_that_is_a_file_is_refused_before_work(assets, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    root = assets["root"]
    assert main(["localize", str(root / "orig" / "cat.png"), str(root / "edit" / "cat.png"), "--out",
                 str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_inputs_are_never_written_and_outputs_only_replaced_with_overwrite(assets, tmp_path, capsys):
    root, out = assets["root"], tmp_path / "out"
    (out / "cat").mkdir(parents=True)
    edited = out / "cat" / "aligned.png"  # the edited input sits exactly where an output would go
    edited.write_bytes((root / "edit" / "cat.png").read_bytes())
    before = edited.read_bytes()
    pair = [str(root / "orig" / "cat.png"), str(edited), "--out", str(out)]
    assert main(["localize", *pair, "--overwrite"]) == 2
    assert "over the input" in capsys.readouterr().err and edited.read_bytes() == before
    args = [str(root / "orig" / "cat.png"), str(root / "edit" / "cat.png"), "--out", str(tmp_path / "again")]
    assert main(["localize", *args]) == 0
    capsys.readouterr()
    assert main(["localize", *args]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["localize", *args, "--overwrite"]) == 0


def test_localize_a_photo_larger_than_the_edit_at_full_resolution(tmp_path, capsys):
    """A 1.1 MP photo, a 0.2 MP edit: result.png and the masks at the photo's size, aligned.png at the edit's scale,
    every pixel with alpha 0 the photo's own; the record says what was found and that it was pasted."""
    big = np.clip(cv2.resize(photo("coffee"), (1280, 854), interpolation=cv2.INTER_CUBIC), 0, 1)
    edit = cv2.resize(_editor(big), (576, 384), interpolation=cv2.INTER_AREA)
    orig_path, edit_path = _write(tmp_path / "photo.png", big), _write(tmp_path / "edit.png", edit)
    assert main(["localize", str(orig_path), str(edit_path), "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "photo"
    original, result, alpha = _read(orig_path), _read(folder / "result.png"), _read(folder / "alpha.png")
    assert result.shape == original.shape and alpha.shape == original.shape[:2]
    assert _read(folder / "mask_final.png").shape == original.shape[:2]
    assert _read(folder / "aligned.png").shape[0] < 500  # the working (editor's) scale
    np.testing.assert_array_equal(result[alpha == 0], original[alpha == 0])
    record = json.loads((folder / "localize.json").read_text())
    assert record["pasted"] and record["alignment"]["working_size"][0] < 500
    assert record["alignment"]["residual_px"] < 0.5 and "uneven_shift_max_px" in record["alignment"]
    assert 0.005 < (alpha > 0).mean() < 0.3


# ------------------------------------------------------------------------------------------------ nothing lost, round 2
def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header, a few bytes of data)."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _race(root: Path, out: Path, thresholds: tuple[float, float]) -> list[tuple[int, str, float]]:
    """Two real processes localizing the same pair into one --out at the same time; (status, stderr, threshold)."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    procs = [subprocess.Popen([sys.executable, "-m", "zone_ops", "localize", str(root / "big.png"),
                               str(root / "big_edit.png"), "--out", str(out), "--diff-threshold", str(t)],
                              stderr=subprocess.PIPE, text=True, env=env, cwd=root) for t in thresholds]
    return [(p.wait(timeout=600), p.stderr.read(), t) for p, t in zip(procs, thresholds)]


def test_two_runs_at_once_into_one_out_never_replace_each_other(assets, tmp_path):
    """Two processes race on one --out (without --overwrite): exactly one writes, the other stops with one line, and
    every file there is the winner's. (Before the folders were claimed, both exited 0 and the second replaced the
    first's files: 3 of 3 tries.) The image is large enough (1.5 MP) that both pass the start before either writes."""
    big = cv2.resize(photo("astronaut"), (1536, 1024), interpolation=cv2.INTER_CUBIC)
    _write(tmp_path / "big.png", big)
    _write(tmp_path / "big_edit.png", _editor(big))
    out = tmp_path / "out"
    runs = _race(tmp_path, out, (10.0, 20.0))
    assert sorted(rc for rc, _, _ in runs) == [0, 2], runs
    (_, _, winner), = [r for r in runs if r[0] == 0]
    (_, loser_err, _), = [r for r in runs if r[0] == 2]
    assert "error:" in loser_err and ("another run" in loser_err or "already exists" in loser_err), loser_err
    assert "Traceback" not in loser_err
    folder = out / "big"
    assert sorted(p.name for p in folder.iterdir()) == sorted(LOCALIZE_FILES.values())  # no lock, no temp file left
    assert json.loads((folder / "localize.json").read_text())["parameters"]["diff_threshold"] == winner


@pytest.mark.parametrize("width, height", [(60000, 60000), (2 ** 31 - 1, 2 ** 31 - 1)])
def test_images_over_the_pixel_limit_are_one_line_before_decoding(assets, tmp_path, capsys, width, height):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(width, height))
    root = assets["root"]
    assert main(["localize", str(bomb), str(root / "edit" / "cat.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m zone_ops localize: error:") and "\n" not in err, err
    assert f"{width}x{height}" in err and "over the limit of 100 MP" in err and "--max-pixels" in err
    assert not (tmp_path / "o").exists()


def test_max_pixels_flag_and_environment(assets, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZONE_MAX_PIXELS", raising=False)
    root = assets["root"]
    pair = [str(root / "orig" / "cat.png"), str(root / "edit" / "cat.png")]
    assert main(["localize", *pair, "--out", str(tmp_path / "a"), "--max-pixels", "40000"]) == 2
    err = capsys.readouterr().err
    assert "256x192" in err and "40000 px" in err and not (tmp_path / "a").exists()
    monkeypatch.setenv("ZONE_MAX_PIXELS", "1e4")
    assert main(["localize", *pair, "--out", str(tmp_path / "b")]) == 2
    assert "10000 px" in capsys.readouterr().err
    assert main(["localize", *pair, "--out", str(tmp_path / "c"), "--max-pixels", "1e6"]) == 0  # the flag wins


def test_folder_run_checks_inputs_first_skips_failures_and_exits_3(assets, tmp_path, capsys):
    """A folder with a PNG that is truncated (found before loading), a JPEG whose header is fine but whose data is
    cut (fails midway) and two good pairs: the good ones are written, the two are listed, status 3."""
    import shutil

    root = assets["root"]
    orig, edit = tmp_path / "orig", tmp_path / "edit"
    shutil.copytree(root / "orig", orig)
    shutil.copytree(root / "edit", edit)
    (orig / "lonely.png").unlink()
    good = (orig / "cat.png").read_bytes()
    (orig / "a_cut.png").write_bytes(good[: len(good) // 2])
    (edit / "a_cut.png").write_bytes((edit / "cat.png").read_bytes())
    ok, jpeg = cv2.imencode(".jpg", cv2.imread(str(orig / "cat.png")))
    (orig / "b_late.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    (edit / "b_late.png").write_bytes((edit / "cat.png").read_bytes())
    out = tmp_path / "out"
    assert main(["localize", str(orig), str(edit), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "skipping a_cut.png" in err and "skipping b_late.jpg" in err and "2 of 4 inputs skipped" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["cat", "cup"]  # no empty folder for the skipped ones
    for name in ("cat", "cup"):
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(LOCALIZE_FILES.values())


def test_sam_with_nan_weights_names_the_tensor(assets, tmp_path, capsys):
    sd = tiny_sam().state_dict()
    sd["mask_decoder.iou_prediction_head.layers.0.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan_sam.pth"
    torch.save(sd, bad)
    root = assets["root"]
    assert main(["localize", str(root / "orig" / "cat.png"), str(root / "edit" / "cat.png"), "--sam", str(bad),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "mask_decoder.iou_prediction_head.layers.0.weight (1 of" in err and "damaged" in err, err
    assert "no segments" not in err
