"""Output safety shared by every command-line subcommand: nothing the user has is lost, every expected failure is
one line on stderr and exit status 2.

A subcommand does, in this order, before loading any model:

    out = prepare_out_dir(args.out)                        # create --out and prove it is writable
    with claimed_outputs(images, out, FILES, overwrite=args.overwrite) as plans:   # one folder per input, claimed
        ...load models, then for each plan: write_output(plan.files[key], data, overwrite=args.overwrite)...

and wraps its body in ``run_cli(PROG, body)`` (one-line errors, exit codes). ``plan_outputs`` guarantees:
- one folder per input (``out/NAME/``, NAME the file stem, made unique: ``cat``, ``cat_2``...), so no two inputs
  can ever write the same file, whatever their names;
- no planned file is an input file (also not through a link or a case-insensitive file system), with or without
  ``--overwrite``;
- each folder is CLAIMED by this run (a lock file ``.zone-run.lock`` created exclusively, holding the pid) before
  its outputs are looked at, so two runs at the same time into one --out cannot both pass the check: the second
  stops with one line naming the folder and the other run's pid. A lock left by a run that died (its pid is gone
  on this machine) is taken over;
- an existing output is replaced only with ``overwrite=True``; otherwise the run stops before doing anything;
- no write follows a symbolic link: a per-input folder that is a link is refused, and every file is written under
  a temporary name in its folder and then renamed onto its name, so an output that is a link is replaced by a
  plain file (the link itself, with --overwrite), never written through; without --overwrite the rename refuses
  any name that exists by then (``os.link``), so a file that appears meanwhile is never replaced.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from ..core.images import ZoneInputError

#: Exit status of a user error (argparse uses the same).
USER_ERROR = 2
#: Exit status when some inputs were skipped (listed on stderr) and the others were written.
PARTIAL = 3
#: Exit status after Ctrl+C (128 + SIGINT).
INTERRUPTED = 130
#: The lock file a run holds in each per-input folder while it writes there.
LOCK_NAME = ".zone-run.lock"


class CliError(ZoneInputError):
    """A user error: printed as one line, exit status 2."""


@dataclass(frozen=True)
class OutputPlan:
    """Where the outputs of one input go: ``folder`` (``out/NAME``) and ``files`` (key -> path inside it)."""

    source: Path
    name: str
    folder: Path
    files: dict[str, Path]
    #: set by ``plan_outputs``: the lock file this run holds, and whether it created the folder
    held: dict[str, Path | bool] = field(default_factory=dict, compare=False)

    def release(self, remove_if_empty: bool = False) -> None:
        """Give the folder back (remove the lock); ``remove_if_empty``: also remove the folder when this run made
        it and nothing is in it (an input that was skipped)."""
        lock = self.held.pop("lock", None)
        if isinstance(lock, Path):
            try:
                lock.unlink()
            except FileNotFoundError:
                pass
        if remove_if_empty and self.held.get("created"):
            try:
                self.folder.rmdir()
            except OSError:
                pass


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
    return [f"_{n}" if n.strip(".") == "" else n for n in names]  # a file "...png" must not name out/.. or out/.


def _same_file(a: Path, b: Path) -> bool:
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _take_lock(folder: Path, flag: str) -> Path:
    """Create ``folder/LOCK_NAME`` exclusively (never through a link) holding pid, host and time; a lock whose
    process is gone on this host is taken over once. CliError when another run holds it."""
    lock = folder / LOCK_NAME
    for attempt in (0, 1):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            try:
                pid_text, host = (lock.read_text().split() + ["", ""])[:2]
            except OSError:
                pid_text, host = "", ""
            if attempt == 0 and pid_text.isdigit() and host == socket.gethostname() and not _pid_alive(int(pid_text)):
                try:
                    lock.unlink()  # left by a run that died
                except FileNotFoundError:
                    pass
                continue
            who = f" (pid {pid_text} on {host})" if pid_text.isdigit() else ""
            raise CliError(f"another run{who} is writing into {str(folder)!r}; wait for it to finish or choose "
                           f"another {flag} (if no run is active, delete {str(lock)!r})") from None
        except OSError as exc:
            raise CliError(f"cannot claim the output folder {str(folder)!r} ({exc.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n")
        return lock
    raise CliError(f"cannot claim the output folder {str(folder)!r}")  # pragma: no cover - the loop returns or raises


def plan_outputs(
    sources: Sequence[Path], out: Path, files: Mapping[str, str], *, overwrite: bool = False, flag: str = "--out",
    other_inputs: Sequence[Path] = (),
) -> list[OutputPlan]:
    """Plan, create and CLAIM one folder ``out/NAME`` per input holding ``files`` (key -> file name). Checks
    everything before anything is written; raises CliError when a planned file is an input (``sources`` or
    ``other_inputs``, e.g. the edited image paired with each source), when a folder is a link or a file, when
    another run holds a folder, or when an output already exists and ``overwrite`` is False. The plans hold their
    folders' locks: ``release()`` each (``claimed_outputs`` does). On an error no lock stays held."""
    plans = []
    for source, name in zip(sources, unique_names(sources)):
        folder = out / name
        plans.append(OutputPlan(source, name, folder, {k: folder / f for k, f in files.items()}))
    for plan in plans:
        if plan.folder.is_symlink():
            raise CliError(f"the output folder {str(plan.folder)!r} is a symbolic link; ZONE never writes through "
                           f"links: remove it or choose another {flag}")
        if plan.folder.exists() and not plan.folder.is_dir():
            raise CliError(f"cannot make the output folder {str(plan.folder)!r}: a file has that name; "
                           f"choose another {flag}")
        for target in plan.files.values():
            for source in (*sources, *other_inputs):
                if _same_file(target, source):
                    raise CliError(f"{flag} would write {str(target)!r} over the input {str(source)!r}; "
                                   f"choose another {flag}")
    try:
        for plan in plans:
            try:
                plan.folder.mkdir()
                plan.held["created"] = True
            except FileExistsError:
                if plan.folder.is_symlink() or not plan.folder.is_dir():
                    raise CliError(f"the output folder {str(plan.folder)!r} appeared as a link or a file; "
                                   f"choose another {flag}") from None
            except OSError as exc:
                raise CliError(f"cannot create the output folder {str(plan.folder)!r} ({exc.strerror})") from None
            plan.held["lock"] = _take_lock(plan.folder, flag)
            if not overwrite:  # looked at only while the folder is ours: a concurrent run cannot slip in between
                for target in plan.files.values():
                    if target.exists() or target.is_symlink():
                        raise CliError(f"{str(target)!r} already exists (an earlier run?); choose another {flag} "
                                       "or pass --overwrite to replace it")
    except BaseException:
        for plan in plans:
            plan.release(remove_if_empty=True)
        raise
    return plans


@contextmanager
def claimed_outputs(sources: Sequence[Path], out: Path, files: Mapping[str, str], *, overwrite: bool = False,
                    flag: str = "--out", other_inputs: Sequence[Path] = ()) -> Iterator[list[OutputPlan]]:
    """``plan_outputs`` whose folders are given back when the block ends (also on an error or Ctrl+C); a folder
    this run made and left empty (its input failed or was never reached) is removed."""
    plans = plan_outputs(sources, out, files, overwrite=overwrite, flag=flag, other_inputs=other_inputs)
    try:
        yield plans
    finally:
        for plan in plans:
            plan.release(remove_if_empty=True)


def write_output(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: into a new temporary file beside it (created exclusively, so never
    through a link), then renamed onto ``path``. ``overwrite``: ``os.replace`` (an existing file or link at
    ``path`` is replaced itself; a link's target is never touched). Otherwise ``os.link``, which refuses any name
    that exists, so nothing that appeared meanwhile is replaced (CliError). A reader sees the old file or the whole
    new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise CliError(f"{str(path)!r} appeared while this run was working (another program?); it was left as "
                           "it is: choose another --out or pass --overwrite") from None
        except OSError:  # a file system without hard links: the folder is ours (locked), check then rename
            if os.path.lexists(path):
                raise CliError(f"{str(path)!r} appeared while this run was working; it was left as it is") from None
            os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


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
