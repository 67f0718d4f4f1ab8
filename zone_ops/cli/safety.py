"""Output safety shared by every command-line subcommand: nothing the user has is lost, every expected failure is
one line on stderr and exit status 2.

A subcommand does, in this order, before loading any model:

    out = prepare_out_dir(args.out)                        # create --out and prove it is writable
    plans = plan_outputs(images, out, FILES, overwrite=args.overwrite)   # one folder per input, all checked
    ...load models, then for each plan write plan.files[key]...

and wraps its body in ``run_cli(PROG, body)`` (one-line errors, exit codes). ``plan_outputs`` guarantees:
- one folder per input (``out/NAME/``, NAME the file stem, made unique: ``cat``, ``cat_2``...), so no two inputs
  can ever write the same file, whatever their names;
- no planned file is an input file (also not through a link or a case-insensitive file system), with or without
  ``--overwrite``;
- an existing output is replaced only with ``overwrite=True``; otherwise the run stops before doing anything.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..core.images import ZoneInputError

#: Exit status of a user error (argparse uses the same).
USER_ERROR = 2
#: Exit status after Ctrl+C (128 + SIGINT).
INTERRUPTED = 130


class CliError(ZoneInputError):
    """A user error: printed as one line, exit status 2."""


@dataclass(frozen=True)
class OutputPlan:
    """Where the outputs of one input go: ``folder`` (``out/NAME``) and ``files`` (key -> path inside it)."""

    source: Path
    name: str
    folder: Path
    files: dict[str, Path]


def prepare_out_dir(out: str | os.PathLike, flag: str = "--out") -> Path:
    """Create the output folder (with its parents) and write-test it; returns it. CliError when impossible."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".zone-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CliError(f"cannot write into {flag} {str(path)!r} ({reason}); choose a folder you can write to") from None
    return path


def unique_names(paths: Sequence[Path]) -> list[str]:
    """One folder name per input: the file stem; a repeated stem (compared case-insensitively) gets ``_2``, ``_3``...,
    never a name another input has as its own stem."""
    taken = set()
    first: dict[int, str] = {}
    for i, p in enumerate(paths):
        key = p.stem.lower()
        if key not in taken:
            taken.add(key)
            first[i] = p.stem
    names = []
    for i, p in enumerate(paths):
        if i in first:
            names.append(first[i])
            continue
        n = 2
        while f"{p.stem}_{n}".lower() in taken:
            n += 1
        taken.add(f"{p.stem}_{n}".lower())
        names.append(f"{p.stem}_{n}")
    return names


def _same_file(a: Path, b: Path) -> bool:
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def plan_outputs(
    sources: Sequence[Path], out: Path, files: Mapping[str, str], *, overwrite: bool = False, flag: str = "--out",
    other_inputs: Sequence[Path] = (),
) -> list[OutputPlan]:
    """Plan (and create) one folder ``out/NAME`` per input holding ``files`` (key -> file name). Checks everything
    before anything is written; raises CliError when a planned file is an input (``sources`` or ``other_inputs``,
    e.g. the edited image paired with each source), when an output already exists and ``overwrite`` is False, or
    when a folder name is taken by a file."""
    plans = []
    for source, name in zip(sources, unique_names(sources)):
        folder = out / name
        plans.append(OutputPlan(source, name, folder, {k: folder / f for k, f in files.items()}))
    for plan in plans:
        if plan.folder.exists() and not plan.folder.is_dir():
            raise CliError(f"cannot make the output folder {str(plan.folder)!r}: a file has that name; "
                           f"choose another {flag}")
        for target in plan.files.values():
            for source in (*sources, *other_inputs):
                if _same_file(target, source):
                    raise CliError(f"{flag} would write {str(target)!r} over the input {str(source)!r}; "
                                   f"choose another {flag}")
            if not overwrite and (target.exists() or target.is_symlink()):
                raise CliError(f"{str(target)!r} already exists (an earlier run?); choose another {flag} "
                               "or pass --overwrite to replace it")
    for plan in plans:
        try:
            plan.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create the output folder {str(plan.folder)!r} ({exc.strerror})") from None
    return plans


def run_cli(prog: str, body: Callable[[], int]) -> int:
    """Run a subcommand's ``body`` and turn every expected failure into one line on stderr and exit status 2:
    bad inputs and parameters (ZoneInputError), unreadable / corrupt / missing files and full disks (OSError),
    running out of memory. Ctrl+C gives status 130. Anything else is a bug and keeps its traceback."""
    import torch

    try:
        return body()
    except ZoneInputError as exc:  # includes CliError, SamCheckpointError
        message = str(exc)
    except torch.OutOfMemoryError:
        message = "out of memory: lower --working-size (or --sam-max-side), or use --device cpu"
    except MemoryError:
        message = "out of memory: lower --working-size (or --sam-max-side)"
    except OSError as exc:  # FileNotFoundError, PermissionError, a full disk, a corrupt file
        where = f" {str(exc.filename)!r}" if getattr(exc, "filename", None) else ""
        message = f"{exc.strerror or exc}{where}".strip()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return USER_ERROR
