"""Pluggable checks that higher apps supply (docs/architecture.md, "The apps, lowest first").

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


# --- store edits before submission (docs/store-truth.md "Store edits") ---------------------
#
# A store edit to an order that is not submitted yet is mapped, priced and held again
# in the transaction that applies it. The catalog maps the changed lines; billing moves
# the money of a paid order. Both sit above orders, so they plug in here.


@dataclass(frozen=True)
class Repricing:
    """What billing did to a paid order's holds after a store edit."""

    funded: bool  # False: the balance cannot cover the new price; every hold was released
    message: str  # for the timeline: what money moved
    data: dict
    missing_amount: Decimal | None = None
    currency: str = ""


_line_mapper: Callable | None = None
_edit_money = None


def register_line_mapper(fn: Callable) -> None:
    """fn(order, lines) -> dict[line id, reason]: map the lines without a catalog variant
    (saving catalog_variant_id / unmapped_reason); the reasons of lines left unpriced."""
    global _line_mapper
    _line_mapper = fn


def map_lines(order, lines) -> dict[int, str] | None:
    """The catalog's verdict on the lines, or None when no catalog is installed."""
    return None if _line_mapper is None else _line_mapper(order, lines)


def register_edit_money(obj) -> None:
    """obj.lock(workspace_id): a context manager that locks the balance (taken before
    the order row, the lock order of billing); obj.reprice(order, *, book, priced,
    version, now) -> Repricing | None (None: nothing is held for this order)."""
    global _edit_money
    _edit_money = obj


def edit_money():
    return _edit_money


# --- cancels that reach the store --------------------------------------------------------

_takes_cancels: Callable | None = None


def register_store_takes_cancels(fn: Callable) -> None:
    """fn(order) -> bool: will a cancel of this order be pushed to its store (a connected
    store of a platform that takes cancels)? Registered by integrations."""
    global _takes_cancels
    _takes_cancels = fn


def store_takes_cancels(order) -> bool:
    return bool(_takes_cancels and _takes_cancels(order))


# --- the kinds of store (integrations' platform registry) ---------------------------------

_platform_labels: Callable | None = None


def register_platform_labels(fn: Callable) -> None:
    """fn() -> {code: label} of the store platforms PodHub speaks to (integrations'
    registry, settings.PODHUB_STORE_PLATFORMS), read each time: a platform added there
    is a kind of store here, with no migration and no line in orders."""
    global _platform_labels
    _platform_labels = fn


def platform_choices() -> list[tuple[str, str]]:
    """Store.platform's choices: the registered platforms, then the outside source."""
    from orders.models import Platform

    labels = dict(_platform_labels()) if _platform_labels else {
        Platform.SHOPIFY.value: Platform.SHOPIFY.label,
        Platform.WOOCOMMERCE.value: Platform.WOOCOMMERCE.label}
    labels.setdefault(Platform.MANUAL.value, Platform.MANUAL.label)
    return list(labels.items())


# --- import filters (automation's "skip import" rules) ------------------------------------

_import_filters: list[Callable] = []
# fn -> many(store, inps) -> [(inp, reason), ...]: the same filter for a batch of orders
_import_filters_many: dict[Callable, Callable] = {}


def register_import_filter(fn: Callable, *, many: Callable | None = None) -> None:
    """fn(store, inp) -> (inp, reason): consulted by order_import for an order new to
    PodHub, before anything is written; it may drop lines (a new OrderInput) and says
    why ("" when it kept everything). `many(store, inps)` is the same for a batch
    (orders_import), a list of (inp, reason) in order; without it, fn for each.
    Registered by automation (docs/rules.md)."""
    if fn not in _import_filters:
        _import_filters.append(fn)
    if many is not None:
        _import_filters_many[fn] = many


def filter_import(store, inp):
    """The input after every filter and the reasons of those that dropped something."""
    reasons = []
    for fn in _import_filters:
        inp, reason = fn(store, inp)
        if reason:
            reasons.append(reason)
    return inp, "; ".join(reasons)


def filter_imports(store, inps: list) -> list[tuple]:
    """filter_import for many orders of one store: [(inp, reasons), ...] in order."""
    reasons: list[list[str]] = [[] for _ in inps]
    for fn in _import_filters:
        many = _import_filters_many.get(fn)
        got = many(store, inps) if many is not None else [fn(store, inp) for inp in inps]
        inps = [inp for inp, _ in got]
        for said, (_, reason) in zip(reasons, got, strict=True):
            if reason:
                said.append(reason)
    return [(inp, "; ".join(said)) for inp, said in zip(inps, reasons, strict=True)]
