"""Made-to-order checkout: the seller orders catalog products for themselves (issue 17,
item 4; docs/pricing.md, "Made-to-order checkout").

Single, mini-bulk and bulk are the variant's quantity tiers (quotes/calc.py), priced live
as quantities change; a product with a stamps/mould setup fee asks, on the workspace's
first order of it, "Unlabeled" (no fee) or "Develop custom stamps" (the fee once), and
the choice is remembered (StampsChoice). The seller confirms the specifications; the
order is then an ordinary outside-source order (channel "catalog", written by orders'
services) waiting to be paid, its specifications are kept (CatalogOrder) and e-mailed,
and with the workspace's "launch catalog orders" setting it goes to production as soon
as it is paid (orders.hooks.launches_when_paid).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.events import Actor
from orders.inputs import Errors, address
from orders.models import LineItem, Order, OrderState
from orders.services import order_create_manual
from podhub.core import mail
from podhub.core.exceptions import Conflict, ValidationFailed
from podhub.core.money import format_money
from podhub.workspaces.models import Membership, Role
from quotes import calc, mapping
from quotes.models import CatalogOrder, Product, SetupFeeCharge, Stamps, StampsChoice, Variant
from quotes.pricing import Breakdown, price_order

CHANNEL = "catalog"
MAX_LINES = 20
MAX_QUANTITY = 10_000


@dataclass
class CheckoutLine:
    variant_id: int
    quantity: int
    personalization: str = ""  # what to print, for a template's text (may be empty)


@dataclass
class Draft:
    """The checkout before it is placed: priced, with what the seller still has to say."""

    lines: list[CheckoutLine]
    variants: dict[int, Variant]
    breakdown: Breakdown
    stamps_needed: list[Product] = field(default_factory=list)  # no choice and no fee paid
    stamps: dict[int, str] = field(default_factory=dict)

    @property
    def stamps_rows(self) -> list[tuple[Product, str]]:
        """Each product still to choose for, with what the page chose so far ("")."""
        return [(p, self.stamps.get(p.pk, "")) for p in self.stamps_needed]

    @property
    def rows(self) -> list[dict]:
        """Each line with its variant, tier table and price, for the page and the e-mail."""
        return [{"line": line, "variant": self.variants[line.variant_id], "price": price,
                 "tiers": calc.tiers_from_json(self.variants[line.variant_id].tiers)}
                for line, price in zip(self.lines, self.breakdown.lines, strict=True)]


def _clean_lines(workspace, lines: list[CheckoutLine]) -> dict[int, Variant]:
    errors = Errors()
    if not lines:
        errors.add("lines", "Choose at least one product.")
    if len(lines) > MAX_LINES:
        errors.add("lines", f"At most {MAX_LINES} items in one order.")
    errors.raise_if_any()
    usable = {v.pk: v for v in mapping.usable_variants(workspace).filter(
        pk__in={ln.variant_id for ln in lines}, product__is_published=True,
        is_active=True).select_related("product")}
    for i, line in enumerate(lines):
        if line.variant_id not in usable:
            errors.add(f"lines.{i}.variant", "No such catalog product: choose one from the "
                                             "catalog.")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            errors.add(f"lines.{i}.quantity", f"Enter a quantity from 1 to {MAX_QUANTITY:,}.")
        if len(line.personalization) > 500:
            errors.add(f"lines.{i}.personalization", "At most 500 characters.")
    errors.raise_if_any()
    return usable


def checkout_draft(*, workspace, lines: list[CheckoutLine], country_code: str = "",
                   stamps: dict[int, str] | None = None) -> Draft:
    """Price the checkout now (reads only). `stamps`: product id -> Stamps value chosen on
    the page; a product with a setup fee, no saved choice and no fee paid yet is listed
    in `stamps_needed` until chosen."""
    variants = _clean_lines(workspace, lines)
    stamps = {pid: c for pid, c in (stamps or {}).items() if c in Stamps.values}
    order = Order(workspace=workspace, currency=(workspace.billing_currency or "USD").upper(),
                  shipping_address={"country_code": (country_code or "").upper()})
    drafts = [LineItem(workspace=workspace, catalog_variant_id=ln.variant_id,
                       quantity=ln.quantity, sku=variants[ln.variant_id].sku,
                       title=variants[ln.variant_id].product.name) for ln in lines]
    bd = price_order(order=order, lines=drafts, stamps=stamps)
    with_fee = {p.pk: p for v in variants.values() if (p := v.product).setup_fee_amount > 0}
    settled = set(StampsChoice.objects.filter(workspace=workspace, product_id__in=with_fee)
                  .values_list("product_id", flat=True))
    settled |= set(SetupFeeCharge.objects.filter(workspace=workspace, product_id__in=with_fee)
                   .values_list("product_id", flat=True))
    needed = [p for pid, p in sorted(with_fee.items()) if pid not in settled]
    return Draft(lines=lines, variants=variants, breakdown=bd, stamps_needed=needed,
                 stamps=stamps)


def _order_number() -> str:
    return f"MTO-{timezone.now():%y%m%d}-{secrets.randbelow(10**6):06d}"


def catalog_order_place(*, workspace, by: Membership, lines: list[CheckoutLine],
                        shipping_address: dict, billing_address: dict | None = None,
                        buyer_email: str = "", stamps: dict[int, str] | None = None,
                        confirmed: bool = False) -> Order:
    """Place the order the seller confirmed: it waits to be paid ("To order"), its
    specifications are kept and e-mailed. Nothing is charged here."""
    errors = Errors()
    shipping = address(shipping_address, "shipping_address", errors)
    billing = address(billing_address, "billing_address", errors) if billing_address \
        else {}
    if not confirmed:
        errors.add("confirm", "Confirm the specifications to place the order.")
    errors.raise_if_any()
    draft = checkout_draft(workspace=workspace, lines=lines,
                           country_code=shipping["country_code"], stamps=stamps)
    missing = {f"stamps.{p.pk}": f"{p.name}: choose “Unlabeled” or “Develop custom stamps” "
               f"(a one-time fee of {format_money(p.setup_fee_amount, p.currency)})."
               for p in draft.stamps_needed if p.pk not in draft.stamps}
    if missing:
        raise ValidationFailed(next(iter(missing.values())), fields=missing)
    bd = draft.breakdown
    if not bd.items_priced:
        raise ValidationFailed("; ".join(f"{lp.title}: {lp.unpriced_reason}"
                                         for lp in bd.unpriced), field="lines")
    if bd.shipping is None:
        raise ValidationFailed(f"Cannot ship there: {bd.shipping_problem}",
                               field="shipping_address.country_code")
    shipping_paid = bd.shipping.total
    data = {
        "currency": bd.currency, "channel": CHANNEL, "buyer_name": shipping["name"],
        "buyer_email": buyer_email or by.user.email, "shipping_address": shipping,
        # what the seller pays is the order's price, so it is never judged a loss
        "shipping": str(shipping_paid),
        "line_items": [{"catalog_variant_id": ln.variant_id,
                        "sku": draft.variants[ln.variant_id].sku,
                        "title": draft.variants[ln.variant_id].product.name,
                        "variant_title": draft.variants[ln.variant_id].label,
                        "quantity": ln.quantity, "unit_price": str(lp.unit_price),
                        **({"personalization": {"Text": ln.personalization}}
                           if ln.personalization else {})}
                       for ln, lp in zip(lines, bd.lines, strict=True)],
    }
    for attempt in range(3):
        try:
            with transaction.atomic():
                for product in draft.stamps_needed:
                    StampsChoice.objects.get_or_create(
                        workspace=workspace, product=product,
                        defaults={"choice": draft.stamps[product.pk], "chosen_by": by.user})
                order = order_create_manual(workspace=workspace, actor=Actor.seller(by.user),
                                            data={**data, "number": _order_number()})
                spec = specifications(draft, order=order, shipping=shipping, billing=billing)
                CatalogOrder.objects.create(workspace=workspace, order=order,
                                            billing_address=billing, specifications=spec,
                                            confirmed_by=by.user)
                _email_specifications(workspace, by, order, spec)
                return order
        except Conflict:  # the random number was taken: another
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def specifications(draft: Draft, *, order: Order, shipping: dict, billing: dict) -> dict:
    """What the seller confirmed, as kept and e-mailed (money as strings)."""
    bd = draft.breakdown
    return {
        "number": order.number, "currency": bd.currency,
        "lines": [{"product": row["variant"].product.name, "variant": row["variant"].label,
                   "sku": row["variant"].sku, "quantity": row["line"].quantity,
                   "unit_price": str(row["price"].unit_price), "tier": row["price"].tier,
                   "total": str(row["price"].total),
                   "production_days": row["price"].production_days,
                   "personalization": row["line"].personalization}
                  for row in draft.rows],
        "setup_fees": [{"product": f.product_name, "amount": str(f.amount),
                        "stamps": Stamps.UNLABELED if f.unlabeled else Stamps.CUSTOM}
                       for f in bd.setup_fees],
        "shipping": {"method": bd.shipping.method_name,
                     "amount": str(bd.shipping.total)},
        "total": str(bd.total), "shipping_address": shipping, "billing_address": billing,
    }


def _address_lines(a: dict) -> str:
    return ", ".join(v for k in ("name", "company", "address1", "address2", "city",
                                 "province", "zip", "country_code") if (v := a.get(k)))


def _item_line(ln: dict, currency: str) -> str:
    text = (f"- {ln['quantity']} × {ln['product']} ({ln['variant']}, {ln['sku']}) at "
            f"{format_money(ln['unit_price'], currency)} each")
    if ln["tier"]:
        text += f" ({ln['tier']})"
    text += f" = {format_money(ln['total'], currency)}"
    if ln["personalization"]:
        text += f"; print: “{ln['personalization']}”"
    return text


def _email_specifications(workspace, by: Membership, order: Order, spec: dict) -> None:
    cur = spec["currency"]
    items = "\n".join(_item_line(ln, cur) for ln in spec["lines"])
    fees = "\n".join(
        f"- {f['product']}: " + ("unlabeled, no setup fee" if f["stamps"] == Stamps.UNLABELED
                                 else f"custom stamps, setup fee {format_money(f['amount'], cur)}")
        for f in spec["setup_fees"])
    body = (f"Order {order.number} is placed from the catalog with these specifications:\n\n"
            f"{items}\n\n" + (f"Stamps:\n{fees}\n\n" if fees else "")
            + f"Shipping ({spec['shipping']['method']}): "
            f"{format_money(spec['shipping']['amount'], cur)}\n"
            f"Total: {format_money(spec['total'], cur)}\n\n"
            f"Ship to: {_address_lines(spec['shipping_address'])}\n"
            + (f"Bill to: {_address_lines(spec['billing_address'])}\n"
               if spec["billing_address"] else "")
            + "\nIt waits for payment: pay it from your balance on the order's page."
            + (" It goes to production as soon as it is paid."
               if workspace.launch_catalog_orders else ""))
    managers = Membership.objects.filter(workspace=workspace, role__in=[Role.OWNER, Role.ADMIN]
                                         ).values_list("user__email", flat=True)
    mail.send(to=[by.user.email, *managers], workspace_id=workspace.pk,
              subject=f"[PodHub] Order {order.number}: specifications",
              body=body, link=f"{settings.PUBLIC_BASE_URL}/orders/{order.pk}/",
              link_label="Pay this order")


def launches_when_paid(order: Order) -> bool:
    """A catalog order of a workspace that launches them when paid (fulfillment submits
    it on `order.paid`, and its submit sweep catches a lost task)."""
    return order.workspace.launch_catalog_orders and CatalogOrder.objects.filter(
        workspace_id=order.workspace_id, order_id=order.pk).exists()


def workspace_launches(workspace_id: int, type: str) -> bool:
    """orders.events `when`: ring the launch task for a paid order only in a workspace that
    launches catalog orders (one read per workspace and payment, not a task per order)."""
    from podhub.workspaces.models import Workspace

    return Workspace.objects.filter(pk=workspace_id, launch_catalog_orders=True).exists()


def orders_to_launch(*, paid_before) -> list[tuple[int, int]]:
    """(workspace id, order id) of paid catalog orders still waiting for submission in
    workspaces that launch them when paid, paid before `paid_before` (all workspaces)."""
    from django_scopes import scopes_disabled

    with scopes_disabled():
        return list(CatalogOrder.objects.filter(
            workspace__launch_catalog_orders=True,
            order__state=OrderState.AWAITING_SUBMISSION, order__paid_at__lte=paid_before)
            .values_list("workspace_id", "order_id")[:500])
