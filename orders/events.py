"""Who acts on an order, and how higher apps hear about order events.

Lower apps never import higher ones (docs/architecture.md). Billing, fulfillment and
integrations subscribe here at start-up (in their AppConfig.ready); every
OrderEvent written by orders/services.py is passed to the subscribers after
the transaction commits.
"""

from collections.abc import Callable
from dataclasses import dataclass

from orders.models import ActorType

_subscribers: list[Callable] = []


def subscribe(fn: Callable) -> Callable:
    """Register fn(event_id: int, workspace_id: int, type: str); idempotent."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def subscribers() -> list[Callable]:
    return list(_subscribers)


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
