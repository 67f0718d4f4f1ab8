"""Draw a UI-format workflow as a small PNG diagram (groups, nodes with their slots, links) for the docs.

``.venv/bin/python tools/render_graph.py "workflows/ZONE local edit.json" docs/zone_local_edit_graph.png``
Not a screenshot of the frontend: a schematic with the same positions, titles, slots and link colours.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LINK_COLORS = {"IMAGE": "#64B5F6", "MASK": "#81C784", "MODEL": "#B39DDB", "CLIP": "#FFD500", "VAE": "#FF6E6E",
               "STRING": "#AAAAAA", "ZONE_ACTION": "#FFA726", "ZONE_ATTENTION": "#F06292", "SAM_MODEL": "#4DD0E1"}
TITLE_H, SLOT_H = 30, 20


def _font(size: int):
    for name in ("DejaVuSans.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def render(workflow: dict, scale: float = 0.5) -> Image.Image:
    nodes = workflow["nodes"]
    xs = [n["pos"][0] for n in nodes] + [g["bounding"][0] for g in workflow.get("groups", [])]
    ys = [n["pos"][1] - TITLE_H for n in nodes] + [g["bounding"][1] for g in workflow.get("groups", [])]
    x1 = max([n["pos"][0] + n["size"][0] for n in nodes] + [g["bounding"][0] + g["bounding"][2] for g in workflow.get("groups", [])])
    y1 = max([n["pos"][1] + n["size"][1] for n in nodes] + [g["bounding"][1] + g["bounding"][3] for g in workflow.get("groups", [])])
    ox, oy, pad = min(xs), min(ys), 20
    w, h = int((x1 - ox + 2 * pad) * scale), int((y1 - oy + 2 * pad) * scale)
    img = Image.new("RGB", (w, h), "#202020")
    draw = ImageDraw.Draw(img)
    font, small, big = _font(int(22 * scale) + 4), _font(int(16 * scale) + 3), _font(int(28 * scale) + 4)

    def p(x: float, y: float) -> tuple[int, int]:
        return int((x - ox + pad) * scale), int((y - oy + pad) * scale)

    for g in workflow.get("groups", []):
        x, y, gw, gh = g["bounding"]
        draw.rectangle([p(x, y), p(x + gw, y + gh)], outline=g.get("color", "#888"), width=2)
        draw.rectangle([p(x, y), p(x + gw, y + 40)], fill=g.get("color", "#888"))
        draw.text(p(x + 10, y + 8), g["title"], fill="white", font=big)
    byid = {n["id"]: n for n in nodes}

    def out_xy(n: dict, slot: int) -> tuple[float, float]:
        return n["pos"][0] + n["size"][0], n["pos"][1] + 14 + slot * SLOT_H

    def in_xy(n: dict, slot: int) -> tuple[float, float]:
        return n["pos"][0], n["pos"][1] + 14 + slot * SLOT_H

    for n in nodes:
        x, y = n["pos"]
        nw, nh = n["size"]
        note = n["type"] in ("Note", "MarkdownNote")
        draw.rectangle([p(x, y - TITLE_H), p(x + nw, y + nh)], fill="#3a3325" if note else "#353535", outline="#666")
        draw.rectangle([p(x, y - TITLE_H), p(x + nw, y)], fill="#4a4030" if note else "#2a2a2a")
        draw.text(p(x + 8, y - TITLE_H + 6), n.get("title", n["type"]), fill="#eeeeee", font=font)
        if note:
            text = n["widgets_values"][0].replace("**", "").replace("`", "").replace("## ", "")
            yy, limit = y + 8, (nw - 16) * scale
            for para in text.split("\n"):
                line = ""
                for word in para.split() + [None]:
                    if word is None or (line and draw.textlength(line + word, font=small) > limit):
                        if yy <= y + nh - 20:
                            draw.text(p(x + 8, yy), line, fill="#ddd", font=small)
                        line, yy = "", yy + 22
                    if word is not None:
                        line += word + " "
            continue
        for k, i in enumerate(n.get("inputs", [])):
            cx, cy = p(*in_xy(n, k))
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=LINK_COLORS.get(i["type"], "#999"))
            draw.text((cx + 8, cy - 8), i["name"], fill="#bbbbbb", font=small)
        for k, o in enumerate(n.get("outputs", [])):
            cx, cy = p(*out_xy(n, k))
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=LINK_COLORS.get(o["type"], "#999"))
            tw = draw.textlength(o["name"], font=small)
            draw.text((cx - 8 - tw, cy - 8), o["name"], fill="#bbbbbb", font=small)
    for _, src, s_slot, dst, d_slot, ltype in workflow["links"]:
        a, b = p(*out_xy(byid[src], s_slot)), p(*in_xy(byid[dst], d_slot))
        mid = (a[0] + b[0]) / 2
        pts = [(a[0] + (mid - a[0]) * t * 2, a[1]) if t < 0.5 else (mid, a[1] + (b[1] - a[1]) * (t - 0.5) * 2)
               for t in (0, 0.5)] + [(mid, b[1]), b]
        draw.line([a] + pts, fill=LINK_COLORS.get(ltype, "#999"), width=2)
    return img


def main(argv: list[str]) -> None:
    src, dst = Path(argv[0]), Path(argv[1])
    img = render(json.loads(src.read_text()), scale=float(argv[2]) if len(argv) > 2 else 0.5)
    img.save(dst, optimize=True)
    print(f"wrote {dst} {img.size[0]}x{img.size[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
