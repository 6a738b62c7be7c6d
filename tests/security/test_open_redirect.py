"""Issue 13, finding 10: an open redirect through `next` after bulk actions.

Every redirect whose target comes from the request — `next` of the order list's bulk
actions, the Referer that a refused action sends the seller back to, htmx's
HX-Redirect — goes to a path on this site or to the page's own fallback, never to
another host (podhub/core/views.py local_path).
"""

import pytest

from orders.models import OrderState
from tests.orders.dashboard_data import make_order, make_store

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    " //evil.example",
    "https:evil.example",
    "http://testserver@evil.example/",
    "http://evil.example\\@testserver/",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "\x00//evil.example",
    "ftp://testserver/x",
]


@pytest.fixture
def seller(client_for, owner):
    return client_for(owner)


@pytest.fixture
def store(workspace):
    return make_store(workspace)


def stays_here(location: str) -> bool:
    """A Location the browser resolves to this site: one leading slash, no scheme."""
    return location.startswith("/") and not location.startswith(("//", "/\\"))


@pytest.mark.parametrize("url", ["/orders/bulk/cancel/", "/orders/bulk/submit/"])
@pytest.mark.parametrize("target", HOSTILE)
def test_bulk_actions_never_redirect_to_another_site(seller, workspace, store, url, target):
    order = make_order(workspace, store, state=OrderState.TO_ORDER)
    resp = seller.post(url, {"order_ids": [order.pk], "next": target})
    assert resp.status_code == 302
    assert resp["Location"] == "/orders/"


@pytest.mark.parametrize("target", ["/orders/?state=to_order&q=%23C1",
                                    "http://testserver/orders/?state=on_hold"])
def test_bulk_actions_return_to_the_list_they_came_from(seller, workspace, store, target):
    order = make_order(workspace, store, state=OrderState.TO_ORDER)
    resp = seller.post("/orders/bulk/cancel/", {"order_ids": [order.pk], "next": target})
    assert resp["Location"] == target.removeprefix("http://testserver")


@pytest.mark.parametrize("referer", HOSTILE)
def test_a_refused_action_goes_back_only_to_a_page_of_this_site(seller, referer):
    # no order selected: refused, and the seller is sent "back"
    resp = seller.post("/orders/bulk/cancel/", {}, HTTP_REFERER=referer)
    assert resp.status_code == 302
    assert resp["Location"] == "/"


def test_a_refused_action_goes_back_to_the_page_of_this_site_it_came_from(seller):
    resp = seller.post("/orders/bulk/cancel/", {},
                       HTTP_REFERER="http://testserver/orders/?state=to_order")
    assert resp["Location"] == "/orders/?state=to_order"


def test_htmx_redirects_stay_on_this_site(seller, workspace, store):
    order = make_order(workspace, store, state=OrderState.TO_ORDER)
    resp = seller.post("/orders/bulk/pay/", {"order_ids": [order.pk]}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 204
    assert resp["HX-Redirect"] == f"/pay/?orders={order.pk}"


def test_local_path_keeps_only_same_host_paths(rf, settings):
    from podhub.core.views import local_path

    request = rf.get("/", secure=True)
    for target in HOSTILE + ["http://testserver/orders/"]:  # https page: no http target
        assert local_path(request, target, fallback="/fallback/") == "/fallback/", target
    assert local_path(request, "https://testserver/orders/?a=1",
                      fallback="/fallback/") == "/orders/?a=1"
    assert stays_here(local_path(request, "orders/", fallback="/fallback/"))


@pytest.mark.parametrize("target", HOSTILE[:4])
def test_sign_in_never_continues_to_another_site(client, user, target):
    resp = client.post(f"/accounts/login/?next={target}",
                       {"login": user.email, "password": "correct horse battery",
                        "next": target}, REMOTE_ADDR="198.51.100.77")
    assert resp.status_code == 302
    assert stays_here(resp["Location"]), resp["Location"]
