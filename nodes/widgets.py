"""Widget values checked against each node's own ``INPUT_TYPES`` declaration, before the node runs.

ComfyUI checks a widget's min / max when the prompt is queued, but a NaN passes every comparison, and values
arriving through converted widget inputs or API prompts can be anything. ``install_widget_checks`` wraps a node
class's FUNCTION once so that every FLOAT is a finite number in its declared range, every INT an integer in range,
every BOOLEAN a bool, every STRING a str and every non-empty combo one of its choices; otherwise a ZoneInputError
naming the widget and the node. ``nodes/__init__.py`` installs it on every class of NODE_CLASS_MAPPINGS, so new
nodes and widgets are covered without code of their own.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Mapping

from ..zone_ops.core.images import ZoneInputError, check_number

CHECKED = "__zone_widgets_checked__"


def widget_specs(node_cls: type) -> dict[str, tuple[Any, dict]]:
    """name -> (type or combo list, options) for every required and optional input of ``node_cls``."""
    declared = node_cls.INPUT_TYPES()
    specs: dict[str, tuple[Any, dict]] = {}
    for section in ("required", "optional"):
        for name, spec in (declared.get(section) or {}).items():
            kind = spec[0]
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
            specs[name] = (kind, dict(options))
    return specs


def check_widget(node: str, name: str, kind: Any, options: Mapping[str, Any], value: Any) -> None:
    """Raise ZoneInputError when ``value`` does not fit the widget declaration (``kind``, ``options``)."""
    where = f"{node}: widget '{name}'"
    if kind == "FLOAT":
        if isinstance(value, bool):
            raise ZoneInputError(f"{where} must be a number, got {value!r}")
        check_number(value, where, options.get("min", -math.inf), options.get("max", math.inf))
    elif kind == "INT":
        if isinstance(value, bool) or not isinstance(value, int) and not (
            isinstance(value, float) and value.is_integer()
        ):
            raise ZoneInputError(f"{where} must be a whole number, got {value!r}")
        check_number(value, where, options.get("min", -math.inf), options.get("max", math.inf))
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ZoneInputError(f"{where} must be true or false, got {value!r}")
    elif kind == "STRING":
        if not isinstance(value, str):
            raise ZoneInputError(f"{where} must be text, got {type(value).__name__}")
    elif isinstance(kind, (list, tuple)) and kind and value not in kind:
        raise ZoneInputError(f"{where} must be one of {', '.join(map(str, kind))}; got {value!r}")


def check_widgets(node_cls: type, node: str, values: Mapping[str, Any]) -> None:
    """Check every widget value in ``values`` (links such as IMAGE or MODEL are not widgets and are skipped)."""
    for name, (kind, options) in widget_specs(node_cls).items():
        if name in values and values[name] is not None:
            check_widget(node, name, kind, options, values[name])


def install_widget_checks(node_cls: type, display_name: str | None = None) -> type:
    """Wrap ``node_cls``'s FUNCTION so that its widget values are checked first (idempotent). Returns the class."""
    method_name = node_cls.FUNCTION
    method = getattr(node_cls, method_name)
    if getattr(method, CHECKED, False):
        return node_cls
    signature = inspect.signature(method)
    node = display_name or node_cls.__name__

    @functools.wraps(method)
    def checked(self, *args: Any, **kwargs: Any) -> Any:
        check_widgets(node_cls, node, signature.bind(self, *args, **kwargs).arguments)
        return method(self, *args, **kwargs)

    setattr(checked, CHECKED, True)
    setattr(node_cls, method_name, checked)
    return node_cls
