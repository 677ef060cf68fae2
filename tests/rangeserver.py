"""What the stand-ins for the Hugging Face Hub and Ollama's registry share: files served over loopback with
`Range` (206 + Content-Range, 416 past the end), and the ways a transfer can go wrong on demand.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 64 << 10


@dataclass
class ServedFile:
    """Bytes in memory or a file on disk, with their size and sha256."""

    data: Path | bytes
    size: int = field(init=False)
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        sha = hashlib.sha256()
        if isinstance(self.data, bytes):
            sha.update(self.data)
            self.size = len(self.data)
        else:
            with open(self.data, "rb") as fh:
                while chunk := fh.read(4 << 20):
                    sha.update(chunk)
            self.size = self.data.stat().st_size
        self.sha256 = sha.hexdigest()

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[start:end]
        with open(self.data, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


@dataclass
class Mishap:
    """How one transfer goes wrong: cut after some bytes, one byte flipped, or paced."""

    cut_after: int | None = None
    flip_at: int | None = None  # the offset in the file of the byte to flip
    rate: float = 0.0  # bytes per second; 0 = as fast as possible


def serve_in_thread(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A loopback HTTP server on a free port, answering from a daemon thread until shut down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
    """One whole response; a HEAD (`body` False) gets the same headers without the payload."""
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if body:
        handler.wfile.write(payload)


def serve_file(handler: BaseHTTPRequestHandler, served: ServedFile, body: bool,
               headers: dict[str, str] | None = None, mishap: Mishap | None = None) -> None:
    """Answer with `served`, from the offset of an open-ended `Range: bytes=N-` when one is asked."""
    start, status = 0, 200
    headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **(headers or {})}
    wanted = handler.headers.get("Range")
    if wanted and wanted.startswith("bytes=") and wanted.endswith("-"):
        start = int(wanted[len("bytes="):-1])
        if start >= served.size:
            return send(handler, 416, b"", {"Content-Range": f"bytes */{served.size}"}, body)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{served.size - 1}/{served.size}"
    headers["Content-Length"] = str(served.size - start)
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    if body:
        _stream(handler, served, start, mishap or Mishap())


def _stream(handler: BaseHTTPRequestHandler, served: ServedFile, start: int, mishap: Mishap) -> None:
    sent, position = 0, start
    while position < served.size:
        chunk = served.read(position, min(position + CHUNK, served.size))
        flip = mishap.flip_at
        if flip is not None and position <= flip < position + len(chunk):
            index = flip - position
            chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1:]
        try:
            if mishap.cut_after is not None and sent + len(chunk) > mishap.cut_after:
                handler.wfile.write(chunk[: mishap.cut_after - sent])
                handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return
        sent += len(chunk)
        position += len(chunk)
        if mishap.rate:
            time.sleep(len(chunk) / mishap.rate)
