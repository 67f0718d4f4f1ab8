"""Every input value checked against each node's own ``INPUT_TYPES`` declaration, before the node runs.

ComfyUI checks a widget's min / max when the prompt is queued, but a NaN passes every comparison, and values
arriving through converted widget inputs, API prompts or Python callers (scripts, other packs) can be anything.
``install_widget_checks`` wraps a node class's FUNCTION once so that, with a ZoneInputError naming the input and the
node otherwise:
- every widget fits its declaration (``zone_ops.params.check_value``, the check the command line uses too): FLOAT
  a finite number in range, INT a whole number in range, BOOLEAN a bool, STRING a str, a combo one of its
  choices; None and numbers given as text are refused;
- every IMAGE is a torch tensor [B, H, W, C] (C 1..4) and every MASK a tensor [B, H, W] or [H, W], not empty, of
  a numeric dtype, within the pixel limit (``zone_ops.core.images.check_image_size``); numpy arrays, None, text
  are refused;
- every required link (MODEL, CLIP, ZONE_ATTENTION...) is given (not None); an optional link may be None (not
  connected), an optional widget may be left out but not given as None.
``nodes/__init__.py`` installs it on every class of NODE_CLASS_MAPPINGS, so new nodes and inputs are covered
without code of their own.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Mapping

import torch

from ..zone_ops.core.images import ZoneInputError, check_image_size
from ..zone_ops.params import check_value

CHECKED = "__zone_widgets_checked__"
WIDGET_KINDS = ("FLOAT", "INT", "BOOLEAN", "STRING")


def input_specs(node_cls: type) -> dict[str, tuple[Any, dict, bool]]:
    """name -> (type or combo list, options, required) for every required and optional input of ``node_cls``."""
    declared = node_cls.INPUT_TYPES()
    specs: dict[str, tuple[Any, dict, bool]] = {}
    for section in ("required", "optional"):
        for name, spec in (declared.get(section) or {}).items():
            kind = spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
            specs[name] = (kind, dict(options), section == "required")
    return specs


def widget_specs(node_cls: type) -> dict[str, tuple[Any, dict]]:
    """name -> (type or combo list, options) for every required and optional input of ``node_cls``."""
    return {name: (kind, options) for name, (kind, options, _) in input_specs(node_cls).items()}


def check_tensor(node: str, name: str, kind: str, value: Any) -> None:
    """An IMAGE [B, H, W, C] (C 1..4) or MASK [B, H, W] / [H, W] torch tensor, not empty, numeric, within the pixel
    limit; ZoneInputError naming the input and the node otherwise."""
    where = f"{node}: input '{name}'"
    if not isinstance(value, torch.Tensor):
        got = "None (nothing connected)" if value is None else f"a {type(value).__module__.split('.')[0]} " \
            f"{type(value).__name__}" if not isinstance(value, str) else f"the text {value[:40]!r}"
        hint = " (convert it with torch.from_numpy)" if type(value).__module__.startswith("numpy") else ""
        raise ZoneInputError(f"{where} must be {'an' if kind == 'IMAGE' else 'a'} {kind} (a torch tensor), got {got}{hint}")
    shape = tuple(value.shape)
    if kind == "IMAGE":
        ok = value.ndim == 4 and 1 <= shape[-1] <= 4
        expected = "[B, H, W, C] with C = 1 to 4 channels"
    else:
        ok = value.ndim in (2, 3)
        expected = "[B, H, W] or [H, W]"
    if not ok:
        raise ZoneInputError(f"{where} must be {'an' if kind == 'IMAGE' else 'a'} {kind} {expected}, got shape {shape}")
    if value.numel() == 0:
        raise ZoneInputError(f"{where} is empty (shape {shape})")
    if value.dtype.is_complex or not (value.dtype.is_floating_point or value.dtype in (torch.uint8, torch.bool)):
        raise ZoneInputError(f"{where} must hold float, uint8 or bool values, got {value.dtype}")
    h, w = (shape[1], shape[2]) if kind == "IMAGE" or value.ndim == 3 else shape
    check_image_size(h, w, where)


def check_widget(node: str, name: str, kind: Any, options: Mapping[str, Any], value: Any) -> None:
    """Raise ZoneInputError when ``value`` does not fit the widget declaration (``kind``, ``options``)."""
    if kind in WIDGET_KINDS or (isinstance(kind, (list, tuple)) and kind):
        check_value(kind, options, value, f"{node}: widget '{name}'")


def check_inputs(node_cls: type, node: str, values: Mapping[str, Any]) -> None:
    """Check every input value in ``values``: widgets, IMAGE / MASK tensors, required links given."""
    for name, (kind, options, required) in input_specs(node_cls).items():
        if name not in values:
            continue
        value = values[name]
        widget = kind in WIDGET_KINDS or (isinstance(kind, (list, tuple)) and bool(kind))
        if value is None and not required and not widget:
            continue  # an optional link left unconnected (an optional widget is omitted, never None)
        if kind in ("IMAGE", "MASK"):
            check_tensor(node, name, kind, value)
        elif widget:
            check_widget(node, name, kind, options, value)
        elif value is None:
            raise ZoneInputError(f"{node}: input '{name}' ({kind}) is not connected (got None)")


#: Older name, kept for callers.
check_widgets = check_inputs


def install_widget_checks(node_cls: type, display_name: str | None = None) -> type:
    """Wrap ``node_cls``'s FUNCTION so that its inputs are checked first (idempotent). Returns the class."""
    method_name = node_cls.FUNCTION
    method = getattr(node_cls, method_name)
    if getattr(method, CHECKED, False):
        return node_cls
    signature = inspect.signature(method)
    node = display_name or node_cls.__name__

    @functools.wraps(method)
    def checked(self, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as exc:  # a missing or unknown input: say which node
            raise ZoneInputError(f"{node}: {exc}") from None
        check_inputs(node_cls, node, bound.arguments)
        return method(self, *args, **kwargs)

    setattr(checked, CHECKED, True)
    setattr(node_cls, method_name, checked)
    return node_cls
