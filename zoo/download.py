"""Downloading published weights files into the cache, verified before they are used.

`fetch` streams a URL (``http(s)://`` or ``file://``) to a temporary file beside its final place,
checks the hashes the publisher gave, and only then moves it into the cache in one atomic
``os.replace``. The final path therefore holds either nothing or a verified file, whatever happens
during the download: lost connection, truncated body, Ctrl-C, two processes fetching the same
file. Nothing the user already has is ever deleted: a file that fails its hash is renamed
``<name>.corrupt-<timestamp>-<random>`` beside it.

Publishers state integrity differently, so all three forms are accepted, alone or together:
``keras.applications`` gives the MD5 (``file_hash``), torchvision the first 8 or more hex digits of
the SHA-256 in each file name (``resnet50-0676ba61.pth``), and the zoo's own `WeightsSpec` the full
SHA-256. Whatever was checked, the full SHA-256 of the file is logged.

This module also owns where weights live (`cache_dir`) and the error for a weights file that is
not there (`WeightsFileNotFoundError`); file hashing and atomic writes are `zoo.files`'.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import BinaryIO

import keras

from zoo.files import atomic_path

__all__ = [
    "DownloadError",
    "HashMismatchError",
    "WeightsFileNotFoundError",
    "cache_dir",
    "fetch",
    "matching_hashes",
    "verify_file",
]

_LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20
_HEX = re.compile(r"[0-9a-f]+")


class WeightsFileNotFoundError(FileNotFoundError, ValueError):
    """A weights file that ``weights=`` points to, directly or through a tag, does not exist."""


def cache_dir() -> Path:
    """Directory where registered weights files live: ``$KERAS_HOME/models`` or ``~/.keras/models``.

    The folder `keras.utils.get_file` uses, so that a file Keras has downloaded is reused.

    Returns:
        The directory (it may not exist yet).

    Example:
        >>> cache_dir().name
        'models'
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


class DownloadError(WeightsFileNotFoundError):
    """A file could not be downloaded, so it is still missing from the cache.

    It is a `WeightsFileNotFoundError`, hence an `OSError` (like the `urllib.error.URLError` and
    socket errors behind it) and a `FileNotFoundError`: code that already handles a missing
    weights file handles an offline machine the same way. It is not a `ConnectionError`, because
    an HTTP 404 or a truncated body is no connection failure.
    """


class HashMismatchError(ValueError):
    """A file's content differs from the one its publisher hashed.

    Attributes:
        source: The URL or path that was checked.
        algorithm: ``"sha256"``, ``"sha256 prefix"`` or ``"md5"``.
        expected: The published hex digest (or prefix).
        actual: The hex digest of the bytes that were checked.
        sha256: Full SHA-256 of those bytes.
    """

    def __init__(self, source: str, *, algorithm: str, expected: str, actual: str, sha256: str):
        super().__init__(
            f"{source} has {algorithm} {actual}, expected {expected} (full SHA-256 {sha256}); "
            "the file is corrupt or not the published one"
        )
        self.source = source
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual
        self.sha256 = sha256


class _Digests:
    """SHA-256 (always) and MD5 (when asked) of a byte stream, fed chunk by chunk."""

    def __init__(self, *, md5: bool):
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)

    def check(
        self, source: str, *, sha256: str | None, md5: str | None, sha256_prefix: str | None
    ) -> str:
        actual = self._sha256.hexdigest()
        checks = [("sha256", sha256, actual), ("sha256 prefix", sha256_prefix, actual)]
        if self._md5 is not None:
            checks.append(("md5", md5, self._md5.hexdigest()))
        for algorithm, wanted, digest in checks:
            if wanted is not None and not digest.startswith(wanted):
                shown = digest[: len(wanted)] if algorithm == "sha256 prefix" else digest
                raise HashMismatchError(
                    source, algorithm=algorithm, expected=wanted, actual=shown, sha256=actual
                )
        return actual


def _normalized(name: str, value: str | None, lengths: range) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) not in lengths or not _HEX.fullmatch(value.lower()):
        wanted = str(lengths.start) if len(lengths) == 1 else f"{lengths.start} to {lengths[-1]}"
        raise ValueError(f"{name}={value!r} must be a string of {wanted} hex digits")
    return value.lower()


def _hashes(
    sha256: str | None, md5: str | None, sha256_prefix: str | None
) -> dict[str, str | None]:
    return {
        "sha256": _normalized("sha256", sha256, range(64, 65)),
        "md5": _normalized("md5", md5, range(32, 33)),
        "sha256_prefix": _normalized("sha256_prefix", sha256_prefix, range(8, 65)),
    }


def _file_digests(path: str | os.PathLike, *, md5: bool) -> _Digests:
    """The digests of a file, read once in chunks."""
    digests = _Digests(md5=md5)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digests.update(chunk)
    return digests


def verify_file(
    path: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    sha256_prefix: str | None = None,
) -> str:
    """Checks a file against published hashes, reading it once.

    Args:
        path: The file.
        sha256: Expected SHA-256 (64 hex digits).
        md5: Expected MD5 (32 hex digits), as ``keras.applications`` publishes them.
        sha256_prefix: Expected first 8 to 64 hex digits of the SHA-256, as torchvision puts
            them in file names.

    Returns:
        The full SHA-256 of the file (hex), whether or not any hash was given.

    Raises:
        HashMismatchError: If a given hash differs (a `ValueError`).
        ValueError: If a hash is not a hex string of the right length.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello-2cf24dba.txt"
        >>> _ = path.write_bytes(b"hello")
        >>> verify_file(path, sha256_prefix="2cf24dba", md5="5d41402abc4b2a76b9719d911017c592")
        '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'
    """
    hashes = _hashes(sha256, md5, sha256_prefix)
    return _file_digests(path, md5=hashes["md5"] is not None).check(str(path), **hashes)


def matching_hashes(
    path: str | os.PathLike, candidates: Sequence[Mapping[str, str | None]]
) -> list[bool]:
    """Which of several sets of published hashes a file matches, reading the file once.

    Args:
        path: The file.
        candidates: Keyword arguments of `verify_file` (``sha256``, ``md5``,
            ``sha256_prefix``); a set without any hash matches nothing.

    Returns:
        One bool per candidate.

    Raises:
        ValueError: If a hash is not a hex string of the right length.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello.txt"
        >>> _ = path.write_bytes(b"hello")
        >>> matching_hashes(path, [{"sha256_prefix": "2cf24dba"}, {"sha256_prefix": "00000000"}])
        [True, False]
    """
    normalized = [
        _hashes(c.get("sha256"), c.get("md5"), c.get("sha256_prefix")) for c in candidates
    ]
    digests = _file_digests(path, md5=any(hashes["md5"] for hashes in normalized))
    matches = []
    for hashes in normalized:
        try:
            digests.check(str(path), **hashes)
            matches.append(any(hashes.values()))
        except HashMismatchError:
            matches.append(False)
    return matches


def _target_path(file_name: str, directory: str | os.PathLike | None) -> Path:
    relative = PurePath(file_name)
    if relative.is_absolute() or ".." in relative.parts or not relative.name:
        raise ValueError(
            f"file_name={file_name!r} must be a file name (or a relative path without '..') "
            "inside the cache directory"
        )
    return Path(directory if directory is not None else cache_dir()).expanduser() / relative


def _quarantine(path: Path, target: Path) -> Path:
    """Moves a file that failed its check to ``<target>.corrupt-...``, never deleting bytes."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = target.with_name(f"{target.name}.corrupt-{stamp}-{secrets.token_hex(3)}")
    os.replace(path, aside)
    return aside


def _download_error(
    url: str,
    reason: object,
    target: Path,
    hashes: dict[str, str | None],
    *,
    model: str | None,
    tag: str | None,
) -> DownloadError:
    expected = ", ".join(f"{name} {value}" for name, value in hashes.items() if value)
    if model and tag:
        action = f"install it with `kerazoo weights import FILE --model {model} --tag {tag}`"
    else:
        action = f"place the file at {target}"
    return DownloadError(
        f"could not download {url}: {reason}. The file is expected at {target}"
        + (f" ({expected})" if expected else "")
        + f"; download it on another machine and {action}"
    )


def _copy_body(
    url: str,
    handle: BinaryIO,
    digests: _Digests,
    *,
    timeout: float,
    progress: bool,
    fail: Callable[[object], DownloadError],
) -> int:
    """Streams the body of url into the open file `handle`; returns the number of bytes.

    Only errors of the network side (opening and reading the URL) become ``fail(reason)``;
    errors writing the local file (disk full) propagate as they are.
    """
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise fail(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise fail(error.reason) from error
    except (OSError, http.client.HTTPException) as error:
        raise fail(error) from error
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        _LOG.info("downloading %s (%s bytes)", url, "unknown" if total is None else total)
        bar = keras.utils.Progbar(total, unit_name="B") if progress else None
        size = 0
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as error:
                raise fail(error) from error
            if not chunk:
                break
            digests.update(chunk)
            handle.write(chunk)
            size += len(chunk)
            if bar is not None:
                bar.update(size, finalize=False)
        if bar is not None:
            bar.update(size, finalize=True)
    # http.client returns b"" rather than raising when the server closes early.
    if total is not None and size != total:
        raise fail(f"the server sent {size} of {total} bytes")
    return size


def _cached_is_valid(target: Path, hashes: dict[str, str | None]) -> bool:
    """Whether target is a cached file passing its hashes; one that fails is moved aside."""
    if not target.is_file():
        return False
    try:
        digest = verify_file(target, **hashes)
    except HashMismatchError as error:
        aside = _quarantine(target, target)
        _LOG.warning("%s; moved it to %s, downloading it again", error, aside)
        return False
    _LOG.info("using cached %s (sha256 %s)", target, digest)
    return True


def _download(
    url: str,
    target: Path,
    hashes: dict[str, str | None],
    *,
    timeout: float,
    progress: bool,
    fail: Callable[[object], DownloadError],
) -> None:
    """Downloads url to a temporary file, verifies it, then moves it to target atomically."""
    with atomic_path(target) as part:
        digests = _Digests(md5=hashes["md5"] is not None)
        with open(part, "xb") as handle:
            size = _copy_body(url, handle, digests, timeout=timeout, progress=progress, fail=fail)
        try:
            digest = digests.check(url, **hashes)
        except HashMismatchError as error:
            _LOG.warning("%s; kept the downloaded bytes as %s", error, _quarantine(part, target))
            raise
    _LOG.info("downloaded %s to %s (%d bytes, sha256 %s)", url, target, size, digest)


def fetch(
    url: str,
    *,
    file_name: str,
    cache_dir: str | os.PathLike | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    sha256_prefix: str | None = None,
    allow_unverified: bool = False,
    progress: bool = True,
    timeout: float = 30.0,
    model: str | None = None,
    tag: str | None = None,
) -> Path:
    """Returns the cached copy of a published file, downloading and verifying it if needed.

    A cached file that passes its hashes is returned without touching the network. A cached
    file that fails them is renamed ``<name>.corrupt-<timestamp>-<random>`` and downloaded
    again. Downloads stream to ``<name>.part-<random>`` in the same directory, are fsynced and
    verified, and only then replace the final path atomically, so concurrent fetches of the same
    file (threads or processes) each install an identical verified file and an interrupted one
    leaves nothing behind.

    Integrity is required by default: give at least one of ``sha256``, ``md5`` or
    ``sha256_prefix`` (all given are checked), or opt out with ``allow_unverified=True``; the full
    SHA-256 of the file is logged either way.

    Args:
        url: ``http://``, ``https://`` or ``file://`` URL of the file.
        file_name: Name of the file in the cache directory (a relative path without ``..`` is
            allowed for subdirectories).
        cache_dir: Directory of the cache; ``$KERAS_HOME/models`` (``~/.keras/models``) by
            default, as for `keras.utils.get_file` and `zoo.weights`.
        sha256: Expected SHA-256 (64 hex digits).
        md5: Expected MD5 (32 hex digits), as ``keras.applications`` publishes them.
        sha256_prefix: Expected first 8 to 64 hex digits of the SHA-256, as in torchvision's
            file names.
        allow_unverified: Accept a file without any hash to check; a cached file is then
            returned as it is.
        progress: Show a `keras.utils.Progbar` while downloading (bytes; total from the
            Content-Length header when the server sends one).
        timeout: Seconds to wait for the server at each blocking step (connect, each read).
        model: Model name, only to phrase the manual-install hint of a `DownloadError`.
        tag: Weights tag, only to phrase that hint.

    Returns:
        Path of the verified file in the cache.

    Raises:
        DownloadError: If the URL cannot be read (offline, unreachable, HTTP error, timeout) or
            the body is shorter than its Content-Length; the message names the URL, the reason,
            the expected path and how to install the file by hand. It is a `FileNotFoundError`.
        HashMismatchError: If the downloaded bytes fail a hash (they are kept aside as
            ``<name>.corrupt-...``); a `ValueError` naming the URL and both hashes.
        ValueError: If no hash is given without ``allow_unverified``, a hash is malformed, or
            ``file_name`` leaves the cache directory.

    Example:
        >>> path = fetch(
        ...     "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        ...     "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ...     file_name="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        ...     md5="253f8cb515780f3b799900260a226db6",
        ... )  # doctest: +SKIP
    """
    hashes = _hashes(sha256, md5, sha256_prefix)
    if not allow_unverified and not any(hashes.values()):
        raise ValueError(
            f"fetch({url!r}) needs sha256, md5 or sha256_prefix to verify the download; "
            "pass allow_unverified=True to accept the file unchecked"
        )
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"url={url!r} must start with http://, https:// or file://")
    target = _target_path(file_name, cache_dir)
    if not _cached_is_valid(target, hashes):

        def fail(reason: object) -> DownloadError:
            return _download_error(url, reason, target, hashes, model=model, tag=tag)

        _download(url, target, hashes, timeout=timeout, progress=progress, fail=fail)
    return target
