"""Regenerate the shipped workflows from the node definitions: ``.venv/bin/python tools/build_workflows.py``.

Writes ``workflows/<name>.json`` (UI format, drag-and-drop; listed by ComfyUI's template browser) and
``workflows/api/<name>_api.json`` (API format for ``POST /prompt``; kept out of the template browser, which only
lists the top level). Widget values are the node defaults unless a graph below sets them, in the frontend's
order (seed inputs get a ``control_after_generate`` value, image loaders an upload value), so the files stay
valid when a node gains or reorders inputs: re-run this script and ``pytest tests/test_workflows.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402  (loads the pack as ComfyUI does, under the name comfyui_zone)
from test_workflows import CORE_SNAPSHOT, NodeDef, _core_defs, _pack_defs  # noqa: E402

IP2P_FILE = "instruct-pix2pix-00-22000.safetensors"
MAGICBRUSH_FILE = "MagicBrush-epoch-52-step-4999.ckpt"
SAM_FILE = "sam_vit_h_4b8939.pth"
EXAMPLE_IMAGE = "example.png"
MODEL_LINKS = {  # shown by the frontend's "missing models" dialog
    IP2P_FILE: "https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/instruct-pix2pix-00-22000.safetensors",
    MAGICBRUSH_FILE: "https://huggingface.co/osunlp/InstructPix2Pix-MagicBrush/resolve/main/MagicBrush-epoch-52-step-4999.ckpt",
}
COLORS = {"models": "#3f789e", "edit": "#8A8", "locate": "#b58b2a", "result": "#a1309b", "input": "#88A"}


class Node:
    def __init__(self, graph: "Graph", nid: int, kind: str, d: NodeDef | None, pos, size, title, widgets) -> None:
        self.graph, self.id, self.type, self.d = graph, nid, kind, d
        self.pos, self.size, self.title = list(pos), list(size), title
        self.widgets = dict(widgets)
        self.inputs: dict[str, tuple["Node", int]] = {}
        self.properties: dict = {}

    def out(self, name_or_slot: str | int) -> tuple["Node", int]:
        if isinstance(name_or_slot, int):
            return self, name_or_slot
        names = self.d.output_names
        if name_or_slot in names:
            return self, names.index(name_or_slot)
        return self, self.d.outputs.index(name_or_slot)

    def __getitem__(self, key: str | int) -> tuple["Node", int]:
        return self.out(key)


class Graph:
    def __init__(self, defs: dict[str, NodeDef], display: dict[str, str]) -> None:
        self.defs, self.display = defs, display
        self.nodes: list[Node] = []
        self.notes: list[dict] = []
        self.groups: list[dict] = []
        self._id = 0

    def _next(self) -> int:
        self._id += 1
        return self._id

    def add(self, kind: str, pos, size=(320, 0), title: str | None = None, widgets: dict | None = None, **links) -> Node:
        d = self.defs[kind]
        unknown = set(widgets or {}) - {w.name for w in d.widgets}
        if unknown:
            raise KeyError(f"{kind} has no widget inputs {sorted(unknown)}")
        node = Node(self, self._next(), kind, d, pos, size, title, widgets or {})
        for name, src in links.items():
            if name not in d.inputs:
                raise KeyError(f"{kind} has no input {name!r}")
            node.inputs[name] = src
        if kind == "CheckpointLoaderSimple":
            name = node.widgets.get("ckpt_name")
            if name in MODEL_LINKS:
                node.properties["models"] = [{"name": name, "url": MODEL_LINKS[name], "directory": "checkpoints"}]
        self.nodes.append(node)
        return node

    def note(self, text: str, pos, size=(320, 120), title: str = "Note") -> None:
        self.notes.append({"id": self._next(), "type": "MarkdownNote", "pos": list(pos), "size": list(size), "flags": {},
                           "order": 0, "mode": 0, "inputs": [], "outputs": [], "title": title, "properties": {},
                           "widgets_values": [text], "color": "#432", "bgcolor": "#653"})

    def group(self, title: str, bounding, color: str) -> None:
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": list(bounding), "color": color,
                            "font_size": 22, "flags": {}})

    # ---------------------------------------------------------------- serialisation
    def _widget_values(self, node: Node) -> tuple[list, dict]:
        ui, api = [], {}
        required = [w for w in node.d.widgets if w.required]
        for w in node.d.widgets:
            value = node.widgets.get(w.name, w.opts.get("default"))
            if value is None:
                value = w.choices[0] if w.type == "COMBO" and w.choices else {"STRING": "", "INT": 0, "FLOAT": 0.0, "BOOLEAN": False}[w.type]
            ui.append(value)
            if w.control:
                ui.append("fixed")
            if required and w is required[-1] and any(x.upload for x in required):  # the upload button
                ui.append("image")
            if w.name not in node.inputs:
                api[w.name] = value
        return ui, api

    def _order(self) -> dict[int, int]:
        done: dict[int, int] = {}

        def visit(n: Node) -> None:
            if n.id in done:
                return
            for src, _ in n.inputs.values():
                visit(src)
            done[n.id] = len(done)

        for n in self.nodes:
            visit(n)
        return done

    def ui(self) -> dict:
        links, link_id = [], 0
        order = self._order()
        outs: dict[tuple[int, int], list[int]] = {}
        nodes = []
        for n in self.nodes:
            inputs = []
            for name, spec in n.d.inputs.items():
                linked = name in n.inputs
                if spec.widget and not linked:
                    continue
                slot = {"name": name, "type": spec.type, "link": None}
                if spec.widget:
                    slot["widget"] = {"name": name}
                if not spec.required:
                    slot["shape"] = 7
                if linked:
                    src, src_slot = n.inputs[name]
                    link_id += 1
                    links.append([link_id, src.id, src_slot, n.id, len(inputs), src.d.outputs[src_slot]])
                    outs.setdefault((src.id, src_slot), []).append(link_id)
                    slot["link"] = link_id
                inputs.append(slot)
            entry = {"id": n.id, "type": n.type, "pos": n.pos, "size": n.size, "flags": {}, "order": order[n.id],
                     "mode": 0, "inputs": inputs, "outputs": [],
                     "properties": {"Node name for S&R": n.type, **n.properties},
                     "widgets_values": self._widget_values(n)[0]}
            if n.title:
                entry["title"] = n.title
            nodes.append(entry)
        for n, entry in zip(self.nodes, nodes):
            entry["outputs"] = [
                {"name": name, "type": t, "slot_index": k, "links": outs.get((n.id, k), [])}
                for k, (name, t) in enumerate(zip(n.d.output_names, n.d.outputs))
            ]
        for k, note in enumerate(self.notes):
            note["order"] = len(nodes) + k
        return {"id": None, "revision": 0, "last_node_id": self._id, "last_link_id": link_id,
                "nodes": nodes + self.notes, "links": links, "groups": self.groups, "config": {},
                "extra": {"ds": {"scale": 0.75, "offset": [40, 40]}}, "version": 0.4}

    def api(self) -> dict:
        out = {}
        for n in self.nodes:
            inputs = {}
            values = self._widget_values(n)[1]
            for name in n.d.inputs:
                if name in n.inputs:
                    src, slot = n.inputs[name]
                    inputs[name] = [str(src.id), slot]
                elif name in values:
                    inputs[name] = values[name]
            out[str(n.id)] = {"inputs": inputs, "class_type": n.type,
                              "_meta": {"title": n.title or self.display.get(n.type, n.type)}}
        return out


def _size(d: NodeDef, extra_h: int = 0, w: int = 320) -> tuple[int, int]:
    slots = max(len([i for i in d.inputs.values() if not i.widget]), len(d.outputs))
    widgets = sum(3 if i.opts.get("multiline") else 1 for i in d.widgets) + sum(i.control for i in d.widgets)
    return w, 30 + 22 * slots + 26 * widgets + extra_h


def _defs_and_names() -> tuple[dict[str, NodeDef], dict[str, str]]:
    pack = conftest.load_pack()
    core = json.loads(CORE_SNAPSHOT.read_text())["nodes"]
    display = {k: v["display_name"] for k, v in core.items()}
    display.update(pack.NODE_DISPLAY_NAME_MAPPINGS)
    return {**_core_defs(), **_pack_defs()}, display


# ------------------------------------------------------------------------------------------------ the graphs
MODELS_NOTE = (
    "## Weights (nothing is downloaded)\n"
    f"- **models/checkpoints/**: `{IP2P_FILE}` (timbrooks/instruct-pix2pix) and, optional, "
    f"`{MAGICBRUSH_FILE}` (osunlp/InstructPix2Pix-MagicBrush).\n"
    f"- **models/sams/**: a SAM v1 checkpoint, `{SAM_FILE}` (best) or `sam_vit_l_0b3195.pth` / `sam_vit_b_01ec64.pth`.\n"
    "Press *r* (refresh) after copying files."
)


def _edit_chain(g: Graph, x: int, y: int, image, instruction_text: str, ip2p, magicbrush, sam, title: str = "",
                previews: bool = True, save_prefix: str = "ZONE/edit"):
    """ActionClassifier -> FusedIP2PSampler -> AttentionToMask -> SAMRegionIoU -> FFTEdgeSmoother -> LayerComposite."""
    t = f"{title} " if title else ""
    text = g.add("PrimitiveStringMultiline", (x, y), (320, 130), f"{t}Instruction", {"value": instruction_text})
    has_classifier = "ZoneActionClassifier" in g.defs
    action = None
    if has_classifier:
        d = g.defs["ZoneActionClassifier"]
        links = {"instruction": text[0]}
        if "clip" in d.inputs:
            links["clip"] = ip2p["CLIP"]
        action = g.add("ZoneActionClassifier", (x, y + 170), _size(d), f"{t}1. Action Classifier", **links)
    d = g.defs["ZoneFusedIP2PSampler"]
    links = {"ip2p_model": ip2p["MODEL"], "clip": ip2p["CLIP"], "vae": ip2p["VAE"], "image": image,
             "instruction": text[0]}
    if magicbrush is not None:
        links["magicbrush_model"] = magicbrush["MODEL"]
    if action is not None and "action" in d.inputs:
        links["action"] = links_action(action)
    sampler = g.add("ZoneFusedIP2PSampler", (x + 360, y), _size(d), f"{t}2. Fused IP2P Sampler", **links)
    d = g.defs["ZoneAttentionToMask"]
    links = {"attention": sampler["attention"]}
    if "image" in d.inputs:
        links["image"] = image
    coarse = g.add("ZoneAttentionToMask", (x + 720, y), _size(d), f"{t}3. Attention To Mask", **links)
    d = g.defs["ZoneSAMRegionIoU"]
    links = {"sam_model": sam[0], "original": image, "canvas": sampler["canvas"], "coarse_mask": coarse[0]}
    if action is not None and "zone_action" in d.inputs:
        links["zone_action"] = links_action(action)
    refined = g.add("ZoneSAMRegionIoU", (x + 720, y + 200), _size(d), f"{t}4. SAM Region IoU", **links)
    d = g.defs["ZoneFFTEdgeSmoother"]
    final = g.add("ZoneFFTEdgeSmoother", (x + 1080, y), _size(d), f"{t}5. FFT Edge Smoother",
                  original=image, canvas=sampler["canvas"], refined_mask=refined[0])
    d = g.defs["ZoneLayerComposite"]
    links = {"original": image, "canvas": sampler["canvas"], "final_mask": final[0]}
    if "refined_mask" in d.inputs:
        links["refined_mask"] = refined[0]
    comp = g.add("ZoneLayerComposite", (x + 1080, y + 260), _size(d), f"{t}6. Layer Composite", **links)
    if previews:
        py = y + 560
        g.add("PreviewImage", (x + 360, py), (300, 300), f"{t}Canvas (whole-image edit)", images=sampler["canvas"])
        g.add("PreviewImage", (x + 680, py), (300, 300), f"{t}Attention / coarse mask", images=coarse["preview"])
        g.add("PreviewImage", (x + 1000, py), (300, 300), f"{t}SAM segment", images=refined["preview"])
        g.add("PreviewImage", (x + 1320, py), (300, 300), f"{t}Final mask", images=final["preview"])
    g.add("SaveImage", (x + 1440, y), (360, 420), f"{t}Result", {"filename_prefix": save_prefix}, images=comp["image"])
    return comp


def links_action(action: Node):
    return action["action"] if "action" in action.d.output_names else action[0]


def _loaders(g: Graph, x: int, y: int, magicbrush: bool = True):
    ip2p = g.add("CheckpointLoaderSimple", (x, y), (320, 100), "InstructPix2Pix checkpoint", {"ckpt_name": IP2P_FILE})
    mb = None
    if magicbrush:
        mb = g.add("CheckpointLoaderSimple", (x, y + 140), (320, 100), "MagicBrush checkpoint (optional)",
                   {"ckpt_name": MAGICBRUSH_FILE})
    sam = g.add("ZoneSAMLoader", (x, y + 280), _size(g.defs["ZoneSAMLoader"]), "SAM loader", {"model_name": SAM_FILE})
    return ip2p, mb, sam


def local_edit(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam = _loaders(g, 40, 80)
    img = g.add("LoadImage", (40, 520), (320, 360), "Image to edit", {"image": EXAMPLE_IMAGE})
    g.note(MODELS_NOTE, (40, -150), (720, 170), "Which weights go where")
    g.note("ZONE edits only the region the instruction names: IP2P (+ MagicBrush) edits the whole image, its "
           "attention locates the edit, SAM snaps it to an object, and the edited layer is pasted onto the "
           "ORIGINAL, so every other pixel stays identical.", (800, -150), (720, 130), "How it works")
    _edit_chain(g, 400, 80, img[0], "make his tie blue", ip2p, mb, sam)
    g.group("Models", (20, 30, 360, 450), COLORS["models"])
    g.group("Input", (20, 480, 360, 420), COLORS["input"])
    g.group("ZONE local edit", (390, 30, 1870, 880), COLORS["edit"])
    return g


def multi_turn(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam = _loaders(g, 40, 80)
    img = g.add("LoadImage", (40, 520), (320, 360), "Image to edit", {"image": EXAMPLE_IMAGE})
    g.note(MODELS_NOTE + "\n\nEach turn edits the previous turn's result; untouched pixels stay identical to the "
           "original through every turn.", (40, -180), (720, 200), "Multi-turn editing")
    instructions = ["make his tie blue", "add sunglasses to him", "remove the flag"]
    current = img[0]
    for k, text in enumerate(instructions):
        y = 80 + k * 560
        comp = _edit_chain(g, 400, y, current, text, ip2p, mb, sam, title=f"Turn {k + 1}", previews=False,
                           save_prefix=f"ZONE/turn{k + 1}")
        g.group(f"Turn {k + 1}", (390, y - 50, 1870, 520), COLORS["edit"])
        current = comp["image"]
    g.group("Models", (20, 30, 360, 450), COLORS["models"])
    g.group("Input", (20, 480, 360, 420), COLORS["input"])
    return g


def mask_only(defs, display) -> Graph:
    g = Graph(defs, display)
    sam = g.add("ZoneSAMLoader", (40, 80), _size(defs["ZoneSAMLoader"]), "SAM loader", {"model_name": SAM_FILE})
    orig = g.add("LoadImage", (40, 260), (320, 360), "Original image", {"image": EXAMPLE_IMAGE})
    canvas = g.add("LoadImage", (40, 660), (320, 360), "Edited canvas (paint the mask here)", {"image": "canvas.png"})
    g.note("Post-processing only: bring a canvas from ANY editor (your own model, an online tool) and paint a rough "
           "mask over the edit on the **canvas** Load Image (right click > Open in MaskEditor). SAM snaps the mask "
           "to an object, the FFT smoother finds where canvas and original really differ, and the edit is "
           "composited onto the original. The canvas must have the original's size.\n\n"
           f"**models/sams/**: `{SAM_FILE}` (or vit_l / vit_b).", (40, -170), (720, 200), "ZONE post-processing")
    d = defs["ZoneSAMRegionIoU"]
    refined = g.add("ZoneSAMRegionIoU", (400, 80), _size(d), "4. SAM Region IoU", {"segment_on": "canvas"},
                    sam_model=sam[0], original=orig[0], canvas=canvas[0], coarse_mask=canvas["MASK"])
    final = g.add("ZoneFFTEdgeSmoother", (760, 80), _size(defs["ZoneFFTEdgeSmoother"]), "5. FFT Edge Smoother",
                  original=orig[0], canvas=canvas[0], refined_mask=refined[0])
    links = {"original": orig[0], "canvas": canvas[0], "final_mask": final[0]}
    if "refined_mask" in defs["ZoneLayerComposite"].inputs:
        links["refined_mask"] = refined[0]
    comp = g.add("ZoneLayerComposite", (760, 340), _size(defs["ZoneLayerComposite"]), "6. Layer Composite", **links)
    g.add("PreviewImage", (400, 620), (300, 300), "Painted mask", images=g.add(
        "MaskToImage", (400, 560), (220, 30), "Mask to image", mask=canvas["MASK"])[0])
    g.add("PreviewImage", (720, 620), (300, 300), "SAM segment", images=refined["preview"])
    g.add("PreviewImage", (1040, 620), (300, 300), "Final mask", images=final["preview"])
    g.add("SaveImage", (1120, 80), (360, 420), "Result", {"filename_prefix": "ZONE/post"}, images=comp["image"])
    g.group("Inputs", (20, 30, 360, 1010), COLORS["input"])
    g.group("ZONE post-processing", (390, 30, 1100, 900), COLORS["locate"])
    return g


GRAPHS = {"zone_local_edit": local_edit, "zone_multi_turn": multi_turn, "zone_mask_only": mask_only}


def main() -> None:
    defs, display = _defs_and_names()
    out = ROOT / "workflows"
    (out / "api").mkdir(parents=True, exist_ok=True)
    for name, build in GRAPHS.items():
        g = build(defs, display)
        (out / f"{name}.json").write_text(json.dumps(g.ui(), indent=1) + "\n")
        (out / "api" / f"{name}_api.json").write_text(json.dumps(g.api(), indent=1) + "\n")
        print(f"wrote workflows/{name}.json and workflows/api/{name}_api.json ({len(g.nodes)} nodes)")


if __name__ == "__main__":
    main()
