"""Run a public provider's local stand-in (any registered provider that has one) so staff
can try a connection and the demo can route products to it."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fulfillment.providers import registry
from sandboxes.providers.base import StandInServer


class Command(BaseCommand):
    help = ("Run a local stand-in for a public print provider (every provider registered in "
            "PODHUB_PROVIDERS with one: Printful v2, CustomCat, Gelato v4, ShineOn, Printify), "
            "following its documented API: it takes orders idempotently by our reference, "
            "moves them to production and shipped (one parcel per item, each with its own "
            "tracking) every --step-seconds, and sends the provider's webhooks. With "
            "--connect, registers it as catalog provider `<provider>-standin`; with "
            "--route-product, makes it the first choice for a catalog product (demo).")

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True,
                            choices=sorted(registry.with_standins()))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0,
                            help="default: " + ", ".join(
                                f"{c} {s.standin_port}"
                                for c, s in registry.with_standins().items()))
        parser.add_argument("--api-key", default="standin-key")
        parser.add_argument("--webhook-secret", default="standin-secret")
        parser.add_argument("--callback-url", default="",
                            help="default: <PODHUB_PUBLIC_URL>/webhooks/providers/"
                            "<provider>-standin/ (none for CustomCat; ShineOn is told a URL "
                            "with each order)")
        parser.add_argument("--step-seconds", type=float, default=20.0,
                            help="production step length (compressed clock)")
        parser.add_argument("--one-parcel", action="store_true",
                            help="ship each order as one parcel (default: one per item)")
        parser.add_argument("--connect", action="store_true",
                            help="create/update the provider and its connection in PodHub")
        parser.add_argument("--route-product", action="append", default=[], metavar="NAME",
                            help="with --connect: make the stand-in the first choice for the "
                            "catalog product(s) of this name or variant SKU (repeatable)")

    def handle(self, *args, **opts):
        provider = opts["provider"]
        spec = registry.get(provider)
        code = f"{provider}-standin"
        callback = opts["callback_url"] or (
            f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/providers/{code}/"
            if spec.standin_callback
            else "")
        standin = spec.standin_class()(
            api_key=opts["api_key"], webhook_secret=opts["webhook_secret"],
            callback_url=callback, step_seconds=opts["step_seconds"],
            split_parcels=not opts["one_parcel"])
        server = StandInServer(standin, host=opts["host"],
                               port=opts["port"] or spec.standin_port).start()
        if opts["connect"]:
            self._connect(provider, code, server.url, opts)
        elif opts["route_product"]:
            raise CommandError("--route-product needs --connect")
        self.stdout.write(f"{provider} stand-in on {server.url}, step {opts['step_seconds']} s"
                          + (f", webhooks to {callback}" if callback else ""))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        standin.run_clock(stop, every=1.0)
        server.stop()

    def _connect(self, provider: str, code: str, url: str, opts) -> None:
        from django.db import transaction

        from fulfillment.models import ProviderConnection
        from quotes.models import Provider, ProviderKind, Variant, VariantProvider

        spec = registry.get(provider)
        key = spec.standin_class().connection_key(opts["api_key"])
        with transaction.atomic():
            record, _ = Provider.objects.update_or_create(
                code=code, defaults={"name": f"{spec.label} (local stand-in)",
                                     "kind": ProviderKind.API, "is_active": True})
            ProviderConnection.objects.update_or_create(provider=record, defaults={
                "adapter": provider, "api_base": url, "api_key": key,
                "webhook_secret": opts["webhook_secret"], "is_enabled": True,
                "problem": "", "problem_at": None})
            routed = []
            for name in opts.get("route_product") or []:
                variants = (Variant.objects.filter(product__name=name)
                            | Variant.objects.filter(sku=name))
                if not variants.exists():
                    raise CommandError(f"no catalog product or variant SKU {name!r}")
                for variant in variants.distinct():
                    first = variant.providers.exclude(provider=record).order_by(
                        "priority").first()
                    VariantProvider.objects.update_or_create(
                        variant=variant, provider=record, defaults={
                            "provider_sku": spec.demo_sku, "priority": 0, "is_active": True,
                            "base_cost_amount": first.base_cost_amount if first else 0,
                            "currency": first.currency if first else "USD"})
                    routed.append(variant.sku)
        self.stdout.write(f"Connected as provider {code!r}"
                          + (f"; first choice for {', '.join(routed)}" if routed else
                             f"; map variants to it in the catalog admin ({spec.sku_help})"))
