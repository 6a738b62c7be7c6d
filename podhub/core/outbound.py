"""The outbound HTTP policy: every request to a URL a seller, a store or a provider
influenced goes through `client()` (docs/security.md, "Outbound HTTP policy").

- Scheme: http and https only; no user name or password in the URL.
- Address: the host is resolved once, every address it resolves to is checked, and the
  connection is made to a checked address (never resolved a second time, so a DNS
  answer that changes between the check and the connect — rebinding — cannot reach an
  internal service). Loopback, private, link-local, shared (CGNAT), unique-local and
  site-local addresses are refused unless the operator allows them with
  `PODHUB_ALLOW_PRIVATE_URLS` (on in the embedded default for the local sandboxes, off in
  production); multicast, unspecified and reserved addresses are always refused. IPv4
  addresses carried inside IPv6 (mapped, 6to4, Teredo, NAT64) are checked as IPv4.
- Redirects: none unless the caller asks for some (never for a request that carries
  credentials); each hop goes through the same checks.
- Limits: a connect and read timeout plus a deadline for the whole exchange, redirects
  included; the answer's size is capped (Content-Length first, then the bytes read).
  Compression is not asked for, and an answer compressed anyway is refused, so the cap
  is the size we hold in memory.

A refusal raises `OutboundRefused`, an answer over the cap `OutboundTooLarge`; both are
`OutboundError`s whose `message` is safe to show the seller. Timeouts and network
failures stay httpx's own exceptions (transient: callers retry them).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

log = logging.getLogger(__name__)

USER_AGENT = "PodHub/1 (+https://github.com/podhub)"
SCHEMES = ("http", "https")
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_ADDRESSES_TRIED = 4
_DEADLINE = "podhub.deadline"  # request extension: the monotonic time the exchange must end

# Always refused, whatever the operator allows: nothing legitimate answers there.
NEVER = ("multicast", "unspecified", "reserved")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
# RFC 6890 IETF protocol assignments: Python 3.11 counts only part of it as private.
_IETF = ipaddress.ip_network("192.0.0.0/24")
_IETF_GLOBAL = (ipaddress.ip_address("192.0.0.9"), ipaddress.ip_address("192.0.0.10"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundError(Exception):
    """A request the policy refused or cut short; `message` can be shown to the seller."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class OutboundRefused(OutboundError):
    """The URL or the address it leads to is not allowed; nothing was sent."""


class OutboundTooLarge(OutboundError):
    """The answer is larger than the caller accepts; it was not read to the end."""

    def __init__(self, message: str, *, limit: int, size: int | None = None):
        super().__init__(message)
        self.limit = limit
        self.size = size  # the declared Content-Length, when there was one


def allow_private() -> bool:
    """The operator's switch (`PODHUB_ALLOW_PRIVATE_URLS`), read at each connect."""
    return bool(getattr(settings, "PODHUB_ALLOW_PRIVATE_URLS", False))


# --- checks -------------------------------------------------------------------------------


def address_class(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """"public", or the kind of non-public address this is (what a refusal names)."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo or (None, None))[1]
        if embedded is None and addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            return address_class(embedded)
    checks = (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("multicast", addr.is_multicast),
        ("link-local", addr.is_link_local),
        ("shared (carrier-grade NAT)", addr in _SHARED if addr.version == 4 else False),
        ("site-local", getattr(addr, "is_site_local", False)),
        ("reserved", addr.is_reserved),
        ("private", addr.is_private),
        ("private", not addr.is_global),
        ("private", addr.version == 4 and addr in _IETF and addr not in _IETF_GLOBAL),
    )
    return next((name for name, hit in checks if hit), "public")


def check_url(url: str | httpx.URL) -> httpx.URL:
    """The URL, parsed, if its form is allowed (scheme, host, no credentials)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise OutboundRefused("This is not a valid web address.") from None
    if parsed.scheme not in SCHEMES:
        raise OutboundRefused("Only http and https addresses can be used.")
    if not parsed.host:
        raise OutboundRefused("The address names no host.")
    if parsed.userinfo:
        raise OutboundRefused("Addresses with a user name or password (user@host) are not "
                              "accepted.")
    return parsed


def resolve(host: str, port: int) -> list[str]:
    """Resolve once; every address must pass, else OutboundRefused. Returns the addresses
    to connect to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused(f"The host {host} cannot be found.") from None
    private_ok = allow_private()
    addresses: list[str] = []
    for info in infos:
        ip = str(info[4][0]).split("%")[0]  # drop an IPv6 zone id
        kind = address_class(ip)
        if kind in NEVER or (kind != "public" and not private_ok):
            log.warning("outbound: refused %s (%s, %s address)", host, ip, kind)
            raise OutboundRefused(f"{host} is not on the public internet; PodHub does not "
                                  "connect to private networks.")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundRefused(f"The host {host} cannot be found.")
    return addresses


def check(url: str) -> str:
    """Check a URL now (form and address) without sending anything: for a form that
    takes a URL, so the seller hears at once. The request itself is checked again."""
    parsed = check_url(url)
    resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    return str(parsed)


def clean_base_url(value: str) -> str:
    """A base URL PodHub appends API paths to (a store's address), checked now:
    `scheme://host[:port][/path]`, lower-case host, no trailing slash. No query or
    fragment (a trailing `?` or `#` would cut off the path we append), no user name,
    backslash or white space."""
    value = (value or "").strip().rstrip("/")
    if any(c in value for c in "?#@\\") or any(c.isspace() for c in value):
        raise OutboundRefused("Use the plain address (https://host/path): no ?, #, @, "
                              "backslash or spaces.")
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise OutboundRefused("Only http and https addresses can be used.")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise OutboundRefused("The address has an invalid port.") from None
    base = f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    check(base)
    return base


# --- transport ----------------------------------------------------------------------------


class _CheckedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, connecting only to addresses `resolve` allowed: the
    connection goes to the address that was checked, while the Host header and TLS
    (SNI and the certificate's name) keep using the host name."""

    def __init__(self):
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        error: Exception | None = None
        for ip in resolve(host, port)[:MAX_ADDRESSES_TRIED]:
            try:
                return self._inner.connect_tcp(ip, port, timeout=timeout,
                                               local_address=local_address,
                                               socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error  # type: ignore[misc]

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused("Unix sockets are not reachable.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, *, max_bytes: int, deadline: float,
                 host: str):
        self._stream, self._max, self._deadline, self._host = stream, max_bytes, deadline, host

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._stream:
            seen += len(chunk)
            if seen > self._max:
                raise OutboundTooLarge(f"The answer from {self._host} is larger than "
                                       f"{size_text(self._max)}.", limit=self._max)
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout(f"{self._host} took too long to answer.")
            yield chunk

    def close(self) -> None:
        self._stream.close()


class PolicyTransport(httpx.HTTPTransport):
    """httpx's transport with the checked backend, the size cap and the deadline."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, total_timeout: float = 60.0,
                 max_connections: int = 20):
        # Not super().__init__(): it would build a pool we replace with this one.
        self.max_bytes = max_bytes
        self.total_timeout = total_timeout
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(), max_connections=max_connections,
            max_keepalive_connections=min(10, max_connections), keepalive_expiry=5.0,
            network_backend=_CheckedBackend())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_url(request.url)
        deadline = request.extensions.get(_DEADLINE) or time.monotonic() + self.total_timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.ConnectTimeout(f"{request.url.host} took too long to answer.",
                                       request=request)
        timeouts = {k: min(v, remaining) if v is not None else remaining
                    for k, v in (request.extensions.get("timeout") or {}).items()}
        request.extensions = {**request.extensions, "timeout": timeouts}
        response = super().handle_request(request)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        declared = response.headers.get("content-length", "")
        problem: OutboundError | None = None
        if encoding not in ("", "identity"):
            problem = OutboundRefused(f"{request.url.host} sent a compressed answer PodHub "
                                      "did not ask for.")
        elif declared.isdigit() and int(declared) > self.max_bytes:
            problem = OutboundTooLarge(f"The answer from {request.url.host} is "
                                       f"{size_text(int(declared))}; the limit is "
                                       f"{size_text(self.max_bytes)}.", limit=self.max_bytes,
                                       size=int(declared))
        if problem is not None:
            response.close()
            raise problem
        response.stream = _CappedStream(response.stream, max_bytes=self.max_bytes,
                                        deadline=deadline, host=request.url.host)
        return response


class PolicyClient(httpx.Client):
    """An httpx.Client whose every request (and redirect hop) obeys the policy."""

    def __init__(self, *, total_timeout: float, **kwargs):
        super().__init__(**kwargs)
        self.total_timeout = total_timeout

    def send(self, request: httpx.Request, **kwargs) -> httpx.Response:
        # one deadline for the request and every redirect hop (they copy the extensions)
        request.extensions.setdefault(_DEADLINE, time.monotonic() + self.total_timeout)
        try:
            return super().send(request, **kwargs)
        except httpx.TooManyRedirects:
            raise OutboundRefused(f"{request.url.host} redirects too many times.") from None


def client(*, timeout: float = DEFAULT_TIMEOUT, total_timeout: float | None = None,
           max_bytes: int = DEFAULT_MAX_BYTES, max_redirects: int = 0,
           headers: dict | None = None) -> PolicyClient:
    """An httpx.Client for URLs PodHub does not control.

    `timeout`: connect (at most 10 s) and each read; `total_timeout`: the whole exchange,
    redirects included (default: 6 × timeout); `max_bytes`: the answer's size cap;
    `max_redirects`: 0 (the default) returns a 3xx as it came — keep it 0 for any
    request that carries credentials.
    """
    total_timeout = total_timeout or 6 * timeout
    return PolicyClient(
        total_timeout=total_timeout, trust_env=False,
        transport=PolicyTransport(max_bytes=max_bytes, total_timeout=total_timeout),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=max_redirects > 0, max_redirects=max(max_redirects, 1),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})})


_SSL = None


def _ssl_context():
    """One TLS context per process (building one costs about 25 ms)."""
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()
    return _SSL


def size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"
