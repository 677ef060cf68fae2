"""Run the ember command with every socket operation recorded: `python -m tests.security.audited LOG -- ARGS`.

An audit hook (PEP 578) sees each `socket.connect`, `socket.sendto` and `socket.getaddrinfo` the
process makes, whichever library makes it; each is appended to LOG as one JSON line at once, so a
process that is stopped still leaves its record.
"""

from __future__ import annotations

import json
import socket
import sys

EVENTS = {"socket.connect", "socket.connect_ex", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
          "socket.gethostbyname", "socket.gethostbyaddr"}


def record_to(path: str) -> None:
    log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the life of the process

    def hook(event: str, args: tuple) -> None:
        if event not in EVENTS:
            return
        if event.startswith("socket.connect") or event == "socket.sendto":
            sock, address = args[0], args[1]
            family = sock.family.name if isinstance(sock, socket.socket) else "?"
            log.write(json.dumps({"event": event, "family": family, "address": repr(address)}) + "\n")
        else:
            log.write(json.dumps({"event": event, "address": repr(args[0])}) + "\n")

    sys.addaudithook(hook)


def main() -> int:
    path, separator, *argv = sys.argv[1:]
    assert separator == "--"
    record_to(path)
    from ember.tui.cli.main import main as ember

    return ember(argv)


if __name__ == "__main__":
    raise SystemExit(main())
