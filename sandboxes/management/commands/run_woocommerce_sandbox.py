import io
import json
import random
import signal
import threading
import time
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from sandboxes import state
from sandboxes.woocommerce.server import WooSandboxServer
from sandboxes.woocommerce.store import WooStore


def _demo_order(rnd: random.Random, *, status: str) -> dict:
    """A personalised mug (the demo's SKU rule maps it; the name fills the print file)."""
    return {"status": status,
            "line_items": [{"name": "Mug 11oz", "sku": "MUG-11-WHITE", "price": "14.00",
                            "quantity": rnd.randint(1, 3),
                            "meta": {"Name": rnd.choice(["Ana", "Bo", "Chen"])}}]}


class Command(BaseCommand):
    help = ("Run the WooCommerce sandbox store (REST API v3 subset: orders with pagination, "
            "notes, webhooks; signed webhook deliveries) on a local port until interrupted.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8030)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--consumer-key", default="ck_sandbox_demo")
        parser.add_argument("--consumer-secret", default="cs_sandbox_demo")
        parser.add_argument("--seed-orders", type=int, default=0,
                            help="create N processing orders at start (no webhooks)")
        parser.add_argument("--generate-every", type=float, default=0,
                            help="create a random order every N seconds (demo)")
        parser.add_argument("--connect-demo", action="store_true",
                            help="connect this store to the demo workspace (load_demo) once "
                                 "it listens; PodHub's web and worker must be running for the "
                                 "webhook registration ping")
        parser.add_argument("--workspace", type=int, default=None,
                            help="with --connect-demo: this workspace instead of the demo's")
        parser.add_argument("--state-dir", default="",
                            help="keep the stores here and bring them back at start "
                                 "(make run: var/sandboxes/woocommerce)")

    def handle(self, *args, **opts):
        state_dir = Path(opts["state_dir"]) if opts["state_dir"] else None
        saved = state.read_json(state_dir / "store.json") if state_dir else None
        rnd = random.Random()  # noqa: S311 - demo data
        if saved:
            store = WooStore.from_snapshot({**saved, "home_url": ""})  # this run's address
        else:
            # ids start from the clock so a sandbox started afresh never reuses the id of
            # an order PodHub already has
            store = WooStore(consumer_key=opts["consumer_key"],
                             consumer_secret=opts["consumer_secret"], first_id=int(time.time()))
            for _ in range(opts["seed_orders"]):
                store.create_order(_demo_order(rnd, status="processing"), webhooks=False)
        store.auto_deliver = True
        server = WooSandboxServer(store, host=opts["host"], port=opts["port"],
                                  state_dir=state_dir).start()
        self.stdout.write(f"WooCommerce sandbox on {server.url} (consumer key "
                          f"{store.consumer_key})")
        if opts["connect_demo"]:
            try:
                self._connect(server, opts)
            except CommandError as exc:  # keep serving: the store is still usable
                self.stderr.write(f"sandbox: {exc}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        every = opts["generate_every"]
        while not stop.wait(every if every > 0 else 3600):
            if every > 0:
                order = store.create_order(_demo_order(rnd, status=rnd.choice(
                    ["processing", "processing", "processing", "pending", "on-hold"])))
                server.save(store)
                self.stdout.write(f"sandbox: new order {order['number']} ({order['status']})")
        server.stop()

    def _connect(self, server: WooSandboxServer, opts) -> None:
        from django_scopes import scope, scopes_disabled

        from integrations.woocommerce.services import store_connect_woocommerce
        from podhub.core.exceptions import PodhubError
        from podhub.workspaces.models import Workspace

        ws_id = opts["workspace"]
        if ws_id is None:
            out = io.StringIO()
            call_command("load_demo", json=True, stdout=out)
            ws_id = json.loads(out.getvalue())["workspace_id"]
        with scopes_disabled():
            workspace = Workspace.objects.filter(pk=ws_id).first()
        if workspace is None:
            raise CommandError(f"no workspace with id {ws_id}")
        try:
            with scope(workspace=workspace):
                conn = store_connect_woocommerce(
                    workspace=workspace, url=server.url, consumer_key=server.store.consumer_key,
                    consumer_secret=server.store.consumer_secret, name="Sandbox WooCommerce store")
        except PodhubError as exc:
            raise CommandError(f"could not connect: {exc.message}") from None
        # The demo's hands-off store: its orders pay themselves from the balance and go
        # to the factory an hour later, so the whole journey runs without anyone.
        from orders.models import Store, SubmitMode

        with scopes_disabled():
            Store.objects.filter(pk=conn.store_id).update(
                auto_pay=True, submit_mode=SubmitMode.AFTER_HOURS, submit_after_hours=1)
        self.stdout.write(json.dumps({"store_id": conn.store_id, "workspace_id": ws_id}))
