"""Files kerazoo writes and checks: one atomic write and one SHA-256, used everywhere.

Weights downloads, imports and conversions, the feature cache and the recipes' saved models all go
through `atomic_path`, so that no reader ever sees a half-written file and an interrupted write
leaves the previous file, if any, untouched; every file hash is `sha256sum`. This module imports
nothing else of kerazoo.

Example:
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
    >>> with atomic_path(target) as temporary:
    ...     _ = temporary.write_text("hello")
    >>> sha256sum(target)[:8]
    '2cf24dba'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TEMPORARY_PREFIX", "atomic_path", "sha256sum"]

# Temporary files start with this; they end with the target's own name, so that writers that
# check suffixes (``.keras``, ``.weights.h5``, ``.npy``) accept them.
TEMPORARY_PREFIX = ".part-"
_CHUNK = 1 << 20


def sha256sum(path: str | os.PathLike, *, chunk_size: int = _CHUNK) -> str:
    """SHA-256 of a file, read in chunks.

    Args:
        path: The file.
        chunk_size: Bytes read at a time.

    Returns:
        The hex digest.

    Example:
        >>> sha256sum(__file__)  # doctest: +SKIP
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` that replaces it atomically once the block succeeds.

    The block writes the temporary file (any writer: ``model.save``, ``np.save``, ``open``);
    on success the file is fsynced and renamed over `path` with `os.replace`, atomic on POSIX
    and Windows within one file system. If the block raises, the temporary file is deleted (if
    the block has not moved it away) and `path` is left as it was. Concurrent writers of the
    same path each write their own temporary file; the last rename wins, whole.

    Args:
        path: The file to write; its folder is created if needed.

    Yields:
        The temporary path: ``.part-<random>-<name of path>`` in the same folder.

    Raises:
        FileNotFoundError: If the block succeeded without writing the temporary file.

    Example:
        >>> with atomic_path("model.keras") as temporary:  # doctest: +SKIP
        ...     model.save(temporary)
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}-{target.name}")
    try:
        yield temporary
        if not temporary.is_file():
            raise FileNotFoundError(f"nothing was written to {temporary} for {target}")
        _fsync(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
