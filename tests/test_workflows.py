"""The shipped workflows are valid against the pack's node definitions and ComfyUI's core nodes.

``workflows/*.json`` are UI-format graphs (what a user drags in); ``workflows/api/*_api.json`` are their API-format
twins (what ``POST /prompt`` takes). CI has no ComfyUI, so the definitions of the core nodes the workflows may
use are a snapshot of a real server's ``/object_info`` (tests/data/comfy_core_nodes.json, checked against a
live server by tests/test_comfyui_host.py). The pack's definitions come from ``NODE_CLASS_MAPPINGS`` itself, so
renaming, removing, re-typing or re-ordering a node input, or narrowing a range / combo, fails here until the
workflows are regenerated (``python tools/build_workflows.py``).

Checked: node types known; every link's type matches the producing output and the consuming input, and the
link table agrees with the nodes' slot lists; required inputs connected; widget values fit their inputs (count,
including the frontend's extra ``control_after_generate`` value after seed inputs and the upload button value of
image loaders; type; min/max; combo choice, where a file-list combo takes any file name); graphs are acyclic and
end in an output node; UI and API twins describe the same graph.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
API_DIR = WORKFLOWS / "api"
CORE_SNAPSHOT = Path(__file__).resolve().parent / "data" / "comfy_core_nodes.json"
#: Each shipped workflow's id (its API twin is workflows/api/<id>_api.json) -> its template card title. ComfyUI's
#: template browser titles a custom node pack's card with the UI file's name and nothing else (frontend 1.27.10,
#: getTemplateTitle), so the UI file is named as the card should read: workflows/<title>.json and <title>.jpg.
CARDS = {"zone_local_edit": "ZONE local edit", "zone_multi_turn": "ZONE multi-turn local edit",
         "zone_mask_only": "ZONE paste back a painted region", "zone_any_editor": "ZONE make any editor local",
         "zone_qwen_image_edit": "Qwen-Image-Edit made local by ZONE",
         "zone_flux_kontext": "FLUX.1 Kontext made local by ZONE",
         "zone_qwen_image_edit_2509": "Qwen-Image-Edit-2509 made local by ZONE",
         "zone_gemini_image": "Gemini image (API) made local by ZONE",
         "zone_gpt_image": "GPT-image (API) made local by ZONE",
         "zone_seedream": "Seedream (API) made local by ZONE",
         "zone_flux_kontext_pro": "FLUX.1 Kontext Pro (API) made local by ZONE",
         "zone_local_edit_lock": "ZONE local edit, locked while sampling",
         "zone_flux_kontext_lock": "FLUX.1 Kontext locked while sampling, made local by ZONE"}
EXPECTED = tuple(CARDS)


def ui_file(workflow_id: str) -> Path:
    """The UI file (the template card) of a workflow id, e.g. "zone_local_edit" -> workflows/ZONE local edit.json."""
    return WORKFLOWS / f"{CARDS[workflow_id]}.json"


#: Card title (the UI file's stem) -> workflow id.
CARD_IDS = {title: wid for wid, title in CARDS.items()}


def api_twin(ui_path: Path) -> Path:
    """The API twin of a UI file: workflows/api/<id>_api.json."""
    assert ui_path.stem in CARD_IDS, f"{ui_path.name}: not a card of CARDS {sorted(CARDS.values())}"
    return API_DIR / f"{CARD_IDS[ui_path.stem]}_api.json"

#: Frontend-only node types (never sent to the server): allowed in UI files, dropped from API files.
VIRTUAL = {"Note", "MarkdownNote"}
BYPASS = 4  # a node's mode when bypassed (Ctrl+B); 2 = muted
#: The graph canvas a user sees at a 1600x1000 and a 1280x800 browser window (frontend 1.27.10, measured: the left
#: sidebar and the top bars take 64 x 78 px, at 1280 px 40 x 40 px and the workflow tabs then cover the top 38 px of
#: the canvas), as (width, height, covered top) in screen pixels.
VIEWPORTS = {"1600x1000": (1536, 922, 0), "1280x800": (1240, 760, 38)}
#: Bottom right of the canvas, measured from its bottom-right corner (width, height): the minimap (250x200 px, 8 px
#: from the right, 66 px from the bottom; shown by default) and the zoom buttons (307x45 px) below it.
CORNERS = ((258, 266), (323, 61))
#: Below this zoom the frontend draws nodes without text (MinFontSizeForLOD 8 px / NODE_TEXT_SIZE 14 px).
MIN_SCALE = 8 / 14
TITLE_H = 30  # a node's title bar, above its pos
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}


# ----------------------------------------------------------------------------------------------- definitions
class InputDef:
    """One node input: its type ("COMBO" for choice lists), options, choices and whether it is a widget."""

    def __init__(self, name: str, spec, required: bool) -> None:
        kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
        self.name, self.required, self.opts = name, required, opts
        if isinstance(kind, (list, tuple)):
            self.type, self.choices = "COMBO", list(kind)
        elif kind == "COMBO":
            self.type, self.choices = "COMBO", list(opts.get("options", []))
        else:
            self.type, self.choices = str(kind), None
        self.widget = self.type in WIDGET_TYPES and not opts.get("forceInput", False)
        # The frontend adds a value-control combo after seed-like widgets and an upload button after media combos.
        self.control = self.widget and (
            bool(opts.get("control_after_generate")) or (self.type == "INT" and name in ("seed", "noise_seed"))
        )
        self.upload = self.type == "COMBO" and any(opts.get(k) for k in ("image_upload", "video_upload"))

    def check_value(self, value, where: str) -> None:
        """Assert that a widget value is acceptable for this input."""
        t, o = self.type, self.opts
        if t == "INT":
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {self.name}={value!r} is not an INT"
        elif t == "FLOAT":
            assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {self.name}={value!r} is not a FLOAT"
            assert math.isfinite(value), f"{where}: {self.name}={value!r}"
        elif t == "STRING":
            assert isinstance(value, str), f"{where}: {self.name}={value!r} is not a STRING"
        elif t == "BOOLEAN":
            assert isinstance(value, bool), f"{where}: {self.name}={value!r} is not a BOOLEAN"
        elif t == "COMBO":
            assert isinstance(value, str) and value, f"{where}: {self.name}={value!r} is not a choice"
            if self.choices:  # an empty list is a model/input file list: any file name is a valid choice
                assert value in self.choices, f"{where}: {self.name}={value!r} not in {self.choices}"
        if t in ("INT", "FLOAT"):
            if "min" in o:
                assert value >= o["min"], f"{where}: {self.name}={value} < min {o['min']}"
            if "max" in o:
                assert value <= o["max"], f"{where}: {self.name}={value} > max {o['max']}"


class NodeDef:
    def __init__(self, name: str, inputs: dict, outputs, output_names, output_node: bool) -> None:
        self.name = name
        self.inputs: dict[str, InputDef] = {}
        for section in ("required", "optional"):
            for key, spec in (inputs.get(section) or {}).items():
                self.inputs[key] = InputDef(key, spec, section == "required")
        self.outputs = [("COMBO" if isinstance(t, (list, tuple)) else str(t)) for t in outputs]
        self.output_names = list(output_names or self.outputs)
        self.output_node = bool(output_node)

    @property
    def widgets(self) -> list[InputDef]:
        return [i for i in self.inputs.values() if i.widget]


@contextlib.contextmanager
def _without_comfyui_model_files():
    """Model-file combos (models/sams) as CI sees them, an empty list = any file name, even when an earlier test
    imported a real ComfyUI (ZONE_COMFYUI_PATH) whose model folders hold files."""
    from comfyui_zone.nodes import comfy_runtime

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(comfy_runtime, "_folder_paths", lambda: None)
        yield


def _pack_defs() -> dict[str, NodeDef]:
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS

    with _without_comfyui_model_files():
        return {
            name: NodeDef(name, cls.INPUT_TYPES(), cls.RETURN_TYPES, getattr(cls, "RETURN_NAMES", None),
                          getattr(cls, "OUTPUT_NODE", False))
            for name, cls in NODE_CLASS_MAPPINGS.items()
        }


def _core_defs() -> dict[str, NodeDef]:
    nodes = json.loads(CORE_SNAPSHOT.read_text())["nodes"]
    return {
        name: NodeDef(name, d["input"], d["output"], d.get("output_name"), d.get("output_node", False))
        for name, d in nodes.items()
    }


@pytest.fixture(scope="module")
def defs() -> dict[str, NodeDef]:
    pack = _pack_defs()
    core = _core_defs()
    clash = set(pack) & set(core)
    assert not clash, f"pack node ids clash with core nodes: {clash}"
    return {**core, **pack}


def types_match(produced: str, accepted: str) -> bool:
    """ComfyUI's rule: equal, "*" on either side, or overlapping comma-separated unions."""
    if produced == accepted or "*" in (produced, accepted):
        return True
    return bool(set(produced.split(",")) & set(accepted.split(",")))


def _acyclic(edges: dict[str, set[str]], where: str) -> None:
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        state[n] = 1
        for m in edges.get(n, ()):
            assert state.get(m) != 1, f"{where}: cycle through node {m}"
            if m not in state:
                visit(m)
        state[n] = 2

    for n in list(edges):
        if n not in state:
            visit(n)


# ------------------------------------------------------------------------------------------------ UI format
def expected_widget_values(node: NodeDef, values: list, where: str,
                           controls: dict[str, object] | None = None) -> dict[str, object]:
    """Walk ``widgets_values`` in the frontend's order; return {input name: value}; assert count and values.
    ``controls``, when given, receives {input name: control_after_generate value} of the seed-like inputs."""
    out: dict[str, object] = {}
    values = list(values)
    pos = 0
    widgets = node.widgets
    uploads = [w for w in widgets if w.upload and w.required]
    for w in widgets:
        assert pos < len(values), f"{where}: widgets_values has {len(values)} values, missing {w.name!r}"
        w.check_value(values[pos], where)
        out[w.name] = values[pos]
        pos += 1
        if w.control:
            assert pos < len(values) and values[pos] in CONTROL_VALUES, (
                f"{where}: {w.name!r} must be followed by a control_after_generate value {sorted(CONTROL_VALUES)}"
            )
            if controls is not None:
                controls[w.name] = values[pos]
            pos += 1
        if uploads and w is [x for x in widgets if x.required][-1]:  # the upload button ends the required widgets
            assert pos < len(values) and isinstance(values[pos], str), f"{where}: missing the upload widget value"
            pos += 1
    assert pos == len(values), f"{where}: {len(values)} widgets_values for {pos} widgets: {values}"
    return out


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_frontend_schema(wf: dict, where: str) -> None:
    """The frontend's zod schema for workflow version 0.4 (ComfyUI_frontend workflowSchema.ts), the parts a
    hand-built file can get wrong: a non-uuid graph id, non-numeric positions, missing node fields, bad model urls."""
    if "id" in wf:
        uuid.UUID(str(wf["id"]))  # raises for null or a non-uuid
        assert isinstance(wf["id"], str), f"{where}: graph id must be a uuid string"
    assert _num(wf["version"]) and _num(wf["last_link_id"]), f"{where}: version / last_link_id must be numbers"
    assert isinstance(wf.get("extra", {}), dict) and isinstance(wf.get("config", {}), dict), f"{where}: extra/config"
    for n in wf["nodes"]:
        w = f"{where}: node {n.get('id')}"
        assert isinstance(n["id"], (int, str)) and isinstance(n["type"], str), w
        for key in ("pos", "size"):
            assert len(n[key]) == 2 and all(_num(v) for v in n[key]), f"{w}: {key} must be two numbers"
        assert isinstance(n["flags"], dict) and _num(n["order"]) and _num(n["mode"]), f"{w}: flags/order/mode"
        assert isinstance(n["properties"], dict) and isinstance(n.get("widgets_values", []), list), w
        for model in n["properties"].get("models", []):
            assert {"name", "url", "directory"} <= set(model) and model["url"].startswith("https://"), f"{w}: {model}"
            # the missing-models dialog shows "Only allowed suffixes are: '.safetensors', '.sft'" for others
            assert model["name"].endswith((".safetensors", ".sft")), f"{w}: the frontend offers no download for {model}"
        for slot in n.get("inputs", []) + n.get("outputs", []):
            assert isinstance(slot["name"], str) and isinstance(slot["type"], str), f"{w}: slot {slot}"
    for g in wf.get("groups", []):
        assert isinstance(g["title"], str) and len(g["bounding"]) == 4 and all(_num(v) for v in g["bounding"]), where


def check_ui(wf: dict, defs: dict[str, NodeDef], where: str) -> None:
    check_frontend_schema(wf, where)
    for key in ("nodes", "links", "version", "last_node_id", "last_link_id"):
        assert key in wf, f"{where}: UI workflow lacks {key!r}"
    nodes = {n["id"]: n for n in wf["nodes"]}
    assert len(nodes) == len(wf["nodes"]), f"{where}: duplicate node ids"
    links = {}
    for link in wf["links"]:
        assert isinstance(link, list) and len(link) == 6, f"{where}: link {link} is not [id, from, slot, to, slot, type]"
        assert link[0] not in links, f"{where}: duplicate link id {link[0]}"
        links[link[0]] = link
    assert wf["last_node_id"] >= max(nodes), f"{where}: last_node_id below the largest node id"
    assert wf["last_link_id"] >= max(links, default=0), f"{where}: last_link_id below the largest link id"

    for nid, n in nodes.items():
        t = n["type"]
        w = f"{where}: node {nid} ({t})"
        for key in ("pos", "size", "mode"):
            assert key in n, f"{w} lacks {key!r}"
        assert n["mode"] in (0, BYPASS), f"{w}: muted nodes are not allowed in a shipped workflow"
        if n["mode"] == BYPASS:  # an optional model shipped off (Ctrl+B turns it on): a loader feeding optional inputs
            assert not any(i.get("link") is not None for i in n.get("inputs", [])), f"{w}: bypassed, with inputs"
            for o in n.get("outputs", []):
                for lid in o.get("links") or []:
                    dst = nodes[links[lid][3]]
                    assert not defs[dst["type"]].inputs[dst["inputs"][links[lid][4]]["name"]].required, (
                        f"{w}: bypassed, but {dst['type']} needs its output")
        if t in VIRTUAL:
            assert [type(v) for v in n.get("widgets_values", [])] == [str], f"{w}: a note holds one text"
            assert not n.get("inputs") and not n.get("outputs"), f"{w}: a note has no slots"
            continue
        assert t in defs, f"{w}: unknown node type (not in the pack, not a snapshotted core node)"
        d = defs[t]
        expected_widget_values(d, n.get("widgets_values", []), w)
        # input slots
        names = [i["name"] for i in n.get("inputs", [])]
        assert len(names) == len(set(names)), f"{w}: duplicate input slots"
        for i in n.get("inputs", []):
            assert i["name"] in d.inputs, f"{w}: input slot {i['name']!r} is not an input of {t}"
            spec = d.inputs[i["name"]]
            assert i["type"] == spec.type, f"{w}: input {i['name']!r} typed {i['type']} but {t} takes {spec.type}"
            if "widget" in i:
                assert spec.widget and i["widget"].get("name") == i["name"], f"{w}: {i['name']!r} is not a widget"
            else:
                assert not spec.widget, f"{w}: widget input {i['name']!r} needs \"widget\": {{\"name\": ...}}"
            if i.get("link") is not None:
                link = links.get(i["link"])
                assert link is not None, f"{w}: input {i['name']!r} names missing link {i['link']}"
                assert link[3] == nid and link[4] == names.index(i["name"]), f"{w}: link {link} does not end here"
        for spec in d.inputs.values():
            if spec.required and not spec.widget:
                slot = next((i for i in n.get("inputs", []) if i["name"] == spec.name), None)
                assert slot is not None and slot.get("link") is not None, f"{w}: required input {spec.name!r} not connected"
        # output slots
        outs = n.get("outputs", [])
        assert [o["type"] for o in outs] == d.outputs, f"{w}: output slots {[o['type'] for o in outs]} != {d.outputs}"
        assert [o["name"] for o in outs] == d.output_names, f"{w}: output names {[o['name'] for o in outs]} != {d.output_names}"
        for slot, o in enumerate(outs):
            for lid in o.get("links") or []:
                assert lid in links and links[lid][1] == nid and links[lid][2] == slot, f"{w}: output link {lid} not from here"

    edges: dict[str, set[str]] = {}
    for lid, (_, src, src_slot, dst, dst_slot, ltype) in links.items():
        w = f"{where}: link {lid}"
        assert src in nodes and dst in nodes, f"{w} joins missing nodes"
        s, t = nodes[src], nodes[dst]
        assert s["type"] not in VIRTUAL and t["type"] not in VIRTUAL, f"{w} touches a note"
        produced = defs[s["type"]].outputs[src_slot] if src_slot < len(defs[s["type"]].outputs) else None
        assert produced is not None, f"{w}: {s['type']} has no output {src_slot}"
        assert lid in (s["outputs"][src_slot].get("links") or []), f"{w} missing from {s['type']}.outputs[{src_slot}]"
        assert dst_slot < len(t["inputs"]) and t["inputs"][dst_slot].get("link") == lid, f"{w} missing from {t['type']}.inputs"
        accepted = defs[t["type"]].inputs[t["inputs"][dst_slot]["name"]].type
        assert types_match(produced, ltype) and types_match(ltype, accepted), (
            f"{w}: {s['type']}[{src_slot}] gives {produced}, link says {ltype}, "
            f"{t['type']}.{t['inputs'][dst_slot]['name']} takes {accepted}"
        )
        edges.setdefault(str(src), set()).add(str(dst))
    _acyclic(edges, where)
    assert any(defs[n["type"]].output_node for n in nodes.values() if n["type"] not in VIRTUAL), f"{where}: no output node"
    for g in wf.get("groups", []):
        assert isinstance(g.get("title"), str) and len(g.get("bounding", [])) == 4, f"{where}: malformed group {g}"


# ----------------------------------------------------------------------------------------------- API format
def check_api(wf: dict, defs: dict[str, NodeDef], where: str) -> None:
    assert wf and all(isinstance(k, str) for k in wf), f"{where}: API workflow is a dict of node id -> node"
    edges: dict[str, set[str]] = {}
    for nid, n in wf.items():
        t = n.get("class_type")
        w = f"{where}: node {nid} ({t})"
        assert t in defs, f"{w}: unknown class_type"
        d = defs[t]
        inputs = n.get("inputs", {})
        for name in inputs:
            assert name in d.inputs, f"{w}: {name!r} is not an input of {t}"
        for spec in d.inputs.values():
            if spec.required:
                assert spec.name in inputs, f"{w}: required input {spec.name!r} missing"
        for name, value in inputs.items():
            spec = d.inputs[name]
            if isinstance(value, list):
                assert len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int), f"{w}: bad link {value}"
                src = wf.get(value[0])
                assert src is not None, f"{w}: {name!r} links missing node {value[0]}"
                outs = defs[src["class_type"]].outputs
                assert value[1] < len(outs), f"{w}: {src['class_type']} has no output {value[1]}"
                assert types_match(outs[value[1]], spec.type), f"{w}: {name!r} takes {spec.type}, gets {outs[value[1]]}"
                edges.setdefault(value[0], set()).add(nid)
            else:
                assert spec.widget, f"{w}: {name!r} ({spec.type}) must be a link"
                spec.check_value(value, w)
    _acyclic(edges, where)
    assert any(defs[n["class_type"]].output_node for n in wf.values()), f"{where}: no output node"


def ui_to_api(ui: dict, defs: dict[str, NodeDef], display: dict[str, str] | None = None) -> dict:
    """The API-format prompt the frontend queues for a UI-format workflow (its graphToPrompt): notes dropped, each
    widget value under its input name, each link as ``[source id, output slot]``. A bypassed node (mode 4) is left
    out with the links from it, as the frontend does for a node without an input of the link's type (the only kind
    check_ui allows bypassed). Asserts that every other link of the UI file arrives as an input of the prompt (a
    conversion must never lose a link)."""
    links = {link[0]: link for link in ui["links"]}
    off = {n["id"] for n in ui["nodes"] if n.get("mode", 0) != 0}
    links = {k: v for k, v in links.items() if v[1] not in off and v[3] not in off}
    api: dict[str, dict] = {}
    for n in ui["nodes"]:
        if n["type"] in VIRTUAL or n["id"] in off:
            continue
        d = defs[n["type"]]
        inputs: dict[str, object] = dict(expected_widget_values(d, n.get("widgets_values", []), f"node {n['id']}"))
        for i in n.get("inputs", []):
            if i.get("link") in links:
                link = links[i["link"]]
                inputs[i["name"]] = [str(link[1]), link[2]]
        title = n.get("title") or (display or {}).get(n["type"], n["type"])
        api[str(n["id"])] = {"inputs": inputs, "class_type": n["type"], "_meta": {"title": title}}
    kept = {(v[0], v[1], nid, name) for nid, node in api.items() for name, v in node["inputs"].items()
            if isinstance(v, list)}
    assert len(kept) == len(links), f"{len(links)} links in the UI file, {len(kept)} in the converted prompt"
    return api


def check_twins(ui: dict, api: dict, defs: dict[str, NodeDef], where: str) -> None:
    converted = ui_to_api(ui, defs)
    assert set(converted) == set(api), f"{where}: node ids differ: UI {sorted(converted)} vs API {sorted(api)}"
    for nid, node in converted.items():
        a = api[nid]
        assert a["class_type"] == node["class_type"], f"{where}: node {nid} is {node['class_type']} in UI, {a['class_type']} in API"
        assert a["inputs"] == node["inputs"], (
            f"{where}: node {nid} ({node['class_type']}) inputs differ:\nUI  {node['inputs']}\nAPI {a['inputs']}"
        )


# ------------------------------------------------------------------------------------------------------ tests
def _ui_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.json"))


def _api_files() -> list[Path]:
    return sorted(API_DIR.glob("*_api.json"))


def test_expected_workflows_ship():
    names = {p.stem for p in _ui_files()}
    apis = {p.stem for p in _api_files()}
    assert names == set(CARDS.values()), f"UI files {sorted(names)} are not the cards {sorted(CARDS.values())}"
    for stem in EXPECTED:
        assert ui_file(stem).is_file(), f"{ui_file(stem).name} missing"
        assert f"{stem}_api" in apis, f"workflows/api/{stem}_api.json missing"
    assert {api_twin(p).stem for p in _ui_files()} == apis, "every UI workflow needs exactly one API twin and vice versa"


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_template_thumbnail_ships(path: Path):
    """ComfyUI's template browser shows ``<name>.jpg`` beside the workflow on its card (a blank card and a 404
    without it): a picture of the real frontend (tools/screenshot_workflows.py) or, for a new workflow, the
    schematic tools/build_workflows.py writes."""
    from PIL import Image

    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"{thumb.name} missing: run tools/build_workflows.py (or tools/screenshot_workflows.py)"
    with Image.open(thumb) as im:
        assert im.format == "JPEG" and 256 <= im.width <= 1024 and im.height >= 200, (im.format, im.size)


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_ui_workflow_valid(path: Path, defs):
    wf = json.loads(path.read_text())
    assert "nodes" in wf, f"{path.name} is not UI format (API files go in workflows/api/)"
    check_ui(wf, defs, path.name)


@pytest.mark.parametrize("path", _api_files(), ids=lambda p: p.name)
def test_api_workflow_valid(path: Path, defs):
    check_api(json.loads(path.read_text()), defs, path.name)


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_ui_and_api_twins_agree(path: Path, defs):
    api_path = api_twin(path)
    assert api_path.is_file(), f"{api_path} missing"
    check_twins(json.loads(path.read_text()), json.loads(api_path.read_text()), defs, path.name)


def test_zone_nodes_all_used(defs):
    """Every pack node appears in some shipped workflow (so every node's inputs are guarded by these tests)."""
    used = {n["class_type"] for p in _api_files() for n in json.loads(p.read_text()).values()}
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS

    missing = sorted(set(NODE_CLASS_MAPPINGS) - used)
    assert not missing, f"pack nodes no shipped workflow uses: {missing}"


# A broken workflow must be caught: mutate a valid one in the ways a node change would break it.
def _first_zone_workflow() -> tuple[dict, dict]:
    path = ui_file("zone_local_edit")
    if not path.is_file():
        pytest.skip(f"{path.name} not written yet")
    return json.loads(path.read_text()), json.loads(api_twin(path).read_text())


def _zone_node(wf: dict) -> dict:
    return max((n for n in wf["nodes"] if n["type"].startswith("Zone")), key=lambda n: len(n.get("widgets_values", [])))


@pytest.mark.parametrize("mutation", ["extra_value", "missing_value", "out_of_range", "bad_combo", "link_type", "unknown_type"])
def test_validator_catches_breakage(mutation, defs):
    ui, api = _first_zone_workflow()
    node = _zone_node(ui)
    d = defs[node["type"]]
    if mutation == "extra_value":
        node["widgets_values"].append(1)
    elif mutation == "missing_value":
        node["widgets_values"].pop()
    elif mutation == "out_of_range":
        idx, spec = next((k, w) for k, w in enumerate(d.widgets) if w.type in ("INT", "FLOAT") and "max" in w.opts)
        pos = sum(1 + w.control for w in d.widgets[:idx])
        node["widgets_values"][pos] = spec.opts["max"] + 1
    elif mutation == "bad_combo":
        idx = next(k for k, w in enumerate(d.widgets) if w.type == "COMBO" and w.choices)
        pos = sum(1 + w.control for w in d.widgets[:idx])
        node["widgets_values"][pos] = "no such choice"
    elif mutation == "link_type":
        ui["links"][0][5] = "SAM_MODEL" if ui["links"][0][5] != "SAM_MODEL" else "IMAGE"
    elif mutation == "unknown_type":
        node["type"] = "ZoneNoSuchNode"
    with pytest.raises(AssertionError):
        check_ui(ui, defs, "mutated")
        check_twins(ui, api, defs, "mutated")


def test_validator_catches_renamed_input(defs):
    """Renaming a pack node's input (what a refactor does) fails both formats."""
    ui, api = _first_zone_workflow()
    node = _zone_node(ui)
    d = defs[node["type"]]
    renamed = dict(defs)
    victim = d.widgets[0].name
    inputs = {"required": {}, "optional": {}}
    for spec in d.inputs.values():
        key = spec.name + "_renamed" if spec.name == victim else spec.name
        kind = spec.choices if spec.type == "COMBO" else spec.type
        inputs["required" if spec.required else "optional"][key] = (kind, spec.opts)
    renamed[node["type"]] = NodeDef(d.name, inputs, d.outputs, d.output_names, d.output_node)
    with pytest.raises(AssertionError):
        check_api(api, renamed, "renamed")


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_ui_layout_tidy(path: Path):
    """No node (with its 30-px title bar) overlaps another, and every node lies inside at most one group."""
    wf = json.loads(path.read_text())
    boxes = [(n.get("title", n["type"]), n["pos"][0], n["pos"][1] - 30, n["pos"][0] + n["size"][0],
              n["pos"][1] + n["size"][1]) for n in wf["nodes"]]
    for k, a in enumerate(boxes):
        for b in boxes[k + 1:]:
            assert not (a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]), f"{path.name}: {a[0]!r} overlaps {b[0]!r}"
    for name, x0, y0, x1, y1 in boxes:
        inside = [g["title"] for g in wf.get("groups", []) if g["bounding"][0] <= x0 and g["bounding"][1] <= y0
                  and x1 <= g["bounding"][0] + g["bounding"][2] and y1 <= g["bounding"][1] + g["bounding"][3]]
        assert len(inside) <= 1, f"{path.name}: {name!r} inside several groups {inside}"


def test_model_files_of_a_real_comfyui_do_not_change_the_checks(monkeypatch):
    """With a ComfyUI imported whose models/sams holds a file, the SAM loader's file list is still 'any file'."""
    from types import SimpleNamespace

    from comfyui_zone.nodes import comfy_runtime

    fake = SimpleNamespace(folder_names_and_paths={"sams": (["/x"], {".pth"})}, models_dir="/x",
                           get_filename_list=lambda name: ["sam_somebody_put_here.pth"])
    monkeypatch.setattr(comfy_runtime, "_folder_paths", lambda: fake)
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS

    assert NODE_CLASS_MAPPINGS["ZoneSAMLoader"].INPUT_TYPES()["required"]["model_name"][0]  # the live list
    assert _pack_defs()["ZoneSAMLoader"].inputs["model_name"].choices == []
    from test_docs import test_node_reference_current  # docs/nodes.md, generated from the same INPUT_TYPES

    test_node_reference_current()


#: Where each loader's file widget looks (ComfyUI's models/<folder>).
MODEL_FOLDERS = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoints", ("UNETLoader", "unet_name"): "diffusion_models",
                 ("CLIPLoader", "clip_name"): "text_encoders", ("VAELoader", "vae_name"): "vae",
                 ("ZoneSAMLoader", "model_name"): "sams"}
#: The frontend's missing-models dialog (MissingModelsWarning, frontend 1.27.10) downloads only these.
DIALOG_SOURCES = ("https://huggingface.co/", "https://civitai.com/")
DIALOG_SUFFIXES = (".safetensors", ".sft")


def model_announcements(wf: dict, defs: dict[str, NodeDef]) -> dict[str, str]:
    """Every model file a UI workflow's loaders name -> how a user learns of it before Run: "dialog" (the loader's
    ``properties.models`` entry the missing-models dialog offers: same name, an allowed host and suffix, the loader's
    folder) or "note" (a Markdown note line naming the file, ``models/<folder>/`` and an https source), else
    "NOT ANNOUNCED"."""
    notes = [line for n in wf["nodes"] if n["type"] in VIRTUAL for text in n["widgets_values"] for line in text.splitlines()]
    found: dict[str, str] = {}
    for n in wf["nodes"]:
        if n["type"] in VIRTUAL:
            continue
        values = expected_widget_values(defs[n["type"]], n.get("widgets_values", []), n["type"])
        for (kind, widget), folder in MODEL_FOLDERS.items():
            if n["type"] != kind or widget not in values:
                continue
            name = values[widget]
            offered = [m for m in n["properties"].get("models", []) if m["name"] == name and m["directory"] == folder
                       and m["url"].startswith(DIALOG_SOURCES) and name.endswith(DIALOG_SUFFIXES)]
            noted = [line for line in notes if f"`{name}`" in line and f"models/{folder}/" in line and "https://" in line]
            found[name] = "dialog" if offered else "note" if noted else "NOT ANNOUNCED"
    return found


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_every_model_file_is_announced_before_run(path: Path, defs):
    """Each file a loader names is offered by the missing-models dialog on open or named (file, folder, source) in a
    note: a user never learns of a model at Run from "Value not in list"."""
    found = model_announcements(json.loads(path.read_text()), defs)
    assert found, f"{path.name}: no loader found"
    missing = {name for name, how in found.items() if how == "NOT ANNOUNCED"}
    assert not missing, f"{path.name}: {sorted(missing)} announced neither by the missing-models dialog nor by a note"


def test_model_announcement_check_catches_a_silent_file(defs):
    """The check fails for a SAM file no note names, and for a .ckpt put into the dialog's list."""
    wf, _ = _first_zone_workflow()
    for n in wf["nodes"]:
        if n["type"] in VIRTUAL:
            n["widgets_values"] = [n["widgets_values"][0].replace("sam_vit_h_4b8939.pth", "another file")]
    assert model_announcements(wf, defs)["sam_vit_h_4b8939.pth"] == "NOT ANNOUNCED"
    loader = next(n for n in wf["nodes"] if n["type"] == "CheckpointLoaderSimple")
    loader["properties"]["models"] = [{"name": "x.ckpt", "url": "https://huggingface.co/a/b/resolve/main/x.ckpt",
                                       "directory": "checkpoints"}]
    loader["widgets_values"][0] = "x.ckpt"
    assert model_announcements(wf, defs)["x.ckpt"] == "NOT ANNOUNCED"


def hidden_on_open(wf: dict, viewport: tuple[int, int]) -> list[str]:
    """What a user does NOT see when the workflow opens in a canvas of ``viewport`` (width, height, covered top) px:
    the saved
    view (``extra.ds``: canvas px = (graph position + offset) * scale) must show every note, every input (model
    loaders, Load Image) and at least one result (SaveImage), whole, outside the minimap corner, at a zoom the
    frontend draws text at. Returns the titles of what is cut off, hidden or unreadable."""
    ds = wf["extra"]["ds"]
    scale, (ox, oy) = ds["scale"], ds["offset"]
    width, height, top = viewport
    if scale < MIN_SCALE:
        return [f"zoom {scale} < {MIN_SCALE:.3f}: the frontend draws no text"]

    def visible(n: dict) -> bool:
        x0, y0 = (n["pos"][0] + ox) * scale, (n["pos"][1] - TITLE_H + oy) * scale
        x1, y1 = (n["pos"][0] + n["size"][0] + ox) * scale, (n["pos"][1] + n["size"][1] + oy) * scale
        inside = 0 <= x0 and top <= y0 and x1 <= width and y1 <= height
        return inside and not any(x1 > width - cw and y1 > height - ch for cw, ch in CORNERS)

    loaders = {kind for kind, _ in MODEL_FOLDERS} | {"LoadImage"}
    must = [n for n in wf["nodes"] if n["type"] in VIRTUAL or n["type"] in loaders]
    hidden = [n.get("title", n["type"]) for n in must if not visible(n)]
    results = [n for n in wf["nodes"] if n["type"] == "SaveImage"]
    if not any(visible(n) for n in results):
        hidden.append("every result (SaveImage)")
    return hidden


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.name)
def test_saved_view_shows_notes_inputs_and_result(path: Path, viewport: str):
    """On open (at 1600x1000 and at 1280x800) the help, the inputs and the result are on screen, readable."""
    hidden = hidden_on_open(json.loads(path.read_text()), VIEWPORTS[viewport])
    assert not hidden, f"{path.name} at {viewport}: not shown on open: {hidden}"


def test_saved_view_check_catches_the_old_view():
    """The view every workflow had before (scale 0.75, offset 40,40) hid the notes above it: the check says so."""
    wf, _ = _first_zone_workflow()
    wf["extra"]["ds"] = {"scale": 0.75, "offset": [40, 40]}
    hidden = hidden_on_open(wf, VIEWPORTS["1600x1000"])
    assert any(n["type"] == "MarkdownNote" and n["title"] in hidden for n in wf["nodes"]), hidden
    wf["extra"]["ds"] = {"scale": 0.4, "offset": [0, 400]}
    assert "the frontend draws no text" in hidden_on_open(wf, VIEWPORTS["1280x800"])[0]


@pytest.mark.parametrize("workflow_id", ["zone_local_edit", "zone_multi_turn"])
def test_magicbrush_is_one_action_away(workflow_id: str, defs):
    """Shipped with IP2P + SAM only (the MagicBrush loader bypassed, so the queued graph has no MagicBrush); turning
    that one node on (Ctrl+B: mode 0) queues a valid graph in which every Fused IP2P Sampler gets MagicBrush."""
    wf = json.loads(ui_file(workflow_id).read_text())
    loaders = [n for n in wf["nodes"] if n["mode"] == BYPASS]
    assert [n["type"] for n in loaders] == ["CheckpointLoaderSimple"] and "MagicBrush" in loaders[0]["widgets_values"][0]
    shipped = ui_to_api(wf, defs)
    samplers = [n for n in shipped.values() if n["class_type"] == "ZoneFusedIP2PSampler"]
    assert samplers and not any("magicbrush_model" in n["inputs"] for n in samplers)
    assert not any("MagicBrush" in str(n["inputs"].get("ckpt_name")) for n in shipped.values())
    loaders[0]["mode"] = 0
    on = ui_to_api(wf, defs)
    check_api(on, defs, f"{workflow_id} with MagicBrush on")
    mb = str(loaders[0]["id"])
    assert on[mb]["class_type"] == "CheckpointLoaderSimple"
    assert all(n["inputs"]["magicbrush_model"] == [mb, 0] for n in on.values() if n["class_type"] == "ZoneFusedIP2PSampler")
    note = " ".join(n["widgets_values"][0] for n in wf["nodes"] if n["type"] in VIRTUAL)
    assert "Ctrl+B" in note and "MagicBrush" in note, "the visible note must say how to turn MagicBrush on"
