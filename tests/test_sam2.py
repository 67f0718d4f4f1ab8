"""SAM 2 / 2.1 as the segmenter: a tiny random SAM 2 built from the sam2 package's own config saved in the real
checkpoint layout loads back bit-exact (.pt and .safetensors, fp16 too); the official sizes are detected from the
shapes of the package's real-size architectures (built on the meta device); bad files get clear errors; Region-IoU
drives SAM 2's automatic mask generator with the same settings and the same selection rule as SAM v1, through the
library and through the nodes under torch.inference_mode()."""

from __future__ import annotations

import os
import types
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tiny_models import single_thread, tiny_sam2
from zone_ops.core.images import ZoneInputError
from zone_ops.models.sam2_loader import (
    OFFICIAL_SAM2,
    _MetaParameters,
    build_sam2,
    infer_sam2_config,
    is_sam2_model,
    is_sam2_state_dict,
    load_sam2,
)
from zone_ops.models.checkpoint import SamCheckpointError
from zone_ops.models.sam_loader import as_sam, load_sam
from zone_ops.stages.sam_region_iou import AMG_DEFAULTS, generate_segments, refine_with_sam, refine_with_segments

# Thresholds off so the random model keeps its (meaningless) masks; few points for speed.
LOOSE = dict(points_per_side=3, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)


@pytest.fixture(scope="module")
def sam2():
    return tiny_sam2(seed=1)


@pytest.fixture(scope="module")
def checkpoints(sam2, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam2")
    sd = {k: v.contiguous() for k, v in sam2.state_dict().items()}
    torch.save({"model": sd}, folder / "tiny2.pt")  # the official files' layout
    save_file(sd, str(folder / "tiny2.safetensors"))
    save_file({k: v.half() for k, v in sd.items()}, str(folder / "tiny2-fp16.safetensors"))
    return folder


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["tiny2.pt", "tiny2.safetensors"])
def test_tiny_checkpoint_loads_bit_exact(sam2, checkpoints, name):
    loaded = load_sam(checkpoints / name, "cpu")  # the one entry point tells SAM 2 from SAM v1 by the keys
    assert is_sam2_model(loaded) and not loaded.training
    cfg = loaded.zone_config
    assert (cfg.version, cfg.size, cfg.embed_dim, cfg.stages, cfg.neck_dim) == ("2.1", "custom", 8, (1, 1, 1, 1), 32)
    assert "custom SAM 2.1" in cfg.describe()
    ref = sam2.state_dict()
    got = loaded.state_dict()
    assert got.keys() == ref.keys()
    for k in ref:
        assert torch.equal(got[k], ref[k]), k
    assert not [n for n, t in list(loaded.named_parameters()) + list(loaded.named_buffers()) if t.is_meta]


def test_fp16_safetensors_load_as_float32(sam2, checkpoints):
    loaded = load_sam2(checkpoints / "tiny2-fp16.safetensors")
    w = loaded.image_encoder.trunk.patch_embed.proj.weight
    assert w.dtype == torch.float32
    assert torch.equal(w, sam2.image_encoder.trunk.patch_embed.proj.weight.half().float())


def test_sam2_and_sam21_told_apart(tmp_path):
    old = tiny_sam2(seed=2, version="2")
    sd = old.state_dict()
    assert is_sam2_state_dict(sd) and "no_obj_embed_spatial" not in sd
    torch.save({"model": sd}, tmp_path / "old.pt")
    loaded = load_sam(tmp_path / "old.pt")
    assert loaded.zone_config.version == "2" and _shapes(loaded) == _shapes(old)


# SAM 2.1's published parameter counts (millions): a known answer for the architectures the loader builds.
SIZES = [("tiny", "t", 38.9), ("small", "s", 46.0), ("base_plus", "b+", 80.8), ("large", "l", 224.4)]


@pytest.mark.parametrize("version", ["2", "2.1"])
@pytest.mark.parametrize("size,suffix,millions", SIZES)
def test_official_sizes_detected_from_shapes(version, size, suffix, millions):
    """The package's own config of each size, instantiated on the meta device (no memory): detected from the
    shapes alone, and the loader builds the identical architecture."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    folder, stem = ("sam2.1", "sam2.1_hiera") if version == "2.1" else ("sam2", "sam2_hiera")
    text = (resources.files("sam2") / f"configs/{folder}/{stem}_{suffix}.yaml").read_text()
    with _MetaParameters():
        official = instantiate(OmegaConf.create(text).model, _recursive_=True)
    cfg = infer_sam2_config(official.state_dict())
    assert (cfg.version, cfg.size) == (version, size)
    assert cfg.describe() == f"SAM {version} hiera_{size}"
    ours = build_sam2(cfg, meta=True)
    assert _shapes(ours) == _shapes(official)
    assert sum(p.numel() for p in ours.parameters()) / 1e6 == pytest.approx(millions, abs=0.1)  # published: rounded
    trunk = ours.image_encoder.trunk
    assert tuple(trunk.global_att_blocks) == tuple(official.image_encoder.trunk.global_att_blocks)
    assert [b.attn.num_heads for b in trunk.blocks] == [b.attn.num_heads for b in official.image_encoder.trunk.blocks]
    assert ours.sam_mask_decoder.dynamic_multimask_via_stability  # build_sam2's post-processing settings
    assert (OFFICIAL_SAM2[(cfg.embed_dim, cfg.stages)][0]) == size


def test_bad_files_say_what_is_wrong(sam2, tmp_path):
    sd = dict(sam2.state_dict())
    cut = {k: v for k, v in sd.items() if k != "sam_mask_decoder.iou_token.weight"}
    torch.save({"model": cut}, tmp_path / "cut.pt")
    with pytest.raises(SamCheckpointError, match="not a complete SAM 2 checkpoint: missing 'sam_mask_decoder.iou_token"):
        load_sam(tmp_path / "cut.pt")
    cut = {k: v for k, v in sd.items() if k != "sam_mask_decoder.conv_s0.weight"}
    torch.save({"model": cut}, tmp_path / "cut2.pt")
    with pytest.raises(SamCheckpointError, match="cut2.pt: the tensors do not fit the detected custom SAM 2.1.*missing sam_mask_decoder.conv_s0"):
        load_sam(tmp_path / "cut2.pt")
    odd = dict(sd)
    odd["no_mem_embed"] = torch.zeros(1, 1, 7)
    save_file(odd, str(tmp_path / "odd.safetensors"))
    with pytest.raises(SamCheckpointError, match=r"no_mem_embed is \(1, 1, 7\), expected \(1, 1, 32\)"):
        load_sam(tmp_path / "odd.safetensors")
    trunk_only = {k: v for k, v in sd.items() if k.startswith("image_encoder.trunk.")}
    save_file(trunk_only, str(tmp_path / "trunk.safetensors"))
    with pytest.raises(SamCheckpointError, match="missing 'image_encoder.neck"):
        load_sam2(tmp_path / "trunk.safetensors")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(SamCheckpointError, match="cannot read notes.pt"):
        load_sam2(tmp_path / "notes.pt")
    with pytest.raises(FileNotFoundError):
        load_sam2(tmp_path / "sam2.1_hiera_large.pt")


def test_as_sam_accepts_sam2_and_wrappers(sam2):
    assert as_sam(sam2) is sam2
    assert as_sam(type("W", (), {"model": sam2})()) is sam2
    assert as_sam({"model": sam2, "dtype": torch.float16}) is sam2  # ComfyUI-segment-anything-2's dict
    with pytest.raises(ZoneInputError, match="got dict"):
        as_sam({"model": "nothing"})


def test_same_generator_settings_and_selection_rule(sam2, astronaut):
    """Region-IoU drives SAM2AutomaticMaskGenerator with the given settings: the same segments as the generator
    called directly, and the chosen one is the max-IoU segment found by brute force."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    u8 = (astronaut * 255.0 + 0.5).astype(np.uint8)
    coarse = np.zeros((512, 512), bool)
    coarse[60:200, 160:300] = True
    calls = []
    with single_thread(), torch.inference_mode():
        direct = SAM2AutomaticMaskGenerator(sam2, output_mode="binary_mask", **{**AMG_DEFAULTS, **LOOSE}).generate(u8)
        segs = generate_segments(sam2, astronaut, **LOOSE, progress=lambda d, t: calls.append((d, t)))
        official = refine_with_sam(sam2, astronaut, coarse, rule="official", min_iou=0.0, **LOOSE)
        default = refine_with_sam(sam2, astronaut, coarse, **LOOSE)
    assert len(segs) == len(direct) > 0
    for mine, theirs in zip(segs.masks, direct):
        np.testing.assert_array_equal(mine, theirs["segmentation"])
    assert calls == [(0, 1), (1, 1)]  # 9 points in one batch of 64
    ious = [np.count_nonzero(m & coarse) / np.count_nonzero(m | coarse) for m in segs.masks]
    assert not official.fell_back and official.index == int(np.argmax(ious)) and official.iou == pytest.approx(max(ious))
    np.testing.assert_array_equal(official.mask, segs.masks[official.index])
    # the default rule is the one SAM v1 segments get: the same function on the same segments
    same = refine_with_segments(segs, coarse)
    assert (default.index, default.iou, default.message) == (same.index, same.iou, same.message)
    np.testing.assert_array_equal(default.mask, same.mask)


def test_crop_max_side_and_cancel(sam2, coffee):
    coarse = np.zeros(coffee.shape[:2], bool)
    coarse[150:250, 250:380] = True

    def cancel():
        raise InterruptedError("cancelled")

    with single_thread(), torch.inference_mode():
        res = refine_with_sam(sam2, coffee, coarse, crop=True, max_side=300, **LOOSE)
        with pytest.raises(InterruptedError):
            refine_with_sam(sam2, coffee, coarse, check_cancel=cancel, **LOOSE)
    assert res.mask.shape == coffee.shape[:2] and res.crop_box is not None
    assert "segmented at 300x200" in res.message and res.num_segments > 0


def test_nodes_end_to_end(pack, sam2, checkpoints, chelsea, monkeypatch):
    """ZONE SAM Loader loads the .pt from disk; ZONE SAM Region IoU segments with it, all under inference mode."""
    from comfyui_zone.nodes import comfy_runtime
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMLoader, ZoneSAMRegionIoU

    monkeypatch.setattr(comfy_runtime, "_folder_paths", lambda: None)  # outside ComfyUI: the name is a path
    image = torch.from_numpy(chelsea[None].copy())
    coarse = torch.zeros((1, 300, 451))
    coarse[:, 80:220, 120:330] = 1.0
    args = dict(segment_on="auto", crop_to_region=False, crop_margin=0.5, **{**AMG_DEFAULTS, **LOOSE})
    args["points_per_side"] = 2
    with single_thread(), torch.inference_mode():
        (model,) = ZoneSAMLoader().load(str(checkpoints / "tiny2.pt"), "cpu")
        mask, preview, info = ZoneSAMRegionIoU().refine(model, image, image, coarse, **args)
    assert is_sam2_model(model)
    assert mask.shape == (1, 300, 451) and preview.shape == (1, 300, 451, 3)
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0} and mask.sum() > 0
    assert "IoU" in info and "on the canvas" in info


def test_loader_lists_and_registers_both_folders(pack, tmp_path, monkeypatch):
    """models/sams and models/sam2 are both listed (each name once, sams first on a clash); registering keeps the
    paths another pack gave the folder and is idempotent."""
    from comfyui_zone.nodes import comfy_runtime
    from comfyui_zone.nodes.sam_region_iou import SAM_FOLDERS, sam_file_list, sam_file_path

    (tmp_path / "sams").mkdir()
    (tmp_path / "sam2").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for rel in ("sams/sam_vit_b.pth", "sams/both.pt", "elsewhere/sam2.1_hiera_tiny.pt", "sam2/both.pt"):
        (tmp_path / rel).write_bytes(b"x")
    table = {"sam2": ([str(tmp_path / "elsewhere")], {".pt"})}  # as another pack registered it

    def listing(name):
        return sorted(f.name for p in table[name][0] for f in Path(p).iterdir())

    def full_path(name, filename):
        hits = [str(Path(p) / filename) for p in table[name][0]]
        return next((h for h in hits if os.path.isfile(h)), None)

    fake = types.SimpleNamespace(folder_names_and_paths=table, models_dir=str(tmp_path), get_filename_list=listing,
                                 get_full_path=full_path, get_folder_paths=lambda name: table[name][0])
    monkeypatch.setattr(comfy_runtime, "_folder_paths", lambda: fake)
    assert SAM_FOLDERS == ("sams", "sam2")
    assert sam_file_list() == ["both.pt", "sam_vit_b.pth", "sam2.1_hiera_tiny.pt"]
    assert table["sam2"][0] == [str(tmp_path / "elsewhere")] and ".safetensors" in table["sam2"][1]
    assert sam_file_list() == ["both.pt", "sam_vit_b.pth", "sam2.1_hiera_tiny.pt"]  # idempotent
    assert sam_file_path("both.pt") == str(tmp_path / "sams" / "both.pt")
    assert sam_file_path("sam2.1_hiera_tiny.pt") == str(tmp_path / "elsewhere" / "sam2.1_hiera_tiny.pt")
    with pytest.raises(FileNotFoundError, match="models/sams.*models/sam2"):
        sam_file_path("missing.pt")
