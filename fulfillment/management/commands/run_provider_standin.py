"""Run a local Printful, CustomCat or Gelato stand-in so staff can try a connection."""

import signal
import threading

from django.core.management.base import BaseCommand

from fulfillment.provider_standins import standin_class
from fulfillment.provider_standins.base import StandInServer

DEFAULT_PORTS = {"printful": 8031, "customcat": 8032, "gelato": 8033}


class Command(BaseCommand):
    help = ("Run a local stand-in for a public print provider (Printful v2, CustomCat or "
            "Gelato v4), following its documented API: it takes orders idempotently by our "
            "reference, moves them to production and shipped (one parcel per item, each with "
            "its own tracking) every --step-seconds, and sends the provider's webhooks "
            "(Printful signed, Gelato with the shared token; CustomCat has none: PodHub "
            "polls). With --connect, registers it as catalog provider `<provider>-standin`.")

    def add_arguments(self, parser):
        parser.add_argument("--provider", required=True, choices=sorted(DEFAULT_PORTS))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0,
                            help="default: printful 8031, customcat 8032, gelato 8033")
        parser.add_argument("--api-key", default="standin-key")
        parser.add_argument("--webhook-secret", default="standin-secret")
        parser.add_argument("--callback-url", default="",
                            help="default: http://127.0.0.1:8000/webhooks/providers/"
                            "<provider>-standin/ (none for CustomCat)")
        parser.add_argument("--step-seconds", type=float, default=20.0,
                            help="production step length (compressed clock)")
        parser.add_argument("--one-parcel", action="store_true",
                            help="ship each order as one parcel (default: one per item)")
        parser.add_argument("--connect", action="store_true",
                            help="create/update the provider and its connection in PodHub")

    def handle(self, *args, **opts):
        provider = opts["provider"]
        code = f"{provider}-standin"
        callback = opts["callback_url"] or (
            "" if provider == "customcat"
            else f"http://127.0.0.1:8000/webhooks/providers/{code}/")
        standin = standin_class(provider)(
            api_key=opts["api_key"], webhook_secret=opts["webhook_secret"],
            callback_url=callback, step_seconds=opts["step_seconds"],
            split_parcels=not opts["one_parcel"])
        server = StandInServer(standin, host=opts["host"],
                               port=opts["port"] or DEFAULT_PORTS[provider]).start()
        if opts["connect"]:
            self._connect(provider, code, server.url, opts)
        self.stdout.write(f"{provider} stand-in on {server.url}, step {opts['step_seconds']} s"
                          + (f", webhooks to {callback}" if callback else ", no webhooks"))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        standin.run_clock(stop, every=1.0)
        server.stop()

    def _connect(self, provider: str, code: str, url: str, opts) -> None:
        from fulfillment.models import ProviderConnection
        from quotes.models import Provider, ProviderKind

        record, _ = Provider.objects.update_or_create(
            code=code, defaults={"name": f"{provider.title()} (local stand-in)",
                                 "kind": ProviderKind.API, "is_active": True})
        ProviderConnection.objects.update_or_create(provider=record, defaults={
            "adapter": provider, "api_base": url, "api_key": opts["api_key"],
            "webhook_secret": opts["webhook_secret"], "is_enabled": True})
        self.stdout.write(f"Connected as provider {code!r}; map variants to it in the "
                          "catalog admin (provider SKU: Printful catalog variant id, "
                          "CustomCat catalog SKU, Gelato productUid).")
