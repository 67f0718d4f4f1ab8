"""Draw the template cards' pictures: what each shipped workflow does, before -> after, as workflows/<card>.jpg.

``.venv/bin/python tools/render_cards.py`` (all cards) or ``... tools/render_cards.py zone_local_edit ...``.
ComfyUI's template browser shows ``<card>.jpg`` beside ``<card>.json`` (tests/test_workflows.py CARDS). Each picture
is a square: tall strips of one crop around the edited region side by side (before, [the editor's output,] after),
with a caption that says what is simulated.

Honest by construction (no diffusion model or SAM weights exist offline): the photos are real (skimage.data); the
instruction model's or the other editor's whole-image output is the benchmarks' SIMULATION (a known local edit plus
a global colour cast, blur, shift, noise; for "any editor" also a zoom and another aspect); everything after it is
the pack's real code: ZONE's stages 4-6 (segments from scikit-image's Felzenszwalb in place of SAM, as in the
benchmarks) and, for the any-editor cards, Align Edit and Difference To Mask.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tools"), str(ROOT / "tests")]

from any_editor import evaluate  # noqa: E402
from overedit import build_cases, run_pipeline  # noqa: E402
from render_graph import _font  # noqa: E402

SIZE = 512
SIMULATED = "edit simulated; ZONE's localization real"


def _strip(img: np.ndarray, region: np.ndarray, n: int) -> np.ndarray:
    """A crop of ``img`` [H, W, 3] of aspect 1 : ``n`` (width : height) centred on ``region`` (bool [H, W]), large
    enough to show the whole region with a margin, kept inside the image."""
    h, w = img.shape[:2]
    ys, xs = np.nonzero(region)
    height = min(h, n * w, max(2.2 * (ys.max() - ys.min() + 1), 1.6 * n * (xs.max() - xs.min() + 1), h / 2))
    width = height / n
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    y0 = int(np.clip(round(cy - height / 2), 0, h - height))
    x0 = int(np.clip(round(cx - width / 2), 0, w - width))
    return img[y0 : y0 + int(height), x0 : x0 + int(width)]


def split_card(panels: list[tuple], region: np.ndarray, caption: str) -> Image.Image:
    """``panels`` (label, float image [H, W, 3] 0..1[, its own region]) side by side as tall strips cropped around
    the edited ``region`` (bool [H, W]; a panel's own region instead where given); labels on top, ``caption`` at the
    bottom."""
    n = len(panels)
    card = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(card)
    font, small = _font(22), _font(15)
    for k, (label, img, *own) in enumerate(panels):
        x = round(k * SIZE / n)
        strip = (np.clip(_strip(img, own[0] if own else region, n), 0, 1) * 255 + 0.5).astype(np.uint8)
        card.paste(Image.fromarray(strip).resize((round((k + 1) * SIZE / n) - x, SIZE), Image.LANCZOS), (x, 0))
        if k:
            draw.line([(x, 0), (x, SIZE)], fill=(255, 255, 255), width=3)
        box = draw.textbbox((x + 8, 8), label, font=font)
        draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(0, 0, 0))
        draw.text((x + 8, 8), label, fill=(255, 255, 255), font=font)
    box = draw.textbbox((8, SIZE - 28), caption, font=small)
    draw.rectangle((0, box[1] - 6, SIZE, SIZE), fill=(0, 0, 0))
    draw.text((8, SIZE - 28), caption, fill=(220, 220, 220), font=small)
    return card


def _local(name: str):
    (case,) = build_cases([name])
    return case, run_pipeline(case)


def card_local_edit() -> Image.Image:
    case, run = _local("coffee-green")
    return split_card([("before", case.original), ("after", run.output)], case.region,
                      f"IP2P's {SIMULATED}")


def card_multi_turn() -> Image.Image:
    green, run1 = _local("coffee-green")
    coin, run2 = _local("coffee-add-coin")
    alpha = run2.alpha[..., None]  # turn 2 pastes only its own region onto turn 1's result
    turn2 = alpha * run2.output + (1.0 - alpha) * run1.output
    return split_card([("before", green.original), ("turn 1", run1.output), ("turn 2", turn2, coin.region)],
                      green.region, "2 turns (recolour, add a coin) simulated; ZONE real")


def card_mask_only() -> Image.Image:
    (case,) = build_cases(["astronaut-patch-gold"])
    run = run_pipeline(case)
    painted = case.canvas.copy()
    painted[case.coarse] = 0.55 * painted[case.coarse] + 0.45 * np.array([1.0, 0.2, 0.2], np.float32)
    return split_card([("edit + mask", painted), ("after", run.output)], case.region,
                      f"canvas {SIMULATED}")


def _any_editor(name: str, editor: str) -> Image.Image:
    r = evaluate(name, seed=0, model="affine", flow_cap=0.0)
    im = r["images"]
    region = np.abs(im["truth"] - im["original"]).max(axis=-1) > 0.05
    return split_card([("before", im["original"]), (editor, im["raw"]), ("ZONE", im["output"])], region,
                      f"{editor} output simulated (shift, colour cast); ZONE real")


CARDS_DRAWN = {
    "zone_local_edit": card_local_edit,
    "zone_multi_turn": card_multi_turn,
    "zone_mask_only": card_mask_only,
    "zone_any_editor": lambda: _any_editor("rocket-bricks", "editor"),
    "zone_qwen_image_edit": lambda: _any_editor("coins-remove", "Qwen"),
    "zone_qwen_image_edit_2509": lambda: _any_editor("coffee-add-coin", "Qwen 2509"),
    "zone_flux_kontext": lambda: _any_editor("astronaut-patch-gold", "Kontext"),
    "zone_gemini_image": lambda: _any_editor("coffee-green", "Gemini"),
    "zone_gpt_image": lambda: _any_editor("rocket-bricks", "GPT-image"),
    "zone_seedream": lambda: _any_editor("coins-remove", "Seedream"),
    "zone_flux_kontext_pro": lambda: _any_editor("coffee-add-coin", "Kontext Pro"),
    # the lock graphs: the same before -> after as their unlocked twins (the lock's own effect is not simulated)
    "zone_local_edit_lock": card_local_edit,
    "zone_flux_kontext_lock": lambda: _any_editor("astronaut-patch-gold", "Kontext"),
}


def main(names: list[str]) -> None:
    from test_workflows import CARDS  # the card title = the UI file's name

    for name in names or list(CARDS_DRAWN):
        out = ROOT / "workflows" / f"{CARDS[name]}.jpg"
        CARDS_DRAWN[name]().save(out, quality=88, optimize=True)
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
