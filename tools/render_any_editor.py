"""Draw one any-editor benchmark case as a labelled PNG sheet for docs/any_editor.md.

``.venv/bin/python tools/render_any_editor.py docs/any_editor.png [case]``
Honest by construction: the photo and its local edit are the benchmark's (benchmarks/any_editor.py), the editor
output is SIMULATED (zoom, shift, a 1 MP bucket of another aspect, colour cast, noise), and every later panel is
the library's real code: Align Edit, Difference To Mask, Region-IoU over scikit-image Felzenszwalb segments (the
benchmark's stand-in for SAM), the FFT edge smoother and the composite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tools")]

from any_editor import evaluate  # noqa: E402
from render_stage_previews import save_contact_sheet  # noqa: E402

from zone_ops.core.images import resize_image  # noqa: E402
from zone_ops.core.preview import overlay_mask  # noqa: E402


def main(out: str = "docs/any_editor.png", case_name: str = "coffee-green", width: int = 270) -> None:
    r = evaluate(case_name, seed=0, model="affine", flow_cap=2.0)
    im = r["images"]
    orig = im["original"]
    h, w = orig.shape[:2]
    eh, ew = im["editor"].shape[:2]
    # the editor output is drawn in the original's aspect (it is stretched to another one): resized for the sheet

    def diff(img: np.ndarray) -> np.ndarray:  # max channel |difference| x 4, as grey (same scale on both panels)
        return np.repeat(np.clip(4.0 * np.abs(img - orig).max(axis=-1), 0.0, 1.0)[..., None], 3, axis=-1)

    panels = [
        (f"original {w}x{h}", orig),
        (f"editor output {ew}x{eh} (simul.)", resize_image(im["editor"], (h, w))),
        ("resized, |diff| x4", diff(im["raw"])),
        (f"aligned, |diff| x4 ({r['residual_px']:.2f} px off)", diff(im["aligned"])),
        ("Difference To Mask", overlay_mask(im["aligned"], im["coarse"])),
        ("Region IoU (Felzenszwalb)", overlay_mask(im["aligned"], im["refined"], color=(0.2, 0.6, 1.0))),
        ("final alpha", overlay_mask(im["aligned"], im["alpha"] > 0, color=(1.0, 0.2, 1.0))),
        (f"result (L1 {r['full chain']['L1']:.4f})", im["output"]),
    ]
    save_contact_sheet(panels, width, 4, out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
