"""Node tests: record what a node passes to the library function it wraps.

``Spy(monkeypatch, module, "name")`` replaces ``module.name`` (the name as the node module imported it) by a wrapper
that calls the real function and keeps every call's arguments, so a test can check that each widget value reaches
the library (a node that ignores a non-default widget fails) and compare the node's output with the library's.
"""

from __future__ import annotations

from typing import Any


class Spy:
    def __init__(self, monkeypatch: Any, module: Any, name: str, fake: Any = None) -> None:
        """``fake``: called instead of the real function (for wiring checks that need not run a slow model)."""
        self.calls: list[tuple[tuple, dict]] = []
        target = fake if fake is not None else getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((args, kwargs))
            return target(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    @property
    def kwargs(self) -> dict:
        """Keyword arguments of the only call (asserts there was exactly one)."""
        assert len(self.calls) == 1, f"expected one call, got {len(self.calls)}"
        return self.calls[0][1]
