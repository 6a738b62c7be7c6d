"""Invoices (frozen at issue) and their PDF.

An invoice is issued in the same transaction as the payment or the group it
documents, numbered without gaps per workspace under the account lock. Its
lines are a copy: later price or catalog changes never alter it.

PDF: fpdf2 (pure Python, no system libraries, actively maintained, LGPL),
with DejaVu Sans (shipped in static/fonts/) for non-Latin-1 names and currency
symbols. Amounts are stored as plain decimals in the lines (data) and shown through
`format_money` on the page and in the PDF; the texts written at issue (descriptions,
notes) format theirs then (docs/money.md).
"""

import logging
from decimal import Decimal
from pathlib import Path

from billing.models import Invoice, InvoiceKind, OrderCharge, Payment, ShipmentGroup, TopUp
from podhub.core.money import format_money
from podhub.workspaces.models import Workspace

ZERO = Decimal("0")
# fpdf2 subsets fonts through fontTools, which logs every step at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)
# The fonts PodHub ships first (the same PDF everywhere), then the system's.
FONT_DIRS = (Path(__file__).resolve().parents[1] / "static" / "fonts",
             Path("/usr/share/fonts/truetype/dejavu"))


def _s(value) -> str:
    return str(value)


def issue_for_payment(book, *, payment: Payment, orders, prices) -> Invoice:
    lines = []
    for order in orders:
        price = prices[order.pk]
        for ln in price.lines:
            lines.append({"order": order.number, "description": ln["description"],
                          "quantity": ln["quantity"], "unit_amount": _s(ln["unit_amount"]),
                          "amount": _s(ln["amount"])})
    ws = Workspace.objects.get(pk=payment.workspace_id)
    return Invoice.objects.create(
        workspace_id=payment.workspace_id, number=book.next_invoice_number(),
        kind=InvoiceKind.PAYMENT, payment=payment, bill_to=ws.name, currency=payment.currency,
        lines=lines, total_amount=payment.total_amount,
        note="Paid from your PodHub balance: product cost is captured when each order goes "
        "to production, shipping when it ships; a cancelled order's hold is released.")


def issue_for_group(book, *, group: ShipmentGroup, charges: list[OrderCharge],
                    shares: dict[int, Decimal]) -> Invoice:
    lines = [{"order": c.order.number,
              "description": f"Shipping share ({c.item_count} items, {c.shipping_label}); "
              f"was {format_money(c.shipping_amount, c.currency)}",
              "quantity": 1, "unit_amount": _s(shares[c.pk]), "amount": _s(shares[c.pk])}
             for c in charges]
    ws = Workspace.objects.get(pk=group.workspace_id)
    addr = group.address or {}
    where = ", ".join(str(addr.get(f)) for f in ("name", "address1", "city", "zip",
                                                  "country_code") if addr.get(f))
    return Invoice.objects.create(
        workspace_id=group.workspace_id, number=book.next_invoice_number(),
        kind=InvoiceKind.GROUP, group=group, bill_to=ws.name, currency=group.currency,
        lines=lines, total_amount=group.fee_amount,
        note=f"Group shipment {group.pk} to {where}: {len(charges)} orders, "
        f"{group.item_count} items in one parcel. Consolidated shipping "
        f"{format_money(group.fee_amount, group.currency)} instead of "
        f"{format_money(group.separate_amount, group.currency)}; the difference "
        f"({format_money(group.saved_amount, group.currency)}) was released to your balance.")


def issue_for_adjustment(book, *, order, charge: OrderCharge, before: Decimal,
                         after: Decimal) -> Invoice | None:
    """A store edit changed what a paid order costs (billing/edits.py): the difference,
    as an invoice (more held) or a credit note (released). Nothing when equal."""
    diff = after - before
    if diff == 0:
        return None
    ws = Workspace.objects.get(pk=order.workspace_id)
    what = ("Order changed in the store: new price" if after else
            "Order changed in the store: payment released")
    return Invoice.objects.create(
        workspace_id=order.workspace_id, number=book.next_invoice_number(),
        kind=InvoiceKind.ADJUSTMENT, bill_to=ws.name, currency=charge.currency,
        lines=[{"order": order.number, "description": f"{what} (was "
                f"{format_money(before, charge.currency)}, now "
                f"{format_money(after, charge.currency)})",
                "quantity": 1, "unit_amount": _s(diff), "amount": _s(diff)}],
        total_amount=diff,
        note="Adjusts the payment of this order after a change in the store before it went "
        "to production: a positive amount was held from your balance, a negative one went "
        "back to it.")


def issue_for_top_up(book, *, top_up: TopUp) -> Invoice:
    """A receipt for money put on the balance."""
    ws = Workspace.objects.get(pk=top_up.workspace_id)
    how = "auto-recharge" if top_up.kind == "auto_recharge" else "card, Stripe Checkout"
    return Invoice.objects.create(
        workspace_id=top_up.workspace_id, number=book.next_invoice_number(),
        kind=InvoiceKind.TOP_UP, top_up=top_up, bill_to=ws.name, currency=top_up.currency,
        lines=[{"order": "", "description": f"Balance top-up ({how})", "quantity": 1,
                "unit_amount": _s(top_up.amount), "amount": _s(top_up.amount)}],
        total_amount=top_up.amount,
        note="Prepaid balance: used to pay orders; not a charge for goods.")


# --- PDF ----------------------------------------------------------------------------------


def _font(pdf) -> str:
    for d in FONT_DIRS:
        regular, bold = Path(d) / "DejaVuSans.ttf", Path(d) / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu"
    return "Helvetica"


def _text(value, font: str) -> str:
    text = str(value)
    if font == "Helvetica":  # core fonts are Latin-1 only
        text = text.replace("—", "-").replace("→", "->").encode("latin-1", "replace").decode(
            "latin-1")
    return text


def render_pdf(invoice: Invoice) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_author("PodHub")
    pdf.set_creation_date(invoice.issued_at)
    pdf.add_page()
    font = _font(pdf)

    def t(value) -> str:
        return _text(value, font)

    pdf.set_font(font, "B", 18)
    pdf.cell(0, 10, t(f"Invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, "", 10)
    pdf.cell(0, 6, t(f"{invoice.get_kind_display()} · issued "
                     f"{invoice.issued_at:%Y-%m-%d %H:%M} UTC"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, t(f"Bill to: {invoice.bill_to}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (22, 98, 14, 26, 30)
    pdf.set_font(font, "B", 9)
    for w, head in zip(widths, ("Order", "Description", "Qty", "Unit", "Amount"), strict=True):
        pdf.cell(w, 7, t(head), border="B", align="R" if head in ("Qty", "Unit", "Amount")
                 else "L")
    pdf.ln()
    pdf.set_font(font, "", 9)
    for ln in invoice.lines:
        desc = str(ln.get("description", ""))
        if len(desc) > 60:
            desc = desc[:59] + "…"
        cells = (ln.get("order", ""), desc, ln.get("quantity", ""),
                 format_money(ln.get("unit_amount"), invoice.currency),
                 format_money(ln.get("amount"), invoice.currency))
        for i, (w, value) in enumerate(zip(widths, cells, strict=True)):
            pdf.cell(w, 6, t(value), align="R" if i >= 2 else "L")
        pdf.ln()
    pdf.set_font(font, "B", 11)
    pdf.cell(sum(widths[:-1]), 9, t("Total"), border="T", align="R")
    pdf.cell(widths[-1], 9, t(format_money(invoice.total_amount, invoice.currency)),
             border="T", align="R")
    pdf.ln(12)
    if invoice.note:
        pdf.set_font(font, "", 9)
        pdf.multi_cell(0, 5, t(invoice.note))
    return bytes(pdf.output())
