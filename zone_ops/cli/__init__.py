"""The command line: ``python -m zone_ops edit ...`` and ``python -m zone_ops localize ...``.

- ``commands``: argument parsing and the two commands
- ``safety``: output planning that never loses a file (one folder per input, never over an input)
"""

from .commands import main

__all__ = ["main"]
