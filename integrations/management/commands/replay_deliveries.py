import json

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope, scopes_disabled

from integrations.models import InboundWebhook, InboxStatus
from orders.models import Store


class Command(BaseCommand):
    help = ("Process a store's failed (or skipped) webhook deliveries again from their raw "
            "body. Prints {store_id, replayed: [ids]}.")

    def add_arguments(self, parser):
        parser.add_argument("--store", required=True, type=int, help="the store's id")
        parser.add_argument("--id", type=int, action="append", default=[], dest="ids",
                            help="a delivery id (repeat for several)")
        parser.add_argument("--all-failed", action="store_true",
                            help="every failed delivery of the store")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        from integrations.services.inbox import inbox_replay

        if not opts["ids"] and not opts["all_failed"]:
            raise CommandError("name deliveries with --id, or --all-failed; nothing was changed")
        with scopes_disabled():
            store = Store.objects.select_related("workspace").filter(pk=opts["store"]).first()
        if store is None:
            raise CommandError(f"no store with id {opts['store']}; nothing was changed")
        with scope(workspace=store.workspace):
            ids = list(opts["ids"])
            if opts["all_failed"]:
                ids += list(InboundWebhook.objects.filter(
                    workspace=store.workspace, connection__store=store,
                    status=InboxStatus.FAILED).values_list("pk", flat=True))
            done = inbox_replay(workspace=store.workspace, inbox_ids=ids, store_id=store.pk)
        out = {"store_id": store.pk, "replayed": done}
        if opts["json"]:
            self.stdout.write(json.dumps(out))
        else:
            self.stdout.write(f"Replaying {len(done)} deliveries of store {store.pk}.")
