"""Security regression tests (issue 13): hostile servers are real servers on 127.0.0.1
(tests/stub_server.py); DNS is a resolver the test controls."""

import socket

import pytest

# Fixtures of other test packages that the security tests drive: the Stripe sandbox, the
# Shopify sandbox on a free port, and a clean webhook-lookup cache around each test.
from tests.billing.conftest import celery_eager  # noqa: F401
from tests.integrations.conftest import _fresh_connection_cache, sandbox  # noqa: F401


class FakeDNS:
    """`socket.getaddrinfo` for names ending in `.test`: each name answers from its list of
    answers, one per call (the last one repeats), as a DNS server that changes its answer
    would; an answer is an address or a list of them. Every other name, and every IP
    literal, resolves as usual. `calls` keeps the names asked, in order."""

    def __init__(self, real):
        self._real = real
        self.answers: dict[str, list[str | list[str]]] = {}
        self.calls: list[str] = []

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".test"):
            return self._real(host, port, *args, **kwargs)
        self.calls.append(name)
        answers = self.answers.get(name)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [_info(ip, int(port or 0)) for ip in
                ([answer] if isinstance(answer, str) else answer)]


def _info(ip: str, port: int) -> tuple:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


@pytest.fixture
def no_private(settings):
    """The production setting: PodHub refuses private networks."""
    settings.PODHUB_ALLOW_PRIVATE_URLS = False
    return settings

