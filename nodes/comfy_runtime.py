"""The few ComfyUI services the nodes use, each with a plain fallback so the pack imports without ComfyUI.

- ``Progress``: comfy.utils.ProgressBar (the green bar on the node), or nothing.
- ``check_interrupt``: comfy.model_management.throw_exception_if_processing_interrupted (the Cancel button).
- ``register_model_folder`` / ``model_file_list`` / ``model_file_path``: folder_paths, idempotent registration.
"""

from __future__ import annotations

import os
from typing import Any


def _comfy_utils() -> Any | None:
    try:
        import comfy.utils  # type: ignore[import-not-found]
    except ImportError:
        return None
    return comfy.utils


def _model_management() -> Any | None:
    try:
        import comfy.model_management  # type: ignore[import-not-found]
    except ImportError:
        return None
    return comfy.model_management


def _folder_paths() -> Any | None:
    try:
        import folder_paths  # type: ignore[import-not-found]
    except ImportError:
        return None
    return folder_paths


class Progress:
    """A progress bar of ``total`` units: ComfyUI's when running inside ComfyUI, silent otherwise.

    ``preview`` (optional, for ``update``) is a PIL image or None: ComfyUI shows it on the node while it runs.
    """

    def __init__(self, total: int) -> None:
        self.total = max(int(total), 1)
        self.current = 0
        utils = _comfy_utils()
        self._bar = utils.ProgressBar(self.total) if utils is not None else None

    def update(self, value: int = 1, preview: Any = None) -> None:
        self.current = min(self.current + value, self.total)
        if self._bar is not None:
            self._bar.update_absolute(self.current, self.total, preview)

    def __call__(self, done: int, total: int) -> None:
        """Callback form for zone_ops loops: ``done`` of ``total`` units finished."""
        self.total = max(int(total), 1)
        self.current = 0
        self.update(int(done))


def check_interrupt() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel (no-op outside ComfyUI)."""
    mm = _model_management()
    if mm is not None:
        mm.throw_exception_if_processing_interrupted()


def torch_device() -> Any:
    """ComfyUI's compute device, or CUDA/CPU outside ComfyUI."""
    mm = _model_management()
    if mm is not None:
        return mm.get_torch_device()
    from ..zone_ops.models.checkpoint import resolve_device

    return resolve_device("auto")


MODEL_EXTENSIONS = {".pth", ".pt", ".bin", ".safetensors"}


def register_model_folder(name: str) -> None:
    """Make sure ComfyUI knows ``models/<name>`` (idempotent; shares the folder with other packs that use it)."""
    fp = _folder_paths()
    if fp is None:
        return
    if name in fp.folder_names_and_paths:
        paths, exts = fp.folder_names_and_paths[name]
        fp.folder_names_and_paths[name] = (paths, set(exts) | MODEL_EXTENSIONS)
        return
    fp.folder_names_and_paths[name] = ([os.path.join(fp.models_dir, name)], set(MODEL_EXTENSIONS))


def model_file_list(name: str) -> list[str]:
    """File names in ComfyUI's ``models/<name>`` folder(s); empty outside ComfyUI."""
    fp = _folder_paths()
    if fp is None:
        return []
    register_model_folder(name)
    return list(fp.get_filename_list(name))


def model_file_path(name: str, filename: str) -> str:
    """Full path of ``filename`` in ``models/<name>``; outside ComfyUI ``filename`` is taken as a path."""
    fp = _folder_paths()
    if fp is None:
        if not os.path.isfile(filename):
            raise FileNotFoundError(f"model file not found: {filename}")
        return filename
    register_model_folder(name)
    path = fp.get_full_path(name, filename)
    if path is None:
        folders = ", ".join(fp.get_folder_paths(name))
        raise FileNotFoundError(f"'{filename}' is not in models/{name} ({folders}). Put the file there and refresh.")
    return path


def cache_folder(name: str) -> str | None:
    """ComfyUI's ``user/comfyui_zone/<name>`` folder, for files the pack computes once and keeps (e.g. the trained
    action-classifier heads); None outside ComfyUI (the caller then uses its own default)."""
    fp = _folder_paths()
    if fp is None:
        return None
    base = fp.get_user_directory() if hasattr(fp, "get_user_directory") else os.path.join(fp.models_dir, "..", "user")
    return os.path.join(base, "comfyui_zone", name)
