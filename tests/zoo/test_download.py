"""zoo.download: verified, atomic downloads into the cache (offline: file:// URLs, a local HTTP
server on 127.0.0.1 and fake `urlopen` responses)."""

import hashlib
import http.server
import logging
import threading
import urllib.error
import urllib.request

import pytest

from zoo import download
from zoo.download import (
    DownloadError,
    HashMismatchError,
    WeightsFileNotFoundError,
    fetch,
    verify_file,
)
from zoo.files import sha256sum

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
NAME = "net.weights.h5"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "published" / f"net-{SHA256[:8]}.weights.h5"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path.as_uri()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # Several chunks per file, so that progress and interruption happen mid-stream.
    monkeypatch.setattr(download, "_CHUNK", 4096)


def listing(directory):
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


class FakeResponse:
    """What `urlopen` returns: chunks, a Content-Length, optionally an error after some chunks."""

    def __init__(self, chunks, *, length=None, error_after=None, error=None, on_read=None):
        self.chunks = list(chunks)
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self.error_after, self.error, self.on_read = error_after, error, on_read
        self.reads = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self, size):
        if self.reads == self.error_after:
            raise self.error
        self.reads += 1
        if self.on_read is not None:
            self.on_read(self.reads)
        return self.chunks.pop(0) if self.chunks else b""


def serve(monkeypatch, make_response):
    calls = []

    def urlopen(url, timeout):
        calls.append((url, timeout))
        return make_response()

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


@pytest.mark.parametrize(
    "hashes",
    [
        {"sha256": SHA256},
        {"md5": MD5},  # keras.applications publishes MD5s
        {"sha256_prefix": SHA256[:8]},  # torchvision's file names carry 8 hex digits
        {"sha256": SHA256.upper(), "md5": MD5, "sha256_prefix": SHA256[:12]},
    ],
)
def test_fetch_verifies_and_installs(source, cache, hashes):
    path = fetch(source, file_name=NAME, cache_dir=cache, progress=False, **hashes)
    assert path == cache / NAME
    assert path.read_bytes() == PAYLOAD
    assert listing(cache) == [NAME]  # no temporary file left


def test_fetch_logs_full_sha256(source, cache, caplog):
    with caplog.at_level(logging.INFO, logger="zoo.download"):
        fetch(source, file_name=NAME, cache_dir=cache, md5=MD5, progress=False)
    assert SHA256 in caplog.text


@pytest.mark.parametrize(
    ("hashes", "algorithm", "actual"),
    [
        ({"sha256": "0" * 64}, "sha256", SHA256),
        ({"md5": "f" * 32}, "md5", MD5),
        ({"sha256_prefix": "deadbeef"}, "sha256 prefix", SHA256[:8]),
        ({"sha256": SHA256, "md5": "f" * 32}, "md5", MD5),
    ],
)
def test_mismatch_quarantines_download(source, cache, hashes, algorithm, actual):
    with pytest.raises(HashMismatchError) as caught:
        fetch(source, file_name=NAME, cache_dir=cache, progress=False, **hashes)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.algorithm, error.actual, error.sha256) == (algorithm, actual, SHA256)
    for text in (source, error.expected, actual):
        assert text in str(error)
    assert not (cache / NAME).exists()
    (aside,) = listing(cache)
    assert aside.startswith(f"{NAME}.corrupt-")
    assert (cache / aside).read_bytes() == PAYLOAD  # the bytes are kept, not half a file


def test_cached_valid_file_needs_no_network(cache, monkeypatch):
    cache.mkdir()
    (cache / NAME).write_bytes(PAYLOAD)

    def urlopen(*args, **kwargs):
        raise AssertionError("fetch went to the network for a valid cached file")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    path = fetch("https://example.invalid/net.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert path.read_bytes() == PAYLOAD


def test_cached_corrupt_file_is_quarantined_and_downloaded_again(source, cache):
    cache.mkdir()
    (cache / NAME).write_bytes(b"truncated by a crash")
    path = fetch(source, file_name=NAME, cache_dir=cache, sha256=SHA256, progress=False)
    assert path.read_bytes() == PAYLOAD
    (aside,) = [name for name in listing(cache) if name != NAME]
    assert aside.startswith(f"{NAME}.corrupt-")
    assert (cache / aside).read_bytes() == b"truncated by a crash"


def test_default_cache_dir_is_keras_home_models(source, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    path = fetch(source, file_name=NAME, sha256=SHA256, progress=False)
    assert path == tmp_path / "keras_home" / "models" / NAME


def test_subdirectory_file_name(source, cache):
    path = fetch(source, file_name=f"vgg/{NAME}", cache_dir=cache, md5=MD5, progress=False)
    assert path == cache / "vgg" / NAME
    assert path.read_bytes() == PAYLOAD


def test_short_body_is_an_error(cache, monkeypatch):
    serve(monkeypatch, lambda: FakeResponse([PAYLOAD[:4096]], length=len(PAYLOAD)))
    with pytest.raises(DownloadError, match=f"sent 4096 of {len(PAYLOAD)} bytes"):
        fetch("https://example.org/net.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert listing(cache) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt(), ConnectionResetError("reset by peer")])
def test_interrupted_stream_leaves_nothing(cache, monkeypatch, error):
    chunks = [PAYLOAD[:4096], PAYLOAD[4096:8192]]
    serve(monkeypatch, lambda: FakeResponse(chunks, error_after=1, error=error))
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else DownloadError
    with pytest.raises(expected):
        fetch("https://example.org/net.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert listing(cache) == []


def test_offline_error_names_url_path_and_manual_install(cache, monkeypatch):
    def urlopen(url, timeout):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    url = "https://example.org/vgg19.h5"
    with pytest.raises(DownloadError) as caught:
        fetch(url, file_name=NAME, cache_dir=cache, md5=MD5, model="vgg19", tag="imagenet")
    error = caught.value
    assert isinstance(error, WeightsFileNotFoundError)
    assert isinstance(error, FileNotFoundError)
    message = str(error)
    for text in (url, "Temporary failure in name resolution", str(cache / NAME), MD5):
        assert text in message
    assert "kerazoo weights import FILE --model vgg19 --tag imagenet" in message
    assert listing(cache) == []

    with pytest.raises(DownloadError, match=f"place the file at {cache / NAME}"):
        fetch(url, file_name=NAME, cache_dir=cache, md5=MD5)


def test_missing_file_url_is_a_download_error(tmp_path, cache):
    with pytest.raises(DownloadError, match="No such file"):
        fetch((tmp_path / "absent.h5").as_uri(), file_name=NAME, cache_dir=cache, md5=MD5)


@pytest.mark.parametrize("known_length", [True, False])
def test_progress_bar(cache, monkeypatch, capsys, known_length):
    chunks = [PAYLOAD[i : i + 4096] for i in range(0, len(PAYLOAD), 4096)]
    length = len(PAYLOAD) if known_length else None
    serve(monkeypatch, lambda: FakeResponse(chunks, length=length))
    fetch("https://example.org/net.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    shown = capsys.readouterr().out
    assert f"{len(PAYLOAD)}/{len(PAYLOAD) if known_length else 'Unknown'}" in shown
    assert (cache / NAME).read_bytes() == PAYLOAD


def test_concurrent_fetches_install_one_valid_file(cache, monkeypatch):
    # Both downloads are held mid-stream at a barrier, so both temporary files exist at once.
    barrier = threading.Barrier(2, timeout=30)
    parts_in_flight = []

    def on_read(reads):
        if reads == 2:
            barrier.wait()
            parts_in_flight.append(len([n for n in listing(cache) if ".part-" in n]))
            barrier.wait()

    chunks = [PAYLOAD[i : i + 4096] for i in range(0, len(PAYLOAD), 4096)]
    calls = serve(monkeypatch, lambda: FakeResponse(chunks, length=len(PAYLOAD), on_read=on_read))
    results, errors = [], []

    def worker():
        try:
            results.append(
                fetch("https://example.org/n.h5", file_name=NAME, cache_dir=cache, md5=MD5)
            )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(calls) == 2
    assert parts_in_flight == [2, 2]
    assert results == [cache / NAME] * 2
    assert listing(cache) == [NAME]
    assert (cache / NAME).read_bytes() == PAYLOAD


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/missing.h5":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        # /short.h5 promises the whole payload, then the server closes after half of it.
        body = PAYLOAD[: len(PAYLOAD) // 2] if self.path == "/short.h5" else PAYLOAD
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download(http_url, cache):
    path = fetch(f"{http_url}/net.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert path.read_bytes() == PAYLOAD


def test_http_server_closing_early(http_url, cache):
    with pytest.raises(DownloadError, match=f"sent {len(PAYLOAD) // 2} of {len(PAYLOAD)} bytes"):
        fetch(f"{http_url}/short.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert listing(cache) == []


def test_http_error_status(http_url, cache):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{http_url}/missing.h5", file_name=NAME, cache_dir=cache, sha256=SHA256)
    assert listing(cache) == []


def test_a_hash_is_required_unless_unverified_is_allowed(source, cache):
    with pytest.raises(ValueError, match="allow_unverified=True"):
        fetch(source, file_name=NAME, cache_dir=cache)
    assert listing(cache) == []
    path = fetch(source, file_name=NAME, cache_dir=cache, allow_unverified=True, progress=False)
    assert path.read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sha256": SHA256[:63]}, "sha256='.*' must be a string of 64 hex digits"),
        ({"md5": "z" * 32}, "md5='z+' must be a string of 32 hex digits"),
        ({"sha256_prefix": "abc"}, "sha256_prefix='abc' must be a string of 8 to 64 hex"),
        ({"md5": MD5, "file_name": "../evil.h5"}, "file_name='../evil.h5' must be a file name"),
        ({"md5": MD5, "file_name": "/etc/evil.h5"}, "must be a file name"),
    ],
)
def test_invalid_options(source, cache, options, message):
    with pytest.raises(ValueError, match=message):
        fetch(source, **{"file_name": NAME, "cache_dir": cache, **options})


def test_unsupported_scheme(cache):
    with pytest.raises(ValueError, match="must start with http://, https:// or file://"):
        fetch("ftp://example.org/net.h5", file_name=NAME, cache_dir=cache, md5=MD5)


def test_verify_file(tmp_path):
    path = tmp_path / NAME
    path.write_bytes(PAYLOAD)
    assert verify_file(path) == SHA256 == sha256sum(path)
    assert verify_file(path, sha256=SHA256, md5=MD5, sha256_prefix=SHA256[:10]) == SHA256
    with pytest.raises(HashMismatchError, match=f"has md5 {MD5}, expected {'0' * 32}"):
        verify_file(path, md5="0" * 32)


def test_matching_hashes_reads_once_and_says_which_sets_fit(tmp_path):
    path = tmp_path / NAME
    path.write_bytes(PAYLOAD)
    candidates = [
        {"md5": MD5},
        {"sha256_prefix": SHA256[:8], "md5": MD5},
        {"sha256": SHA256},
        {"md5": "0" * 32},
        {"sha256_prefix": SHA256[:8], "md5": "0" * 32},  # every given hash must match
        {},  # no hash: nothing to match
    ]
    assert download.matching_hashes(path, candidates) == [True, True, True, False, False, False]
    with pytest.raises(ValueError, match="must be a string of 32 hex digits"):
        download.matching_hashes(path, [{"md5": "xyz"}])
