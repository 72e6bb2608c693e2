"""A local HTTP file server on 127.0.0.1 for download tests: it answers ``Range`` requests like
the official mirrors, and drops connections or stalls when told to. No test touches the network."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 4096  # bytes per write of a response body


class FileServer(ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) on a free loopback port; other paths are 404.

    Misbehaves as told: ``drop_after`` cuts a response off after that many body bytes
    (Content-Length still claims the whole file) for the next ``drops`` responses;
    ``chunk_delay_s`` pauses between 4 kB chunks (a slow mirror); ``honour_range`` False ignores
    ``Range`` (always 200 and the whole file). ``requests`` records (path, Range header or None)
    of every request.
    """

    daemon_threads = True

    def __init__(self, files: Mapping[str, bytes]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = dict(files)
        self.drop_after: int | None = None
        self.drops = 0
        self.chunk_delay_s = 0.0
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []

    def url_for(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    @property
    def url(self) -> str:
        """The URL of the first file served."""
        return self.url_for(next(iter(self.files)))

    @property
    def ranges(self) -> list[str | None]:
        """The Range header of every request, in order (None without one)."""
        return [range_header for _, range_header in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        range_header = self.headers.get("Range")
        server.requests.append((self.path, range_header))
        if self.path not in server.files:
            self.send_error(404)
            return
        payload = server.files[self.path]
        start = 0
        if range_header and server.honour_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(payload):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = None
        if server.drop_after is not None and server.drops > 0:
            server.drops -= 1
            cut = server.drop_after
        sent = 0
        for offset in range(0, len(body), CHUNK):
            chunk = body[offset : offset + CHUNK]
            if cut is not None and sent + len(chunk) > cut:
                self.wfile.write(chunk[: cut - sent])
                self.wfile.flush()
                self.close_connection = True
                return
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
            sent += len(chunk)
            if server.chunk_delay_s:
                time.sleep(server.chunk_delay_s)


@contextlib.contextmanager
def serving(files: Mapping[str, bytes]) -> Iterator[FileServer]:
    """A running FileServer for ``files``, shut down on exit."""
    server = FileServer(files)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port_url(path: str = "/file") -> str:
    """A URL on 127.0.0.1 where nothing listens: every request is refused (the offline case)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
