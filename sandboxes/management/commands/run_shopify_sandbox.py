import random
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from sandboxes.shopify.server import SandboxServer
from sandboxes.shopify.shop import FAST_RETRIES, SHOPIFY_RETRIES, SandboxShop, Settings


class Command(BaseCommand):
    help = ("Run the Shopify sandbox store (Admin GraphQL subset with cost throttling, OAuth, "
            "signed webhooks) on a local port until interrupted.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8010)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--shop-domain", default="podhub-sandbox.myshopify.com")
        parser.add_argument("--db", default=":memory:", help="SQLite file for its state")
        parser.add_argument("--state-dir", default="",
                            help="keep the shops made by POST /_sandbox/shops here and bring "
                                 "them back at start (make run: var/sandboxes/shopify)")
        parser.add_argument("--access-token", default="shpat_sandbox")
        parser.add_argument("--app-key", default="sandbox-app")
        parser.add_argument("--app-secret", default="sandbox-app-secret")
        parser.add_argument("--webhook-url", default="",
                            help="where to send webhooks, e.g. http://127.0.0.1:8000/webhooks/"
                                 "shopify/")
        parser.add_argument("--webhook-secret", default="")
        parser.add_argument("--bucket", type=float, default=1000.0)
        parser.add_argument("--restore-rate", type=float, default=50.0)
        parser.add_argument("--currency", default="USD",
                            help="the shop's currency (orders may be presented in another)")
        parser.add_argument("--shopify-retries", action="store_true",
                            help="retry webhooks like Shopify (8 tries over ~4 h)")
        parser.add_argument("--generate-every", type=float, default=0,
                            help="create a random order every N seconds (demo)")
        parser.add_argument("--seed-orders", type=int, default=0,
                            help="create N orders at start (no webhooks) unless some exist")

    def handle(self, *args, **opts):
        settings = Settings(bucket_max=opts["bucket"], restore_rate=opts["restore_rate"],
                            currency=opts["currency"],
                            retry_schedule=list(SHOPIFY_RETRIES if opts["shopify_retries"]
                                                else FAST_RETRIES))
        shop = SandboxShop(shop_domain=opts["shop_domain"], db_path=opts["db"],
                           access_token=opts["access_token"], app_key=opts["app_key"],
                           app_secret=opts["app_secret"], settings=settings)
        if opts["webhook_url"]:
            shop.subscribe(url=opts["webhook_url"], secret=opts["webhook_secret"])
        if opts["seed_orders"] and shop.count(None) == 0:
            shop.bulk_create(opts["seed_orders"], fulfilled_every=5)
        server = SandboxServer(shop, host=opts["host"], port=opts["port"],
                               state_dir=Path(opts["state_dir"]) if opts["state_dir"] else None
                               ).start()
        self.stdout.write(f"Shopify sandbox {opts['shop_domain']} on {server.url} "
                          f"(bucket {settings.bucket_max:.0f}, {settings.restore_rate:.0f}/s)")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        every = opts["generate_every"]
        rnd = random.Random()  # noqa: S311 - demo data
        while not stop.wait(every if every > 0 else 3600):
            if every > 0:
                order = shop.create_order({"financial_status": rnd.choice(
                    ["paid", "paid", "paid", "pending"])})
                self.stdout.write(f"sandbox: new order {order['name']}")
        server.stop()
