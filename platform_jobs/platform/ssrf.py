"""Where a webhook may be sent: public addresses only, checked on the address actually used.

:func:`resolve_target` parses the URL, resolves the host once with ``getaddrinfo`` and refuses the
whole destination if ANY of its addresses is not public (a name with one public and one private
record would otherwise be a coin toss). The caller connects to the returned, checked address
(``platform_jobs.platform.webhook_http``), so a DNS answer that changes between check and connect
(DNS rebinding) never reaches an internal address.

``PJ_WEBHOOK_ALLOWLIST`` (comma-separated host names) exempts chosen hosts from the address check;
it exists for development and tests (receivers on 127.0.0.1), never for production.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from platform_jobs.errors import Invalid
from platform_jobs.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

METADATA_V4 = ipaddress.IPv4Address("169.254.169.254")
# IPv6 prefixes that carry an IPv4 address inside: NAT64 (well-known and local-use), 6to4.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_IPV4_COMPAT = ipaddress.IPv6Network("::/96")
# Anything inet_aton would read as an IPv4 address but that is not dotted-quad decimal:
# 2130706433, 0x7f000001, 0177.0.0.1, 127.1 ...
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


class DestinationRefused(Invalid):
    """The webhook destination is not allowed."""


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``ip``, but speak to ``host`` (Host header and TLS SNI)."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str  # path + query, never empty

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in a mapped, compatible, NAT64 or 6to4 IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    packed = int(ip)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPAT and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or None when it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"{ip} has a scope id (link-local)"
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = refusal_reason(inner)
            return f"{ip} embeds {inner}: {reason}" if reason else None
    checks = (
        (ip == METADATA_V4, "is the cloud metadata address"),
        (ip.is_unspecified, "is unspecified"),
        (ip.is_loopback, "is loopback"),
        (ip.is_link_local, "is link-local"),
        (ip.is_multicast, "is multicast"),
        (ip.is_private, "is private"),
        (ip.is_reserved, "is reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "is site-local"),
        (not ip.is_global, "is not a public address"),
    )
    for refused, why in checks:
        if refused:
            return f"{ip} {why}"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DestinationRefused(f"cannot resolve {host}: {exc.strerror or exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        # Resolvers read these as IPv4 addresses; two parsers disagreeing is how SSRF filters fail.
        raise DestinationRefused(f"host {host!r} is a non-standard spelling of an IP address")
    return None


def resolve_target(
    url: str,
    *,
    allowlist: Sequence[str] | None = None,
    require_https: bool | None = None,
    resolver: Resolver = system_resolver,
) -> Target:
    """Check ``url`` and resolve it to one address to connect to. Raises DestinationRefused."""
    settings = get_settings()
    allowlist = settings.webhooks.allowlist if allowlist is None else allowlist
    require_https = settings.webhooks.require_https if require_https is None else require_https
    if not isinstance(url, str) or len(url) > 2000 or any(c in url for c in "\r\n\t "):
        raise DestinationRefused("the URL must be a string of at most 2000 characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise DestinationRefused("the URL must start with https://")
    if scheme == "http" and require_https:
        raise DestinationRefused("webhook URLs must use https")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("credentials in the URL are not allowed; authenticate with the signature")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise DestinationRefused("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    allowed = host in {name.lower() for name in allowlist}

    literal = _literal_ip(host) if not allowed else None
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        addresses = resolver(host, port)
        if not addresses:
            raise DestinationRefused(f"{host} has no address")
    if not allowed:
        for address in addresses:
            reason = refusal_reason(ipaddress.ip_address(address))
            if reason:
                raise DestinationRefused(f"{host} resolves to a non-public address: {reason}")
    return Target(scheme=scheme, host=host, port=port, ip=addresses[0], path=path)


def validate_url(url: str, **kwargs: object) -> str:
    """Check a URL at registration time (same rules as at delivery); returns it unchanged."""
    resolve_target(url, **kwargs)  # type: ignore[arg-type]
    return url
