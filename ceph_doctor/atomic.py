"""Whole-file writes that a crash cannot leave half done."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# mkstemp creates files readable by their owner alone; a report or figure should get the mode any other
# new file gets. The umask is read once, here: setting it to read it is not safe while other threads
# create files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
FOLDER_MODE = 0o777 & ~_UMASK


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """`path` holds either its old content or all of `data`, whenever the process dies.

    The temporary name starts with a dot, which pyarrow's dataset discovery
    skips, so a reader never sees a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except OSError as error:  # named by the file the user asked for, not by the temporary one
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def replaced_directory(path: Path) -> Iterator[Path]:
    """A folder filled under a temporary name and put in place of `path` only when the block completes.

    A report's figures folder: a full disk halfway through leaves the previous folder (or none), never a
    folder of some figures. Left empty, the block makes no folder and removes the previous one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield temporary
        os.chmod(temporary, FOLDER_MODE)
        if not any(temporary.iterdir()):  # nothing to put there: no folder at all, and no stale one
            temporary.rmdir()
            if path.is_dir():
                shutil.rmtree(path)
        elif path.exists():
            previous = temporary.with_name(f"{temporary.name}.previous")
            os.replace(path, previous)
            os.replace(temporary, path)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(temporary, path)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        named = str(error.filename or "")
        if named.startswith(str(temporary)):  # said of the folder the user asked for
            raise OSError(error.errno, error.strerror, str(path) + named[len(str(temporary)):]) from None
        raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
