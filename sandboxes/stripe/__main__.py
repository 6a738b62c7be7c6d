"""`python -m sandboxes.stripe --port 12111 --webhook-url http://127.0.0.1:8000/webhooks/stripe/`

Runs the Stripe-like sandbox (see stripe_sandbox.py) until interrupted. Keys
come from STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET, defaulting to the
embedded default's sandbox keys, so `make run` needs no configuration.
"""

import argparse
import contextlib
import os
import signal
import sys
import threading

from sandboxes.stripe.server import StripeSandbox, serve

SANDBOX_SECRET_KEY = "sk_test_podhub_sandbox"
SANDBOX_WEBHOOK_SECRET = "whsec_podhub_sandbox"


def default_webhook_url() -> str:
    """PodHub's Stripe door, found as the settings find PUBLIC_BASE_URL (PODHUB_PUBLIC_URL,
    else the embedded default's PORT); this process does not load Django."""
    public = os.environ.get("PODHUB_PUBLIC_URL") or \
        f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
    return public.rstrip("/") + "/webhooks/stripe/"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=default_webhook_url())
    args = parser.parse_args(argv)
    sandbox = StripeSandbox(
        secret_key=os.environ.get("STRIPE_SECRET_KEY") or SANDBOX_SECRET_KEY,
        webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or SANDBOX_WEBHOOK_SECRET,
        webhook_url=args.webhook_url,
    )
    server, base = serve(sandbox, args.host, args.port)
    print(f"Stripe sandbox on {base} -> events to {args.webhook_url}", flush=True)  # noqa: T201
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
