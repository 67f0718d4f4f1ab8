"""SAM loader: a tiny random Sam saved as .pth and .safetensors loads back bit-exact, the official variants are
recognised from their shapes, and files that are not SAM checkpoints get a clear error."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tiny_models import tiny_sam
from zone_ops.core.images import ZoneInputError
from zone_ops.models.checkpoint import SamCheckpointError, resolve_device
from zone_ops.models.sam_loader import as_sam, build_sam, infer_sam_config, load_sam


@pytest.fixture(scope="module")
def sam():
    return tiny_sam(seed=3)


@pytest.fixture(scope="module")
def checkpoints(sam, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sams")
    sd = {k: v.contiguous() for k, v in sam.state_dict().items()}
    torch.save(sd, folder / "tiny.pth")
    save_file(sd, str(folder / "tiny.safetensors"))
    return folder


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("name", ["tiny.pth", "tiny.safetensors"])
def test_tiny_checkpoint_loads_bit_exact(sam, checkpoints, name):
    loaded = load_sam(checkpoints / name, "cpu", decoder_num_heads=2)
    _assert_same_weights(sam, loaded)
    cfg = loaded.zone_config
    assert (cfg.variant, cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.img_size, cfg.prompt_dim) == ("custom", 32, 1, 2, 256, 32)
    assert cfg.global_attn_indexes == (0,) and cfg.mlp_ratio == 2.0 and cfg.decoder_depth == 1
    assert torch.equal(loaded.pixel_mean, sam.pixel_mean) and torch.equal(loaded.pixel_std, sam.pixel_std)
    assert not loaded.training and loaded.device.type == "cpu"


def test_loaded_model_predicts_like_the_original(sam, checkpoints, astronaut):
    """Same architecture really built: image embedding and point-prompt masks are identical."""
    from segment_anything import SamPredictor

    loaded = load_sam(checkpoints / "tiny.pth", "cpu", decoder_num_heads=2)
    outs = []
    for model in (sam, loaded):
        p = SamPredictor(model)
        p.set_image((astronaut * 255).astype(np.uint8))
        masks, scores, _ = p.predict(point_coords=np.array([[256.0, 200.0]]), point_labels=np.array([1]), return_logits=True)
        outs.append((p.features.clone(), masks, scores))
    assert torch.equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_array_equal(outs[0][2], outs[1][2])


def test_default_decoder_heads_still_load(sam, checkpoints):
    # Shapes cannot tell the decoder's head count: the default (prompt_dim // 32) loads the same weights.
    loaded = load_sam(checkpoints / "tiny.safetensors")
    assert loaded.zone_config.decoder_num_heads == 1
    _assert_same_weights(sam, loaded)


@pytest.mark.parametrize("wrap", ["model.", "module.", "state_dict", "model"])
def test_prefixed_and_wrapped_state_dicts(sam, tmp_path, wrap):
    sd = sam.state_dict()
    obj = {wrap + k: v for k, v in sd.items()} if wrap.endswith(".") else {wrap: sd, "epoch": 3}
    torch.save(obj, tmp_path / "wrapped.pt")
    _assert_same_weights(sam, load_sam(tmp_path / "wrapped.pt", decoder_num_heads=2))


@pytest.mark.parametrize("variant", ["vit_b", "vit_l", "vit_h"])
def test_official_variants_detected_and_built_identically(variant):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        official = sam_model_registry[variant]()
        cfg = infer_sam_config(official.state_dict())
        ours = build_sam(cfg)
    assert cfg.variant == variant and cfg.decoder_num_heads == 8 and cfg.window_size == 14
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(ours) == shapes(official)
    assert [b.window_size for b in ours.image_encoder.blocks] == [b.window_size for b in official.image_encoder.blocks]


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="not found"):
        load_sam("/nonexistent/sam_vit_h_4b8939.pth")


def test_text_file_is_not_a_checkpoint(tmp_path):
    bad = tmp_path / "notes.pth"
    bad.write_text("hello, not a checkpoint")
    with pytest.raises(SamCheckpointError, match="cannot read notes.pth"):
        load_sam(bad)


def test_pickled_code_is_refused(tmp_path):
    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as f:
        pickle.dump({"x": np.float64}, f, protocol=2)  # a global reference: weights_only loading refuses it
    with pytest.raises(SamCheckpointError, match="cannot read evil.pth"):
        load_sam(bad)


def test_other_model_says_what_was_found(tmp_path):
    bad = tmp_path / "sd.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4)}, str(bad))
    with pytest.raises(SamCheckpointError, match="not a Segment Anything.*diffusion_model.*Stable Diffusion"):
        load_sam(bad)
    sam2 = tmp_path / "sam2.pt"
    torch.save({"model": {"image_encoder.trunk.pos_embed": torch.zeros(1), "sam_mask_decoder.x": torch.zeros(1)}}, sam2)
    with pytest.raises(SamCheckpointError, match="SAM 2"):
        load_sam(sam2)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(SamCheckpointError, match="list"):
        load_sam(tmp_path / "list.pt")


def test_incomplete_checkpoint(sam, tmp_path):
    sd = dict(sam.state_dict())
    del sd["mask_decoder.iou_token.weight"]
    torch.save(sd, tmp_path / "cut.pth")
    with pytest.raises(SamCheckpointError, match="iou_token"):
        load_sam(tmp_path / "cut.pth")


def test_devices_and_unwrapping(sam):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ZoneInputError, match="not available on this machine.*choose one of auto, cpu"):
            resolve_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(ZoneInputError, match="not available"):
            resolve_device("mps")
    with pytest.raises(ZoneInputError, match="not available"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")  # one past the last GPU
    with pytest.raises(ZoneInputError, match="unknown device"):
        resolve_device("tpu9")

    class Wrapper:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    assert as_sam(sam) is sam
    assert as_sam(Wrapper(model=sam)) is sam and as_sam(Wrapper(sam=sam)) is sam
    with pytest.raises(ZoneInputError, match="Segment Anything model.*got str"):
        as_sam("sam_vit_h.pth")


def test_loader_node(pack, sam, checkpoints, monkeypatch):
    from comfyui_zone.nodes import comfy_runtime
    from comfyui_zone.nodes.sam_region_iou import ZoneSAMLoader

    assert pack.NODE_CLASS_MAPPINGS["ZoneSAMLoader"] is ZoneSAMLoader
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["ZoneSAMLoader"] == "ZONE SAM Loader"
    spec = ZoneSAMLoader.INPUT_TYPES()["required"]
    assert spec["device"][0] == ["auto", "cpu", "cuda"]
    # Outside ComfyUI model_file_path takes the name as a path (ComfyUI may be importable when the ComfyUI tests
    # ran earlier in the same process: make this case explicit).
    monkeypatch.setattr(comfy_runtime, "_folder_paths", lambda: None)
    (model,) = ZoneSAMLoader().load(str(checkpoints / "tiny.safetensors"), "cpu")
    from segment_anything.modeling import Sam

    assert isinstance(model, Sam)
    assert torch.equal(model.image_encoder.pos_embed, sam.image_encoder.pos_embed)


@pytest.mark.parametrize("bad, count", [(float("nan"), 1), (float("inf"), 3)])
@pytest.mark.parametrize("version", ["v1", "2.1"])
def test_non_finite_weights_are_refused_naming_the_tensor(sam, tmp_path, bad, count, version):
    """A checkpoint with NaN / inf weights (a damaged download) is refused, naming the tensor and how many values,
    for SAM v1 and SAM 2 alike (one shared check in models/checkpoint.py), as .pth and .safetensors."""
    from tiny_models import tiny_sam2

    model = sam if version == "v1" else tiny_sam2()
    sd = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    name = next(k for k, v in sd.items() if v.is_floating_point() and v.numel() >= count and "mask_decoder" in k)
    sd[name].view(-1)[:count] = bad
    for path in (tmp_path / "bad.pth", tmp_path / "bad.safetensors"):
        torch.save(sd, path) if path.suffix == ".pth" else save_file(sd, str(path))
        with pytest.raises(SamCheckpointError) as info:
            load_sam(path)
        assert f"{name} ({count} of {sd[name].numel()} values)" in str(info.value) and "damaged" in str(info.value)
