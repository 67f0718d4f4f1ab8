"""The repository folder as ComfyUI and pytest import it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import load_pack

ROOT = Path(__file__).resolve().parents[1]


def test_pytest_runs_in_a_clone_named_comfyui_zone(tmp_path):
    """``git clone .../ComfyUI-ZONE`` gives a folder whose name is no Python identifier; pytest then imports the root
    ``__init__.py`` as a plain file (no parent package). Every test errored on its relative import before."""
    clone = tmp_path / "ComfyUI-ZONE"
    (clone / "tests").mkdir(parents=True)
    for name in ("__init__.py", "pyproject.toml", "nodes", "zone_ops"):
        (clone / name).symlink_to(ROOT / name)
    (clone / "tests" / "test_probe.py").write_text("def test_probe():\n    pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_probe.py"],
                         cwd=clone, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]


def test_root_init_as_a_package_registers_every_node():
    pack = load_pack()
    assert pack.NODE_CLASS_MAPPINGS and set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)


def test_descriptions_render_as_markdown():
    """The frontend renders DESCRIPTION as Markdown: a bare ``*`` or ``_`` (outside a `code span`) would vanish or
    start emphasis ("beta*x_mb" showed as "betax_mb"), and ``<word`` would be taken for an HTML tag."""
    import re

    pack = load_pack()
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        text = re.sub(r"`[^`]*`", "", getattr(cls, "DESCRIPTION", ""))
        assert text.strip(), f"{name} has no DESCRIPTION"
        bad = re.findall(r"[*]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|<[A-Za-z/!]", text)
        assert not bad, f"{name}.DESCRIPTION has Markdown-active {bad}: put formulas in `backticks`"


def test_every_input_has_a_tooltip():
    """A user hovering any input of a ZONE node reads what it does (the sampler's seed too)."""
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS

    missing = [f"{name}.{key}" for name, cls in NODE_CLASS_MAPPINGS.items()
               for section in cls.INPUT_TYPES().values() for key, spec in section.items()
               if not (len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("tooltip"))]
    assert not missing, f"inputs without a tooltip: {missing}"
