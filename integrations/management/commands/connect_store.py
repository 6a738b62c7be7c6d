import json

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope, scopes_disabled

from integrations.services import connections
from integrations.shopify import connect as shopify_connect
from podhub.core.exceptions import PodhubError
from podhub.workspaces.models import Workspace


class Command(BaseCommand):
    help = ("Connect a store to a workspace: Shopify (custom-app token + webhook secret), "
            "WooCommerce (REST API keys) or a manual store for outside orders. "
            "Prints {store_id, webhook_url}.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, type=int)
        parser.add_argument("--platform", required=True,
                            choices=["shopify", "manual", "woocommerce"])
        parser.add_argument("--shop-domain")
        parser.add_argument("--access-token")
        parser.add_argument("--webhook-secret",
                            help="Shopify: the signing secret; WooCommerce: optional, the "
                                 "secret PodHub registers its webhooks with (default: new)")
        parser.add_argument("--api-base", default="",
                            help="Shopify: base URL of the Admin API (the sandbox, a proxy); "
                                 "default: SHOPIFY_API_BASES, else https://SHOP. Checked by the "
                                 "outbound HTTP policy (docs/security.md)")
        parser.add_argument("--name", default="")
        parser.add_argument("--no-import", action="store_true",
                            help="do not start the initial import of open orders")
        parser.add_argument("--url", help="WooCommerce: the store's address")
        parser.add_argument("--consumer-key", help="WooCommerce: REST API consumer key")
        parser.add_argument("--consumer-secret", help="WooCommerce: REST API consumer secret")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        if opts["platform"] == "woocommerce":
            missing = [f"--{k.replace('_', '-')}" for k in ("url", "consumer_key",
                                                            "consumer_secret")
                       if not (opts.get(k) or "").strip()]
            if missing:
                raise CommandError(f"{', '.join(missing)} required for WooCommerce; nothing "
                                   "was changed")
        with scopes_disabled():
            workspace = Workspace.objects.filter(pk=opts["workspace"]).first()
        if workspace is None:
            raise CommandError(f"no workspace with id {opts['workspace']}; nothing was changed")
        platform = opts["platform"]
        try:
            with scope(workspace=workspace):
                if platform == "manual":
                    if not (opts["name"] or "").strip():
                        raise CommandError("--name is required for a manual store")
                    store = connections.store_create_manual(workspace=workspace,
                                                            name=opts["name"])
                    result = {"store_id": store.pk, "webhook_url": None}
                elif platform == "woocommerce":
                    result = self._woocommerce(workspace, opts)
                else:
                    missing = [f"--{k.replace('_', '-')}" for k in
                               ("shop_domain", "access_token", "webhook_secret")
                               if not (opts.get(k) or "").strip()]
                    if missing:
                        raise CommandError(f"{', '.join(missing)} required for Shopify; "
                                           "nothing was changed")
                    conn = shopify_connect.store_connect_shopify(
                        workspace=workspace, shop_domain=opts["shop_domain"],
                        access_token=opts["access_token"],
                        webhook_secret=opts["webhook_secret"], api_base=opts["api_base"],
                        name=opts["name"], start_import=not opts["no_import"])
                    result = {"store_id": conn.store_id,
                              "webhook_url": shopify_connect.webhook_url()}
        except PodhubError as exc:
            # The operator may hear more than a seller (e.g. which workspace has the shop).
            reason = getattr(exc, "operator_message", exc.message)
            raise CommandError(f"{reason} Nothing was changed.") from None
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Store {result['store_id']} connected."
                              + (f" Webhooks: {result['webhook_url']}"
                                 if result["webhook_url"] else ""))

    @staticmethod
    def _woocommerce(workspace, opts) -> dict:
        from integrations.woocommerce.services import store_connect_woocommerce, webhook_url

        conn = store_connect_woocommerce(
            workspace=workspace, url=opts["url"], consumer_key=opts["consumer_key"],
            consumer_secret=opts["consumer_secret"],
            webhook_secret=opts.get("webhook_secret") or "", name=opts["name"],
            start_import=not opts["no_import"])
        return {"store_id": conn.store_id, "webhook_url": webhook_url(conn.store_id)}
