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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import conftest  # noqa: E402  (loads the pack as ComfyUI does, under the name comfyui_zone)
import render_graph  # noqa: E402  (tools/, next to this script)
from PIL import Image  # noqa: E402
from test_workflows import CORE_SNAPSHOT, NodeDef, _core_defs, _pack_defs  # noqa: E402

IP2P_FILE = "instruct-pix2pix-00-22000.safetensors"
MAGICBRUSH_FILE = "MagicBrush-epoch-52-step-4999.ckpt"
SAM_FILE = "sam_vit_h_4b8939.pth"
EXAMPLE_IMAGE = "example.png"
QWEN_UNET = "qwen_image_edit_fp8_e4m3fn.safetensors"
QWEN_CLIP = "qwen_2.5_vl_7b_fp8_scaled.safetensors"
QWEN_VAE = "qwen_image_vae.safetensors"
_QWEN_HF = "https://huggingface.co/Comfy-Org"
KONTEXT_UNET = "flux1-dev-kontext_fp8_scaled.safetensors"
FLUX_CLIP_L = "clip_l.safetensors"
FLUX_T5 = "t5xxl_fp8_e4m3fn_scaled.safetensors"
FLUX_VAE = "ae.safetensors"
MODEL_LINKS = {  # shown by the frontend's "missing models" dialog: file -> (url, models folder)
    IP2P_FILE: ("https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/instruct-pix2pix-00-22000.safetensors",
                "checkpoints"),
    MAGICBRUSH_FILE: ("https://huggingface.co/osunlp/InstructPix2Pix-MagicBrush/resolve/main/"
                      "MagicBrush-epoch-52-step-4999.ckpt", "checkpoints"),
    QWEN_UNET: (f"{_QWEN_HF}/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/diffusion_models/{QWEN_UNET}",
                "diffusion_models"),
    QWEN_CLIP: (f"{_QWEN_HF}/Qwen-Image_ComfyUI/resolve/main/split_files/text_encoders/{QWEN_CLIP}", "text_encoders"),
    QWEN_VAE: (f"{_QWEN_HF}/Qwen-Image_ComfyUI/resolve/main/split_files/vae/{QWEN_VAE}", "vae"),
    KONTEXT_UNET: (f"{_QWEN_HF}/flux1-kontext-dev_ComfyUI/resolve/main/split_files/diffusion_models/{KONTEXT_UNET}",
                   "diffusion_models"),
    FLUX_CLIP_L: (f"https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/{FLUX_CLIP_L}", "text_encoders"),
    FLUX_T5: (f"https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/{FLUX_T5}", "text_encoders"),
    FLUX_VAE: (f"{_QWEN_HF}/Lumina_Image_2.0_Repackaged/resolve/main/split_files/vae/{FLUX_VAE}", "vae"),
}
MODEL_WIDGETS = ("ckpt_name", "unet_name", "clip_name", "clip_name1", "clip_name2", "vae_name")
DOWNLOADABLE = (".safetensors", ".sft")  # the frontend's missing-models dialog refuses other suffixes (.ckpt)
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
        self.uuid = ""  # set by main(): a fixed uuid per workflow name (the frontend wants a uuid or nothing)
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
        for widget in MODEL_WIDGETS:
            name = node.widgets.get(widget)
            if name in MODEL_LINKS and name.endswith(DOWNLOADABLE):
                url, directory = MODEL_LINKS[name]
                node.properties.setdefault("models", []).append({"name": name, "url": url, "directory": directory})
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
        return {"id": self.uuid, "revision": 0, "last_node_id": self._id, "last_link_id": link_id,
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
MODELS_NOTE = (
    "## Weights (nothing is downloaded)\n"
    f"- **models/checkpoints/**: `{IP2P_FILE}` (timbrooks/instruct-pix2pix) and, optional, "
    f"`{MAGICBRUSH_FILE}` (osunlp/InstructPix2Pix-MagicBrush).\n"
    f"- **models/sams/**: a SAM v1 checkpoint, `{SAM_FILE}` (best) or `sam_vit_l_0b3195.pth` / `sam_vit_b_01ec64.pth`.\n"
    "Press *r* (refresh) after copying files."
)
STEP = 360  # column pitch


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
    add("SaveImage", e, (360, 420), "Result", {"filename_prefix": save_prefix}, images=comp["image"])
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
        mb = g.add("CheckpointLoaderSimple", col((320, 100)), (320, 100), "MagicBrush checkpoint (optional)",
                   {"ckpt_name": MAGICBRUSH_FILE})
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    g.group("Models", (x - 20, y - 80, 360, col.y - y + 40), COLORS["models"])
    img = g.add("LoadImage", (x, col.y + 80), (320, 360), "Image to edit", {"image": EXAMPLE_IMAGE})
    g.group("Input", (x - 20, col.y, 360, 460), COLORS["input"])
    return ip2p, mb, sam, img


def local_edit(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam, img = _loaders(g, 40, 80)
    g.note(MODELS_NOTE, (40, -260), (720, 190), "Which weights go where")
    g.note("ZONE edits only the region the instruction names: IP2P (+ MagicBrush) edits the whole image, its "
           "attention locates the edit, SAM snaps it to an object, and the edited layer is pasted onto the "
           "ORIGINAL, so every other pixel stays identical. The previews below show each stage.",
           (800, -260), (720, 190), "How it works")
    _, placed = _edit_chain(g, 420, 80, img[0], "make his tie blue", ip2p, mb, sam)
    _group_around(g, "ZONE local edit", placed, COLORS["edit"])
    return g


def multi_turn(defs, display) -> Graph:
    g = Graph(defs, display)
    ip2p, mb, sam, img = _loaders(g, 40, 80)
    g.note(MODELS_NOTE + "\n\nEach turn edits the previous turn's result; pixels no turn touches stay identical "
           "to the original.", (40, -280), (720, 210), "Multi-turn editing")
    current, y = img[0], 80
    for k, text in enumerate(["make his tie blue", "add sunglasses to him", "remove the flag"]):
        comp, placed = _edit_chain(g, 420, y, current, text, ip2p, mb, sam, title=f"Turn {k + 1}", previews=False,
                                   save_prefix=f"ZONE/turn{k + 1}")
        _group_around(g, f"Turn {k + 1}: {text}", placed, COLORS["edit"])
        current, y = comp["image"], _bottom(placed) + 140
    return g


def _pair_inputs(g: Graph, edited_title: str) -> tuple[Node, Node, Node]:
    """SAM loader, the original and the edited image stacked at x = 40 in an "Inputs" group."""
    col = Column(40, 80)
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    orig = g.add("LoadImage", col((320, 360)), (320, 360), "Original image", {"image": EXAMPLE_IMAGE})
    # example.png ships with ComfyUI (input/), so nothing is missing on load; the user picks the edited image here.
    edited = g.add("LoadImage", col((320, 360)), (320, 360), edited_title, {"image": EXAMPLE_IMAGE})
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
           f"**models/sams/**: `{SAM_FILE}` (or vit_l / vit_b).", (40, -280), (720, 210), "ZONE post-processing")
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
    add("SaveImage", d_, (360, 420), "Result", {"filename_prefix": "ZONE/post"}, images=comp["image"])
    _preview_row(add, 40 + STEP, _bottom(placed) + 60, [
        ("Painted mask", as_image[0]), ("SAM segment", refined["preview"]), ("Final mask", final["preview"])])
    _group_around(g, "ZONE post-processing", placed, COLORS["locate"])
    return g


ANY_EDITOR_NOTE = (
    "## Connect any editor here\n"
    "ZONE makes the output of ANY editor local (Qwen-Image-Edit, FLUX Kontext, Step1X-Edit, OmniGen2, an online "
    "tool): wire the editor's output IMAGE (its VAE Decode, or a Load Image of a file it saved) to **Align Edit > "
    "edited**, and the picture you gave the editor to **original** (all nodes that take `original`). The edit may "
    "have another size or aspect, a slight zoom or shift and a colour cast: Align Edit undoes the geometry, "
    "Difference To Mask finds what changed beyond the colour drift, SAM snaps it to an object and the edit is "
    "pasted onto the ORIGINAL, so every other pixel stays identical.\n\n"
    f"**models/sams/**: `{SAM_FILE}` (or vit_l / vit_b)."
)


def _localize_chain(g: Graph, x: int, y: int, original, edited, sam, save_prefix: str = "ZONE/any_editor"
                    ) -> list[Node]:
    """Align Edit -> Difference To Mask -> SAM Region IoU -> FFT Edge Smoother -> Layer Composite -> Save, with a
    preview of every stage, in columns from ``(x, y)``; returns the nodes placed."""
    defs = g.defs
    placed: list[Node] = []

    add = _placer(g, placed)

    a, b, c, d_ = (Column(x + k * STEP, y) for k in range(4))
    align = add("ZoneAlignEdit", a, _size(defs["ZoneAlignEdit"]), "Align Edit", original=original, edited=edited)
    add("PreviewAny", a, (320, 140), "Alignment report", source=align["report"])
    coarse = add("ZoneEditToMask", b, _size(defs["ZoneEditToMask"]), "Difference To Mask", original=original,
                 edited=align["aligned"], valid_mask=align["valid_mask"])
    refined = add("ZoneSAMRegionIoU", b, _size(defs["ZoneSAMRegionIoU"]), "4. SAM Region IoU",
                  sam_model=sam[0], original=original, canvas=align["aligned"], coarse_mask=coarse["coarse_mask"])
    final = add("ZoneFFTEdgeSmoother", c, _size(defs["ZoneFFTEdgeSmoother"]), "5. FFT Edge Smoother",
                original=original, canvas=align["aligned"], refined_mask=refined[0])
    comp = add("ZoneLayerComposite", c, _size(defs["ZoneLayerComposite"]), "6. Layer Composite", original=original,
               canvas=align["aligned"], final_mask=final[0], refined_mask=refined[0])
    add("PreviewAny", c, (320, 120), "SAM choice", source=refined[2])
    add("SaveImage", d_, (360, 420), "Result", {"filename_prefix": save_prefix}, images=comp["image"])
    _preview_row(add, x, _bottom(placed) + 60, [
        ("Aligned edit", align["aligned"]), ("Difference mask", coarse["preview"]), ("SAM segment", refined["preview"]),
        ("Final mask", final["preview"]), ("Layer (the edit alone)", comp["layer"])])
    return placed


def any_editor(defs, display) -> Graph:
    g = Graph(defs, display)
    sam, orig, edited = _pair_inputs(g, "Edited image (any editor's output)")
    g.note(ANY_EDITOR_NOTE, (40, -300), (900, 230), "Use ZONE with any editor")
    placed = _localize_chain(g, 40 + STEP, 80, orig[0], edited[0], sam)
    _group_around(g, "ZONE localization", placed, COLORS["locate"])
    return g


QWEN_NOTE = (
    "## Qwen-Image-Edit (ComfyUI core nodes), made local by ZONE\n"
    "The left part is ComfyUI's own Qwen-Image-Edit graph: it edits the WHOLE picture at ~1 MP and shifts, "
    "zooms and recolours what it should keep. The right part (ZONE) aligns its output to your original, finds "
    "the edit, snaps it to a SAM segment and pastes only that onto the original at full resolution.\n\n"
    f"- **models/diffusion_models/**: `{QWEN_UNET}`\n- **models/text_encoders/**: `{QWEN_CLIP}`\n"
    f"- **models/vae/**: `{QWEN_VAE}`\n- **models/sams/**: `{SAM_FILE}` (or vit_l / vit_b)\n\n"
    "KSampler: 20 steps, cfg 2.5 (fp8 model); a 4-step Lightning LoRA needs 4 steps, cfg 1.0."
)


def _editor_inputs(g: Graph, loaders: list[tuple[str, tuple[int, int], str, dict]]) -> tuple[list[Node], Node, Node]:
    """An editor's model loaders (``(kind, size, title, widgets)`` each) and the SAM loader (group "Models"), then the
    image to edit (group "Input"), stacked at x = 40; returns (loaders, SAM loader, image loader)."""
    col = Column(40, 80)
    nodes = [g.add(kind, col(size), size, title, widgets) for kind, size, title, widgets in loaders]
    size = _size(g.defs["ZoneSAMLoader"])
    sam = g.add("ZoneSAMLoader", col(size), size, "SAM loader", {"model_name": SAM_FILE})
    g.group("Models", (20, 0, 360, col.y - 40), COLORS["models"])
    img = g.add("LoadImage", (40, col.y + 80), (320, 360), "Image to edit", {"image": EXAMPLE_IMAGE})
    g.group("Input", (20, col.y, 360, 460), COLORS["input"])
    return nodes, sam, img


def qwen_image_edit(defs, display) -> Graph:
    g = Graph(defs, display)
    (unet, clip, vae), sam, img = _editor_inputs(g, [
        ("UNETLoader", (320, 100), "Qwen-Image-Edit model", {"unet_name": QWEN_UNET}),
        ("CLIPLoader", (320, 130), "Qwen2.5-VL text encoder", {"clip_name": QWEN_CLIP, "type": "qwen_image"}),
        ("VAELoader", (320, 60), "Qwen-Image VAE", {"vae_name": QWEN_VAE})])
    g.note(QWEN_NOTE, (40, -340), (900, 270), "Qwen-Image-Edit + ZONE")
    g.note(ANY_EDITOR_NOTE, (980, -340), (720, 270), "Any other editor")
    placed: list[Node] = []

    add = _placer(g, placed)

    b, c, d_ = Column(40 + STEP, 80), Column(40 + 2 * STEP, 80), Column(40 + 3 * STEP, 80)
    scaled = add("ImageScaleToTotalPixels", b, (320, 90), "Scale to 1 MP",
                 {"upscale_method": "lanczos", "megapixels": 1.0}, image=img[0])
    latent = add("VAEEncode", b, (320, 50), "VAE Encode", pixels=scaled[0], vae=vae[0])
    positive = add("TextEncodeQwenImageEdit", b, (320, 160), "Instruction",
                   {"prompt": "make his tie blue"}, clip=clip[0], vae=vae[0], image=scaled[0])
    negative = add("TextEncodeQwenImageEdit", b, (320, 160), "Negative (empty)", {"prompt": ""},
                   clip=clip[0], vae=vae[0], image=scaled[0])
    shifted = add("ModelSamplingAuraFlow", c, (320, 60), "ModelSamplingAuraFlow", {"shift": 3.0}, model=unet[0])
    normed = add("CFGNorm", c, (320, 60), "CFGNorm", {"strength": 1.0}, model=shifted[0])
    _sample_then_localize(g, add, c, d_, placed, (normed, positive, negative, latent, vae), 2.5, img, sam,
                          ("Qwen output (whole picture edited)", "Qwen-Image-Edit (ComfyUI core)", "ZONE/qwen_local"))
    return g


def _sample_then_localize(g: Graph, add, c: Column, d_: Column, placed: list[Node], models: tuple, cfg: float,
                          img: Node, sam: Node, titles: tuple[str, str, str]) -> None:
    """An editor's KSampler (20 euler / simple steps at ``cfg``) in column ``c``, VAE Decode and its preview in
    ``d_``, the editor's nodes (``placed``) grouped, then ZONE's localization chain on its output. ``models``: the
    (model, positive, negative, latent, vae) nodes; ``titles``: (preview, editor group, save prefix)."""
    model, positive, negative, latent, vae = models
    preview, group, prefix = titles
    sampled = add("KSampler", c, (320, 270), "KSampler",
                  {"seed": 0, "steps": 20, "cfg": cfg, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0},
                  model=model[0], positive=positive[0], negative=negative[0], latent_image=latent[0])
    decoded = add("VAEDecode", d_, (320, 50), "VAE Decode", samples=sampled[0], vae=vae[0])
    add("PreviewImage", d_, (320, 300), preview, images=decoded[0])
    _group_around(g, group, placed, COLORS["edit"])
    zone = _localize_chain(g, 40 + 4 * STEP, 80, img[0], decoded[0], sam, save_prefix=prefix)
    _group_around(g, "ZONE localization", zone, COLORS["locate"])


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
    g.note(MODELS_NOTE, (40, -260), (720, 190), "Which weights go where")
    g.note(LOCK_NOTE, (800, -260), (720, 190), "How the lock works")
    y = img.pos[1] + img.size[1] + 140
    size = _size(defs["ZoneLatentLock"])
    lock = g.add("ZoneLatentLock", (40, y), size, "Latent Lock (IP2P)", {"region": "find while sampling"},
                 model=ip2p["MODEL"])
    g.group("Lock the unedited region", (20, y - 80, 360, size[1] + 100), COLORS["models"])
    _, placed = _edit_chain(g, 420, 80, img[0], "make his tie blue", ip2p, mb, sam, ip2p_model=lock[0],
                            save_prefix="ZONE/edit_lock")
    _group_around(g, "ZONE local edit (locked sampling)", placed, COLORS["edit"])
    return g


KONTEXT_NOTE = (
    "## FLUX.1 Kontext (ComfyUI core nodes) with the ZONE latent lock\n"
    "ComfyUI's own Kontext graph, its model patched by **ZONE Latent Lock**: the region the edit touches is found "
    "while sampling and everything else follows the original's latent (the KSampler's latent is the encode of the "
    "image, so the lock needs no other input). The ZONE part on the right aligns the output to your original, finds "
    "the edit and pastes only that at full resolution.\n\n"
    f"- **models/diffusion_models/**: `{KONTEXT_UNET}`\n- **models/text_encoders/**: `{FLUX_CLIP_L}`, `{FLUX_T5}`\n"
    f"- **models/vae/**: `{FLUX_VAE}`\n- **models/sams/**: `{SAM_FILE}` (or vit_l / vit_b)\n\n"
    "KSampler: 20 steps, cfg 1.0 (guidance 2.5 in FluxGuidance), euler / simple."
)


def flux_kontext_lock(defs, display) -> Graph:
    """FLUX.1 Kontext (core nodes) with ZONE Latent Lock on its MODEL, then ZONE's localization and paste."""
    g = Graph(defs, display)
    (unet, clip, vae), sam, img = _editor_inputs(g, [
        ("UNETLoader", (320, 100), "FLUX.1 Kontext model", {"unet_name": KONTEXT_UNET}),
        ("DualCLIPLoader", (320, 130), "CLIP-L + T5 text encoders",
         {"clip_name1": FLUX_CLIP_L, "clip_name2": FLUX_T5, "type": "flux"}),
        ("VAELoader", (320, 60), "FLUX VAE", {"vae_name": FLUX_VAE})])
    g.note(KONTEXT_NOTE, (40, -340), (900, 270), "FLUX Kontext + ZONE latent lock")
    g.note(LOCK_NOTE, (980, -340), (720, 270), "How the lock works")
    placed: list[Node] = []

    add = _placer(g, placed)

    b, c, d_ = Column(40 + STEP, 80), Column(40 + 2 * STEP, 80), Column(40 + 3 * STEP, 80)
    scaled = add("FluxKontextImageScale", b, (320, 50), "Scale for Kontext", image=img[0])
    latent = add("VAEEncode", b, (320, 50), "VAE Encode", pixels=scaled[0], vae=vae[0])
    text = add("CLIPTextEncode", b, (320, 160), "Instruction", {"text": "make his tie blue"}, clip=clip[0])
    reference = add("ReferenceLatent", b, (320, 50), "Reference latent", conditioning=text[0], latent=latent[0])
    guided = add("FluxGuidance", c, (320, 60), "FluxGuidance", {"guidance": 2.5}, conditioning=reference[0])
    negative = add("ConditioningZeroOut", c, (320, 30), "Negative (zero)", conditioning=text[0])
    lock = add("ZoneLatentLock", c, _size(defs["ZoneLatentLock"]), "Latent Lock", {"region": "find while sampling"},
               model=unet[0])
    _sample_then_localize(g, add, c, d_, placed, (lock, guided, negative, latent, vae), 1.0, img, sam,
                          ("Kontext output (locked outside the edit)", "FLUX.1 Kontext (ComfyUI core) + ZONE Latent Lock",
                           "ZONE/kontext_lock"))
    return g


GRAPHS = {"zone_local_edit": local_edit, "zone_multi_turn": multi_turn, "zone_mask_only": mask_only,
          "zone_any_editor": any_editor, "zone_qwen_image_edit": qwen_image_edit,
          "zone_local_edit_lock": local_edit_lock, "zone_flux_kontext_lock": flux_kontext_lock}
THUMBNAIL_WIDTH = 512


def main() -> None:
    defs, display = _defs_and_names()
    out = ROOT / "workflows"
    (out / "api").mkdir(parents=True, exist_ok=True)
    for name, build in GRAPHS.items():
        g = build(defs, display)
        g.uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/zone-comfyui/ComfyUI-ZONE/workflows/{name}"))
        (out / f"{name}.json").write_text(json.dumps(g.ui(), indent=1) + "\n")
        (out / "api" / f"{name}_api.json").write_text(json.dumps(g.api(), indent=1) + "\n")
        # The template browser shows <name>.jpg on the workflow's card. A picture of the real frontend
        # (tools/screenshot_workflows.py) is kept; a new workflow gets a schematic until one is taken.
        thumb_path = out / f"{name}.jpg"
        if not thumb_path.exists():
            thumb = render_graph.render(g.ui(), scale=0.5)
            thumb = thumb.resize((THUMBNAIL_WIDTH, max(1, round(thumb.height * THUMBNAIL_WIDTH / thumb.width))),
                                 Image.LANCZOS)
            thumb.save(thumb_path, quality=85, optimize=True)
        print(f"wrote workflows/{name}.json and workflows/api/{name}_api.json ({len(g.nodes)} nodes)")


if __name__ == "__main__":
    main()
