"""What a URL pull asked over the API may fetch: the server reaches out on a client's behalf.

https only, a path that names a .gguf, and a host whose every address is public: no loopback,
link-local, private, shared or reserved address (the server's own ports, a cloud's metadata service,
the LAN behind it) unless the host is named in EMBER_PULL_HOSTS. A redirect is held to the same rule.
Every refusal and every failure to fetch reads the same, so a client learns nothing of which ports
or hosts answer. The CLI, which runs as the user, pulls any URL.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from ember.backend.errors import PullError


def refusal(url: str) -> PullError:
    """The one error an API client gets for a URL that is refused or cannot be fetched."""
    return PullError(f"cannot pull {url}: over the API a URL pull fetches https://HOST/…/NAME.gguf from a public "
                     "address that answers with a GGUF file (EMBER_PULL_HOSTS names hosts on private addresses)")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return []


def check_api_url(url: str, pull_hosts: Iterable[str] = ()) -> None:
    """Raise the refusal unless `url` is one the API may fetch."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise refusal(url) from None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise refusal(url)
    if not unquote(parts.path).lower().endswith(".gguf"):
        raise refusal(url)
    if any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in pull_hosts):
        return
    addresses = _addresses(host, port)
    if not addresses or not all(_public(a) for a in addresses):
        raise refusal(url)
