"""Pluggable checks that higher apps supply (STYLE.md §0).

The loss guard needs costs that only the catalog (quotes app) knows; it
registers a function here at start-up. Without one, nothing is judged a loss.
Apps above may also register exemptions: orders that are free on purpose (a
claim's reprint, fulfillment) are never judged, so never held or cancelled.
The catalog also says which of its variants a workspace may name on an order
line (`register_usable_variants`); without it, none.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class LossVerdict:
    selling_amount: Decimal  # what the buyer paid after discounts (goods + shipping, no tax)
    cost_amount: Decimal  # base cost + shipping + handling
    currency: str
    detail: str = ""

    @property
    def is_loss(self) -> bool:
        return self.selling_amount < self.cost_amount


_loss_check: Callable | None = None
_loss_exemptions: list[Callable] = []
_usable_variants: Callable | None = None


def register_usable_variants(fn: Callable) -> None:
    """fn(workspace) -> a queryset of the catalog variants the workspace may use."""
    global _usable_variants
    _usable_variants = fn


def usable_variant_ids(workspace, ids: set[int]) -> set[int]:
    """The ids among `ids` that name a catalog variant the workspace may use."""
    if not ids or _usable_variants is None:
        return set()
    return set(_usable_variants(workspace).filter(pk__in=ids).values_list("pk", flat=True))


def register_loss_check(fn: Callable) -> None:
    """fn(order) -> LossVerdict | None (None: cost not known yet)."""
    global _loss_check
    _loss_check = fn


def register_loss_exemption(fn: Callable) -> None:
    """fn(order) -> bool: True when the order is free on purpose and must not be judged."""
    if fn not in _loss_exemptions:
        _loss_exemptions.append(fn)


def loss_check(order) -> LossVerdict | None:
    if _loss_check is None or any(fn(order) for fn in _loss_exemptions):
        return None
    return _loss_check(order)
