"""POST /webhooks/shopify/: every topic; the shop comes from X-Shopify-Shop-Domain.

Checks, in order: size (413 before reading more than the cap), headers (400),
shop (401: unknown shops cannot be authenticated), HMAC of the raw body in
constant time (401), JSON (400 with the reason). Then one INSERT ... ON
CONFLICT DO NOTHING stores the raw delivery, keyed by X-Shopify-Event-Id, and
only after that the 200. A duplicate is acknowledged with 200 and changes
nothing. Processing happens in the worker.
"""

import json
import logging
import threading
import time

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_scopes import scopes_disabled

from integrations import conf
from integrations.platforms import registry
from integrations.platforms.base import WebhookRefused
from integrations.platforms.shopify import resource_id_of
from integrations.services.inbox import webhook_store
from integrations.shopify.connect import connection_for_webhook
from integrations.shopify.hmac import normalize_shop_domain
from podhub.core import safejson

log = logging.getLogger(__name__)


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _too_large() -> JsonResponse:
    return _refuse(413, "too_large", f"Bodies over {conf.WEBHOOK_MAX_BYTES} bytes are refused.")


def _json(body: bytes) -> tuple[str, object]:
    """The body as the text to store and as JSON, else WebhookRefused 400 with the reason
    (not UTF-8, not JSON, or nested past safejson.MAX_DEPTH)."""
    try:
        text = safejson.check_depth(body)
        payload = json.loads(text)
    except safejson.TooDeep as exc:
        raise WebhookRefused(400, "malformed_json", str(exc)) from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise WebhookRefused(400, "malformed_json", f"The body is not JSON: {exc}") from None
    # PostgreSQL text cannot hold NUL; stores never send it raw
    return text.replace("\x00", "\\u0000"), payload


def _accept(*, connection_id: int, workspace_id: int, text: str, **delivery) -> JsonResponse:
    """Store the raw delivery once (a duplicate changes nothing), ring for a new one,
    then the 200."""
    new_id = webhook_store(connection_id=connection_id, workspace_id=workspace_id, body=text,
                           **delivery)
    if new_id is not None:
        _ring(workspace_id, connection_id)
    return JsonResponse({"ok": True, "duplicate": new_id is None})


def _refuse_early(request) -> JsonResponse | None:
    """Before reading the body: POST only, and a declared length over the limit is 413
    (a body without a declared length is cut at the limit when read)."""
    if request.method != "POST":
        return _refuse(405, "method_not_allowed", "POST only.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return _too_large() if length > conf.WEBHOOK_MAX_BYTES else None


@csrf_exempt
def shopify_webhook(request):
    refused = _refuse_early(request)
    if refused is not None:
        return refused
    h = request.headers
    signature = h.get("X-Shopify-Hmac-Sha256", "")
    if not signature:
        return _refuse(401, "unsigned", "X-Shopify-Hmac-SHA256 is missing.")
    topic = h.get("X-Shopify-Topic", "").strip().lower()
    shop_header = h.get("X-Shopify-Shop-Domain", "")
    event_id = (h.get("X-Shopify-Event-Id") or h.get("X-Shopify-Webhook-Id") or "").strip()
    missing = [name for name, value in (("X-Shopify-Topic", topic),
                                        ("X-Shopify-Shop-Domain", shop_header),
                                        ("X-Shopify-Event-Id", event_id)) if not value]
    if missing:
        return _refuse(400, "missing_headers", "Missing header(s): " + ", ".join(missing))
    shop = normalize_shop_domain(shop_header)
    found = connection_for_webhook(shop) if shop else None
    if found is None:
        return _refuse(401, "unknown_shop", "No store with this shop domain is connected.")
    connection_id, workspace_id, secrets = found
    body = request.read(conf.WEBHOOK_MAX_BYTES + 1)
    if len(body) > conf.WEBHOOK_MAX_BYTES:
        return _too_large()
    if not registry.get("shopify").verify_webhook(body=body, signature=signature,
                                                  secrets=secrets):
        return _refuse(401, "bad_signature", "The HMAC signature does not match.")
    try:
        text, payload = _json(body)
    except WebhookRefused as exc:
        return _refuse(exc.status, exc.code, exc.message)
    return _accept(
        connection_id=connection_id, workspace_id=workspace_id, text=text, event_id=event_id,
        webhook_id=h.get("X-Shopify-Webhook-Id", ""), topic=topic,
        resource_id=resource_id_of(topic, payload),
        api_version=h.get("X-Shopify-API-Version", ""),
        triggered_at=h.get("X-Shopify-Triggered-At", ""))


# Doorbells are coalesced per process: at most one per connection per RING_WINDOW
# seconds, plus one trailing ring for what arrived in between. A drain task takes
# every waiting row of the connection, so one ring covers a burst; if the process
# dies before a trailing ring, the beat sweep rings within 30 s. This is what
# keeps intake cheaper than "one INSERT + one publish" per delivery.
RING_WINDOW = 0.25
_ring_lock = threading.Lock()
_last_ring: dict[int, float] = {}
_trailing: dict[int, threading.Timer] = {}


def reset_rings() -> None:
    """Forget this process's doorbell state and cancel trailing rings not yet sent (tests:
    a timer left by one test must not ring inside the next)."""
    with _ring_lock:
        for timer in _trailing.values():
            timer.cancel()
        _trailing.clear()
        _last_ring.clear()


def _ring(workspace_id: int, connection_id: int) -> None:
    now = time.monotonic()
    timer = None
    with _ring_lock:
        last = _last_ring.get(connection_id, 0.0)
        if now - last >= RING_WINDOW:
            _last_ring[connection_id] = now
        elif connection_id in _trailing:
            return
        else:
            timer = threading.Timer(last + RING_WINDOW - now, _trailing_ring,
                                    (workspace_id, connection_id))
            timer.daemon = True
            _trailing[connection_id] = timer
    if timer is None:
        _send_ring(workspace_id, connection_id)
    else:
        timer.start()


def _trailing_ring(workspace_id: int, connection_id: int) -> None:
    with _ring_lock:
        _trailing.pop(connection_id, None)
        _last_ring[connection_id] = time.monotonic()
    _send_ring(workspace_id, connection_id)


def _send_ring(workspace_id: int, connection_id: int) -> None:
    from integrations.tasks import inbox_drain_task

    try:
        inbox_drain_task.delay(workspace_id=workspace_id, connection_id=connection_id)
    except Exception:  # the row is stored: the sweep will ring for it
        log.warning("doorbell for connection %s not sent; the sweep will pick it up",
                    connection_id, exc_info=True)


# --- Etsy: POST /webhooks/etsy/, one endpoint for the whole app ---------------------------


@csrf_exempt
def etsy_webhook(request):
    """POST /webhooks/etsy/: Etsy sends every shop's events to the one endpoint registered
    for the app in its developer portal (docs/etsy.md "Webhooks"). Checks, in order: size
    (413), a signing secret configured (404), the Standard Webhooks signature of
    `webhook-id.webhook-timestamp.body` within five minutes (401), JSON (400), an Etsy
    event (400); a shop no store of ours is connected to is acknowledged (200) and not
    stored. Then one INSERT keyed by `webhook-id` (Etsy's retries of a delivery keep it),
    then the 200; the worker reads the receipt the event names."""
    from django.conf import settings

    from integrations.etsy import webhooks as etsy_hooks
    from integrations.models import ConnectionStatus, StoreConnection

    refused = _refuse_early(request)
    if refused is not None:
        return refused
    secrets = etsy_hooks.secrets_of(settings.ETSY_WEBHOOK_SECRET)
    if not secrets:
        return _refuse(404, "not_configured", "This PodHub takes no Etsy webhooks "
                       "(ETSY_WEBHOOK_SECRET is not set).")
    body = request.read(conf.WEBHOOK_MAX_BYTES + 1)
    if len(body) > conf.WEBHOOK_MAX_BYTES:
        return _too_large()
    h = request.headers
    webhook_id = h.get("webhook-id", "").strip()
    timestamp = h.get("webhook-timestamp", "").strip()
    why = etsy_hooks.verify(secrets=secrets, webhook_id=webhook_id, timestamp=timestamp,
                            signature=h.get("webhook-signature", ""), body=body,
                            now=time.time())
    if why:
        return _refuse(401, "bad_signature", why)
    try:
        text, payload = _json(body)
    except WebhookRefused as exc:
        return _refuse(exc.status, exc.code, exc.message)
    if not isinstance(payload, dict) or not str(payload.get("event_type") or "").strip():
        return _refuse(400, "not_an_event", "An Etsy event is an object with event_type, "
                       "resource_url and shop_id.")
    shop_id, receipt_id = etsy_hooks.receipt_of(payload)
    with scopes_disabled():
        conn = (StoreConnection.objects.filter(platform="etsy", shop_domain=shop_id,
                                               status=ConnectionStatus.ACTIVE)
                .only("pk", "workspace_id").first()) if shop_id else None
    if conn is None:  # another app user's shop, or one disconnected: nothing to keep
        return JsonResponse({"ok": True, "ignored": "no connected Etsy shop "
                             f"{shop_id or '(none named)'}"})
    return _accept(connection_id=conn.pk, workspace_id=conn.workspace_id, text=text,
                   event_id=webhook_id, webhook_id="",
                   topic=str(payload["event_type"]).strip().lower()[:64],
                   resource_id=receipt_id, api_version="v3", triggered_at=timestamp)


# --- the other platforms: POST /webhooks/<platform>/<store id>/ --------------------------


@csrf_exempt
def store_webhook(request, platform: str, store_id: int):
    """POST /webhooks/<platform>/<store id>/: every platform that finds its store by our
    store id (WooCommerce; a new platform needs no view of its own). Checks, in order:
    size (413), the platform and the store (401: an unknown store cannot be
    authenticated), the platform's signature check (401; an unsigned ping is
    acknowledged with 200 and not stored), JSON (400 with the reason), what the
    platform makes of it (400 with the reason). Then one INSERT ... ON CONFLICT DO
    NOTHING keyed by the platform's event id, then the 200."""
    from integrations.models import StoreConnection

    refused = _refuse_early(request)
    if refused is not None:
        return refused
    door = registry.find(platform)
    with scopes_disabled():
        conn = door and (StoreConnection.objects.filter(store_id=store_id, platform=platform)
                         .only("pk", "workspace_id", "webhook_secret", "status", "shop_domain",
                               "platform").first())
    if conn is None:
        label = door.label if door else platform
        return _refuse(401, "unknown_store", f"No {label} store with this id.")
    body = request.read(conf.WEBHOOK_MAX_BYTES + 1)
    if len(body) > conf.WEBHOOK_MAX_BYTES:
        return _too_large()
    try:
        if not door.check_webhook(conn, headers=request.headers, body=body):
            return JsonResponse({"ok": True, "ping": True})
        text, payload = _json(body)
        delivery = door.describe_webhook(conn, headers=request.headers, payload=payload)
    except WebhookRefused as exc:
        return _refuse(exc.status, exc.code, exc.message)
    return _accept(
        connection_id=conn.pk, workspace_id=conn.workspace_id, text=text,
        event_id=delivery.event_id, webhook_id=delivery.webhook_id, topic=delivery.topic,
        resource_id=delivery.resource_id, api_version=delivery.api_version,
        triggered_at=delivery.triggered_at)
