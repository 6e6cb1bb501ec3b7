"""Atomic outputs: an interrupted or failed run never leaves a half-written result.

Single files are written to a temporary sibling, flushed, fsynced and renamed over the target
(`os.replace` is atomic on POSIX). A run that writes several files stages them in a hidden sibling
directory and swaps it in only when every file is complete, so DIR always holds one complete run: the
previous one or the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fluxopt.errors import OutputError


def _explain(error: OSError, path: Path) -> OutputError:
    """One-line French explanation of a write failure."""
    if error.errno == errno.ENOSPC:
        why = "disque plein"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "accès refusé (dossier en lecture seule, ou fichier ouvert dans un autre programme comme Excel)"
    elif error.errno == errno.EBUSY:
        why = "fichier verrouillé par un autre programme"
    elif error.errno == errno.ENOTDIR:
        why = "un élément du chemin n'est pas un dossier"
    elif error.errno == errno.EISDIR:
        why = "c'est un dossier : donnez le chemin d'un fichier"
    elif error.errno == errno.EDQUOT:
        why = "quota de disque dépassé"
    elif error.errno == errno.ENAMETOOLONG:
        why = "nom de fichier trop long"
    elif error.errno == errno.EXDEV:
        why = "le dossier de sortie est sur un autre disque que son dossier parent"
    else:  # the system's text is English: say it is a system error and keep its code for a search
        name = errno.errorcode.get(error.errno or 0, type(error).__name__)
        why = f"erreur du système {name}"
    return OutputError(f"Impossible d'écrire {path} : {why}. Les résultats précédents sont intacts.")


def _umask() -> int:
    """The process umask (read without changing it where /proc allows, else set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path, default: int) -> int:
    """Permissions an output gets: those of the file it replaces, else `default` less the umask.

    `tempfile` creates private files (0600) and folders (0700); without this, every output would be
    unreadable by the colleagues who share the folder, whatever their umask says.
    """
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return default & ~_umask()


def _stream(target: Path, data: bytes) -> None:
    """Write into a device or a pipe (`-o /dev/stdout`, a FIFO): there is no file to replace."""
    with open(target, "wb") as handle:
        handle.write(data)
        handle.flush()


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary sibling, fsync, rename).

    A symbolic link is followed: the file it points to is replaced and the link kept. A device or a pipe
    (`-o /dev/stdout`, a FIFO) is written into as it is — renaming over it would replace `/dev/stdout` itself
    for every program when fluxopt runs as root.
    """
    target = Path(path)
    tmp_name = ""
    try:
        try:
            kind = os.stat(target).st_mode  # through links: /dev/stdout → /proc/self/fd/1 → a pipe
        except OSError:
            kind = None
        if kind is not None and not stat.S_ISREG(kind) and not stat.S_ISDIR(kind):
            _stream(target, data)
            return
        if target.is_symlink():
            target = target.resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, _mode_for(target, 0o666))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""
        _fsync_dir(target.parent)
    except OSError as error:
        raise _explain(error, target) from error
    finally:
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def ensure_dir(path: str | Path) -> Path:
    """Create an output folder (and its parents); a file in the way or a refusal is an `OutputError`."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"Impossible d'écrire dans {folder} : ce n'est pas un dossier.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _explain(error, folder) from error
    return folder


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write text atomically; newlines are written as given (no platform translation)."""
    write_bytes(path, text.encode(encoding))


class StagedDir:
    """Files written into `path` here appear in the final directory only on `commit`."""

    def __init__(self, final: Path, staging: Path) -> None:
        self.final = final
        self.path = staging

    def file(self, name: str) -> Path:
        """Path of a file to write in the staging directory (sub-folders are created)."""
        target = self.path / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _explain(error, self.final / name) from error
        return target

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write one file of the run; a full disk or a refused write is an `OutputError` (exit 4)."""
        target = self.file(name)
        try:
            target.write_bytes(data)
        except OSError as error:
            raise _explain(error, self.final / name) from error
        return target


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`).

    False where the system or the file system cannot (then the caller renames twice, see `_recover`).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _recover(final: Path) -> None:
    """Put back a previous run that a kill left aside between the two renames of the fallback swap."""
    if final.exists():
        return
    aside = sorted(final.parent.glob(f".{final.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if aside:
        os.replace(aside[-1], final)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (a power cut after it keeps it); ignored where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for item in sorted(root.rglob("*")):
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_output_dir(path: str | Path) -> Iterator[StagedDir]:
    """Stage a run's outputs and swap them into `path` only if the block completes.

    On any exception (or Ctrl-C, or SIGKILL) before the swap, `path` keeps its previous content.
    The swap exchanges the staging and final directories in one atomic step where Linux allows it
    (`renameat2`); elsewhere it renames the old directory aside, renames the staging directory in, then
    removes the old one, and a kill between the two renames leaves the previous run in `.NAME.old-*`,
    put back by the next run (`_recover`) — never a mix of runs.
    Files in `path` that this run does not write are carried over (e.g. a report written by another command).
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _recover(final)
        if final.exists() and not final.is_dir():
            raise OutputError(f"Impossible d'écrire dans {final} : ce n'est pas un dossier.")
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
        os.chmod(staging, _mode_for(final, 0o777))
    except OSError as error:
        raise _explain(error, final) from error
    committed = False
    try:
        yield StagedDir(final, staging)
        try:
            if final.exists():
                for old in final.iterdir():
                    carried = staging / old.name
                    if not carried.exists():
                        if old.is_dir():
                            shutil.copytree(old, carried)
                        else:
                            shutil.copy2(old, carried)
            _fsync_tree(staging)
            if final.exists():
                if _exchange(staging, final):  # one atomic step: `staging` now holds the previous run
                    committed = True
                    shutil.rmtree(staging, ignore_errors=True)
                else:
                    aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
                    aside.rmdir()
                    os.replace(final, aside)
                    os.replace(staging, final)
                    committed = True
                    shutil.rmtree(aside, ignore_errors=True)
            else:
                os.replace(staging, final)
                committed = True
            _fsync_dir(final.parent)
        except OSError as error:
            raise _explain(error, final) from error
    finally:
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
