"""Every call PodHub makes to Stripe, through the real `stripe` library.

The client is built per call from settings (STRIPE_SECRET_KEY, STRIPE_API_BASE),
so the same code talks to api.stripe.com in production and to the local
sandbox (sandboxes/stripe) in the embedded default, tests and benchmarks.
No call here runs inside a database transaction that holds a lock.
"""

import json
import time
from decimal import Decimal

import stripe
from django.conf import settings

from podhub.core import safejson
from podhub.core.money import quantize

TIMEOUT_SECONDS = 20


def client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE.rstrip("/")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base, "files": base, "connect": base},
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=2,  # with the same Idempotency-Key, so retries are safe
    )


def plain(obj) -> dict:
    """A Stripe object as plain JSON data (works whether or not it subclasses dict)."""
    return json.loads(str(obj))


def exponent(currency: str) -> int:
    return -quantize(Decimal(1), currency).as_tuple().exponent


def to_minor(amount: Decimal, currency: str) -> int:
    """Stripe amounts are integers in the currency's smallest unit."""
    return int(quantize(amount, currency).scaleb(exponent(currency)))


def from_minor(value: int, currency: str) -> Decimal:
    return quantize(Decimal(int(value)).scaleb(-exponent(currency)), currency)


def construct_event(payload: bytes, sig_header: str):
    """Verify `Stripe-Signature` (HMAC and time tolerance) and parse the event.

    Raises stripe.SignatureVerificationError (bad, stale or future-dated
    signature) or ValueError (not JSON). The library only refuses old
    timestamps; one too far in the future is refused here too.
    """
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    stamps = [p[2:] for p in (sig_header or "").split(",") if p.strip().startswith("t=")]
    if stamps and stamps[0].strip().isdigit() and int(stamps[0]) > time.time() + tolerance:
        raise stripe.SignatureVerificationError("Timestamp in the future", sig_header, payload)
    # Signature first (401 for a forgery), then the nesting limit (the library's own
    # json.loads would die of RecursionError), then the library's parse.
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    stripe.WebhookSignature.verify_header(text, sig_header, settings.STRIPE_WEBHOOK_SECRET,
                                          tolerance)
    safejson.check_depth(text)
    return stripe.Webhook.construct_event(payload, sig_header, settings.STRIPE_WEBHOOK_SECRET,
                                          tolerance=settings.STRIPE_WEBHOOK_TOLERANCE)


def create_customer(*, email: str, workspace_id: int, idempotency_key: str):
    return client().v1.customers.create(
        params={"email": email, "metadata": {"workspace_id": str(workspace_id)}},
        options={"idempotency_key": idempotency_key})


def create_top_up_session(*, top_up, success_url: str, cancel_url: str, customer: str = ""):
    """A Checkout Session (mode payment) for one top-up; metadata names our rows."""
    metadata = {"workspace_id": str(top_up.workspace_id), "top_up_id": str(top_up.pk)}
    params = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": top_up.currency.lower(),
            "unit_amount": to_minor(top_up.amount, top_up.currency),
            "product_data": {"name": "PodHub balance top-up"}}}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": f"topup-{top_up.pk}",
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    if customer:
        params["customer"] = customer
    return client().v1.checkout.sessions.create(
        params=params, options={"idempotency_key": f"podhub-topup-{top_up.pk}"})


def create_setup_session(*, workspace_id: int, customer: str, success_url: str,
                         cancel_url: str, idempotency_key: str):
    """A Checkout Session (mode setup) that saves a card for off-session charges."""
    return client().v1.checkout.sessions.create(params={
        "mode": "setup", "currency": "usd", "customer": customer,
        "success_url": success_url, "cancel_url": cancel_url,
        "client_reference_id": f"card-{workspace_id}",
        "metadata": {"workspace_id": str(workspace_id), "purpose": "save_card"},
    }, options={"idempotency_key": idempotency_key})


def charge_off_session(*, top_up, customer: str, payment_method: str):
    """Charge the saved card now, without the seller (auto-recharge).

    Raises stripe.CardError when the card is declined (Stripe answers 402)."""
    metadata = {"workspace_id": str(top_up.workspace_id), "top_up_id": str(top_up.pk)}
    return client().v1.payment_intents.create(params={
        "amount": to_minor(top_up.amount, top_up.currency),
        "currency": top_up.currency.lower(), "customer": customer,
        "payment_method": payment_method, "off_session": True, "confirm": True,
        "metadata": metadata, "description": "PodHub balance auto-recharge",
    }, options={"idempotency_key": f"podhub-recharge-{top_up.pk}"})


def expire_session(session_id: str) -> dict:
    """Close an open Checkout Session (Stripe: "Expire a Session"): it can no longer be
    paid. Refused (StripeError) once the session is complete."""
    return plain(client().v1.checkout.sessions.expire(session_id))


def retrieve_session(session_id: str) -> dict:
    return plain(client().v1.checkout.sessions.retrieve(session_id))


def retrieve_payment_intent(payment_intent_id: str) -> dict:
    return plain(client().v1.payment_intents.retrieve(payment_intent_id))


def retrieve_charge(charge_id: str) -> dict:
    return plain(client().v1.charges.retrieve(charge_id))


def retrieve_setup_intent(setup_intent_id: str) -> dict:
    return plain(client().v1.setup_intents.retrieve(setup_intent_id))


def retrieve_payment_method(payment_method_id: str) -> dict:
    return plain(client().v1.payment_methods.retrieve(payment_method_id))


def retrieve_dispute(dispute_id: str) -> dict:
    return plain(client().v1.disputes.retrieve(dispute_id))
