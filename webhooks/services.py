"""Outbound webhooks: endpoints, the outbox of deliveries, and the sender
(docs/webhooks.md).

- Order events (orders.events.subscribe, in apps.py, coalesced: one doorbell per
  workspace for a burst) become one delivery row per enabled endpoint that wants the
  type, with the body built then (`fanout_pending`, a batch of events per transaction);
  the same task claims them as it writes them and sends them. `publish(...)` writes
  rows for any caller (the rules engine's "send a seller webhook").
- `send_deliveries` claims due rows with skip_locked and a lease, posts each through
  the outbound HTTP policy (podhub/core/outbound.py) outside any transaction, then records
  every attempt. A failure is retried on RETRY_DELAYS (about 3.2 days, with jitter); an
  endpoint failing for DISABLE_AFTER with at least DISABLE_MIN_FAILURES failures in a row
  is disabled and its owners are e-mailed (podhub/core/mail.py).
- `deliveries_sweep` (beat) sends what is due or what a lost task left, and fans out
  recent order events whose task was lost.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from orders.events import OrderEvents
from orders.models import LineItem, Order, OrderEvent
from podhub.core import mail, outbound
from podhub.core.db import update_by_ids
from podhub.core.exceptions import Conflict, NotFound, ValidationFailed
from podhub.workspaces import services as workspace_services
from podhub.workspaces.models import MANAGING_ROLES, Membership
from webhooks import signing
from webhooks.models import (
    AttemptTrigger,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_secret,
)

log = logging.getLogger(__name__)

ORDER_EVENT_TYPES = [e.value for e in OrderEvents]
TEST_EVENT = "webhook.test"  # "Send test event": goes to the one endpoint, whatever it wants
EVENT_TYPES = [*ORDER_EVENT_TYPES, TEST_EVENT]

# After the n-th failed attempt the next one is RETRY_DELAYS[n-1] later, plus 0-10 %
# jitter (so receivers coming back are not hit by every sender at once). 13 attempts
# over about 3.2 days; docs/webhooks.md "Retries".
RETRY_DELAYS = [timedelta(seconds=5), timedelta(minutes=1), timedelta(minutes=5),
                timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
                timedelta(hours=10), timedelta(hours=10), timedelta(hours=12),
                timedelta(hours=12), timedelta(hours=12), timedelta(hours=12)]
JITTER = 0.10
DISABLE_AFTER = timedelta(days=3)  # failing without one success for this long ...
DISABLE_MIN_FAILURES = 10  # ... and at least this many failed attempts in a row
SECRET_OVERLAP = timedelta(hours=24)  # the old secret keeps signing after a rotation
SEND_LEASE = timedelta(minutes=2)  # a claimed delivery is left to its sender this long
TIMEOUT = 10.0  # connect and each read
TOTAL_TIMEOUT = 15.0  # the whole request
RESPONSE_KEPT = 4096  # bytes of the receiver's answer kept in the log
MAX_ENDPOINTS = 20  # per workspace
FANOUT_LOOKBACK = timedelta(hours=1)  # how far back the sweep looks for lost fan-outs
RETRY_AFTER_MAX = timedelta(hours=24)  # a receiver's Retry-After is honoured up to this
# The fan-out: one task per workspace for a burst of order events (a coalesced doorbell,
# podhub/core/doorbell.py) drains them FANOUT_BATCH at a time, up to FANOUT_ROUNDS
# batches; it looks FANOUT_SLACK event ids behind each endpoint's newest delivery.
FANOUT_DOORBELL = "webhooks:fanout"
FANOUT_BATCH = 200
FANOUT_ROUNDS = 50
FANOUT_SLACK = 500
DRAIN_LEASE = 60  # seconds a drain holds its workspace's fan-out


def _retry_delay(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failure, None when retries are over.
    PODHUB_WEBHOOK_RETRY_SCALE (1 in production) compresses the schedule for a drill."""
    if attempts > len(RETRY_DELAYS):
        return None
    return (RETRY_DELAYS[attempts - 1] * settings.PODHUB_WEBHOOK_RETRY_SCALE
            * (1 + random.random() * JITTER))  # noqa: S311


def require_manager(membership: Membership | None) -> None:
    """Endpoints receive the workspace's order data: owners and admins manage them."""
    workspace_services.require_manager(
        membership, message="Only the owner or an admin can manage webhook endpoints.")


# --- endpoints -----------------------------------------------------------------------------


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise ValidationFailed("url: enter the address to send to.",
                               fields={"url": "Enter the address to send to."})
    try:
        return outbound.check(url)
    except outbound.OutboundError as exc:
        raise ValidationFailed(f"url: {exc.message}", fields={"url": exc.message}) from None


def _clean_types(types) -> list[str]:
    if not isinstance(types, list | tuple) or not types:
        raise ValidationFailed("event_types: choose at least one event type.",
                               fields={"event_types": "Choose at least one event type."})
    unknown = [t for t in types if not isinstance(t, str) or t not in ORDER_EVENT_TYPES]
    if unknown:
        msg = "Unknown event type(s): " + ", ".join(map(str, unknown[:5]))
        raise ValidationFailed(f"event_types: {msg}", fields={"event_types": msg})
    return sorted(set(types))


def _endpoint(workspace, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    qs = WebhookEndpoint.objects.filter(workspace=workspace, pk=endpoint_id)
    if lock:
        qs = qs.select_for_update()
    endpoint = qs.first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint in this workspace.")
    return endpoint


def endpoint_create(*, workspace, by: Membership | None, url: str, event_types,
                    description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown once: only the encrypted copy is kept)."""
    require_manager(by)
    # checked before the transaction: the address check resolves the host name
    url, event_types = _clean_url(url), _clean_types(event_types)
    secret = new_secret()
    with transaction.atomic():
        if WebhookEndpoint.objects.filter(workspace=workspace).count() >= MAX_ENDPOINTS:
            raise ValidationFailed(f"A workspace has at most {MAX_ENDPOINTS} webhook "
                                   "endpoints.")
        endpoint = WebhookEndpoint.objects.create(
            workspace=workspace, url=url, event_types=event_types,
            description=(description or "")[:200], secret=secret)
    return endpoint, secret


def endpoint_update(*, workspace, by: Membership | None, endpoint_id: int,
                    url: str | None = None, event_types=None, description: str | None = None,
                    is_enabled: bool | None = None, now: datetime | None = None
                    ) -> WebhookEndpoint:
    require_manager(by)
    url = _clean_url(url) if url is not None else None  # DNS: outside the transaction
    event_types = _clean_types(event_types) if event_types is not None else None
    with transaction.atomic():
        return _endpoint_update(workspace, by, endpoint_id, url=url, event_types=event_types,
                                description=description, is_enabled=is_enabled, now=now)


def _endpoint_update(workspace, by, endpoint_id, *, url, event_types, description, is_enabled,
                     now) -> WebhookEndpoint:
    endpoint = _endpoint(workspace, endpoint_id, lock=True)
    if url is not None:
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = event_types
    if description is not None:
        endpoint.description = description[:200]
    if is_enabled is True and not endpoint.is_enabled:
        # a fresh start: the old streak would disable it again at the first failure
        endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at = True, "", None
        endpoint.failing_since, endpoint.consecutive_failures = None, 0
    elif is_enabled is False and endpoint.is_enabled:
        _disable(endpoint, reason=f"Disabled by {by.user.email}.", now=now)
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_delete(*, workspace, by: Membership | None, endpoint_id: int) -> None:
    require_manager(by)
    _endpoint(workspace, endpoint_id, lock=True).delete()  # its deliveries and log too


@transaction.atomic
def endpoint_rotate_secret(*, workspace, by: Membership | None, endpoint_id: int,
                           now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown once); the current one keeps signing, beside it, for
    SECRET_OVERLAP, so the receiver can switch without missing a delivery."""
    require_manager(by)
    now = now or timezone.now()
    endpoint = _endpoint(workspace, endpoint_id, lock=True)
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + SECRET_OVERLAP
    endpoint.secret = secret
    endpoint.save(update_fields=["previous_secret", "previous_secret_expires_at", "secret",
                                 "updated_at"])
    return endpoint, secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a request now: the current one, and the previous one
    until its overlap ends."""
    found = [endpoint.secret.reveal()]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at \
            and endpoint.previous_secret_expires_at > now:
        found.append(endpoint.previous_secret.reveal())
    return found


def _disable(endpoint: WebhookEndpoint, *, reason: str, now: datetime | None) -> None:
    """Disable (the caller saves) and fail what waits for it: a replay sends it later."""
    now = now or timezone.now()
    endpoint.is_enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
    WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error="The endpoint was disabled.",
        replay_pending=False)


# --- the outbox ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def order_summary(order: Order, lines: list[tuple] | None = None) -> dict:
    """The order as a webhook carries it (docs/webhooks.md "Payload"). `lines`: its
    (id, sku, title, variant title, quantity) rows when the caller read them already."""
    if lines is None:
        lines = list(LineItem.objects.filter(order=order).order_by("pk").values_list(
            *_LINE_FIELDS))
    return {
        "id": order.pk, "number": order.number, "external_id": order.external_id,
        "store": {"id": order.store_id, "name": order.store.name,
                  "platform": order.store.platform},
        "status": order.state, "hold_reason": order.hold_reason,
        "cancel_reason": order.cancel_reason, "currency": order.currency,
        "total": str(order.total_amount), "placed_at": _iso(order.placed_at),
        "line_items": [{"id": pk, "sku": sku, "title": title, "variant_title": variant,
                        "quantity": qty} for pk, sku, title, variant, qty in lines],
    }


_LINE_FIELDS = ("pk", "sku", "title", "variant_title", "quantity")


def event_body(*, type: str, timestamp: datetime, data: dict) -> str:
    """The Standard Webhooks payload: `{"type", "timestamp", "data"}`."""
    return json.dumps({"type": type, "timestamp": _iso(timestamp), "data": data},
                      separators=(",", ":"), default=str)


def _order_event_data(event: OrderEvent, lines: list[tuple] | None = None) -> dict:
    return {
        "event_id": event.pk, "order": order_summary(event.order, lines),
        "from_status": event.from_state, "to_status": event.to_state,
        "actor": {"type": event.actor_type, "label": event.actor_label},
        "message": event.message, "details": event.data,
    }


# what a payload reads (a smaller query to build and run: the fan-out runs per event)
_EVENT_FIELDS = (
    "workspace_id", "type", "created_at", "from_state", "to_state", "actor_type",
    "actor_label", "message", "data", "order__id", "order__workspace_id", "order__number",
    "order__external_id", "order__state", "order__hold_reason", "order__cancel_reason",
    "order__currency", "order__total_amount", "order__placed_at", "order__store__id",
    "order__store__name", "order__store__platform")


def _enabled_endpoints(workspace) -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(workspace=workspace, is_enabled=True))


def fanout_order_event(*, workspace, event_id: int, send: bool = True) -> list[int]:
    """One delivery per enabled endpoint wanting the event's type (once, however often
    this runs), then send them. The ids of the deliveries made now."""
    endpoints = _enabled_endpoints(workspace)
    if not endpoints:
        return []
    return [d.pk for d in _fanout_events(workspace, {event_id: endpoints}, send=send)]


def fanout_pending(*, workspace, batch: int = FANOUT_BATCH, rounds: int = FANOUT_ROUNDS,
                   send: bool = True) -> int:
    """The doorbell's drain (`order_events_fanout_task`): the workspace's recent order
    events that an enabled endpoint wants and has no delivery for, `batch` at a time,
    each batch written in one transaction, claimed, then sent over the process's
    keep-alive client. The number of deliveries made. An event committed while this
    runs rings the doorbell again; an older one this window missed is the sweep's."""
    made = 0
    for _ in range(rounds):
        endpoints = _enabled_endpoints(workspace)
        if not endpoints:
            break
        wanted = _events_missing(workspace, endpoints, limit=batch)
        if not wanted:
            break
        made += len(_fanout_events(workspace, wanted, send=send))
        if len(wanted) < batch:
            break
    return made


def fanout_drain(*, workspace) -> int:
    """`fanout_pending`, one drain per workspace at a time: concurrent drains of the
    same events only built each body twice and waited on each other's inserts. A drain
    that finds another running leaves it a note (`again`) and returns; the running one
    looks once more after it lets go, so nothing rung is left to the sweep. Without a
    cache, or after DRAIN_LEASE, drains may overlap: the unique (endpoint, event) row
    still makes one delivery."""
    from django.core.cache import cache

    lock = f"{FANOUT_DOORBELL}:drain:{workspace.pk}"
    again = f"{lock}:again"
    made = 0
    while True:
        try:
            cache.set(again, 1, DRAIN_LEASE)  # before trying the lock (see above)
            if not cache.add(lock, 1, DRAIN_LEASE):
                return made
            cache.delete(again)
        except Exception:  # no cache: drain anyway
            log.warning("webhooks drain: cache unavailable", exc_info=True)
            return made + fanout_pending(workspace=workspace)
        try:
            made += fanout_pending(workspace=workspace)
        finally:
            try:
                cache.delete(lock)
                done = not cache.get(again)
            except Exception:  # the lease expires; the sweep sends what is left
                done = True
        if done:
            return made


def _events_missing(workspace, endpoints: list[WebhookEndpoint], *, limit: int,
                    now: datetime | None = None) -> dict[int, list[WebhookEndpoint]]:
    """event id -> the endpoints that want it and have no delivery for it, among the
    events after each endpoint's newest delivery less FANOUT_SLACK event ids (events
    commit out of id order; the slack covers that, the sweep anything later).

    Two range reads and a difference in Python rather than one anti-join: on tables
    whose statistics lag (a burst), PostgreSQL planned the anti-join as a nested loop
    over every delivery of the endpoint, 1.4 s for 2,000 events (docs/benchmarks.md)."""
    now = now or timezone.now()
    wanted: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in endpoints:
        newest = (WebhookDelivery.objects.filter(endpoint=endpoint,
                                                 order_event_id__isnull=False)
                  .order_by("-order_event_id").values_list("order_event_id", flat=True)
                  .first())
        events = OrderEvent.objects.filter(
            workspace=workspace, type__in=endpoint.event_types,
            created_at__gte=max(endpoint.created_at, now - FANOUT_LOOKBACK))
        done = WebhookDelivery.objects.filter(endpoint=endpoint, order_event_id__isnull=False)
        if newest is not None:
            events = events.filter(pk__gt=newest - FANOUT_SLACK)
            done = done.filter(order_event_id__gt=newest - FANOUT_SLACK)
        candidates = list(events.order_by("pk").values_list("pk", flat=True)
                          [:FANOUT_SLACK + limit])
        if not candidates:
            continue
        have = set(done.filter(order_event_id__gte=candidates[0])
                   .values_list("order_event_id", flat=True))
        for pk in [c for c in candidates if c not in have][:limit]:
            wanted[pk].append(endpoint)
    return dict(sorted(wanted.items())[:limit])


def _fanout_events(workspace, wanted: dict[int, list[WebhookEndpoint]], *,
                   send: bool) -> list[WebhookDelivery]:
    """The deliveries of these events to the endpoints wanting each (an endpoint that
    has one already gets no second), written in one transaction; with `send`, claimed as
    they are written and sent now. The deliveries made."""
    events = list(OrderEvent.objects.filter(workspace=workspace, pk__in=list(wanted))
                  .select_related("order__store").only(*_EVENT_FIELDS).order_by("pk"))
    specs = []
    lines: dict[int, list[tuple]] = defaultdict(list)
    if events:
        for order_id, *line in (LineItem.objects
                                .filter(order_id__in={e.order_id for e in events})
                                .order_by("pk").values_list("order_id", *_LINE_FIELDS)):
            lines[order_id].append(tuple(line))
    for event in events:
        wanting = [e for e in wanted[event.pk] if e.wants(event.type)]
        if not wanting:
            continue
        body = event_body(type=event.type, timestamp=event.created_at,
                          data=_order_event_data(event, lines[event.order_id]))
        specs += [_Spec(e, event.type, body, event.pk, event.order_id) for e in wanting]
    if not specs:
        return []
    made = _insert(workspace, specs, claim=send)
    if send and made:
        # claimed as they were written: straight to the sender, no second transaction
        _send_claimed(made, made[0].last_attempt_at)
    return made


@dataclass
class _Spec:
    endpoint: WebhookEndpoint
    type: str
    body: str
    order_event_id: int | None = None
    order_id: int | None = None


def _write(workspace, endpoints, *, type: str, body: str, now: datetime | None = None
           ) -> list[WebhookDelivery]:
    """One delivery of `body` per endpoint (not an order event: publish, test events)."""
    return _insert(workspace, [_Spec(e, type, body) for e in endpoints], now=now)


@transaction.atomic
def _insert(workspace, specs: list[_Spec], *, now: datetime | None = None,
            claim: bool = False) -> list[WebhookDelivery]:
    """The delivery rows (with `claim`, already leased to the caller, who sends them
    now). An endpoint that has one for the order event already gets no second (a
    redelivered task, two drains at once, the sweep): only the rows this call wrote
    (known by their `msg_id`) are returned."""
    now = now or timezone.now()
    claimed = {"attempts": 1, "next_attempt_at": now + SEND_LEASE, "last_attempt_at": now} \
        if claim else {"next_attempt_at": now}
    rows = [WebhookDelivery(workspace=workspace, endpoint=s.endpoint, event_type=s.type,
                            body=s.body, order_event_id=s.order_event_id,
                            order_id=s.order_id, created_at=now, **claimed) for s in specs]
    if all(s.order_event_id is None for s in specs):
        return WebhookDelivery.objects.bulk_create(rows)
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    made = list(WebhookDelivery.objects.filter(msg_id__in=[r.msg_id for r in rows])
                .order_by("pk"))
    by_pk = {s.endpoint.pk: s.endpoint for s in specs}
    for d in made:
        d.endpoint = by_pk[d.endpoint_id]
    return made


def publish(*, workspace, type: str, data: dict, endpoint_ids: list[int] | None = None,
            now: datetime | None = None) -> list[WebhookDelivery]:
    """Send an event of `type` with `data` to the workspace's enabled endpoints that want
    it — or, with `endpoint_ids`, to those endpoints whatever they want (a rule's "send a
    seller webhook" action). Rows now, sent after commit by the delivery task."""
    from webhooks.tasks import deliveries_send_task

    if type not in EVENT_TYPES:
        raise ValidationFailed(f"type: {type!r} is not a webhook event type.",
                               fields={"type": "Unknown event type."})
    now = now or timezone.now()
    endpoints = _enabled_endpoints(workspace)
    if endpoint_ids is not None:
        endpoints = [e for e in endpoints if e.pk in set(endpoint_ids)]
    else:
        endpoints = [e for e in endpoints if e.wants(type)]
    if not endpoints:
        return []
    made = _write(workspace, endpoints, type=type,
                  body=event_body(type=type, timestamp=now, data=data), now=now)
    deliveries_send_task.follow_up(workspace_id=workspace.pk,
                                   delivery_ids=[d.pk for d in made])
    return made


def endpoint_send_test(*, workspace, by: Membership | None, endpoint_id: int,
                       now: datetime | None = None) -> WebhookDelivery:
    """"Send test event": a `webhook.test` delivery to this endpoint (even a disabled
    one is not sent to: enable it first)."""
    require_manager(by)
    endpoint = _endpoint(workspace, endpoint_id)
    if not endpoint.is_enabled:
        raise Conflict("The endpoint is disabled: enable it first.", is_enabled=False)
    now = now or timezone.now()
    data = {"message": "A test event from PodHub.", "endpoint_id": endpoint.pk,
            "sent_by": by.user.email}
    (delivery,) = publish(workspace=workspace, type=TEST_EVENT, data=data,
                          endpoint_ids=[endpoint.pk], now=now)
    return delivery


@transaction.atomic
def delivery_replay(*, workspace, delivery_id: int, by: Membership | None = None,
                    staff: bool = False, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery again now: a new attempt of the same delivery (same `webhook-id`,
    same body, a fresh timestamp and signature). A failed replay of a delivery whose
    retries are over leaves it failed; of a delivered one, delivered."""
    from webhooks.tasks import deliveries_send_task

    if not staff:
        require_manager(by)
    now = now or timezone.now()
    delivery = (WebhookDelivery.objects.select_for_update(of=("self",))
                .filter(workspace=workspace, pk=delivery_id).select_related("endpoint").first())
    if delivery is None:
        raise NotFound("No such delivery in this workspace.")
    if not delivery.endpoint.is_enabled:
        raise Conflict("The endpoint is disabled: enable it first.", is_enabled=False)
    delivery.status, delivery.next_attempt_at, delivery.replay_pending = \
        DeliveryStatus.PENDING, now, True
    delivery.save(update_fields=["status", "next_attempt_at", "replay_pending", "updated_at"])
    deliveries_send_task.follow_up(workspace_id=workspace.pk, delivery_ids=[delivery.pk])
    return delivery


# --- the sender ----------------------------------------------------------------------------


@dataclass
class _Result:
    delivery: WebhookDelivery
    headers: dict
    status: int | None = None
    response: str = ""
    error: str = ""
    permanent: bool = False  # refused by the policy: retrying changes nothing
    duration_ms: int = 0
    retry_after: timedelta | None = None  # the receiver asked us to wait (429/503)
    deferred_until: datetime | None = None  # not sent: its endpoint asked us to wait

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


_http: tuple[int, httpx.Client] | None = None


def _http_client() -> httpx.Client:
    """This process's client for deliveries: its connections are kept alive from one
    batch to the next (otherwise each small batch pays a new TCP, and TLS, connection).
    Made in the process that uses it, never inherited across a fork. Every request
    still goes through the outbound policy (the address is checked at each connect)."""
    global _http
    if _http is None or _http[0] != os.getpid() or _http[1].is_closed:
        _http = (os.getpid(), outbound.client(timeout=TIMEOUT, total_timeout=TOTAL_TIMEOUT,
                                              max_bytes=1024 * 1024))
    return _http[1]


def _http_close() -> None:
    global _http
    if _http is not None and _http[0] == os.getpid():
        _http[1].close()
    _http = None


def _claim(delivery_ids, now: datetime) -> list[WebhookDelivery]:
    """Due deliveries among `delivery_ids` that nobody else holds, leased to us."""
    with transaction.atomic():
        rows = list(WebhookDelivery.objects.select_for_update(skip_locked=True)
                    .filter(pk__in=delivery_ids, status=DeliveryStatus.PENDING,
                            next_attempt_at__lte=now).order_by("pk"))
        _attach_endpoints(rows)
        rows = [d for d in rows if d.endpoint.is_enabled]
        if rows:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in rows]).update(
                attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE,
                last_attempt_at=now)
    for d in rows:
        d.attempts += 1
    return rows


def _attach_endpoints(rows: list[WebhookDelivery]) -> None:
    """Each endpoint loaded (and its secrets decrypted) once, not once per delivery."""
    endpoints = WebhookEndpoint.objects.in_bulk({d.endpoint_id for d in rows})
    for d in rows:
        d.endpoint = endpoints[d.endpoint_id]


def _post(http: httpx.Client, delivery: WebhookDelivery, headers: dict) -> _Result:
    result = _Result(delivery=delivery, headers=headers)
    started = time.monotonic()
    try:
        with http.stream("POST", delivery.endpoint.url, content=delivery.body.encode(),
                         headers={**headers, "Content-Type": "application/json"}) as response:
            result.status = response.status_code
            kept = b""
            for chunk in response.iter_raw():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT:
                    break
            result.response = kept[:RESPONSE_KEPT].decode("utf-8", errors="replace")
            if response.status_code in (429, 503):
                result.retry_after = retry_after(response.headers.get("Retry-After"),
                                                 now=timezone.now())
        if not result.ok:
            result.error = f"HTTP {result.status}"
    except outbound.OutboundRefused as exc:
        result.error, result.permanent = exc.message, True
    except outbound.OutboundError as exc:
        result.error = exc.message
    except httpx.TimeoutException:
        result.error = f"No answer within {TOTAL_TIMEOUT:.0f} s."
    except httpx.HTTPError as exc:
        result.error = f"Could not connect: {exc.__class__.__name__}"
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A receiver's `Retry-After` (RFC 9110 10.2.3: seconds, or an HTTP date), capped at
    RETRY_AFTER_MAX; None when absent or unreadable (then the backoff alone applies)."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(wait, RETRY_AFTER_MAX))


def send_deliveries(*, delivery_ids, now: datetime | None = None,
                    client: httpx.Client | None = None) -> dict:
    """Send the due ones among `delivery_ids` (claimed: two workers never send one
    delivery at once) and record each attempt. Counts by outcome."""
    now = now or timezone.now()
    return _send_claimed(_claim(delivery_ids, now), now, client=client)


def _send_claimed(claimed: list[WebhookDelivery], now: datetime,
                  client: httpx.Client | None = None) -> dict:
    if not claimed:
        return {"delivered": 0, "failed": 0, "retrying": 0}
    results = []
    http = client or _http_client()
    started = time.monotonic()
    paused: dict[int, datetime] = {}  # endpoint → until when it asked us to wait
    try:
        for d in claimed:
            if d.endpoint_id in paused:  # not sent, not an attempt: after its wait
                results.append(_Result(delivery=d, headers={},
                                       deferred_until=paused[d.endpoint_id]))
                continue
            # the moment of this request (receivers refuse stale timestamps: a batch
            # behind slow receivers must not sign with the batch's start)
            at = now + timedelta(seconds=time.monotonic() - started)
            headers = signing.headers(msg_id=d.msg_id, timestamp=at, body=d.body,
                                      secrets=signing_secrets(d.endpoint, at))
            result = _post(http, d, headers)
            if result.retry_after:
                paused[d.endpoint_id] = now + result.retry_after
            results.append(result)
    except BaseException:
        if client is None:  # a broken connection is not left in the pool for the next batch
            _http_close()
        raise
    return _record(results, now)


def _record(results: list[_Result], now: datetime) -> dict:
    counts = {"delivered": 0, "failed": 0, "retrying": 0}
    updates: dict[int, tuple] = {}
    attempts = []
    by_endpoint: dict[int, list[_Result]] = defaultdict(list)
    for r in results:
        d = r.delivery
        if r.deferred_until:  # the claim counted an attempt that was not made
            updates[d.pk] = (DeliveryStatus.PENDING, r.deferred_until, d.delivered_at,
                             d.last_status_code, d.last_error, d.replay_pending,
                             d.attempts - 1)
            counts["retrying"] += 1
            continue
        by_endpoint[d.endpoint_id].append(r)
        attempts.append(WebhookAttempt(
            workspace_id=d.workspace_id, delivery=d, number=d.attempts, created_at=now,
            trigger=AttemptTrigger.REPLAY if d.replay_pending else AttemptTrigger.AUTO,
            url=d.endpoint.url, request_headers=r.headers, response_status=r.status,
            response_body=r.response, duration_ms=r.duration_ms, error=r.error[:500]))
        delay = None if r.ok or r.permanent else _retry_delay(d.attempts)
        if delay is not None and r.retry_after:
            delay = max(delay, r.retry_after)
        if r.ok or d.delivered_at:  # delivered (a failed replay of a delivered one stays so)
            status, next_at, delivered_at = DeliveryStatus.DELIVERED, now, d.delivered_at or now
            counts["delivered" if r.ok else "failed"] += 1
        elif delay is not None:
            status, next_at, delivered_at = DeliveryStatus.PENDING, now + delay, None
            counts["retrying"] += 1
        else:  # retries over, or refused by the outbound policy
            status, next_at, delivered_at = DeliveryStatus.FAILED, now, None
            counts["failed"] += 1
        updates[d.pk] = (status, next_at, delivered_at, r.status, r.error[:500], False,
                         d.attempts)
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(attempts)
        update_by_ids(WebhookDelivery, updates,
                      columns=["status", "next_attempt_at", "delivered_at", "last_status_code",
                               "last_error", "replay_pending", "attempts"])
    for rs in by_endpoint.values():
        _record_streak(rs[0].delivery.endpoint, rs, now)
    return counts


def _record_streak(endpoint: WebhookEndpoint, results: list[_Result], now: datetime) -> None:
    """A 2xx ends the failure streak; a streak of DISABLE_AFTER disables the endpoint."""
    qs = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if any(r.ok for r in results):
        # only when something changes: every worker's success would otherwise queue on
        # this one row (last_success_at is kept to the minute)
        qs.filter(Q(failing_since__isnull=False) | Q(consecutive_failures__gt=0)
                  | Q(last_success_at__isnull=True)
                  | Q(last_success_at__lt=now - timedelta(minutes=1))).update(
            failing_since=None, consecutive_failures=0, last_success_at=now)
        return
    qs.filter(failing_since__isnull=True).update(failing_since=now)
    qs.update(consecutive_failures=F("consecutive_failures") + len(results))
    with transaction.atomic():
        current = qs.select_for_update().filter(is_enabled=True).first()
        if current is None or current.failing_since is None \
                or current.failing_since > now - DISABLE_AFTER \
                or current.consecutive_failures < DISABLE_MIN_FAILURES:
            return
        last = results[-1].error or "no answer"
        _disable(current, now=now, reason=(
            f"Every delivery failed for {DISABLE_AFTER.days} days "
            f"({current.consecutive_failures} attempts in a row; last: {last})."[:255]))
        current.save(update_fields=["is_enabled", "disabled_reason", "disabled_at"])
        _tell_owners(current)


def _tell_owners(endpoint: WebhookEndpoint) -> None:
    emails = list(Membership.objects.filter(workspace_id=endpoint.workspace_id,
                                            role__in=MANAGING_ROLES)
                  .values_list("user__email", flat=True))
    mail.send(to=emails, workspace_id=endpoint.workspace_id,
              subject=f"[PodHub] Webhook endpoint disabled: {endpoint.url}",
              body=(f"PodHub stopped sending webhooks to {endpoint.url}.\n\n"
                    f"{endpoint.disabled_reason}\n\n"
                    "Fix the receiver, then enable the endpoint again under Settings → "
                    "Webhooks; failed deliveries can be replayed from its delivery log."),
              link=settings.PUBLIC_BASE_URL + reverse("webhooks:endpoint",
                                                      kwargs={"endpoint_id": endpoint.pk}),
              link_label="Open the endpoint")


# --- the sweep -----------------------------------------------------------------------------


def deliveries_sweep(*, now: datetime | None = None, older_than: int = 10,
                     limit: int = 2000, chunk: int = 100) -> dict:
    """Ring a send task for deliveries that are due (retries) or whose task was lost,
    and fan out recent order events whose own task was lost. Fresh rows (younger than
    `older_than` seconds) are left to their own task."""
    from webhooks.tasks import deliveries_send_task

    now = now or timezone.now()
    lost = _fanout_lost(now=now, older_than=older_than)
    due = list(WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__is_enabled=True,
        created_at__lte=now - timedelta(seconds=older_than),
    ).order_by("next_attempt_at").values_list("workspace_id", "pk")[:limit])
    per_workspace: dict[int, list[int]] = defaultdict(list)
    for workspace_id, pk in [*lost, *due]:
        per_workspace[workspace_id].append(pk)
    for workspace_id, ids in per_workspace.items():
        for start in range(0, len(ids), chunk):
            deliveries_send_task.delay(workspace_id=workspace_id,
                                       delivery_ids=ids[start:start + chunk])
    return {"due": len(due), "fanned_out": len(lost)}


def _fanout_lost(*, now: datetime, older_than: int) -> list[tuple[int, int]]:
    """Deliveries made now for order events of the last FANOUT_LOOKBACK that an enabled
    endpoint wants and has none for (their fan-out task was lost): (workspace, id)."""
    made = []
    for endpoint in WebhookEndpoint.objects.filter(is_enabled=True).select_related(
            "workspace"):
        since = max(endpoint.created_at, now - FANOUT_LOOKBACK)
        missing = list(OrderEvent.objects
                       .filter(workspace_id=endpoint.workspace_id,
                               type__in=endpoint.event_types, created_at__gt=since,
                               created_at__lte=now - timedelta(seconds=older_than))
                       .exclude(Exists(WebhookDelivery.objects.filter(
                           endpoint=endpoint, order_event_id=OuterRef("pk"))))
                       .values_list("pk", flat=True)[:500])
        if missing:
            made += [(endpoint.workspace_id, d.pk) for d in _fanout_events(
                endpoint.workspace, dict.fromkeys(missing, [endpoint]), send=False)]
    return made
