"""Issue 13, finding 5: DNS rebinding in the personalisation image fetch.

The old fetch checked the host's addresses, then let the HTTP client resolve the name again;
a DNS server that answers "public" to the check and "127.0.0.1" to the connect got PodHub
to fetch from an internal service. Now the name is resolved once and the connection goes
to the address that was checked.

The hostile DNS is a resolver the test controls; the internal service is a real server on
127.0.0.1; the "public" address is never really contacted (the test refuses that connect,
so nothing leaves the machine).
"""

import socket

import pytest

from fulfillment.printfiles.loading import fetch_url
from fulfillment.printfiles.problems import Code, ImageRefused
from tests.fulfillment.engine_fixtures import photo, png_bytes
from tests.stub_server import Answer, StubServer

PUBLIC = "93.184.216.34"  # answered to the check


@pytest.fixture
def internal_service():
    secret = png_bytes(photo((4, 4)))  # what an attacker wants to read back as "the image"
    with StubServer({"/admin/export.png": Answer(200, {"Content-Type": "image/png"},
                                                 secret)}) as server:
        yield server


@pytest.fixture
def connects(monkeypatch):
    """Every TCP connect PodHub makes; one to PUBLIC is refused here (no real network)."""
    real = socket.create_connection
    seen = []

    def create_connection(address, *args, **kwargs):
        seen.append(address[0])
        if address[0] == PUBLIC:
            raise ConnectionRefusedError("the test's stand-in for a public host")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return seen


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_fetched(
        no_private, fake_dns, connects, internal_service):
    # the attacker's DNS: public for the first question, loopback for every later one
    fake_dns.answers["rebind.test"] = [PUBLIC, "127.0.0.1"]
    url = f"http://rebind.test:{internal_service.httpd.server_port}/admin/export.png"

    with pytest.raises(ImageRefused) as refused:
        fetch_url(url, timeout=2)

    assert internal_service.received == []  # the internal service was never reached
    assert fake_dns.calls == ["rebind.test"]  # one resolution ...
    assert connects == [PUBLIC]  # ... and the connection went to the address checked
    assert refused.value.code == Code.DOWNLOAD_FAILED


def test_a_name_that_resolves_to_loopback_is_refused_without_a_connect(
        no_private, fake_dns, connects, internal_service):
    fake_dns.answers["internal.test"] = ["127.0.0.1"]
    url = f"http://internal.test:{internal_service.httpd.server_port}/admin/export.png"

    with pytest.raises(ImageRefused) as refused:
        fetch_url(url, timeout=2)

    assert "private networks" in refused.value.message
    assert connects == [] and internal_service.received == []


def test_a_redirect_to_an_internal_address_is_refused(no_private, fake_dns, connects,
                                                      internal_service, monkeypatch):
    # a "public" image host (127.0.0.1 standing in for it) that redirects inward
    from podhub.core import outbound

    real = outbound.address_class
    monkeypatch.setattr(outbound, "address_class",
                        lambda ip: "public" if str(ip) == "127.0.0.1" else real(ip))
    fake_dns.answers["cdn.test"] = ["127.0.0.1"]
    fake_dns.answers["inside.test"] = ["10.0.0.7"]
    internal_service.routes["/photo.png"] = Answer(
        302, {"Location": "http://inside.test/admin/export.png"})

    with pytest.raises(ImageRefused) as refused:
        fetch_url(f"http://cdn.test:{internal_service.httpd.server_port}/photo.png", timeout=2)

    assert "private networks" in refused.value.message
    assert internal_service.paths() == ["/photo.png"]
    assert "10.0.0.7" not in connects
