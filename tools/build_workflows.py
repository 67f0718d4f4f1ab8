"""Regenerate the shipped workflows from the node definitions: ``.venv/bin/python tools/build_workflows.py``.

Writes ``workflows/<card title>.json`` (UI format, drag-and-drop; listed by ComfyUI's template browser, which titles
the card with the file name: tests/test_workflows.py CARDS maps each graph's name to it) and
``workflows/api/<name>_api.json`` (API format for ``POST /prompt``; kept out of the template browser, which only
lists the top level). Widget values are the node defaults unless a graph below sets them, in the frontend's
order (seed inputs get a ``control_after_generate`` value, image loaders an upload value), so the files stay
valid when a node gains or reorders inputs: re-run this script and ``pytest tests/test_workflows.py``.
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402  (loads the pack as ComfyUI does, under the name comfyui_zone)
import render_graph  # noqa: E402  (tools/, next to this script)
from PIL import Image  # noqa: E402
from test_workflows import (  # noqa: E402
    BYPASS, CARDS, CORE_SNAPSHOT, MIN_SCALE, TITLE_H, VIEWPORTS, NodeDef, _core_defs, _pack_defs,
)

IP2P_FILE = "instruct-pix2pix-00-22000.safetensors"
MAGICBRUSH_FILE = "MagicBrush-epoch-52-step-4999.ckpt"
SAM_FILE = "sam_vit_h_4b8939.pth"
EXAMPLE_IMAGE = "example.png"
QWEN_UNET = "qwen_image_edit_fp8_e4m3fn.safetensors"
QWEN_CLIP = "qwen_2.5_vl_7b_fp8_scaled.safetensors"
QWEN_VAE = "qwen_image_vae.safetensors"
_QWEN_HF = "https://huggingface.co/Comfy-Org"
MODEL_LINKS = {  # shown by the frontend's "missing models" dialog: file -> (url, models folder)
    IP2P_FILE: ("https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/instruct-pix2pix-00-22000.safetensors",
                "checkpoints"),
    MAGICBRUSH_FILE: ("https://huggingface.co/osunlp/InstructPix2Pix-MagicBrush/resolve/main/"
                      "MagicBrush-epoch-52-step-4999.ckpt", "checkpoints"),
    QWEN_UNET: (f"{_QWEN_HF}/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/diffusion_models/{QWEN_UNET}",
                "diffusion_models"),
    QWEN_CLIP: (f"{_QWEN_HF}/Qwen-Image_ComfyUI/resolve/main/split_files/text_encoders/{QWEN_CLIP}", "text_encoders"),
    QWEN_VAE: (f"{_QWEN_HF}/Qwen-Image_ComfyUI/resolve/main/split_files/vae/{QWEN_VAE}", "vae"),
}
# FLUX.1 Kontext [dev] and Qwen-Image-Edit-2509: the files and links of ComfyUI's own templates
# (comfyui-workflow-templates: flux_kontext_dev_basic.json, image_qwen_image_edit_2509.json).
KONTEXT_UNET = "flux1-dev-kontext_fp8_scaled.safetensors"
FLUX_CLIP_L = "clip_l.safetensors"
FLUX_T5 = "t5xxl_fp8_e4m3fn_scaled.safetensors"
FLUX_VAE = "ae.safetensors"
QWEN_2509_UNET = "qwen_image_edit_2509_fp8_e4m3fn.safetensors"
MODEL_LINKS.update({
    KONTEXT_UNET: (f"{_QWEN_HF}/flux1-kontext-dev_ComfyUI/resolve/main/split_files/diffusion_models/{KONTEXT_UNET}",
                   "diffusion_models"),
    FLUX_CLIP_L: (f"https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/{FLUX_CLIP_L}",
                  "text_encoders"),
    FLUX_T5: (f"https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/{FLUX_T5}", "text_encoders"),
    FLUX_VAE: (f"{_QWEN_HF}/Lumina_Image_2.0_Repackaged/resolve/main/split_files/vae/{FLUX_VAE}", "vae"),
    QWEN_2509_UNET: (f"{_QWEN_HF}/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/diffusion_models/{QWEN_2509_UNET}",
                     "diffusion_models"),
})
MODEL_WIDGETS = ("ckpt_name", "unet_name", "clip_name", "clip_name1", "clip_name2", "vae_name")
SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth"  # segment-anything's README
DOWNLOADABLE = (".safetensors", ".sft")  # the frontend's missing-models dialog refuses other suffixes (.ckpt)
VIEW_MARGIN = 12  # screen pixels around what the view shows
COLORS = {"models": "#3f789e", "edit": "#8A8", "locate": "#b58b2a", "result": "#a1309b", "input": "#88A"}


class Node:
    def __init__(self, graph: "Graph", nid: int, kind: str, d: NodeDef | None, pos, size, title, widgets) -> None:
        self.graph, self.id, self.type, self.d = graph, nid, kind, d
        self.pos, self.size, self.title = list(pos), list(size), title
        self.widgets = dict(widgets)
        self.inputs: dict[str, tuple["Node", int]] = {}
        self.properties: dict = {}
        self.mode = 0  # BYPASS: shipped off, Ctrl+B turns it on (a loader that feeds optional inputs only)

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
        self.uuid = ""  # set by main(): a fixed uuid per workflow name (the frontend wants a uuid or nothing)
        self.nodes: list[Node] = []
        self.notes: list[dict] = []
        self.groups: list[dict] = []
        self.shown: list[Node | dict] = []  # what the saved view must show on open (see ``view``)
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
        for widget in MODEL_WIDGETS:
            name = node.widgets.get(widget)
            if name in MODEL_LINKS and name.endswith(DOWNLOADABLE):
                url, directory = MODEL_LINKS[name]
                node.properties.setdefault("models", []).append({"name": name, "url": url, "directory": directory})
        self.nodes.append(node)
        return node

    def note(self, text: str, pos, size=(320, 120), title: str = "Note") -> None:
        """A Markdown note (always in the saved view)."""
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
                     "mode": n.mode, "inputs": inputs, "outputs": [],
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
        return {"id": self.uuid, "revision": 0, "last_node_id": self._id, "last_link_id": link_id,
                "nodes": nodes + self.notes, "links": links, "groups": self.groups, "config": {},
                "extra": {"ds": self.view()}, "version": 0.4}

    def view(self) -> dict:
        """The saved view (``extra.ds``: canvas pixel = (graph position + offset) * scale): the notes and the nodes in
        ``shown`` (inputs, result) fill the smallest canvas of VIEWPORTS from its top left, at the largest zoom <= 1
        that fits. Raises if that zoom would hide the text. tests/test_workflows.py checks the minimap corner."""
        boxes = [(b["pos"], b["size"]) if isinstance(b, dict) else (b.pos, b.size) for b in self.notes + self.shown]
        x0 = min(p[0] for p, _ in boxes)
        y0 = min(p[1] - TITLE_H for p, _ in boxes)
        x1 = max(p[0] + s[0] for p, s in boxes)
        y1 = max(p[1] + s[1] for p, s in boxes)
        top = max(t for _, _, t in VIEWPORTS.values())
        width, height = min(w for w, _, _ in VIEWPORTS.values()), min(h - t for _, h, t in VIEWPORTS.values())
        scale = min(1.0, (width - 2 * VIEW_MARGIN) / (x1 - x0), (height - 2 * VIEW_MARGIN) / (y1 - y0))
        if scale < MIN_SCALE:
            raise ValueError(f"the notes, inputs and result span {x1 - x0}x{y1 - y0}: zoom {scale:.3f} < {MIN_SCALE:.3f}")
        scale = math.floor(scale * 1000) / 1000
        return {"scale": scale, "offset": [VIEW_MARGIN / scale - x0, (top + VIEW_MARGIN) / scale - y0]}

    def api(self) -> dict:
        out = {}
        for n in self.nodes:
            if n.mode == BYPASS:  # the frontend queues the graph without it (and without the links from it)
                assert not n.inputs, f"{n.title}: a bypassed node with inputs would pass them through"
                continue
            inputs = {}
            values = self._widget_values(n)[1]
            for name in n.d.inputs:
                if name in n.inputs and n.inputs[name][0].mode == BYPASS:
                    continue
                if name in n.inputs:
                    src, slot = n.inputs[name]
                    inputs[name] = [str(src.id), slot]
                elif name in values:
                    inputs[name] = values[name]
            out[str(n.id)] = {"inputs": inputs, "class_type": n.type,
                              "_meta": {"title": n.title or self.display.get(n.type, n.type)}}
        return out


def _size(d: NodeDef, extra_h: int = 0, w: int = 320) -> tuple[int, int]:
    """Roughly the frontend's size for a node (it grows a node that is too small for its widgets)."""
    slots = max(len([i for i in d.inputs.values() if not i.widget]), len(d.outputs))
    widgets = sum(3 if i.opts.get("multiline") else 1 for i in d.widgets) + sum(i.control for i in d.widgets)
    return w, 30 + 22 * slots + 26 * widgets + extra_h


class Column:
    """Stacks nodes top to bottom at one x (title bar 30 px + a 30 px gap between nodes)."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __call__(self, size) -> tuple[int, int]:
        pos = (self.x, self.y)
        self.y += size[1] + 60
        return pos


def _bottom(nodes: list[Node]) -> int:
    return max(n.pos[1] + n.size[1] for n in nodes)


def _group_around(g: Graph, title: str, nodes: list[Node], color: str) -> None:
    x0 = min(n.pos[0] for n in nodes) - 20
    y0 = min(n.pos[1] for n in nodes) - 80
    x1 = max(n.pos[0] + n.size[0] for n in nodes) + 20
    g.group(title, (x0, y0, x1 - x0, _bottom(nodes) + 20 - y0), color)


def _defs_and_names() -> tuple[dict[str, NodeDef], dict[str, str]]:
    pack = conftest.load_pack()
    core = json.loads(CORE_SNAPSHOT.read_text())["nodes"]
    display = {k: v["display_name"] for k, v in core.items()}
    display.update(pack.NODE_DISPLAY_NAME_MAPPINGS)
    return {**_core_defs(), **_pack_defs()}, display


# ------------------------------------------------------------------------------------------------ the graphs
def _fetch(file: str, folder: str, url: str, what: str) -> str:
    """A note line announcing a model file the missing-models dialog cannot offer (file, folder, source)."""
    return f"- **{what}**: `{file}` into **models/{folder}/**, from {url}\n"


SAM_LINE = _fetch(SAM_FILE, "sams", SAM_URL, "SAM") + "  (or `sam_vit_l_0b3195.pth` / `sam_vit_b_01ec64.pth`: pick it in *SAM loader*)\n"
MAGICBRUSH_LINE = _fetch(MAGICBRUSH_FILE, "checkpoints", MODEL_LINKS[MAGICBRUSH_FILE][0], "MagicBrush, optional")
MODELS_NOTE = (
    "## Models: what to fetch (nothing is downloaded for you)\n"
    f"- **InstructPix2Pix**: `{IP2P_FILE}` into **models/checkpoints/** (the missing-models dialog on open offers "
    "it; source: timbrooks/instruct-pix2pix on Hugging Face)\n"
    + SAM_LINE + MAGICBRUSH_LINE +
    "\nThe workflow runs with IP2P + SAM. **MagicBrush is shipped off** (the purple node): to fuse it in as in the "
    "paper, click the *MagicBrush* node and press **Ctrl+B**. Press **r** after copying files."
)
STEP = 340  # column pitch (nodes are 320 wide)
RESULT_SIZE = (320, 360)  # the SaveImage node
IMAGE_SIZE = (320, 300)  # a Load Image node


def _of_type(nodes: list[Node], *kinds: str) -> list[Node]:
    return [n for n in nodes if n.type in kinds]


def _action_out(action: Node):
    return action["action"] if "action" in action.d.output_names else action[0]


def _placer(g: Graph, placed: list[Node], prefix: str = ""):
    """``add(kind, column, size, title, widgets=None, **links)``: ``g.add`` at the column's next position, the node
    recorded in ``placed``. With a ``prefix`` ("Turn 2") titles read "Turn 2: Action Classifier", not
    "1. Action Classifier". ``column`` is a Column or any callable size -> (x, y)."""

    def add(kind, column, size, title, widgets=None, **links):
        if prefix:
            title = f"{prefix}: {title.split('. ', 1)[-1]}"
        node = g.add(kind, column(size), size, title, widgets, **links)
        placed.append(node)
        return node

    return add


def _edit_chain(g: Graph, x: int, y: int, image, instruction_text: str, ip2p, magicbrush, sam, title: str = "",
                previews: bool = True, save_prefix: str = "ZONE/edit", ip2p_model=None) -> tuple[Node, list[Node]]:
    """Instruction -> ActionClassifier -> FusedIP2PSampler -> AttentionToMask -> SAMRegionIoU -> FFTEdgeSmoother ->
    LayerComposite -> SaveImage, in columns from ``(x, y)``; returns the composite node and all nodes placed.
    The text previews (label, attention note, SAM choice) are always there; ``previews`` adds the image ones.
    With a ``title`` ("Turn 2") node titles read "Turn 2: Action Classifier" instead of "1. Action Classifier".
    ``ip2p_model``: the sampler's MODEL when not the checkpoint's own (e.g. a ZONE Latent Lock's output)."""
    defs = g.defs
    placed: list[Node] = []

    add = _placer(g, placed, title)

    a, b, c, d_, e = (Column(x + k * STEP, y) for k in range(5))
    text = add("PrimitiveStringMultiline", a, (320, 130), "Instruction", {"value": instruction_text})
    action = None
    if "ZoneActionClassifier" in defs:
        d = defs["ZoneActionClassifier"]
        links = {"instruction": text[0]}
        if "clip" in d.inputs:
            links["clip"] = ip2p["CLIP"]
        action = add("ZoneActionClassifier", a, _size(d), "1. Action Classifier", **links)
        if "label" in action.d.output_names:
            add("PreviewAny", a, (320, 100), "Action label", source=action["label"])
    d = defs["ZoneFusedIP2PSampler"]
    links = {"ip2p_model": ip2p_model or ip2p["MODEL"], "clip": ip2p["CLIP"], "vae": ip2p["VAE"], "image": image,
             "instruction": text[0]}
    if magicbrush is not None:
        links["magicbrush_model"] = magicbrush["MODEL"]
    if action is not None and "action" in d.inputs:
        links["action"] = _action_out(action)
    sampler = add("ZoneFusedIP2PSampler", b, _size(d), "2. Fused IP2P Sampler", **links)
    d = defs["ZoneAttentionToMask"]
    links = {"attention": sampler["attention"]}
    if "image" in d.inputs:
        links["image"] = image
    coarse = add("ZoneAttentionToMask", c, _size(d), "3. Attention To Mask", **links)
    if "note" in coarse.d.output_names:  # empty unless the mask fell back: then it says why
        add("PreviewAny", c, (320, 100), "Attention note", source=coarse["note"])
    d = defs["ZoneSAMRegionIoU"]
    links = {"sam_model": sam[0], "original": image, "canvas": sampler["canvas"], "coarse_mask": coarse[0]}
    if action is not None and "action" in d.inputs:
        links["action"] = _action_out(action)
    refined = add("ZoneSAMRegionIoU", c, _size(d), "4. SAM Region IoU", **links)
    final = add("ZoneFFTEdgeSmoother", d_, _size(defs["ZoneFFTEdgeSmoother"]), "5. FFT Edge Smoother",
                original=image, canvas=sampler["canvas"], refined_mask=refined[0])
    links = {"original": image, "canvas": sampler["canvas"], "final_mask": final[0]}
    if "refined_mask" in defs["ZoneLayerComposite"].inputs:
        links["refined_mask"] = refined[0]
    comp = add("ZoneLayerComposite", d_, _size(defs["ZoneLayerComposite"]), "6. Layer Composite", **links)
    add("PreviewAny", d_, (320, 120), "SAM choice", source=refined[2])
    add("SaveImage", e, RESULT_SIZE, "Result", {"filename_prefix": save_prefix}, images=comp["image"])
    if previews:
        layer = comp["layer"] if "layer" in comp.d.output_names else comp["preview"]
        _preview_row(add, x, _bottom(placed) + 60, [
            ("Canvas (whole-image edit)", sampler["canvas"]), ("Attention / coarse mask", coarse["preview"]),
            ("SAM segment", refined["preview"]), ("Final mask", final["preview"]), ("Layer (the edit alone)", layer)])
    return comp, placed


def _preview_row(add, x: int, y: int, items: list[tuple[str, tuple[Node, int]]]) -> None:
    """One PreviewImage per (title, source) in a row from ``(x, y)``, one column pitch apart, placed with the
    ``add`` of ``_placer``."""
    for k, (label, src) in enumerate(items):
        add("PreviewImage", (lambda size, k=k: (x + k * STEP, y)), (320, 300), label, images=src)


def _loaders(g: Graph, x: int, y: int, magicbrush: bool = True) -> tuple[Node, Node | None, Node, Node]:
    """The model loaders (group "Models") and the image to edit (group "Input"), stacked at ``x``."""
    col = Column(x, y)
    ip2p = g.add("CheckpointLoaderSimple", col((320, 100)), (320, 100), "InstructPix2Pix checkpoint",
                 {"ckpt_name": IP2P_FILE})
    mb = None
    if magicbrush:
        mb = g.add("CheckpointLoaderSimple", col((320, 100)), (320, 100), "MagicBrush (optional: Ctrl+B turns it on)",
                   {"ckpt_name": MAGICBRUSH_FILE})
        mb.mode = BYPASS  # the workflow runs with IP2P + SAM alone; the note says how to add MagicBrush
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    g.group("Models", (x - 20, y - 80, 360, col.y - y + 40), COLORS["models"])
    img = g.add("LoadImage", (x, col.y + 80), IMAGE_SIZE, "Image to edit", {"image": EXAMPLE_IMAGE})
    g.group("Input", (x - 20, col.y, 360, IMAGE_SIZE[1] + 100), COLORS["input"])
    return ip2p, mb, sam, img


def local_edit(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam, img = _loaders(g, 40, 80)
    g.note(MODELS_NOTE, (40, -200), (1000, 150), "Which weights go where")
    g.note("ZONE edits only the region the instruction names: IP2P (+ MagicBrush) edits the whole image, its "
           "attention locates the edit, SAM snaps it to an object, and the edited layer is pasted onto the "
           "ORIGINAL, so every other pixel stays identical. The previews below show each stage.",
           (1080, -200), (640, 150), "How it works")
    _, placed = _edit_chain(g, 400, 80, img[0], "make his tie blue", ip2p, mb, sam)
    _group_around(g, "ZONE local edit", placed, COLORS["edit"])
    g.shown = [ip2p, mb, sam, img] + _of_type(placed, "PrimitiveStringMultiline", "SaveImage")
    return g


def multi_turn(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam, img = _loaders(g, 40, 80)
    g.note(MODELS_NOTE + "\n\nEach turn edits the previous turn's result; pixels no turn touches stay identical "
           "to the original; scroll down for turns 2 and 3.", (40, -200), (1200, 150), "Multi-turn editing")
    current, y = img[0], 80
    for k, text in enumerate(["make his tie blue", "add sunglasses to him", "remove the flag"]):
        comp, placed = _edit_chain(g, 400, y, current, text, ip2p, mb, sam, title=f"Turn {k + 1}", previews=False,
                                   save_prefix=f"ZONE/turn{k + 1}")
        if k == 0:  # the view shows turn 1; turns 2 and 3 are below
            g.shown = [ip2p, mb, sam, img] + _of_type(placed, "PrimitiveStringMultiline", "SaveImage")
        _group_around(g, f"Turn {k + 1}: {text}", placed, COLORS["edit"])
        current, y = comp["image"], _bottom(placed) + 140
    return g


def _pair_inputs(g: Graph, edited_title: str) -> tuple[Node, Node, Node]:
    """SAM loader, the original and the edited image stacked at x = 40 in an "Inputs" group."""
    col = Column(40, 80)
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    orig = g.add("LoadImage", col(IMAGE_SIZE), IMAGE_SIZE, "Original image", {"image": EXAMPLE_IMAGE})
    # example.png ships with ComfyUI (input/), so nothing is missing on load; the user picks the edited image here.
    edited = g.add("LoadImage", col(IMAGE_SIZE), IMAGE_SIZE, edited_title, {"image": EXAMPLE_IMAGE})
    g.group("Inputs", (20, 0, 360, col.y - 40), COLORS["input"])
    return sam, orig, edited


def mask_only(defs, display) -> Graph:
    g = Graph(defs, display)
    sam, orig, canvas = _pair_inputs(g, "Edited canvas (paint the mask here)")
    g.note("Post-processing only: bring a canvas from ANY editor (your own model, an online tool). Both loaders start "
           "on ComfyUI's `example.png`: choose your original in the first, the edited canvas in the second, and "
           "paint a rough mask over the edit on the **canvas** Load Image (right click > Open in MaskEditor). SAM snaps the mask "
           "to an object, the FFT smoother finds where canvas and original really differ, and the edit is "
           "composited onto the original. The canvas must have the original's size.\n\n"
           "\n\n## Model\n" + SAM_LINE, (40, -250), (1000, 180), "ZONE post-processing")
    b, c, d_ = Column(40 + STEP, 80), Column(40 + 2 * STEP, 80), Column(40 + 3 * STEP, 80)
    placed = []

    add = _placer(g, placed)

    refined = add("ZoneSAMRegionIoU", b, _size(defs["ZoneSAMRegionIoU"]), "4. SAM Region IoU", {"segment_on": "canvas"},
                  sam_model=sam[0], original=orig[0], canvas=canvas[0], coarse_mask=canvas["MASK"])
    as_image = add("MaskToImage", b, (320, 30), "Mask to image", mask=canvas["MASK"])
    final = add("ZoneFFTEdgeSmoother", c, _size(defs["ZoneFFTEdgeSmoother"]), "5. FFT Edge Smoother",
                original=orig[0], canvas=canvas[0], refined_mask=refined[0])
    links = {"original": orig[0], "canvas": canvas[0], "final_mask": final[0]}
    if "refined_mask" in defs["ZoneLayerComposite"].inputs:
        links["refined_mask"] = refined[0]
    comp = add("ZoneLayerComposite", c, _size(defs["ZoneLayerComposite"]), "6. Layer Composite", **links)
    add("PreviewAny", c, (320, 120), "SAM choice", source=refined[2])
    add("SaveImage", d_, RESULT_SIZE, "Result", {"filename_prefix": "ZONE/post"}, images=comp["image"])
    _preview_row(add, 40 + STEP, _bottom(placed) + 60, [
        ("Painted mask", as_image[0]), ("SAM segment", refined["preview"]), ("Final mask", final["preview"])])
    _group_around(g, "ZONE post-processing", placed, COLORS["locate"])
    g.shown = [sam, orig, canvas] + _of_type(placed, "SaveImage")
    return g


ANY_EDITOR_NOTE = (
    "## Connect any editor here\n"
    "ZONE makes the output of ANY editor local (Qwen-Image-Edit, FLUX Kontext, Step1X-Edit, OmniGen2, an online "
    "tool): wire the editor's output IMAGE (its VAE Decode, or a Load Image of a file it saved) to **Align Edit > "
    "edited**, and the picture you gave the editor to **original** (all nodes that take `original`). The edit may "
    "have another size or aspect, a slight zoom or shift and a colour cast: Align Edit undoes the geometry, "
    "Difference To Mask finds what changed beyond the colour drift, SAM snaps it to an object and the edit is "
    "pasted onto the ORIGINAL, so every other pixel stays identical.\n\n## Model\n" + SAM_LINE
)


def _localize_chain(g: Graph, x: int, y: int, original, edited, sam, save_prefix: str = "ZONE/any_editor",
                    save_at: tuple[int, int] | None = None) -> list[Node]:
    """Align Edit -> Difference To Mask -> SAM Region IoU -> FFT Edge Smoother -> Layer Composite -> Save, with a
    preview of every stage, in columns from ``(x, y)`` (the Save node at ``save_at`` if given, else in a fourth
    column); returns the nodes placed."""
    defs = g.defs
    placed: list[Node] = []

    add = _placer(g, placed)

    a, b, c, d_ = (Column(x + k * STEP, y) for k in range(4))
    align = add("ZoneAlignEdit", a, _size(defs["ZoneAlignEdit"]), "Align Edit", original=original, edited=edited)
    add("PreviewAny", a, (320, 140), "Alignment report", source=align["report"])
    coarse = add("ZoneEditToMask", b, _size(defs["ZoneEditToMask"]), "Difference To Mask", original=original,
                 edited=align["aligned"], valid_mask=align["valid_mask"])
    links = {"sam_model": sam[0], "original": original, "canvas": align["aligned"], "coarse_mask": coarse["coarse_mask"]}
    if "changed_mask" in defs["ZoneSAMRegionIoU"].inputs:  # rule evidence: the difference mask is the change map
        links["changed_mask"] = coarse["coarse_mask"]
    refined = add("ZoneSAMRegionIoU", b, _size(defs["ZoneSAMRegionIoU"]), "4. SAM Region IoU", **links)
    final = add("ZoneFFTEdgeSmoother", c, _size(defs["ZoneFFTEdgeSmoother"]), "5. FFT Edge Smoother",
                original=original, canvas=align["aligned"], refined_mask=refined[0])
    comp = add("ZoneLayerComposite", c, _size(defs["ZoneLayerComposite"]), "6. Layer Composite", original=original,
               canvas=align["aligned"], final_mask=final[0], refined_mask=refined[0])
    add("PreviewAny", c, (320, 120), "SAM choice", source=refined[2])
    add("SaveImage", (lambda size: save_at) if save_at else d_, RESULT_SIZE, "Result",
        {"filename_prefix": save_prefix}, images=comp["image"])
    _preview_row(add, x, _bottom(placed[:-1] if save_at else placed) + 60, [
        ("Aligned edit", align["aligned"]), ("Difference mask", coarse["preview"]), ("SAM segment", refined["preview"]),
        ("Final mask", final["preview"]), ("Layer (the edit alone)", comp["layer"])])
    return placed


def any_editor(defs, display) -> Graph:
    g = Graph(defs, display)
    sam, orig, edited = _pair_inputs(g, "Edited image (any editor's output)")
    g.note(ANY_EDITOR_NOTE, (40, -250), (1200, 180), "Use ZONE with any editor")
    placed = _localize_chain(g, 40 + STEP, 80, orig[0], edited[0], sam)
    _group_around(g, "ZONE localization", placed, COLORS["locate"])
    g.shown = [sam, orig, edited] + _of_type(placed, "SaveImage")
    return g


QWEN_NOTE = (
    "## Qwen-Image-Edit (ComfyUI core nodes), made local by ZONE\n"
    "The left part is ComfyUI's own Qwen-Image-Edit graph: it edits the WHOLE picture at ~1 MP and shifts, "
    "zooms and recolours what it should keep. The right part (ZONE) aligns its output to your original, finds "
    "the edit, snaps it to a SAM segment and pastes only that onto the original at full resolution.\n\n"
    f"- **models/diffusion_models/**: `{QWEN_UNET}`\n- **models/text_encoders/**: `{QWEN_CLIP}`\n"
    f"- **models/vae/**: `{QWEN_VAE}`\n(the missing-models dialog on open offers these three)\n" + SAM_LINE + "\n"
    "KSampler: 20 steps, cfg 2.5 (fp8 model); a 4-step Lightning LoRA needs 4 steps, cfg 1.0."
)


def qwen_image_edit(defs, display) -> Graph:
    """Row 1: the models, the image, ComfyUI's Qwen-Image-Edit graph, its output and (top right) ZONE's result; row 2:
    ZONE's localization chain, which feeds that result."""
    g = Graph(defs, display)
    col = Column(40, 80)
    unet = g.add("UNETLoader", col((320, 100)), (320, 100), "Qwen-Image-Edit model", {"unet_name": QWEN_UNET})
    clip = g.add("CLIPLoader", col((320, 130)), (320, 130), "Qwen2.5-VL text encoder",
                 {"clip_name": QWEN_CLIP, "type": "qwen_image"})
    vae = g.add("VAELoader", col((320, 60)), (320, 60), "Qwen-Image VAE", {"vae_name": QWEN_VAE})
    size = _size(defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    g.group("Models", (20, 0, 360, col.y - 40), COLORS["models"])
    img = g.add("LoadImage", (40 + STEP, 80), IMAGE_SIZE, "Image to edit", {"image": EXAMPLE_IMAGE})
    g.group("Input", (20 + STEP, 0, 360, IMAGE_SIZE[1] + 100), COLORS["input"])
    g.note(QWEN_NOTE, (40, -310), (900, 240), "Qwen-Image-Edit + ZONE")
    g.note(ANY_EDITOR_NOTE, (980, -310), (720, 240), "Any other editor")
    placed: list[Node] = []

    add = _placer(g, placed)

    c, d_, e = Column(40 + 2 * STEP, 80), Column(40 + 3 * STEP, 80), Column(40 + 4 * STEP, 80)
    positive = add("TextEncodeQwenImageEdit", c, (320, 160), "Instruction", {"prompt": "make his tie blue"})
    negative = add("TextEncodeQwenImageEdit", c, (320, 160), "Negative (empty)", {"prompt": ""})
    scaled = add("ImageScaleToTotalPixels", c, (320, 90), "Scale to 1 MP",
                 {"upscale_method": "lanczos", "megapixels": 1.0}, image=img[0])
    latent = add("VAEEncode", c, (320, 50), "VAE Encode", pixels=scaled[0], vae=vae[0])
    for encoder in (positive, negative):
        encoder.inputs.update(clip=clip[0], vae=vae[0], image=scaled[0])
    shifted = add("ModelSamplingAuraFlow", d_, (320, 60), "ModelSamplingAuraFlow", {"shift": 3.0}, model=unet[0])
    normed = add("CFGNorm", d_, (320, 60), "CFGNorm", {"strength": 1.0}, model=shifted[0])
    sampled = add("KSampler", d_, (320, 270), "KSampler",
                  {"seed": 0, "steps": 20, "cfg": 2.5, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0},
                  model=normed[0], positive=positive[0], negative=negative[0], latent_image=latent[0])
    decoded = add("VAEDecode", e, (320, 50), "VAE Decode", samples=sampled[0], vae=vae[0])
    add("PreviewImage", e, (320, 300), "Qwen output (whole picture edited)", images=decoded[0])
    _group_around(g, "Qwen-Image-Edit (ComfyUI core)", placed, COLORS["edit"])
    result_at = (40 + 5 * STEP, 80)
    zone = _localize_chain(g, 40 + 2 * STEP, _bottom(placed) + 140, img[0], decoded[0], sam,
                           save_prefix="ZONE/qwen_local", save_at=result_at)
    result = _of_type(zone, "SaveImage")
    result[0].size = [RESULT_SIZE[0], 280]  # clear of the minimap at 1280x800
    _group_around(g, "ZONE localization (its result: top right)", [n for n in zone if n not in result],
                  COLORS["locate"])
    _group_around(g, "ZONE result", result, COLORS["result"])
    g.shown = [unet, clip, vae, sam, img, positive] + result
    return g


# ------------------------------------------------------------------ every popular editor, one graph each
FULL_RES_NOTE = (
    "ZONE finds the edit at the editor's own ~1 MP scale (alignment with a tolerance in editor px, a smooth field "
    "for its uneven shift, a capped residual flow), then pastes only the edited object onto your ORIGINAL at its "
    "full resolution: every other pixel stays bit-identical. If the editor restyled the whole scene, nothing is "
    "pasted and the Alignment report / console says so."
)


def _editor_then_zone(g: Graph, loaders: list[tuple[str, tuple[int, int], str, dict]], build, output_title: str,
                      save_prefix: str, note: str, note_title: str) -> Graph:
    """The layout of ``qwen_image_edit``: row 1 the models (``loaders`` + SAM), the image to edit, the editor's
    nodes placed by ``build(add, columns, loaded, image)`` (columns b, c, d; returns its output IMAGE), a preview of
    that output and (top right) ZONE's result; row 2 ZONE's localization with every stage's preview. The notes name
    the weights; the saved view shows notes, inputs and the result."""
    col = Column(40, 80)
    loaded = [g.add(kind, col(size), size, title, widgets) for kind, size, title, widgets in loaders]
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    g.group("Models", (20, 0, 360, col.y - 40), COLORS["models"])
    img = g.add("LoadImage", (40 + STEP, 80), IMAGE_SIZE, "Image to edit (your full-resolution photo)",
                {"image": EXAMPLE_IMAGE})
    g.group("Input", (20 + STEP, 0, 360, IMAGE_SIZE[1] + 100), COLORS["input"])
    g.note(note, (40, -310), (900, 240), note_title)
    g.note(ANY_EDITOR_NOTE, (980, -310), (720, 240), "Any other editor")
    placed: list[Node] = []
    add = _placer(g, placed)
    columns = [Column(40 + k * STEP, 80) for k in (2, 3, 4)]
    edited = build(add, columns, loaded, img)
    add("PreviewImage", columns[2], (320, 300), output_title, images=edited)
    _group_around(g, note_title.split(" + ")[0], placed, COLORS["edit"])
    zone = _localize_chain(g, 40 + 2 * STEP, _bottom(placed) + 140, img[0], edited, sam, save_prefix=save_prefix,
                           save_at=(40 + 5 * STEP, 80))
    result = _of_type(zone, "SaveImage")
    result[0].size = [RESULT_SIZE[0], 280]  # clear of the minimap at 1280x800
    _group_around(g, "ZONE localization (full resolution; its result: top right)",
                  [n for n in zone if n not in result], COLORS["locate"])
    _group_around(g, "ZONE result", result, COLORS["result"])
    g.shown = loaded + [sam, img] + _of_type(placed, "CLIPTextEncode", "TextEncodeQwenImageEditPlus")[:1] + result
    return g


def _sample_and_decode(add, c, d_, model, positive, negative, latent, vae, cfg: float):
    """KSampler (20 steps, euler / simple, the templates' settings) in column ``c``, VAE Decode in ``d_``; returns
    the decoded IMAGE output."""
    sampled = add("KSampler", c, (320, 270), "KSampler",
                  {"seed": 0, "steps": 20, "cfg": cfg, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0},
                  model=model, positive=positive, negative=negative, latent_image=latent)
    return add("VAEDecode", d_, (320, 50), "VAE Decode", samples=sampled[0], vae=vae)[0]


KONTEXT_NOTE = (
    "## FLUX.1 Kontext [dev] (ComfyUI core nodes), made local by ZONE\n"
    "ComfyUI's own Kontext graph (FluxKontextImageScale picks Kontext's ~1 MP resolution, ReferenceLatent gives "
    "it your picture) edits the WHOLE picture and drifts. " + FULL_RES_NOTE + "\n\n"
    f"- **models/diffusion_models/**: `{KONTEXT_UNET}` (Comfy-Org/flux1-kontext-dev_ComfyUI)\n"
    f"- **models/text_encoders/**: `{FLUX_CLIP_L}` and `{FLUX_T5}` (comfyanonymous/flux_text_encoders)\n"
    f"- **models/vae/**: `{FLUX_VAE}` (Comfy-Org/Lumina_Image_2.0_Repackaged)\n"
    f"- **models/sams/**: `{SAM_FILE}` (or vit_l / vit_b)\n\n"
    "KSampler: 20 steps, cfg 1.0, guidance 2.5 (ComfyUI's template). Links: the loaders' missing-model dialog."
)


def flux_kontext(defs, display, lock: bool = False) -> Graph:
    """FLUX.1 Kontext [dev] from core nodes (ComfyUI's template: FluxKontextImageScale, ReferenceLatent,
    FluxGuidance, ConditioningZeroOut) -> ZONE. ``lock``: the Kontext MODEL goes through ZONE Latent Lock (region
    found while sampling; the KSampler's latent is the encode of the picture, so the lock needs no other input)."""
    loaders = [("UNETLoader", (320, 100), "FLUX.1 Kontext [dev] model", {"unet_name": KONTEXT_UNET}),
               ("DualCLIPLoader", (320, 130), "CLIP-L + T5-XXL text encoders",
                {"clip_name1": FLUX_CLIP_L, "clip_name2": FLUX_T5, "type": "flux"}),
               ("VAELoader", (320, 60), "FLUX VAE", {"vae_name": FLUX_VAE})]

    def build(add, cols, loaded, img):
        unet, clip, vae = loaded
        b, c, d_ = cols
        scaled = add("FluxKontextImageScale", b, (320, 50), "Kontext resolution (~1 MP)", image=img[0])
        latent = add("VAEEncode", b, (320, 50), "VAE Encode", pixels=scaled[0], vae=vae[0])
        text = add("CLIPTextEncode", b, (320, 160), "Instruction", {"text": "make his tie blue"}, clip=clip[0])
        ref = add("ReferenceLatent", c, (320, 50), "ReferenceLatent (your picture)", conditioning=text[0],
                  latent=latent[0])
        guided = add("FluxGuidance", c, (320, 60), "FluxGuidance", {"guidance": 2.5}, conditioning=ref[0])
        negative = add("ConditioningZeroOut", c, (320, 50), "Negative (zero)", conditioning=text[0])
        model = unet[0]
        if lock:
            model = add("ZoneLatentLock", b, _size(defs["ZoneLatentLock"]), "Latent Lock",
                        {"region": "find while sampling"}, model=unet[0])[0]
        return _sample_and_decode(add, c, d_, model, guided[0], negative[0], latent[0], vae[0], cfg=1.0)

    if lock:
        return _editor_then_zone(Graph(defs, display), loaders, build, "Kontext output (locked outside the edit)",
                                 "ZONE/kontext_lock", KONTEXT_NOTE + "\n\n" + LOCK_NOTE,
                                 "FLUX.1 Kontext [dev] + ZONE latent lock")
    return _editor_then_zone(Graph(defs, display), loaders, build, "Kontext output (whole picture edited)",
                             "ZONE/kontext_local", KONTEXT_NOTE, "FLUX.1 Kontext [dev] + ZONE")


def flux_kontext_lock(defs, display) -> Graph:
    """``flux_kontext`` with ZONE Latent Lock on the Kontext MODEL."""
    return flux_kontext(defs, display, lock=True)


LOCK_NOTE = (
    "## Latent lock: the edit is generated in the TRUE context\n"
    "**ZONE Latent Lock** patches the model: after `find_at` of the steps it measures where the model's own "
    "prediction differs from the original (beyond a global colour drift) and from then on keeps everything else on "
    "the ORIGINAL's trajectory (the original at the current noise level), so the edit is generated against the real "
    "surroundings, not against the editor's drifted copy of them. ZONE's stages then paste the edit onto the "
    "original as usual: lock + paste. With a painted mask: connect it to the lock's `mask` and set `region` to "
    "*mask*."
)


def local_edit_lock(defs, display) -> Graph:
    """zone_local_edit with the IP2P MODEL locked outside the edit while sampling (region found while sampling)."""
    g = Graph(defs, display)
    ip2p, mb, sam, img = _loaders(g, 40, 80)
    g.note(MODELS_NOTE, (40, -200), (1000, 150), "Which weights go where")
    g.note(LOCK_NOTE, (1080, -200), (640, 150), "How the lock works")
    y = img.pos[1] + img.size[1] + 140
    size = _size(defs["ZoneLatentLock"])
    lock = g.add("ZoneLatentLock", (40, y), size, "Latent Lock (IP2P)", {"region": "find while sampling"},
                 model=ip2p["MODEL"])
    g.group("Lock the unedited region", (20, y - 80, 360, size[1] + 100), COLORS["models"])
    _, placed = _edit_chain(g, 400, 80, img[0], "make his tie blue", ip2p, mb, sam, ip2p_model=lock[0],
                            save_prefix="ZONE/edit_lock")
    _group_around(g, "ZONE local edit (locked sampling)", placed, COLORS["edit"])
    g.shown = [ip2p, mb, sam, img] + _of_type(placed, "PrimitiveStringMultiline", "SaveImage")
    return g


QWEN_2509_NOTE = (
    "## Qwen-Image-Edit-2509 (ComfyUI core nodes), made local by ZONE\n"
    "ComfyUI's own 2509 graph (TextEncodeQwenImageEditPlus; the picture scaled to 1 MP) edits the WHOLE picture "
    "and shifts it unevenly by a few px (QwenLM/Qwen-Image #229, #160). " + FULL_RES_NOTE + "\n\n"
    f"- **models/diffusion_models/**: `{QWEN_2509_UNET}` (Comfy-Org/Qwen-Image-Edit_ComfyUI)\n"
    f"- **models/text_encoders/**: `{QWEN_CLIP}` (Comfy-Org/Qwen-Image_ComfyUI)\n"
    f"- **models/vae/**: `{QWEN_VAE}` (Comfy-Org/Qwen-Image_ComfyUI)\n"
    f"- **models/sams/**: `{SAM_FILE}` (or vit_l / vit_b)\n\n"
    "KSampler: 20 steps, cfg 2.5 (fp8 model, ComfyUI's template table); with the 4-step Lightning LoRA "
    "(LoraLoaderModelOnly after the model loader): 4 steps, cfg 1.0."
)


def qwen_image_edit_2509(defs, display) -> Graph:
    """Qwen-Image-Edit-2509 from core nodes (TextEncodeQwenImageEditPlus, ComfyUI's template) -> ZONE."""
    loaders = [("UNETLoader", (320, 100), "Qwen-Image-Edit-2509 model", {"unet_name": QWEN_2509_UNET}),
               ("CLIPLoader", (320, 130), "Qwen2.5-VL text encoder", {"clip_name": QWEN_CLIP, "type": "qwen_image"}),
               ("VAELoader", (320, 60), "Qwen-Image VAE", {"vae_name": QWEN_VAE})]

    def build(add, cols, loaded, img):
        unet, clip, vae = loaded
        b, c, d_ = cols
        scaled = add("ImageScaleToTotalPixels", b, (320, 90), "Scale to 1 MP",
                     {"upscale_method": "lanczos", "megapixels": 1.0}, image=img[0])
        latent = add("VAEEncode", b, (320, 50), "VAE Encode", pixels=scaled[0], vae=vae[0])
        positive = add("TextEncodeQwenImageEditPlus", b, (320, 200), "Instruction", {"prompt": "make his tie blue"},
                       clip=clip[0], vae=vae[0], image1=scaled[0])
        negative = add("TextEncodeQwenImageEditPlus", b, (320, 200), "Negative (empty)", {"prompt": ""},
                       clip=clip[0], vae=vae[0], image1=scaled[0])
        shifted = add("ModelSamplingAuraFlow", c, (320, 60), "ModelSamplingAuraFlow", {"shift": 3.0}, model=unet[0])
        normed = add("CFGNorm", c, (320, 60), "CFGNorm", {"strength": 1.0}, model=shifted[0])
        return _sample_and_decode(add, c, d_, normed[0], positive[0], negative[0], latent[0], vae[0], cfg=2.5)

    return _editor_then_zone(Graph(defs, display), loaders, build, "Qwen 2509 output (whole picture edited)",
                             "ZONE/qwen2509_local", QWEN_2509_NOTE, "Qwen-Image-Edit-2509 + ZONE")


API_NOTE = (
    "## {name} (a paid ComfyUI API node), made local by ZONE\n"
    "{what} " + FULL_RES_NOTE + "\n\n"
    "- No weights: the edit runs on the provider's servers through ComfyUI's API nodes (comfy_api_nodes). Sign in "
    "to your comfy.org account in ComfyUI (Settings > User) and buy credits; the node's price shows on it.\n"
    f"- **models/sams/**: `{SAM_FILE}` (or vit_l / vit_b) for ZONE.\n\n"
    "Other editors: zone_gemini_image, zone_gpt_image, zone_seedream, zone_flux_kontext_pro (one graph each), "
    "zone_flux_kontext and zone_qwen_image_edit_2509 (local weights)."
)
#: The paid API editors: graph name -> (API node, title, widgets, image input, what the note says about it).
API_EDITORS = {
    "zone_gemini_image": ("GeminiImageNode", "Google Gemini Image (Nano Banana)",
                          {"prompt": "make his tie blue", "model": "gemini-2.5-flash-image", "seed": 0,
                           "aspect_ratio": "auto"}, "images",
                          "Gemini returns its own resolution and aspect (e.g. 1152x896 for a 1024x858 input), "
                          "stretched and cropped."),
    "zone_gpt_image": ("OpenAIGPTImage1", "OpenAI GPT Image 1",
                       {"prompt": "make his tie blue", "seed": 0, "quality": "high", "background": "opaque",
                        "size": "auto", "n": 1}, "image",
                       "GPT-image returns 1024x1024, 1024x1536 or 1536x1024 and redraws the whole picture."),
    "zone_seedream": ("ByteDanceSeedreamNode", "ByteDance Seedream 4",
                      # watermark off: its "AI generated" stamp is a change ZONE would find and paste
                      {"prompt": "make his tie blue", "size_preset": "2048x2048 (1:1)", "watermark": False}, "image",
                      "Seedream returns the preset size: pick the preset nearest your photo's aspect."),
    "zone_flux_kontext_pro": ("FluxKontextProImageNode", "FLUX.1 Kontext [pro]",
                              {"prompt": "make his tie blue", "aspect_ratio": "1:1", "seed": 0}, "input_image",
                              "Kontext Pro returns ~1 MP in the aspect_ratio you set (write your photo's, e.g. 4:3)."),
}


def api_editor(name: str):
    """The builder of one paid API editor's graph: the API node on the image, then ZONE."""
    kind, title, widgets, image_input, what = API_EDITORS[name]

    def graph(defs, display) -> Graph:
        def build(add, cols, loaded, img):
            size = _size(defs[kind], 40)
            return add(kind, cols[0], size, title, widgets, **{image_input: img[0]})[0]

        note = API_NOTE.format(name=title, what=what)
        return _editor_then_zone(Graph(defs, display), [], build, f"{title} output (whole picture edited)",
                                 f"ZONE/{name[5:]}_local", note, f"{title} + ZONE")

    graph.__name__ = name
    return graph


GRAPHS = {"zone_local_edit": local_edit, "zone_multi_turn": multi_turn, "zone_mask_only": mask_only,
          "zone_any_editor": any_editor, "zone_qwen_image_edit": qwen_image_edit,
          "zone_flux_kontext": flux_kontext, "zone_qwen_image_edit_2509": qwen_image_edit_2509,
          "zone_local_edit_lock": local_edit_lock, "zone_flux_kontext_lock": flux_kontext_lock,
          **{name: api_editor(name) for name in API_EDITORS}}
THUMBNAIL_WIDTH = 512


def main() -> None:
    defs, display = _defs_and_names()
    out = ROOT / "workflows"
    (out / "api").mkdir(parents=True, exist_ok=True)
    for name, build in GRAPHS.items():
        g = build(defs, display)
        g.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/zone-comfyui/ComfyUI-ZONE/workflows/{name}"))
        card = CARDS[name]  # the UI file is named as its template card reads (a new graph needs an entry)
        (out / f"{card}.json").write_text(json.dumps(g.ui(), indent=1) + "\n")
        (out / "api" / f"{name}_api.json").write_text(json.dumps(g.api(), indent=1) + "\n")
        # The template browser shows <card>.jpg on the workflow's card: the before -> after picture of
        # tools/render_cards.py is kept; a new workflow gets a schematic of its graph until it has one.
        thumb_path = out / f"{card}.jpg"
        if not thumb_path.exists():
            thumb = render_graph.render(g.ui(), scale=0.5)
            thumb = thumb.resize((THUMBNAIL_WIDTH, max(1, round(thumb.height * THUMBNAIL_WIDTH / thumb.width))),
                                 Image.LANCZOS)
            thumb.save(thumb_path, quality=85, optimize=True)
        print(f"wrote workflows/{card}.json and workflows/api/{name}_api.json ({len(g.nodes)} nodes)")


if __name__ == "__main__":
    main()
