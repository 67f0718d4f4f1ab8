"""Cancel for long loops without importing ComfyUI: a process-wide hook that ``nodes/`` installs.

``nodes/__init__.py`` calls ``set_cancel_hook(comfy.model_management.throw_exception_if_processing_interrupted)``;
library loops call ``check_cancel(callback)`` between steps: the caller's callback when given, else the hook. The
hook raises to abort (ComfyUI's InterruptProcessingException); outside ComfyUI there is no hook and Ctrl+C works.
"""

from __future__ import annotations

from typing import Callable

_HOOK: Callable[[], None] | None = None


def set_cancel_hook(hook: Callable[[], None] | None) -> None:
    """Install (or with None remove) the process-wide cancel check."""
    global _HOOK
    _HOOK = hook


def check_cancel(callback: Callable[[], None] | None = None) -> None:
    """Call ``callback`` when given, else the installed hook; either raises when the user cancelled."""
    hook = callback if callback is not None else _HOOK
    if hook is not None:
        hook()
