"""Draw the stage previews of one over-edit benchmark case as a PNG strip for the docs (README, docs/usage.md).

``.venv/bin/python tools/render_stage_previews.py docs/stage_previews.png``
Honest by construction: the photo is real (skimage.data), the "canvas" is the benchmark's SIMULATED instruction-model
output (a known local edit plus global drift), the coarse mask is the benchmark's attention stand-in, and stages
4-6 are the library's real code (segments from scikit-image's Felzenszwalb, as in the benchmark, not SAM).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tools")]

from overedit import build_cases, run_pipeline  # noqa: E402
from render_graph import _font  # noqa: E402

from zone_ops.core.preview import overlay_mask  # noqa: E402


def contact_sheet(panels: list[tuple[str, np.ndarray]], width: int, cols: int) -> Image.Image:
    """Labelled tiles (title, float image [H, W, 3] in 0..1; all of the first one's aspect), ``cols`` per row."""
    h, w = panels[0][1].shape[:2]
    ph = round(h * width / w)
    rows = -(-len(panels) // cols)
    font = _font(15)
    sheet = Image.new("RGB", (width * cols + 10 * (cols + 1), (ph + 38) * rows + 10), (30, 30, 30))
    draw = ImageDraw.Draw(sheet)
    for i, (title, img) in enumerate(panels):
        x, y = 10 + (i % cols) * (width + 10), 10 + (i // cols) * (ph + 38)
        tile = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((width, ph), Image.LANCZOS)
        draw.text((x, y), title, fill=(230, 230, 230), font=font)
        sheet.paste(tile, (x, y + 22))
    return sheet


def save_contact_sheet(panels: list[tuple[str, np.ndarray]], width: int, cols: int, out: str) -> None:
    """``contact_sheet`` written to ``out`` as a 256-colour PNG (its folder created)."""
    sheet = contact_sheet(panels, width, cols)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256).save(out, optimize=True)
    print(f"wrote {out} ({sheet.size[0]}x{sheet.size[1]})")


def main(out: str = "docs/stage_previews.png", case_name: str = "coffee-green", width: int = 300) -> None:
    (case,) = build_cases([case_name])
    run = run_pipeline(case)
    panels = [
        ("original", case.original),
        ("canvas (simulated edit + drift)", case.canvas),
        ("3. coarse mask", overlay_mask(case.canvas, case.coarse)),
        ("4. Region-IoU segment", overlay_mask(case.canvas, run.refined, color=(0.2, 0.6, 1.0))),
        ("5. final mask", overlay_mask(case.canvas, run.final, color=(1.0, 0.2, 1.0))),
        ("6. result (outside = original)", run.output),
    ]
    save_contact_sheet(panels, width, 3, out)


if __name__ == "__main__":
    main(*sys.argv[1:2])
