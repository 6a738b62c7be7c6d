import json
import random
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from sandboxes.etsy.server import EtsySandboxServer
from sandboxes.etsy.shop import EtsySandbox


class Command(BaseCommand):
    help = ("Run the Etsy sandbox (Open API v3 subset: OAuth 2 with PKCE, getShopReceipts, "
            "createReceiptShipment, rate limits and 429) on a local port until interrupted.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8040)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--keystring", default="podhub-sandbox-keystring")
        parser.add_argument("--shared-secret", default="podhub-sandbox-secret")
        parser.add_argument("--per-second", type=int, default=10,
                            help="the app's per-second limit (Etsy's default: 10)")
        parser.add_argument("--per-day", type=int, default=10_000,
                            help="the app's sliding 24-hour limit (Etsy's default: 10,000)")
        parser.add_argument("--webhook-url", default="",
                            help="the app's webhook endpoint (PodHub's /webhooks/etsy/): "
                            "order.paid / order.canceled are sent there, signed")
        parser.add_argument("--webhook-secret",
                            default="whsec_cG9kaHViLXNhbmRib3gtd2ViaG9va3M=",
                            help="its signing secret (the embedded default's "
                            "ETSY_WEBHOOK_SECRET)")
        parser.add_argument("--generate-every", type=float, default=0,
                            help="a paid, personalised receipt in every shop every N s (demo)")
        parser.add_argument("--state-file", default="",
                            help="keep the shops and grants in this JSON file and start from "
                                 "it (make run: var/sandboxes/etsy.json)")

    def handle(self, *args, **opts):
        sandbox = EtsySandbox(keystring=opts["keystring"], shared_secret=opts["shared_secret"])
        sandbox.limits.per_second, sandbox.limits.per_day = opts["per_second"], opts["per_day"]
        if opts["webhook_url"]:
            sandbox.subscribe(url=opts["webhook_url"], secret=opts["webhook_secret"])
        server = EtsySandboxServer(
            sandbox, host=opts["host"], port=opts["port"],
            state_file=Path(opts["state_file"]) if opts["state_file"] else None).start()
        self.stdout.write(json.dumps({"url": server.url, "keystring": opts["keystring"]}))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())

        def retry_webhooks():  # Etsy's retries of failed deliveries (5 s ... 10 h)
            while not stop.wait(1):
                if sandbox.deliver_due():
                    server.save()

        threading.Thread(target=retry_webhooks, name="etsy-webhook-retries",
                         daemon=True).start()
        every = opts["generate_every"]
        rnd = random.Random()  # noqa: S311 - demo data
        while not stop.wait(every if every > 0 else 3600):
            for shop_id in list(sandbox.shops):
                receipt = sandbox.new_receipt(shop_id, {
                    "personalization": rnd.choice(["Ana", "Bo", "Chen"]),
                    "quantity": rnd.randint(1, 2)})
                self.stdout.write(f"sandbox: shop {shop_id} receipt {receipt['receipt_id']}")
            server.save()
        server.stop()
