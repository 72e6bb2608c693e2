"""Downloads: checksum-verified, retried, resumed after a dropped connection, and one clear error
when offline. A local HTTP server (with Range support) stands in for the official mirrors."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from neurocircuit.data.download import (
    ChecksumError,
    DataUnavailableError,
    download_dataset_file,
    download_file,
)

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Server:
    """Serves PAYLOAD at /file; /missing is 404; can drop the first response midway."""

    def __init__(self, drop_first_after: int | None = None):
        self.requests: list[dict] = []
        self.drop_first_after = drop_first_after
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if self.path != "/file":
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    end = len(PAYLOAD) - 1
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_first_after is not None and len(server.requests) == 1:
                    self.wfile.write(body[: server.drop_first_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on localhost where nothing listens (the offline case)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/file"


def test_download_verifies_and_renames(tmp_path):
    dest = tmp_path / "data" / "file.gz"
    with Server() as server:
        download_file([f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "data" / "file.gz.part").exists()


def test_dropped_connection_is_resumed_with_a_range_request(tmp_path):
    dest = tmp_path / "file.gz"
    with Server(drop_first_after=30_000) as server:
        download_file([f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] is None
    assert server.requests[1]["range"] == "bytes=30000-"


def test_partial_file_from_an_earlier_run_is_resumed(tmp_path):
    dest = tmp_path / "file.gz"
    (tmp_path / "file.gz.part").write_bytes(PAYLOAD[:50_000])
    with Server() as server:
        download_file([f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [{"path": "/file", "range": "bytes=50000-"}]


def test_checksum_mismatch_names_the_file_and_keeps_nothing(tmp_path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    with Server() as server:
        with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz: checksum mismatch"):
            download_file([f"{server.url}/file"], dest, md5="0" * 32, backoff_s=0)
    assert list(tmp_path.iterdir()) == []


def test_existing_verified_file_is_not_downloaded_again(tmp_path):
    dest = tmp_path / "file.gz"
    dest.write_bytes(PAYLOAD)
    with Server() as server:
        download_file([f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert server.requests == []


def test_existing_corrupt_file_is_replaced(tmp_path):
    dest = tmp_path / "file.gz"
    dest.write_bytes(b"corrupt")
    with Server() as server:
        download_file([f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0)
    assert dest.read_bytes() == PAYLOAD


def test_next_mirror_is_tried_after_a_404(tmp_path):
    dest = tmp_path / "file.gz"
    with Server() as server:
        download_file(
            [f"{server.url}/missing", f"{server.url}/file"], dest, md5=PAYLOAD_MD5, backoff_s=0
        )
        paths = [r["path"] for r in server.requests]
    assert paths == ["/missing", "/file"]  # a 404 is not retried on the same mirror
    assert dest.read_bytes() == PAYLOAD


def test_offline_is_one_clear_error_saying_where_to_put_the_file(tmp_path):
    dest = tmp_path / "resources" / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataUnavailableError) as info:
        download_file(
            [closed_port_url()],
            dest,
            md5=PAYLOAD_MD5,
            retries=2,
            backoff_s=0,
            missing_hint="put it into /data/mnist",
        )
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert "put it into /data/mnist" in message
    assert "\n" not in message
    assert not dest.exists()


def test_dataset_file_offline_lists_every_file_and_folder(tmp_path, monkeypatch):
    import neurocircuit.data.download as download

    monkeypatch.setattr(download.urllib.request, "urlopen", _refuse)
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)
    dest = tmp_path / "resources" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataUnavailableError) as info:
        download_dataset_file("mnist", "t10k-labels-idx1-ubyte.gz", dest, data_dir=tmp_path / "d")
    message = str(info.value)
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in message
    assert str(tmp_path / "d" / "mnist") in message
    assert str(tmp_path / "resources" / "mnist") in message


def test_unknown_file_of_a_dataset_is_rejected(tmp_path):
    with pytest.raises(KeyError, match="no file named 'nope.gz'"):
        download_dataset_file("mnist", "nope.gz", tmp_path / "nope.gz")


def _refuse(*args, **kwargs):
    raise OSError("network is unreachable")
