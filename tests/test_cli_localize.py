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
