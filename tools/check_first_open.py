"""What a new user meets on opening each shipped workflow in a running ComfyUI's real frontend (headless Chromium).

    python tools/check_first_open.py --url http://127.0.0.1:8188 [--out DIR]

For each workflow in workflows/ and each window size (1600x1000, 1280x800), as a user drops the file onto a fresh
page (minimap on, as by default): the models the missing-models dialog lists; which notes, inputs (model loaders,
Load Image) and results (SaveImage) lie whole on screen, not under the tab bar, the minimap or the zoom buttons
(node rectangles from the frontend's own canvas transform and DOM boxes); the zoom and whether the frontend draws
it in low quality; and what the Run button would queue (app.graphToPrompt: with MagicBrush or not). Then the
template browser's ComfyUI-ZONE cards (titles and pictures). Screenshots go to ``--out``. Exit status 1 if a note,
an input or every result is hidden, or a workflow does not load.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from screenshot_workflows import CHROMIUM_FLAGS, DROP_JS  # noqa: E402

SIZES = ((1600, 1000), (1280, 800))
LOADERS = ("CheckpointLoaderSimple", "UNETLoader", "CLIPLoader", "VAELoader", "ZoneSAMLoader", "LoadImage")

INSPECT_JS = """async ([loaders]) => {
  const app = window.app, ds = app.canvas.ds;
  const c = document.querySelector('#graph-canvas').getBoundingClientRect();
  const box = s => [...document.querySelectorAll(s)].map(e => e.getBoundingClientRect())
      .filter(b => b.width > 0 && b.height > 0).map(b => [b.left, b.top, b.right, b.bottom]);
  const covers = [...box('.minimap-main-container'), ...box('.p-buttongroup-vertical'),
                  ...box('.workflow-tabs-container'), ...box('.actionbar')];
  const vw = window.innerWidth, vh = window.innerHeight;
  const seen = n => {
    const [x0, y0] = ds.convertOffsetToCanvas([n.pos[0], n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT]);
    const [x1, y1] = ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
    const r = [c.left + x0, c.top + y0, c.left + x1, c.top + y1];
    const inside = r[0] >= c.left && r[1] >= c.top && r[2] <= Math.min(c.right, vw) && r[3] <= Math.min(c.bottom, vh);
    const hit = covers.some(b => r[0] < b[2] && b[0] < r[2] && r[1] < b[3] && b[1] < r[3]);
    return inside && !hit;
  };
  const nodes = app.graph._nodes;
  const must = nodes.filter(n => n.type === 'MarkdownNote' || loaders.includes(n.type));
  const results = nodes.filter(n => n.type === 'SaveImage');
  const prompt = (await app.graphToPrompt()).output;
  const samplers = Object.values(prompt).filter(n => n.class_type === 'ZoneFusedIP2PSampler');
  const dialogs = [...document.querySelectorAll('.comfy-missing-models li')].map(e => e.innerText.split('\\n')[0]);
  return {scale: ds.scale, low_quality: app.canvas.low_quality, nodes: nodes.length,
          hidden: must.filter(n => !seen(n)).map(n => n.title),
          results_seen: results.filter(seen).map(n => n.title), results: results.length,
          missing_models_dialog: dialogs,
          queued_magicbrush: samplers.map(n => 'magicbrush_model' in n.inputs),
          queued_models: Object.values(prompt).flatMap(n => ['ckpt_name', 'unet_name', 'clip_name', 'vae_name',
              'model_name'].filter(k => typeof n.inputs[k] === 'string').map(k => n.inputs[k]))};
}"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8188")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--out", type=Path, default=Path("first_open"))
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    failures = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        for width, height in SIZES:
            for path in sorted((ROOT / "workflows").glob("*.json")):
                page = browser.new_page(viewport={"width": width, "height": height})  # a fresh page per file
                page.goto(args.url, wait_until="networkidle")
                page.wait_for_function("() => window.app && window.app.graph", timeout=120_000)
                page.wait_for_timeout(1000)
                page.keyboard.press("Escape")  # the first-run template dialog
                page.evaluate(DROP_JS, [path.name, path.read_text()])
                page.wait_for_timeout(3000)
                shot = args.out / f"{path.stem.replace(' ', '_')}_{width}x{height}"
                page.screenshot(path=f"{shot}_dialog.png")
                dialog = page.evaluate("() => [...document.querySelectorAll('.comfy-missing-models li')]"
                                       ".map(e => e.innerText.split('\\n')[0])")
                page.keyboard.press("Escape")
                page.wait_for_timeout(800)
                info = page.evaluate(INSPECT_JS, [list(LOADERS)])
                info["missing_models_dialog"] = dialog
                page.screenshot(path=f"{shot}.png")
                print(f"{path.stem} @ {width}x{height}: {json.dumps(info)}")
                if info["hidden"] or not info["results_seen"] or info["low_quality"] or not info["nodes"]:
                    failures.append(f"{path.stem} @ {width}x{height}")
                page.close()
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(args.url, wait_until="networkidle")
        page.wait_for_function("() => window.app && window.app.graph", timeout=120_000)
        page.wait_for_timeout(1000)
        page.keyboard.press("Escape")
        page.evaluate("() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
        page.wait_for_timeout(2000)
        page.get_by_text("ComfyUI-ZONE", exact=True).last.click()
        page.wait_for_timeout(3000)
        page.screenshot(path=str(args.out / "templates_1600x1000.png"))
        titles = [p.stem for p in sorted((ROOT / "workflows").glob("*.json"))]
        seen_titles: set[str] = set()
        seen_pictures: set[str] = set()
        for _ in range(12):  # the grid renders the cards in view only: scroll it down as a user does
            seen_titles |= {t for t in titles if page.get_by_text(t, exact=True).count()}
            seen_pictures |= set(page.evaluate(  # the frontend fetches card pictures as blobs
                "() => [...document.querySelectorAll('img')].filter(i => i.src.startsWith('blob:')"
                " && i.naturalWidth > 0).map(i => i.src)"))
            page.mouse.move(830, 700)
            page.mouse.wheel(0, 500)
            page.wait_for_timeout(700)
        pictures = len(seen_pictures)
        cards = [t for t in titles if t in seen_titles]
        print(f"template cards: {len(cards)} of {len(titles)} titled {cards}, {pictures} pictures loaded")
        page.get_by_text("ZONE local edit", exact=True).first.click()  # open a card as a user does
        page.wait_for_timeout(4000)
        page.keyboard.press("Escape")
        opened = page.evaluate("() => window.app.graph._nodes.length")
        print(f"'ZONE local edit' card opened: {opened} nodes")
        if len(cards) != len(titles) or pictures < len(titles) or not opened:
            failures.append("template browser")
        browser.close()
    for f in failures:
        print(f"HIDDEN OR NOT LOADED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
