"""What integrators rely on across the seller API (docs/api.md): Idempotency-Key on the
POSTs that create or move orders and money, rate limits per token with RateLimit-*
headers, and the one cursor pagination."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from orders.models import Order
from podhub.core import idempotency
from podhub.core.models import IdempotencyKey
from podhub.core.throttling import ApiRateThrottle

ORDERS = "/api/v1/orders/"


def _order(number="1001", qty=2):
    return {"channel": "etsy", "number": number, "currency": "USD",
            "shipping_address": {"name": "Ana Lima", "address1": "1 Main St",
                                 "city": "Springfield", "province": "IL", "zip": "62701",
                                 "country_code": "US"},
            "line_items": [{"sku": "MUG-11-WHITE", "title": "Mug", "quantity": qty,
                            "unit_price": "14.50"}]}


def _orders(workspace) -> int:
    with scope(workspace=workspace):
        return Order.objects.filter(workspace=workspace).count()


# --- Idempotency-Key ---------------------------------------------------------------------


def test_a_replay_answers_the_first_answer_and_creates_nothing(owner, api_client_for):
    api = api_client_for(owner)
    first = api.post(ORDERS, _order(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    again = api.post(ORDERS, _order(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _orders(owner.workspace) == 1


def test_the_same_key_for_another_body_is_refused(owner, api_client_for):
    api = api_client_for(owner)
    assert api.post(ORDERS, _order(), format="json",
                    HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201
    other = api.post(ORDERS, _order(qty=3), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert "POST /api/v1/orders/" in other.json()["error"]["message"]
    assert _orders(owner.workspace) == 1


def test_a_key_still_running_is_a_409(owner, api_client_for):
    with scope(workspace=owner.workspace):  # the first request is still running
        IdempotencyKey.objects.create(
            workspace=owner.workspace, key="k-3", method="POST", path=ORDERS,
            fingerprint="whatever")
    busy = api_client_for(owner).post(ORDERS, _order(), format="json",
                                      HTTP_IDEMPOTENCY_KEY="k-3")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert _orders(owner.workspace) == 0


def test_a_key_left_running_by_a_dead_worker_is_taken_over_after_the_lease(owner,
                                                                          api_client_for):
    with scope(workspace=owner.workspace):  # its process died: no answer was ever stored
        IdempotencyKey.objects.create(
            workspace=owner.workspace, key="k-3b", method="POST", path=ORDERS,
            fingerprint="whatever", created_at=timezone.now() - idempotency.RUNNING_LEASE
            - timedelta(seconds=1))
    retried = api_client_for(owner).post(ORDERS, _order(), format="json",
                                         HTTP_IDEMPOTENCY_KEY="k-3b")
    assert retried.status_code == 201, retried.content
    assert _orders(owner.workspace) == 1
    again = api_client_for(owner).post(ORDERS, _order(), format="json",
                                       HTTP_IDEMPOTENCY_KEY="k-3b")
    assert again["Idempotent-Replayed"] == "true" and _orders(owner.workspace) == 1


def test_a_500_frees_the_key_for_a_retry(owner, api_client_for, monkeypatch):
    from orders import api as orders_api

    api = api_client_for(owner)
    api.raise_request_exception = False  # answer the 500 as a client would see it

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(orders_api.services, "order_create_manual", broken)
        failed = api.post(ORDERS, _order(), format="json", HTTP_IDEMPOTENCY_KEY="k-500")
    assert failed.status_code == 500
    with scope(workspace=owner.workspace):
        assert not IdempotencyKey.objects.filter(key="k-500").exists()
    retried = api.post(ORDERS, _order(), format="json", HTTP_IDEMPOTENCY_KEY="k-500")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert _orders(owner.workspace) == 1


def test_a_400_frees_the_key_for_the_corrected_request(owner, api_client_for):
    api = api_client_for(owner)
    bad = _order()
    del bad["shipping_address"]
    assert api.post(ORDERS, bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4").status_code == 400
    good = api.post(ORDERS, _order(), format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good


def test_keys_are_per_workspace(owner, other_owner, api_client_for):
    assert api_client_for(owner).post(ORDERS, _order(), format="json",
                                      HTTP_IDEMPOTENCY_KEY="same").status_code == 201
    theirs = api_client_for(other_owner).post(ORDERS, _order(), format="json",
                                              HTTP_IDEMPOTENCY_KEY="same")
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert _orders(other_owner.workspace) == 1


def test_a_bad_key_is_a_400_naming_the_header(owner, api_client_for):
    answer = api_client_for(owner).post(ORDERS, _order(), format="json",
                                        HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["error"]["fields"]


def test_keys_expire_after_a_day(owner, api_client_for):
    api = api_client_for(owner)
    assert api.post(ORDERS, _order(), format="json",
                    HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    with scopes_disabled():
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency.prune() == 1
    with scopes_disabled():
        assert not IdempotencyKey.objects.exists()


def test_an_expired_key_is_taken_as_new(owner, api_client_for):
    api = api_client_for(owner)
    assert api.post(ORDERS, _order(), format="json",
                    HTTP_IDEMPOTENCY_KEY="reused").status_code == 201
    with scopes_disabled():
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = api.post(ORDERS, _order(number="1002"), format="json",
                     HTTP_IDEMPOTENCY_KEY="reused")
    assert later.status_code == 201 and "Idempotent-Replayed" not in later
    assert _orders(owner.workspace) == 2


def test_an_upload_is_replayed_by_its_content(owner, api_client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from orders.models import CsvImport

    csv = ("order_number,ship_name,ship_address1,ship_city,ship_zip,ship_country,sku,"
           "quantity,unit_price\nE-1,Ana,1 Main St,Springfield,62701,US,MUG,1,14.50\n")
    api = api_client_for(owner)

    def upload(text):
        return api.post("/api/v1/orders/import-csv/", {
            "file": SimpleUploadedFile("orders.csv", text.encode(), content_type="text/csv")},
            format="multipart", HTTP_IDEMPOTENCY_KEY="csv-1")

    first = upload(csv)
    assert first.status_code == 202
    again = upload(csv)  # another multipart boundary, the same file
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert upload(csv.replace("E-1", "E-9")).status_code == 422
    with scope(workspace=owner.workspace):
        assert CsvImport.objects.filter(workspace=owner.workspace).count() == 1


def test_without_a_key_nothing_is_stored(owner, api_client_for):
    assert api_client_for(owner).post(ORDERS, _order(), format="json").status_code == 201
    with scopes_disabled():
        assert not IdempotencyKey.objects.exists()


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 6_000_000_020.0}  # 20 s into a minute
    monkeypatch.setattr(ApiRateThrottle, "timer", lambda self: now["t"])
    return now


def test_every_answer_says_the_budget_and_429_says_when(owner, api_client_for, settings,
                                                       clock):
    from django.core.cache import cache

    cache.clear()
    settings.PODHUB_API_RATES = {"read": "3/min", "write": "2/min"}
    api = api_client_for(owner)
    seen = [api.get(ORDERS) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r["RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    assert seen[0]["RateLimit-Limit"] == "3"
    assert seen[0]["RateLimit-Reset"] == "40"
    assert seen[0]["RateLimit-Policy"] == "3;w=60"
    over = api.get(ORDERS)
    assert over.status_code == 429
    assert over["Retry-After"] == "40"
    assert over.json()["error"]["code"] == "throttled"
    # writes have their own budget, and so has another token
    assert api.post(ORDERS, _order(), format="json")["RateLimit-Limit"] == "2"
    assert api_client_for(owner).get(ORDERS).status_code == 200
    clock["t"] += 40  # the next window
    assert api.get(ORDERS).status_code == 200


def test_calls_without_valid_credentials_share_one_budget_per_address(
        owner, api_client_for, client, settings, clock):
    from django.core.cache import cache

    cache.clear()
    settings.PODHUB_API_RATES = {"read": "100/min", "write": "100/min", "anonymous": "3/min"}
    none = client.get(ORDERS)
    assert none.status_code == 401
    assert none["RateLimit-Remaining"] == "2"  # the 401 says the budget too
    bad = {"HTTP_AUTHORIZATION": "Token not-a-real-token"}
    assert client.get(ORDERS, **bad).status_code == 401
    assert client.post(ORDERS, {}, content_type="application/json", **bad).status_code == 401
    over = client.get(ORDERS, **bad)
    assert over.status_code == 429
    assert over["Retry-After"] == "40"
    assert over.json()["error"]["code"] == "throttled"
    # another address has its own budget; a valid token from this one is unaffected
    assert client.get(ORDERS, REMOTE_ADDR="192.0.2.7").status_code == 401
    assert api_client_for(owner).get(ORDERS).status_code == 200
    clock["t"] += 40  # the next window
    assert client.get(ORDERS, **bad).status_code == 401


# --- pagination ----------------------------------------------------------------------------


def test_pages_follow_the_cursor_without_repeats(owner, api_client_for):
    api = api_client_for(owner)
    for i in range(5):
        assert api.post("/api/v1/webhook-endpoints/", {
            "url": f"http://127.0.0.1:9/hook/{i}", "event_types": ["order.paid"]},
            format="json").status_code == 201
    seen, after = [], None
    for _ in range(5):
        page = api.get("/api/v1/webhook-endpoints/", {"limit": 2, **(
            {"after": after} if after else {})}).json()
        seen += [e["id"] for e in page["results"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert len(seen) == 5 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("params", [{"after": "nonsense"}, {"limit": 0}, {"limit": 201}])
def test_a_bad_cursor_or_limit_is_a_400_naming_it(owner, api_client_for, params):
    answer = api_client_for(owner).get("/api/v1/ledger/", params)
    assert answer.status_code == 400
    assert set(answer.json()["error"]["fields"]) == set(params)
