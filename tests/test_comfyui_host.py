"""The pack inside a real ComfyUI server: loads, lists every node, and runs every shipped workflow AS SHIPPED.

Skipped unless ``ZONE_COMFYUI_PATH`` points at a ComfyUI checkout that imports with this Python. Run with:
``ZONE_COMFYUI_PATH=/work/comfy /work/comfyenv/bin/python -m pytest -q -m comfyui tests/test_comfyui_host.py``.

The server runs as a subprocess on 127.0.0.1 (a free port), CPU only, with ``--base-directory`` a temporary folder:
``custom_nodes/ComfyUI-ZONE`` links to this repository, ``models/`` holds randomly initialised weights in the real
formats (tests/comfy_models.py: an SD1.5-shaped InstructPix2Pix checkpoint with CLIP-L and VAE, a second one for
MagicBrush, a tiny SAM), ``input/`` a photo and an edited canvas whose alpha holds a painted mask. Building the
2 GB checkpoints takes about a minute; set ``ZONE_COMFYUI_MODELS`` to a folder to build them once and reuse them.
Each UI workflow in ``workflows/`` is converted to a prompt as the frontend does (every link kept) and run with only
file names and CPU-speed settings changed (``prepare`` asserts that): 1 sampling step at a 64-px working size, an
8x8 SAM point grid. The Action Classifier stays connected to the checkpoint's CLIP, so its head trains on first use
in the server (under ComfyUI's inference mode) and is cached with the models. A workflow that needs models no
stand-in exists for is listed in ``NOT_EXECUTED`` with the reason. The server is always terminated.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

import comfy_models
from test_workflows import API_DIR, CORE_SNAPSHOT, WORKFLOWS, _core_defs, _pack_defs, ui_to_api

pytestmark = [pytest.mark.comfyui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "ZONE_COMFYUI_PATH"
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 3600  # generous: the first workflow trains the Action Classifier head (minutes on a busy CPU)
IMAGE_SIZE = (96, 128)  # (h, w) of the test photo: non-square, small for CPU
SD15_NAME = "zone_sd15_random_wrong_type.safetensors"
UI_FILES = sorted(WORKFLOWS.glob("*.json"))


def _comfy_root() -> Path:
    path = os.environ.get(ENV_VAR)
    if not path:
        pytest.skip(f"set {ENV_VAR} to a ComfyUI checkout to run the ComfyUI host tests")
    root = Path(path).resolve()
    if not (root / "main.py").is_file() or not (root / "comfy").is_dir():
        pytest.fail(f"{ENV_VAR}={root} is not a ComfyUI checkout")
    code = "import comfy.cli_args as c; c.args.cpu = True; import folder_paths, comfy.model_management, comfy.sd"
    probe = subprocess.run([sys.executable, "-c", code], cwd=root,
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        pytest.fail(f"ComfyUI at {root} does not import with {sys.executable}: {probe.stderr.strip()[-300:]}")
    return root


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_inputs(folder: Path) -> None:
    """input/example.png (a photo) and input/canvas.png (an 'edit' of it; alpha 0 = mask painted over the edit)."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    h, w = IMAGE_SIZE
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((w, h), Image.BICUBIC))
    Image.fromarray(photo).save(folder / "example.png")
    canvas = photo.copy()
    canvas[20:70, 40:90] = (30, 60, 220)  # the "edit": a blue patch
    alpha = np.full((h, w), 255, np.uint8)
    alpha[15:75, 35:95] = 0  # the painted mask (ComfyUI's MASK = 1 - alpha)
    Image.fromarray(np.dstack([canvas, alpha])).save(folder / "canvas.png")


def _models(base: Path, comfy_root: Path) -> None:
    cache = os.environ.get("ZONE_COMFYUI_MODELS")
    target = Path(cache) if cache else base
    paths = {
        "ip2p": target / "models" / "checkpoints" / comfy_models.IP2P_NAME,
        "magicbrush": target / "models" / "checkpoints" / comfy_models.MAGICBRUSH_NAME,
        "sam": target / "models" / "sams" / comfy_models.SAM_NAME,
        "sd15": target / "models" / "checkpoints" / SD15_NAME,
    }
    if not all(p.is_file() for k, p in paths.items() if k != "sd15"):  # a subprocess: ~4 GB of fp32 while building
        subprocess.run([sys.executable, str(Path(comfy_models.__file__)), str(target), str(comfy_root)], check=True,
                       timeout=900, cwd=str(ROOT))
    if not paths["sd15"].is_file():
        comfy_models.build_sd15_checkpoint(paths["ip2p"], paths["sd15"])
    if cache:
        for p in paths.values():
            link = base / p.relative_to(target)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(p)


class Server:
    def __init__(self, comfy_root: Path, base: Path) -> None:
        self.base, self.port = base, _free_port()
        # The Action Classifier trains its head once per text encoder (minutes on a CPU) and keeps it in ComfyUI's
        # user/comfyui_zone: with ZONE_COMFYUI_MODELS set, that folder lives with the model cache (reused).
        cache = os.environ.get("ZONE_COMFYUI_MODELS")
        if cache:
            (Path(cache) / "zone_cache").mkdir(parents=True, exist_ok=True)
            (base / "user").mkdir(exist_ok=True)
            (base / "user" / "comfyui_zone").symlink_to(Path(cache) / "zone_cache", target_is_directory=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
             "--base-directory", str(base), "--disable-auto-launch"],
            cwd=comfy_root, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 30.0):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read())

    def post(self, path: str, payload: dict):
        req = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # a rejected prompt: the body says which node and input
            raise AssertionError(f"POST {path} -> {e.code}: {e.read().decode(errors='replace')[:3000]}") from None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                self.get("/system_stats", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(1.0)
        raise AssertionError(f"ComfyUI did not start in {START_TIMEOUT_S}s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    comfy_root = _comfy_root()
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "ComfyUI-ZONE").symlink_to(ROOT, target_is_directory=True)
    _write_inputs(base / "input")
    _models(base, comfy_root)
    srv = Server(comfy_root, base)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def object_info(server):
    return server.get("/object_info", timeout=120)


def test_pack_loads_without_import_error(server, object_info):
    log = server.log()
    assert "ComfyUI-ZONE" in log, "the pack was not seen in custom_nodes"
    bad = [line for line in log.splitlines() if "IMPORT FAILED" in line and "ZONE" in line]
    assert not bad, f"pack import failed:\n{log[-4000:]}"


def test_object_info_lists_every_zone_node(object_info):
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    missing = sorted(set(NODE_CLASS_MAPPINGS) - set(object_info))
    assert not missing, f"/object_info lacks {missing}"
    for name in NODE_CLASS_MAPPINGS:
        info = object_info[name]
        assert info["category"].startswith("ZONE"), f"{name} category {info['category']}"
        assert info["display_name"] == NODE_DISPLAY_NAME_MAPPINGS[name]
    sam = object_info["ZoneSAMLoader"]["input"]["required"]["model_name"]
    assert comfy_models.SAM_NAME in sam[0], f"models/sams not listed by the SAM loader: {sam}"


def test_template_browser_lists_the_ui_workflows(server):
    """ComfyUI lists a pack's workflows/ folder in its template browser; the API twins (workflows/api/) stay out."""
    listed = server.get("/workflow_templates").get("ComfyUI-ZONE", [])
    expected = sorted(p.stem for p in API_DIR.parent.glob("*.json"))
    assert sorted(listed) == expected, f"template browser lists {listed}, expected {expected}"
    for name in expected:
        wf = server.get(f"/api/workflow_templates/ComfyUI-ZONE/{name}.json")
        assert "nodes" in wf
        with urllib.request.urlopen(f"{server.url}/api/workflow_templates/ComfyUI-ZONE/{name}.jpg", timeout=30) as r:
            assert r.status == 200 and r.read(3) == b"\xff\xd8\xff", f"{name}.jpg: the card's picture"


def test_core_node_snapshot_matches_live_server(object_info):
    """tests/data/comfy_core_nodes.json (what CI validates workflows against) is this ComfyUI's truth."""
    snapshot = json.loads(CORE_SNAPSHOT.read_text())["nodes"]
    for name, snap in snapshot.items():
        assert name in object_info, f"core node {name} no longer exists"
        live = copy.deepcopy(object_info[name])
        for section, specs in live["input"].items():
            for key, spec in specs.items():
                if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
                    spec[1].pop("tooltip", None)
                snap_spec = snap["input"].get(section, {}).get(key)
                if isinstance(spec[0], list) and snap_spec and snap_spec[0] == []:
                    spec[0] = []  # a file list: differs per machine, emptied in the snapshot
        assert live["input"] == snap["input"], f"{name} inputs changed: {live['input']} vs {snap['input']}"
        assert live["output"] == snap["output"], f"{name} outputs changed"


# ------------------------------------------------------------------ the shipped workflows, run as shipped
#: Workflows checked by tests/test_workflows.py but not executed here, with the reason (a model no stand-in exists for).
NOT_EXECUTED: dict[str, str] = {}

#: The only inputs a host test may change in a shipped workflow: file names (models, input images) and, for CPU
#: speed on the random models, the sampler's steps / working size and SAM's point grid / score thresholds. Nothing
#: else, and never a link or a node.
FILE_INPUTS = {"CheckpointLoaderSimple": {"ckpt_name"}, "ZoneSAMLoader": {"model_name"}, "LoadImage": {"image"}}
SPEED = {
    "ZoneFusedIP2PSampler": {"steps": 1, "working_size": 64},
    # The tiny random SAM scores its masks low: thresholds 0 so that segments exist and Region-IoU really selects.
    "ZoneSAMRegionIoU": {"points_per_side": 8, "points_per_batch": 64, "pred_iou_thresh": 0.0,
                         "stability_score_thresh": 0.0},
}


def _file_name(node: dict, key: str, value):
    """The stand-in file for a model / image input: the random checkpoints, the tiny SAM, the test photos (the
    loader whose title says canvas gets the edited canvas with a painted mask)."""
    kind = node["class_type"]
    if kind == "CheckpointLoaderSimple":
        return comfy_models.MAGICBRUSH_NAME if "magicbrush" in str(value).lower() else comfy_models.IP2P_NAME
    if kind == "ZoneSAMLoader":
        return comfy_models.SAM_NAME
    title = node.get("_meta", {}).get("title", "").lower()
    return "canvas.png" if "canvas" in title or "edited" in title else "example.png"


def prepare(workflow: dict) -> dict:
    """The shipped ``workflow`` with stand-in file names and CPU-speed settings; asserts nothing else changed."""
    wf = copy.deepcopy(workflow)
    for node in wf.values():
        inputs = node["inputs"]
        for key in FILE_INPUTS.get(node["class_type"], ()):
            if isinstance(inputs.get(key), str):
                inputs[key] = _file_name(node, key, inputs[key])
        for key, value in SPEED.get(node["class_type"], {}).items():
            if key in inputs and not isinstance(inputs[key], list):
                inputs[key] = value
    assert set(wf) == set(workflow), "a node was added or removed"
    for nid, node in wf.items():
        before = workflow[nid]["inputs"]
        assert set(node["inputs"]) == set(before), f"node {nid}: an input was added or removed"
        allowed = FILE_INPUTS.get(node["class_type"], set()) | set(SPEED.get(node["class_type"], {}))
        changed = {k for k in before if node["inputs"][k] != before[k]}
        assert changed <= allowed and not any(isinstance(before[k], list) for k in changed), f"node {nid}: {changed}"
    return wf


def run_prompt(server: Server, workflow: dict, expect_error: bool = False) -> dict:
    """Queue ``workflow`` and wait for it; returns the history entry. A failure raises with ComfyUI's message unless
    ``expect_error`` (then the entry comes back, its ``error`` = the execution_error message dict)."""
    client_id = uuid.uuid4().hex
    reply = server.post("/prompt", {"prompt": workflow, "client_id": client_id})
    assert not reply.get("node_errors"), f"prompt rejected: {reply}"
    prompt_id = reply["prompt_id"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, f"ComfyUI died:\n{server.log()[-4000:]}"
        try:
            history = server.get(f"/history/{prompt_id}")
        except OSError:  # a server busy computing (GIL-bound on a loaded CPU) can answer late: ask again
            time.sleep(2.0)
            continue
        if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
            entry = history[prompt_id]
            if entry["status"].get("status_str") != "error":
                return entry
            messages = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
            if expect_error:
                return {**entry, "error": messages[0][1] if messages else {}}
            raise AssertionError(f"workflow failed: {json.dumps(messages, indent=1)[:4000]}")
        time.sleep(1.0)
    raise AssertionError(f"workflow did not finish in {RUN_TIMEOUT_S}s:\n{server.log()[-3000:]}")


#: Loaders of other editors' weights (Qwen-Image-Edit's / FLUX Kontext's diffusion model, text encoders, VAE;
#: models/ folder of each) that the test models do not include.
FOREIGN_LOADERS = {"UNETLoader": "diffusion_models", "CLIPLoader": "text_encoders", "DualCLIPLoader": "text_encoders",
                   "VAELoader": "vae"}


def _validates_then_stops_at_a_foreign_loader(server, workflow: dict) -> None:
    """No foreign weights here: placeholder files with the workflow's file names let the real server VALIDATE the
    whole graph (node types, links, widget values, file names); running it then stops at a foreign loader. Its ZONE
    part runs for real in zone_any_editor."""
    for node in workflow.values():
        folder = FOREIGN_LOADERS.get(node["class_type"])
        if folder:
            for name in (v for k, v in node["inputs"].items() if k.rstrip("12").endswith("_name")):
                (server.base / "models" / folder).mkdir(parents=True, exist_ok=True)
                (server.base / "models" / folder / name).write_bytes(b"placeholder, not a model")
    entry = run_prompt(server, workflow, expect_error=True)  # run_prompt asserts that the prompt was accepted
    assert entry.get("error", {}).get("node_type") in FOREIGN_LOADERS, entry.get("error")


def test_not_executed_list_is_current():
    stale = sorted(set(NOT_EXECUTED) - {p.stem for p in UI_FILES})
    assert not stale, f"NOT_EXECUTED names workflows that do not exist: {stale}"


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.stem)
def test_shipped_workflow_runs_as_shipped(server, object_info, path):
    """The UI file a user drags in, converted as the frontend queues it (every link kept), with only stand-in file
    names and CPU-speed settings changed, runs to success in the real server and saves images of the input's size."""
    if path.stem in NOT_EXECUTED:
        pytest.skip(f"validated only, not executed: {NOT_EXECUTED[path.stem]}")
    defs = {**_core_defs(), **_pack_defs()}  # file-list combos take any name (checked against the server below)
    display = {name: d["display_name"] for name, d in object_info.items()}
    shipped = ui_to_api(json.loads(path.read_text()), defs, display)
    twin = json.loads((API_DIR / f"{path.stem}_api.json").read_text())
    assert {k: v["inputs"] for k, v in shipped.items()} == {k: v["inputs"] for k, v in twin.items()}
    workflow = prepare(shipped)
    if {n["class_type"] for n in workflow.values()} & set(FOREIGN_LOADERS):
        _validates_then_stops_at_a_foreign_loader(server, workflow)
        return
    start = time.monotonic()
    entry = run_prompt(server, workflow)
    seconds = time.monotonic() - start
    assert entry["status"]["status_str"] == "success"
    outputs = entry["outputs"]
    savers = [nid for nid, n in workflow.items() if n["class_type"] == "SaveImage"]
    assert savers, "the workflow saves nothing"
    for nid in savers:
        images = outputs.get(nid, {}).get("images", [])
        assert images, f"SaveImage {nid} produced no image"
        for img in images:
            f = server.base / "output" / img["subfolder"] / img["filename"]
            assert f.is_file() and f.stat().st_size > 0, f"{f} missing"
            from PIL import Image

            with Image.open(f) as im:
                assert im.size == (IMAGE_SIZE[1], IMAGE_SIZE[0]), f"result {im.size} is not the input's size"
    texts = [o["text"] for o in outputs.values() if o.get("text")]
    print(f"{path.stem}: {len(savers)} results in {seconds:.0f} s; text previews: {texts}")
    for nid, n in workflow.items():
        if n["class_type"] == "PreviewImage":
            assert outputs.get(nid, {}).get("images"), f"PreviewImage {nid} got nothing"
        if n["class_type"] == "PreviewAny":
            assert outputs.get(nid, {}).get("text"), f"PreviewAny {nid} ({n['_meta']['title']}) showed nothing"


# ------------------------------------------------------------------ the errors a user meets say what to do
def _api(name: str) -> dict:
    return prepare(json.loads((API_DIR / f"{name}_api.json").read_text()))


def test_wrong_model_type_says_which_checkpoint(server):
    """A plain SD1.5 checkpoint in the IP2P slot: the message names the channels and the checkpoint to load."""
    wf = _api("zone_local_edit")
    for node in wf.values():
        if node["class_type"] == "CheckpointLoaderSimple" and node["inputs"]["ckpt_name"] == comfy_models.IP2P_NAME:
            node["inputs"]["ckpt_name"] = SD15_NAME
    err = run_prompt(server, wf, expect_error=True)["error"]
    message = err.get("exception_message", "")
    assert err.get("node_type") == "ZoneFusedIP2PSampler", err
    assert "input channels" in message and "instruct-pix2pix" in message and "Load Checkpoint" in message, message


def test_missing_sam_file_is_rejected_before_running(server):
    """A SAM file that is not in models/sams: ComfyUI refuses the prompt, naming the input and the files it has."""
    wf = _api("zone_mask_only")
    for node in wf.values():
        if node["class_type"] == "ZoneSAMLoader":
            node["inputs"]["model_name"] = "sam_vit_h_4b8939.pth"
    with pytest.raises(AssertionError) as info:
        run_prompt(server, wf)
    text = str(info.value)
    assert "model_name" in text and "sam_vit_h_4b8939.pth" in text and comfy_models.SAM_NAME in text, text


def test_mask_of_another_size(server):
    """A painted mask whose size differs from the images: either handled (resized, result at the original's size)
    or refused with a message that names the sizes."""
    from PIL import Image

    small = Image.new("RGBA", (IMAGE_SIZE[1] // 2 + 7, IMAGE_SIZE[0] // 2), (0, 0, 0, 255))
    small.paste((0, 0, 0, 0), (10, 10, 40, 30))
    small.save(server.base / "input" / "small_mask.png")
    wf = _api("zone_mask_only")
    loader_id = str(max(int(k) for k, n in wf.items() if n["class_type"] == "LoadImage"))
    wf["99"] = {"class_type": "LoadImage", "inputs": {"image": "small_mask.png"}}
    for node in wf.values():
        if node["class_type"] == "ZoneSAMRegionIoU" and node["inputs"]["coarse_mask"][0] == loader_id:
            node["inputs"]["coarse_mask"] = ["99", 1]
    entry = run_prompt(server, wf, expect_error=True)
    if "error" in entry:
        message = entry["error"].get("exception_message", "")
        assert "size" in message.lower(), message
        print(f"wrong-size mask refused: {message}")
    else:
        assert entry["status"]["status_str"] == "success"
        texts = [n.get("text") for n in entry["outputs"].values() if n.get("text")]
        print(f"wrong-size mask handled; SAM info: {texts}")


# ------------------------------------------------------------------ the edit lands in the saved result
def _saved(server: Server, entry: dict, node_id: str) -> np.ndarray:
    from PIL import Image

    img = entry["outputs"][node_id]["images"][0]
    with Image.open(server.base / "output" / img["subfolder"] / img["filename"]) as im:
        return np.asarray(im.convert("RGB")).astype(np.int64)


@pytest.mark.parametrize("name", ["zone_mask_only", "zone_local_edit", "zone_any_editor"])
def test_saved_result_carries_the_edit(server, name):
    """The saved result is the pasted layer (the canvas, colour-matched when that is on) where the composite's alpha
    is 1 (within one 8-bit level), the input where alpha is 0, and differs from the input inside the final mask: a
    pipeline that lost the edit (or composited the original over itself) fails here."""
    from PIL import Image

    wf = _api(name)
    saver = next(nid for nid, n in wf.items() if n["class_type"] == "SaveImage"
                 and wf[n["inputs"]["images"][0]]["class_type"] == "ZoneLayerComposite")
    composite = wf[saver]["inputs"]["images"][0]
    final_ref = wf[composite]["inputs"]["final_mask"]
    wf["90"] = {"class_type": "MaskToImage", "inputs": {"mask": [composite, 2]}}
    wf["91"] = {"class_type": "MaskToImage", "inputs": {"mask": final_ref}}
    for nid, source in (("92", ["90", 0]), ("93", ["91", 0]), ("94", [composite, 1])):
        wf[nid] = {"class_type": "SaveImage", "inputs": {"images": source, "filename_prefix": f"ZONE/check{nid}"}}
    entry = run_prompt(server, wf)
    result, alpha, final, layer = (_saved(server, entry, nid) for nid in (saver, "92", "93", "94"))
    with Image.open(server.base / "input" / "example.png") as im:  # every workflow's original (see _file_name)
        original = np.asarray(im.convert("RGB")).astype(np.int64)
    full, none, inside = alpha[..., 0] == 255, alpha[..., 0] == 0, final[..., 0] > 127
    assert full.any() and inside.any(), "expected an edit"
    # the random models' attention is flat, so zone_local_edit's coarse (and final) mask is the whole image there;
    # the two localizing workflows have real partial masks
    assert none.any() or name == "zone_local_edit", "expected a partial mask"
    assert np.abs(result[full] - layer[full]).max() <= 1
    np.testing.assert_array_equal(result[none], original[none])
    assert np.abs(result[inside] - original[inside]).mean() > 2
