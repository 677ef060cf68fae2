"""`ember serve`: bind the address, build the app around a LocalBackend, run uvicorn until Ctrl-C."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from urllib.parse import urlsplit

from ember.backend import __version__
from ember.backend.errors import EmberError

DEFAULT_PORT = 11434


def parse_listen(address: str) -> tuple[str, int]:
    """`host:port`, `:port`, `host`, `[::1]:port` or a URL, as OLLAMA_HOST accepts them."""
    text = address.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise EmberError(f'cannot listen on "{address}": expected host:port, e.g. 127.0.0.1:11434') from None
    host = parts.hostname or "127.0.0.1"
    return host, port if port is not None else DEFAULT_PORT


def open_without_key(host: str, api_key: str) -> str | None:
    """The warning for listening beyond this machine with no API key, or None."""
    if api_key:
        return None
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    if loopback:
        return None
    return (f"warning: listening on {host} with no API key: anyone who can reach this address can run, pull and "
            "delete models — set EMBER_API_KEY (see SECURITY.md)")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit this: without it a response's header and body writes wait on
    # the client's delayed ACK, 40 ms a request
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise EmberError(f"cannot listen on {where}: the port is already in use (another ember serve or "
                             "ollama?) — stop it, or choose another address with --listen or EMBER_HOST")
        raise EmberError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forever(listen: str | None) -> int:
    """Serve until interrupted; returns the process's exit status."""
    import uvicorn
    from ember.backend.api.app import create_app
    from ember.backend.api.uvserver import QuietServer
    from ember.backend.config import load_config
    from ember.backend.local.local_backend import LocalBackend

    config = load_config()
    host, port = parse_listen(listen or config.host)
    sock = bind(host, port)
    backend = LocalBackend(config)
    app = create_app(backend, config, extra_hosts=(host,))
    shown = f"[{host}]" if ":" in host else host
    print(f"ember {__version__} serving the Ollama API on http://{shown}:{port} "
          f"(models in {config.models}; Ctrl-C to stop)", file=sys.stderr, flush=True)
    warning = open_without_key(host, config.api_key)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    server = QuietServer(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=3,
                                           server_header=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        import asyncio

        asyncio.run(backend.close())
    return 0
