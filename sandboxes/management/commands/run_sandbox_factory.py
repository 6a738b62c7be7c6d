import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes.factory.factory import FAULT_MODES, Config, SandboxFactory
from sandboxes.factory.server import SandboxFactoryServer


class Command(BaseCommand):
    help = ("Run the sandbox factory (accepts orders, moves them through production on a "
            "compressed clock, calls back with signed status and tracking) until interrupted. "
            "With --connect, registers it as the catalog provider `sandbox-factory` and, with "
            "--route-catalog, as every variant's first choice (demo).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8020)
        parser.add_argument("--api-key", default="sandbox-factory-key")
        parser.add_argument("--webhook-secret", default="sandbox-factory-secret")
        parser.add_argument("--callback-url", default=settings.PUBLIC_BASE_URL.rstrip("/")
                            + "/webhooks/providers/sandbox-factory/")
        parser.add_argument("--step-seconds", type=float, default=20.0,
                            help="production step length (compressed clock)")
        parser.add_argument("--split-parcels", action="store_true")
        parser.add_argument("--fault", choices=FAULT_MODES, default="none",
                            help="start in this outage mode (switch at runtime: POST /_faults)")
        parser.add_argument("--hang-seconds", type=float, default=30.0,
                            help='how long a call hangs in "timeout" mode')
        parser.add_argument("--connect", action="store_true",
                            help="create/update the provider and its connection in PodHub")
        parser.add_argument("--route-catalog", action="store_true",
                            help="make it the first choice of every catalog variant (demo)")

    def handle(self, *args, **opts):
        factory = SandboxFactory(api_key=opts["api_key"], webhook_secret=opts["webhook_secret"],
                                 callback_url=opts["callback_url"],
                                 config=Config(step_seconds=opts["step_seconds"],
                                               split_parcels=opts["split_parcels"],
                                               fault=opts["fault"],
                                               hang_seconds=opts["hang_seconds"]))
        server = SandboxFactoryServer(factory, host=opts["host"], port=opts["port"]).start()
        if opts["connect"]:
            self._connect(server.url, opts)
        self.stdout.write(f"Sandbox factory on {server.url}, step {opts['step_seconds']} s, "
                          f"callbacks to {opts['callback_url']}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        factory.run_clock(stop, every=1.0)
        server.stop()

    def _connect(self, url: str, opts) -> None:
        from django.db import transaction

        from fulfillment.models import Adapter, ProviderConnection
        from quotes.models import Provider, ProviderKind, Variant, VariantProvider

        with transaction.atomic():
            provider, _ = Provider.objects.update_or_create(
                code="sandbox-factory", defaults={"name": "Sandbox factory",
                                                  "kind": ProviderKind.API, "is_active": True})
            ProviderConnection.objects.update_or_create(provider=provider, defaults={
                "adapter": Adapter.SANDBOX, "api_base": url, "api_key": opts["api_key"],
                "webhook_secret": opts["webhook_secret"], "is_enabled": True})
            if opts["route_catalog"]:
                for variant in Variant.objects.filter(is_active=True):
                    first = variant.providers.order_by("priority").first()
                    VariantProvider.objects.get_or_create(
                        variant=variant, provider=provider, defaults={
                            "provider_sku": variant.sku, "priority": 0,
                            "base_cost_amount": first.base_cost_amount if first else 0,
                            "currency": first.currency if first else "USD"})
