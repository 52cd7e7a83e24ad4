"""The one error type for a user's mistake, and the checks that raise it.

:class:`UsageError` marks bad input from a person or a calling program: an unknown env id, a
value out of range, an unreadable data file, a busy run folder. It subclasses ``ValueError``,
so code that catches ``ValueError`` keeps working. Every Groundworld command line prints it as
one line (``error: ...``) and exits with status 2; any other exception is a bug in Groundworld
and keeps its traceback. :class:`UnknownArgument` is the ``TypeError`` Python raises for an
unexpected keyword, worded as Python words it, so wrappers that retry on that error (TorchRL's
``GymEnv``) recognise it.
"""

from __future__ import annotations

import os
from pathlib import Path


class UsageError(ValueError):
    """Bad input: the message says what is wrong and what would be right."""


class UnknownArgument(UsageError, TypeError):
    """An unexpected keyword argument (a ``TypeError``, as Python raises for one)."""


class UnwritablePath(UsageError, OSError):
    """A file or folder that cannot be written (also an ``OSError``, as the failed write was)."""


def check_writable_dir(path: str | os.PathLike, what: str = "run") -> Path:
    """Create folder ``path`` and make sure files can be written there; raise :class:`UnwritablePath` naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UnwritablePath(f"cannot write to the {what} folder {str(path)!r}: {exc.strerror or exc}") from exc
    return path
