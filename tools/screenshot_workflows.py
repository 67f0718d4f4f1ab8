"""Load the shipped workflows into a running ComfyUI's real frontend (headless Chromium) and photograph them.

    python tools/screenshot_workflows.py --url http://127.0.0.1:8188            # README picture
    python tools/screenshot_workflows.py --url ... --queue --fast --files ip2p.safetensors,mb.safetensors,sam.pth

Needs a ComfyUI with this pack in ``custom_nodes/ComfyUI-ZONE``, Playwright for Python (``pip install playwright``)
and a Chromium: Debian's (``apt-get install -y chromium``, the default ``--chromium /usr/bin/chromium``);
Playwright's own browser download is not needed. Each workflow file is dropped onto the page as a user drops it,
then the graph is photographed: ``--readme NAME`` writes ``docs/comfyui_<name>.png`` and ``--thumbnails`` a picture of
the graph as ``workflows/<name>.jpg`` (the template card picture, which by default is tools/render_cards.py's). The template
browser is opened and photographed too (``docs/comfyui_templates.png`` with ``--templates``). Console errors and
failed requests (404s) are printed and make the exit status 1.

``--queue`` then runs each workflow from the page (the frontend's own Queue) and waits for the server's verdict;
``--fast`` first sets the CPU-speed values the host tests use (1 step at a 64-px working size, an 8x8 SAM grid with
thresholds 0 for random weights), ``--files`` the model files to select (checkpoints containing 'magicbrush' get
the second name), ``--images`` the input images. Nothing else in the graph is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def fast_values() -> dict[str, dict]:
    """What --fast sets (node type -> widget -> value): the host test's CPU-speed values (tests/test_comfyui_host.py
    SPEED), imported from there so that the two never differ."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from test_comfyui_host import SPEED

    return SPEED


#: The frontend's own requests that fail on a fresh user folder or without internet (not the pack's doing): optional
#: user files, and the missing-models dialog asking huggingface.co for file sizes.
FRONTEND_PROBES = ("/api/userdata", "/user.css", "status of 404 (Not Found)", "ERR_NAME_NOT_RESOLVED",
                   "Error fetching file size", "ERR_INTERNET_DISCONNECTED")

DROP_JS = """async ([name, text]) => {
  const dt = new DataTransfer();
  dt.items.add(new File([text], name, {type: "application/json"}));
  const target = document.querySelector("#graph-canvas") || document.body;
  for (const type of ["dragenter", "dragover", "drop"])
    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""

SET_WIDGETS_JS = """([fast, files, images]) => {
  let changed = 0;
  for (const node of window.app.graph._nodes) {
    for (const w of node.widgets || []) {
      let value = (fast[node.type] || {})[w.name];
      if (files && node.type === "CheckpointLoaderSimple" && w.name === "ckpt_name")
        value = String(w.value).toLowerCase().includes("magicbrush") ? files[1] : files[0];
      if (files && node.type === "ZoneSAMLoader" && w.name === "model_name") value = files[2];
      if (images && node.type === "LoadImage" && w.name === "image")
        value = String(node.title).toLowerCase().includes("canvas") ? images[1] : images[0];
      if (value !== undefined && w.value !== value) { w.value = value; changed++; }
    }
  }
  window.app.graph.setDirtyCanvas(true, true);
  return changed;
}"""


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _wait_for_run(url: str, before: set[str], timeout_s: float) -> tuple[str, float, list]:
    """Waits for the prompt queued after ``before`` (history ids); returns (status, seconds, error messages)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            history = _get(f"{url}/api/history")
            queue = _get(f"{url}/api/queue")
        except OSError:  # a server busy computing may answer late: ask again
            time.sleep(5.0)
            continue
        new = [h for k, h in history.items() if k not in before]
        if new and not queue["queue_running"] and not queue["queue_pending"]:
            status = new[0].get("status", {})
            errors = [m[1] for m in status.get("messages", []) if m[0] == "execution_error"]
            return status.get("status_str", "?"), time.monotonic() - start, errors
        time.sleep(2.0)
    return "timeout", time.monotonic() - start, []


def _workflow_path(value: str) -> Path:
    """A workflow given as a path (relative to the current folder) or as a name in workflows/ (with or without
    .json); always absolute."""
    path = Path(value)
    if not path.exists():
        path = ROOT / "workflows" / (value if value.endswith(".json") else f"{value}.json")
    return path.resolve()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8188")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--workflows", nargs="*", type=_workflow_path, default=sorted((ROOT / "workflows").glob("*.json")),
                   help="workflow files or names (default: every workflow in workflows/)")
    p.add_argument("--readme", default="ZONE local edit", help="workflow (file name without .json) whose picture "
                   "goes to docs/comfyui_<name, lower case, _ for spaces>.png ('' = none)")
    p.add_argument("--templates", action="store_true", help="also photograph the template browser")
    p.add_argument("--thumbnails", action="store_true", help="write workflows/<name>.jpg from the graph (the "
                   "template cards show tools/render_cards.py's before -> after pictures instead)")
    p.add_argument("--queue", action="store_true", help="run each workflow from the page and wait for it")
    p.add_argument("--fast", action="store_true", help="CPU-speed values before queueing (see fast_values)")
    p.add_argument("--files", default="", help="ip2p,magicbrush,sam file names to select before queueing")
    p.add_argument("--images", default="", help="photo,canvas input files to select before queueing (a Load "
                   "Image titled '...canvas...' gets the second)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for one queued workflow")
    p.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the README / template pictures")
    args = p.parse_args()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url = args.url.rstrip("/")
    files = args.files.split(",") if args.files else None
    images = args.images.split(",") if args.images else None
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
        page.goto(url, wait_until="networkidle")
        page.wait_for_function("() => window.app && window.app.graph", timeout=120_000)
        page.keyboard.press("Escape")  # a first-run dialog, if any
        page.evaluate("() => window.app.extensionManager.setting.set('Comfy.Minimap.Visible', false)")
        for path in args.workflows:
            before = len(problems)
            page.evaluate(DROP_JS, [path.name, path.read_text()])
            page.wait_for_timeout(2500)
            page.keyboard.press("Escape")  # e.g. the missing-models dialog when the files are not installed
            page.wait_for_timeout(500)
            titles = page.evaluate("() => window.app.graph._nodes.map(n => n.title)")
            print(f"{path.stem}: {len(titles)} nodes loaded")
            shot = page.screenshot(type="png")
            if args.thumbnails:  # the graph as it opens, without the side and top bars
                box = page.locator("#graph-canvas").bounding_box()
                thumb = path.with_suffix(".jpg")
                page.screenshot(path=str(thumb), type="jpeg", quality=90,
                                clip={"x": box["x"] + 60, "y": box["y"] + 70, "width": 1440, "height": 864})
                with Image.open(thumb) as im:
                    im.convert("RGB").resize((800, 480), Image.LANCZOS).save(thumb, quality=85)
                print(f"  wrote {thumb.relative_to(ROOT)}")
            if path.stem == args.readme:
                target = args.out / f"comfyui_{path.stem.lower().replace(' ', '_')}.png"
                target.write_bytes(shot)
                print(f"  wrote {target}")
            if args.queue:
                if args.fast or files or images:
                    changed = page.evaluate(SET_WIDGETS_JS, [fast_values() if args.fast else {}, files, images])
                    print(f"  set {changed} widget values")
                seen = set(_get(f"{url}/api/history"))
                page.evaluate("() => window.app.queuePrompt(0, 1)")
                status, seconds, errors = _wait_for_run(url, seen, args.timeout)
                print(f"  queued from the page: {status} in {seconds:.0f} s {errors or ''}")
                page.wait_for_timeout(1500)  # the previews arrive over the websocket
                page.screenshot(path=str(args.out / f"ran_{path.stem}.png"))
                if status != "success":
                    problems.append(f"{path.stem}: run ended in {status}: {errors}")
            for line in problems[before:]:
                print(f"  {line}")
        if args.templates:
            page.evaluate("() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates')")
            page.wait_for_timeout(2000)
            page.get_by_text("ComfyUI-ZONE", exact=True).last.click()  # the pack's category under Custom Nodes
            page.wait_for_timeout(3000)
            target = args.out / "comfyui_templates.png"
            page.screenshot(path=str(target))
            print(f"wrote {target}")
        browser.close()
    failures = [line for line in problems if not any(probe in line for probe in FRONTEND_PROBES)]
    for line in failures:
        print(f"PROBLEM {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
