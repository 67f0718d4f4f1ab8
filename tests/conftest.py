"""Shared test fixtures.

The pack is imported exactly as ComfyUI imports it: the repository folder loaded as a package from its
``__init__.py`` (here under the name ``comfyui_zone``), so the nodes' relative imports are exercised for real.
Tests use real photographs shipped by scikit-image and synthetic cases with known answers. No network.

Every test body runs under ``torch.inference_mode()``, as ComfyUI runs every node (``execution.py`` wraps each
node call in it), so a node test cannot pass here and fail in ComfyUI. A test of code that runs outside ComfyUI
with autograd on (e.g. the CLI) opts out with ``@pytest.mark.autograd``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
PACK_NAME = "comfyui_zone"


def load_pack():
    """Import the repository as ComfyUI does and return the package module."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


load_pack()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Run the test body as ComfyUI runs a node: under ``torch.inference_mode()`` (unless marked ``autograd``).

    A hook rather than an autouse fixture: Hypothesis refuses function-scoped fixtures on ``@given`` tests."""
    with torch.inference_mode(item.get_closest_marker("autograd") is None):
        return (yield)


def _check_library_is_this_tree() -> None:
    """Tests import the library both as ``zone_ops`` and as the pack's copy: both must be this working tree's files.
    A bare ``pytest`` may resolve ``zone_ops`` to another (editable) install; stop loudly instead of testing it."""
    import zone_ops

    found = Path(zone_ops.__file__).resolve().parent
    if found != ROOT / "zone_ops":
        pytest.exit(f"tests import zone_ops from {found}, not from this working tree ({ROOT / 'zone_ops'}): run "
                    "`python -m pytest` from the repository root", returncode=4)


_check_library_is_this_tree()


@pytest.fixture(scope="session")
def pack():
    return load_pack()


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a package), registered in sys.modules
    so its dataclasses can look their module up."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def photo(name: str) -> np.ndarray:
    """A real photograph from ``skimage.data`` as float32 [H, W, 3] in 0..1 (grayscale ones replicated)."""
    from skimage import data

    img = getattr(data, name)()
    img = img.astype(np.float32) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return photo("astronaut")  # 512 x 512


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return photo("coffee")  # 400 x 600, non-square


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return photo("chelsea")  # 300 x 451
