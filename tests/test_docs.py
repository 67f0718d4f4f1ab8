"""The README and docs/: the generated node reference is current, every relative link and picture exists (and every
``#anchor`` names a heading of its page), the README stays short with install, weights and the first run on its
first screen, and its two set-up commands are the ones CI runs (.ci/run)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 15 * 1024
FIRST_SCREEN_LINES = 60  # what a reader sees before scrolling, generously

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
# A link destination is ``<any text but <>, newline>`` (spaces and parentheses allowed: CommonMark) or a bare one
# without spaces or ')'; either may be %-encoded (``ZONE%20local%20edit.json``).
_MD_LINK = re.compile(r"!?\[[^\]]*\]\((?:<([^<>\n]+)>|([^)\s]+))(?:\s+\"[^\"]*\")?\)")
_HTML_REF = re.compile(r"""<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)=["']([^"']+)["']""", re.I)


def _prose(text: str) -> str:
    """The text with fenced code blocks and code spans removed (links there are examples, not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    """Every link and picture target of a Markdown page: ``[t](x)``, ``![a](x)``, ``<img src="x">``, ``<a href="x">``."""
    prose = _prose(text)
    return [angled or bare for angled, bare in _MD_LINK.findall(prose)] + _HTML_REF.findall(prose)


def anchors(text: str) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats
    numbered (``-1``, ``-2``)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _FENCE.sub("", text).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = "".join(c for c in m.group(1).lower() if c.isalnum() or c in " -_").replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT) if ROOT in path.parents else path


def broken_links(page: Path) -> list[str]:
    bad = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...: not checked offline
            continue
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            bad.append(f"{target} (no file {_rel(dest)})")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
            bad.append(f"{target} (no heading #{fragment} in {_rel(dest)})")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_picture_exists(page):
    assert links(page.read_text()), f"{page.name} links nowhere"
    assert broken_links(page) == [], f"{page.relative_to(ROOT)}: broken links"


def test_the_link_check_sees_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section: `code`\n\n[ok](#a-section-code) [gone](missing.md) [bad](#nowhere)\n"
                    '<img src="nope.png" width="9"> ![pic](page.md)\n```\n[in code](ignored.md)\n```\n')
    bad = broken_links(page)
    assert [b.split(" ")[0] for b in bad] == ["missing.md", "#nowhere", "nope.png"], bad


def test_the_link_check_reads_names_with_spaces_and_parentheses(tmp_path):
    """Card files are named by their titles ("ZONE local edit.json", "... (API) ..."): a link to one is written
    ``<...>`` or %-encoded, and both are checked against the real file, not skipped or cut at the space."""
    (tmp_path / "A card (API) x.jpg").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text("# T\n\n[ok](<A card (API) x.jpg>) ![ok](A%20card%20%28API%29%20x.jpg)\n"
                    '<img src="A%20card%20(API)%20x.jpg"> [gone](<A card x.jpg>) <img src="A%20card.jpg">\n')
    assert len(links(page.read_text())) == 5
    bad = broken_links(page)
    assert [b.split(" (no file")[0] for b in bad] == ["A card x.jpg", "A%20card.jpg"], bad


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (at most {README_MAX_BYTES}): move detail into docs/"


def test_readme_first_screen_has_install_weights_and_first_run():
    first = "\n".join(README.read_text().splitlines()[:FIRST_SCREEN_LINES]).lower()
    for needed in ("install", "pip install -r requirements.txt", "git clone", "comfyui-manager", "### weights",
                   "instruct-pix2pix-00-22000.safetensors", "models/checkpoints/", "models/sams/", "### first run"):
        assert needed in first, f"{needed!r} is not on the README's first screen ({FIRST_SCREEN_LINES} lines)"


def test_every_docs_page_is_linked_from_the_readme():
    targets = {t.partition("#")[0] for t in links(README.read_text())}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in targets, f"README.md does not link docs/{page.name}"


def _bash_blocks(text: str) -> list[list[str]]:
    return [[line for line in block.strip().splitlines() if line.strip()]
            for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S)]


def test_readme_setup_commands_are_the_ones_ci_runs():
    """The README's development block holds exactly two commands (install, test) and .ci/run runs those same two."""
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    blocks = _bash_blocks(README.read_text())
    assert len(blocks) == 1 and len(blocks[0]) == 2, f"the README's bash blocks (one, of two commands): {blocks}"
    assert blocks == _bash_blocks(README.read_text().split("## Development", 1)[1]), "not under ## Development"
    install, test = blocks[0]
    assert "pip install" in install and "pytest" in test
    for command in blocks[0]:
        assert command in ci, f".ci/run does not run the README's command {command!r}"
    ci_commands = [line for line in ci if line.startswith(".venv/") or line.startswith("python3 -m venv")]
    assert ci_commands == blocks[0], f".ci/run runs {ci_commands}, the README says {blocks[0]}"
    assert blocks[0] in _bash_blocks((ROOT / "docs" / "development.md").read_text())


def test_node_reference_current():
    """docs/nodes.md is generated from the nodes' INPUT_TYPES / DESCRIPTION / tooltips: a node change must regenerate
    it (``python tools/node_reference.py``)."""
    from test_workflows import _without_comfyui_model_files

    spec = importlib.util.spec_from_file_location("zone_node_reference", ROOT / "tools" / "node_reference.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    with _without_comfyui_model_files():
        generated = ref.page(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS)
    assert ref.GUIDE.read_text() == generated, "docs/nodes.md is stale: run `python tools/node_reference.py`"
    for key in NODE_CLASS_MAPPINGS:
        assert f"(`{key}`)" in generated, f"{key} is missing from the node reference"


_REPO_PATH = re.compile(r"`((?:zone_ops|nodes|tools|tests|benchmarks|workflows|docs|\.ci)/[^`*<>\n]+)`")


def named_path_exists(span: str) -> bool:
    """A code span naming a repository file exists: the whole span (``workflows/ZONE local edit.json``; file names
    may hold spaces), else its first word as the file of a command (``tools/render_cards.py --thumbnails``)."""
    whole = span.strip().rstrip(".,:;")
    return (ROOT / whole).exists() or (ROOT / span.split()[0].rstrip(".,:;")).exists()
_MODULE = re.compile(r"`(zone_ops(?:\.\w+)+)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_files_and_modules_exist(page):
    """A file named in code (`tools/build_workflows.py`) exists and a dotted name (`zone_ops.core.color_drift`,
    `zone_ops.pipeline.run_zone`) resolves: moved modules leave no stale path in the docs."""
    import importlib

    text = page.read_text()
    missing = [p for p in _REPO_PATH.findall(text) if not named_path_exists(p)]
    assert missing == [], f"{page.name} names files that do not exist: {missing}"
    for dotted in sorted(set(_MODULE.findall(text))):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"{page.name}: {dotted} does not resolve (no {attr})"
            obj = getattr(obj, attr)


def test_named_file_check_reads_names_with_spaces():
    assert named_path_exists("workflows/ZONE local edit.json")
    assert named_path_exists("tools/build_workflows.py --check")
    for stale in ("workflows/zone_local_edit.json", "workflows/ZONE local edt.json", "workflows/ZONE"):
        assert not named_path_exists(stale), stale
    assert _REPO_PATH.findall("see `workflows/ZONE local edit.json`.") == ["workflows/ZONE local edit.json"]
