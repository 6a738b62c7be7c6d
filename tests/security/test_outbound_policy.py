"""The outbound HTTP policy itself (podhub/core/outbound.py, docs/security.md): every
address class refused, the operator's switch, schemes, redirects re-checked, size and time
caps. Servers are real, on 127.0.0.1; where a test needs a "public" server, 127.0.0.1 is
counted as public for that test only (`public_loopback`)."""

import time

import httpx
import pytest

from podhub.core import outbound
from tests.stub_server import Answer, StubServer

REFUSED_ALWAYS_PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "192.0.0.8", "198.18.0.1", "::1", "fe80::1", "fc00::1",
    "fd12:3456::1", "fec0::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "2002:7f00:1::1", "64:ff9b::a00:1",
]
REFUSED_EVEN_WHEN_ALLOWED = ["0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1",  # noqa: S104
                             "255.255.255.255", "::", "ff02::1"]
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.fixture
def public_loopback(monkeypatch):
    """127.0.0.1 stands in for a public server; every other address keeps its class."""
    real = outbound.address_class
    monkeypatch.setattr(outbound, "address_class",
                        lambda ip: "public" if str(ip) == "127.0.0.1" else real(ip))


def _url(ip: str, path: str = "/") -> str:
    return f"http://[{ip}]:9{path}" if ":" in ip else f"http://{ip}:9{path}"


@pytest.mark.parametrize("ip", REFUSED_ALWAYS_PRIVATE + REFUSED_EVEN_WHEN_ALLOWED)
def test_every_non_public_address_is_refused_before_anything_is_sent(no_private, ip):
    with pytest.raises(outbound.OutboundRefused, match="not on the public internet"), \
            outbound.client() as client:
        client.get(_url(ip))


@pytest.mark.parametrize("ip", REFUSED_ALWAYS_PRIVATE + REFUSED_EVEN_WHEN_ALLOWED)
def test_a_name_resolving_to_a_non_public_address_is_refused(no_private, fake_dns, ip):
    fake_dns.answers["internal.test"] = [ip]
    with pytest.raises(outbound.OutboundRefused, match="internal.test is not on the public"):
        outbound.check("https://internal.test/api")


def test_a_name_with_one_private_address_among_public_ones_is_refused(no_private, fake_dns):
    fake_dns.answers["mixed.test"] = [["8.8.8.8", "127.0.0.1"]]
    with pytest.raises(outbound.OutboundRefused):
        outbound.check("http://mixed.test/")


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(no_private, ip):
    assert outbound.address_class(ip) == "public"
    assert outbound.resolve(ip, 443) == [ip]


def test_other_notations_of_loopback_are_refused(no_private):
    # inet_aton forms: the check is on the resolved address, not on the text
    for url in ("http://2130706433/", "http://0x7f000001/", "http://017700000001/",
                "http://127.1/", "http://localhost/"):
        with pytest.raises(outbound.OutboundRefused):
            outbound.check(url)


def test_the_operator_switch_lets_the_sandboxes_in_and_keeps_them_out(settings):
    with StubServer({"/ok": Answer(200, {}, b"ok")}) as local:
        settings.PODHUB_ALLOW_PRIVATE_URLS = True
        with outbound.client() as client:
            assert client.get(f"{local.url}/ok").text == "ok"
        settings.PODHUB_ALLOW_PRIVATE_URLS = False
        with pytest.raises(outbound.OutboundRefused), outbound.client() as client:
            client.get(f"{local.url}/ok")
    assert local.paths() == ["/ok"]  # the refused request never reached it


@pytest.mark.parametrize("ip", REFUSED_EVEN_WHEN_ALLOWED)
def test_some_addresses_are_refused_even_when_private_ones_are_allowed(settings, ip):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    with pytest.raises(outbound.OutboundRefused), outbound.client() as client:
        client.get(_url(ip))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x/",
                                 "javascript:alert(1)", "//127.0.0.1/x", "http:///x"])
def test_only_http_and_https_with_a_host(settings, url):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    with pytest.raises(outbound.OutboundRefused):
        outbound.check(url)


def test_credentials_in_the_url_are_refused(settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    with StubServer({"/": Answer(200)}) as local:
        url = local.url.replace("http://", "http://admin:secret@") + "/"
        with pytest.raises(outbound.OutboundRefused, match="user name or password"), \
                outbound.client() as client:
            client.get(url)
    assert local.received == []


@pytest.mark.parametrize("value", ["https://shop.example/#", "https://shop.example/x?",
                                   "https://shop.example/x?a=1", "https://a@shop.example",
                                   "https://shop.example\\@evil.example", "https://sh op.example"])
def test_a_base_url_cannot_cut_off_the_path_we_append(value):
    with pytest.raises(outbound.OutboundRefused):
        outbound.clean_base_url(value)


def test_redirects_are_not_followed_unless_asked_and_each_hop_is_checked(
        no_private, public_loopback, fake_dns):
    with StubServer() as shop:
        port = shop.httpd.server_port
        fake_dns.answers["shop.test"] = ["127.0.0.1"]
        fake_dns.answers["metadata.test"] = ["169.254.169.254"]
        shop.routes.update({
            "/a": Answer(302, {"Location": "/b"}), "/b": Answer(200, {}, b"b"),
            "/loop": Answer(302, {"Location": "/loop"}),
            "/out": Answer(302, {"Location": "http://metadata.test/latest/meta-data/"}),
            "/mapped": Answer(302, {"Location": f"http://[::ffff:10.0.0.1]:{port}/b"}),
        })
        base = f"http://shop.test:{port}"
        with outbound.client() as client:  # the default: a 3xx comes back as it is
            assert client.get(f"{base}/a").status_code == 302
        assert shop.paths() == ["/a"]
        with outbound.client(max_redirects=3) as client:
            assert client.get(f"{base}/a").text == "b"
            with pytest.raises(outbound.OutboundRefused, match="redirects too many"):
                client.get(f"{base}/loop")
            with pytest.raises(outbound.OutboundRefused, match="metadata.test"):
                client.get(f"{base}/out")
            with pytest.raises(outbound.OutboundRefused):
                client.get(f"{base}/mapped")  # a private address dressed as IPv6
    assert shop.paths().count("/b") == 1  # only the allowed hop reached /b
    assert shop.paths().count("/loop") == 4  # the first try and 3 redirects, then no more


def test_the_host_is_resolved_once_and_the_checked_address_is_used(
        no_private, public_loopback, fake_dns):
    with StubServer({"/x": Answer(200, {}, b"x")}) as shop:
        fake_dns.answers["shop.test"] = ["127.0.0.1", "10.0.0.1"]  # a second answer changes
        with outbound.client() as client:
            assert client.get(f"http://shop.test:{shop.httpd.server_port}/x").text == "x"
    assert fake_dns.calls == ["shop.test"]
    assert shop.received[0].headers["Host"] == f"shop.test:{shop.httpd.server_port}"


def test_the_answer_size_is_capped(settings):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    routes = {"/declared": Answer(200, {"Content-Length": str(50 * 1024 * 1024)},
                                  iter([b""])),
              "/streamed": Answer(200, {}, iter([b"x" * 65536] * 64)),  # 4 MB, no length
              "/small": Answer(200, {}, b"x" * 1000)}
    with StubServer(routes) as big, outbound.client(max_bytes=1024 * 1024) as client:
        with pytest.raises(outbound.OutboundTooLarge) as declared:
            client.get(f"{big.url}/declared")
        assert declared.value.size == 50 * 1024 * 1024
        with pytest.raises(outbound.OutboundTooLarge, match="larger than 1.0 MB"):
            client.get(f"{big.url}/streamed")
        assert len(client.get(f"{big.url}/small").content) == 1000


def test_a_compressed_answer_is_refused(settings):
    # compression is not asked for (a small gzip body could inflate past any cap)
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    import gzip

    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
    with StubServer({"/z": Answer(200, {"Content-Encoding": "gzip"}, bomb)}) as local, \
            outbound.client() as client:
        with pytest.raises(outbound.OutboundRefused, match="compressed"):
            client.get(f"{local.url}/z")
        assert local.received[0].headers["Accept-Encoding"] == "identity"


def _drip():
    while True:  # a byte at a time: each read is fast, the whole never ends
        yield b"."


class _Clock:
    """The policy's clock, moved a quarter second by each look at it (time as a
    parameter): the drip outlasts the deadline after a few reads, however fast they are."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 0.25
        return self.now


def test_the_whole_exchange_has_a_deadline(settings, monkeypatch):
    settings.PODHUB_ALLOW_PRIVATE_URLS = True
    monkeypatch.setattr(outbound, "time", _Clock())
    with StubServer({"/drip": lambda _: Answer(200, {}, _drip())}) as slow, \
            outbound.client(timeout=5, total_timeout=1) as client:
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            client.get(f"{slow.url}/drip")
        assert time.monotonic() - started < 3


def test_refusals_say_why_in_words_a_seller_can_read(no_private, fake_dns):
    fake_dns.answers["printer.test"] = ["10.1.2.3"]
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.check("https://printer.test/x")
    assert refused.value.message == ("printer.test is not on the public internet; PodHub "
                                     "does not connect to private networks.")
    assert "10.1.2.3" not in refused.value.message  # what it resolved to stays in the log
    with pytest.raises(outbound.OutboundRefused, match="cannot be found"):
        outbound.check("https://nowhere.test/x")


def _settings_of(module: str, **env_extra) -> list[str]:
    import os
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PODHUB_ALLOW", "PRINTFILES_ALLOW", "SHOPIFY_API_BASES"))}
    env.update({"DJANGO_SETTINGS_MODULE": module, "SECRET_KEY": "s" * 50,
                "ALLOWED_HOSTS": "pod.example.com", "STRIPE_SECRET_KEY": "sk_live_x",
                "STRIPE_WEBHOOK_SECRET": "whsec_x",
                "PODHUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(), **env_extra})
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.PODHUB_ALLOW_PRIVATE_URLS, settings.SHOPIFY_API_BASES)")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(" ", 1)


def test_production_refuses_private_networks_and_the_embedded_default_allows_them():
    assert _settings_of("podhub.settings.production") == ["False", "{}"]
    assert _settings_of("podhub.settings.production", PODHUB_ALLOW_PRIVATE_URLS="true")[0] \
        == "True"  # only the operator's environment turns it on
    allowed, bases = _settings_of("podhub.settings.base")
    assert allowed == "True" and "podhub-sandbox.myshopify.com" in bases
    assert _settings_of("podhub.settings.base", PRINTFILES_ALLOW_PRIVATE_URLS="false")[0] \
        == "False"  # the old name still works
