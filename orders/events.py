"""Order events: what may happen to an order (one enum), who acts, and the one way the
apps above orders react to them.

Every timeline entry (OrderEvent, written only by orders.services.record_event(s)) has a
type from `OrderEvents` (saleor's OrderEvents). Apps above orders react through
`subscribe(task=..., types=...)` in their AppConfig.ready(): a subscription names a
PodHub task (podhub.celery.PodhubTask, transaction-aware), and for every event of those
types the task is sent after the transaction commits with `workspace_id`, `event_id`
and `type` — or, with `coalesce`, one task per workspace for a burst of events (the
submit sweep moves orders by the hundred; podhub/core/doorbell.py). A subscriber never
runs inside the caller's transaction or commit callback: the broker is a doorbell and
each app's sweep catches what a lost task left (docs/architecture.md).

The subscribed tasks are follow-ups (podhub.celery.PodhubTask.follow_up): the test
settings run their bodies in-process right after commit; tests/podhub/test_events.py
sends them through the real broker.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from orders.models import ActorType, HoldReason


class OrderEvents(StrEnum):
    """Every type an OrderEvent may have. Dotted names are the public ones (the
    timeline, outbound webhooks to come)."""

    # coming in
    IMPORTED = "order.imported"  # from a store
    CREATED = "order.created"  # entered by the seller (manual, CSV, API)
    UPDATED = "order.updated"  # a newer version from the store, applied
    STORE_PAID = "order.store_paid"  # the buyer paid the store
    EDITED = "order.edited"  # the seller edited it
    BUYER_DATA_REDACTED = "order.buyer_data_redacted"
    QUOTE_REQUESTED = "order.quote_requested"
    # the path (orders/states.py)
    PRICED = "order.priced"
    PAID = "order.paid"
    SUBMITTED = "order.submitted"
    # a plain move along the table (order_transition) is named after its state
    IN_QUOTATION = "order.in_quotation"
    TO_ORDER = "order.to_order"
    AWAITING_SUBMISSION = "order.awaiting_submission"
    IN_PRODUCTION = "order.in_production"
    SHIPPED = "order.shipped"
    COMPLETED = "order.completed"
    CANCELLED = "order.cancelled"
    RELEASED = "order.released"
    HELD_INFO_REQUESTED = "order.held.info_requested"
    HELD_PREFLIGHT = "order.held.preflight"
    HELD_PROVIDER_REJECTED = "order.held.provider_rejected"
    HELD_ADDRESS_INVALID = "order.held.address_invalid"
    HELD_LOSS_GUARD = "order.held.loss_guard"
    HELD_STORE_CHANGE = "order.held.store_change"
    HELD_RULE = "order.held.rule"
    HELD_DATA_PROBLEM = "order.held.data_problem"
    PROGRESS_WHILE_HELD = "order.progress_while_held"
    # automation: a rule fired (what it changed), a note added to the timeline
    RULE_FIRED = "order.rule_fired"
    NOTE_ADDED = "order.note_added"
    # store edits (docs/store-truth.md)
    REPRICED = "order.repriced"
    UNPRICED = "order.unpriced"  # back to quotation
    UNPAID = "order.unpaid"  # back to "To order", holds released
    STORE_CHANGE_AFTER_SUBMISSION = "order.store_change_after_submission"
    STORE_CANCEL_AFTER_SUBMISSION = "order.store_cancel_after_submission"
    STORE_CANCEL_CONFIRMED = "order.store_cancel_confirmed"
    STORE_CANCEL_FAILED = "order.store_cancel_failed"
    # fulfillment
    FULFILLMENT_ROUTED = "fulfillment.routed"
    FULFILLMENT_REROUTED = "fulfillment.rerouted"
    FULFILLMENT_ACCEPTED = "fulfillment.accepted"
    FULFILLMENT_IN_PRODUCTION = "fulfillment.in_production"
    FULFILLMENT_SHIPPED = "fulfillment.shipped"
    FULFILLMENT_DELIVERED = "fulfillment.delivered"
    FULFILLMENT_CANCELLED = "fulfillment.cancelled"
    FULFILLMENT_REJECTED = "fulfillment.rejected"
    FULFILLMENT_PROVIDER_UNAVAILABLE = "fulfillment.provider_unavailable"
    # a cancel at the provider for an order changed in the store after submission
    FULFILLMENT_CANCELLED_AT_PROVIDER = "fulfillment.cancelled_at_provider"
    FULFILLMENT_CANCEL_REFUSED = "fulfillment.cancel_refused"
    # held at a provider during the countdown (fulfillment/holds.py)
    FULFILLMENT_HELD = "fulfillment.held"
    FULFILLMENT_HOLD_UPDATED = "fulfillment.hold_updated"
    FULFILLMENT_HOLD_CANCELLED = "fulfillment.hold_cancelled"
    FULFILLMENT_HOLD_REFUSED = "fulfillment.hold_refused"
    SHIPMENT_SHIPPED = "shipment.shipped"
    SHIPMENT_DELIVERED = "shipment.delivered"
    SHIPMENT_TRACKING_URL_DROPPED = "shipment.tracking_url_dropped"
    # after sales
    CLAIM_OPENED = "claim.opened"
    CLAIM_REPRINT_CREATED = "claim.reprint_created"
    CLAIM_REPRINTED = "claim.reprinted"
    CLAIM_REFUNDED = "claim.refunded"

    @classmethod
    def held(cls, reason: str) -> "OrderEvents":
        return cls(f"order.held.{reason}")

    @classmethod
    def for_state(cls, state: str) -> "OrderEvents":
        """The event of a plain move to `state` (order_transition)."""
        return cls(f"order.{state}")


# every hold reason has its event
assert {f"order.held.{r}" for r in HoldReason.values} <= {e.value for e in OrderEvents}


class UnknownEvent(ValueError):
    """An event type that OrderEvents does not list."""


def check_type(type: str) -> str:
    try:
        return OrderEvents(type).value
    except ValueError:
        raise UnknownEvent(f"{type!r} is not an order event (orders.events.OrderEvents)") \
            from None


# --- subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    task: object  # a PodhubTask
    types: frozenset[str]
    # one task per workspace for a burst: the doorbell key's prefix; the task takes
    # only `workspace_id` and calls podhub.core.doorbell.answered(f"{coalesce}:{id}")
    coalesce: str = ""
    # when(workspace_id, type) -> False: nothing in that workspace reacts to the type,
    # do not ring (cheap and cached by the subscriber; when in doubt it says True)
    when: object = None

    def wants(self, type: str) -> bool:
        return type in self.types


_subscriptions: list[Subscription] = []


def subscribe(*, task, types: Iterable[str], coalesce: str = "",
              when=None) -> Subscription:
    """Send `task` after commit for every event of `types` (idempotent per task+types);
    with `when`, only for the events it says the workspace reacts to."""
    sub = Subscription(task=task, types=frozenset(check_type(t) for t in types),
                       coalesce=coalesce, when=when)
    if sub not in _subscriptions:
        _subscriptions.append(sub)
    return sub


def subscriptions() -> list[Subscription]:
    return list(_subscriptions)


def dispatch(events, *, batch: bool = False) -> None:
    """Ring every subscription for each event (call inside the transaction that wrote
    them: the messages leave after commit).

    `batch` (a bulk import's batch of new orders, orders.services.orders_import): a
    subscription that would get several of these events of one workspace gets one
    message for them all (orders.tasks.order_events_task runs its task for each event,
    in order, in one worker) instead of one message per event."""
    rung: set[tuple[int, int]] = set()  # coalesced: one per task and workspace here
    asked: dict[tuple[int, int, str], bool] = {}  # `when`, once per workspace and type here
    grouped: dict[tuple[int, int], tuple[Subscription, list]] = {}
    for event in events:
        for sub in _subscriptions:
            if not sub.wants(event.type):
                continue
            if sub.when is not None:
                key = (id(sub), event.workspace_id, event.type)
                if key not in asked:
                    asked[key] = sub.when(event.workspace_id, event.type)
                if not asked[key]:
                    continue
            if not sub.coalesce and batch:
                grouped.setdefault((id(sub), event.workspace_id), (sub, []))[1].append(
                    [event.pk, event.type])
            elif not sub.coalesce:
                sub.task.follow_up(workspace_id=event.workspace_id, event_id=event.pk,
                                   type=event.type)
            elif (id(sub.task), event.workspace_id) not in rung:
                rung.add((id(sub.task), event.workspace_id))
                sub.task.follow_up_once(key=f"{sub.coalesce}:{event.workspace_id}",
                                        workspace_id=event.workspace_id)
    for (_, workspace_id), (sub, rings) in grouped.items():
        if len(rings) == 1:
            sub.task.follow_up(workspace_id=workspace_id, event_id=rings[0][0],
                               type=rings[0][1])
        else:
            _events_task().follow_up(workspace_id=workspace_id, task=sub.task.name,
                                     events=rings)


def _events_task():
    from orders.tasks import order_events_task  # the task module imports the services

    return order_events_task


# --- who acts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    type: str
    user: object | None = None
    label: str = ""

    @classmethod
    def seller(cls, user) -> "Actor":
        return cls(ActorType.SELLER, user=user, label=getattr(user, "email", ""))

    @classmethod
    def staff(cls, user) -> "Actor":
        return cls(ActorType.STAFF, user=user, label=getattr(user, "email", ""))

    @classmethod
    def store(cls, label: str = "") -> "Actor":
        return cls(ActorType.STORE, label=label)

    @classmethod
    def provider(cls, label: str = "") -> "Actor":
        return cls(ActorType.PROVIDER, label=label)

    @classmethod
    def system(cls, label: str = "PodHub") -> "Actor":
        return cls(ActorType.SYSTEM, label=label)

    @classmethod
    def rule(cls, label: str) -> "Actor":
        return cls(ActorType.RULE, label=label)
