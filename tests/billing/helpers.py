import http.client
from urllib.parse import urlencode, urlsplit

from django_scopes import scope

from billing.models import Account


def sandbox_submit(url: str, **form) -> tuple[int, str]:
    """Submit the sandbox's hosted checkout page like a browser (no redirect following)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", parts.path, body=urlencode(form),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location") or ""
    finally:
        conn.close()


def deliver(client, sandbox, event_id: str, *, timestamp=None, secret=None):
    """POST one recorded sandbox event, signed like Stripe, to PodHub's webhook."""
    payload, header = sandbox.signed_delivery(event_id, timestamp=timestamp)
    if secret is not None:
        from sandboxes.stripe.server import sign

        header = sign(payload, secret, timestamp)
    return client.post("/webhooks/stripe/", data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=header)


def balance_of(workspace):
    with scope(workspace=workspace):
        acct = Account.objects.filter(workspace=workspace).first()
        if acct is None:
            return (0, 0)
        return acct.balance_amount, acct.available_amount
