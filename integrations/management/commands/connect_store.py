import json

from django.core.management.base import BaseCommand, CommandError
from django_scopes import scope, scopes_disabled

from integrations.platforms import registry
from integrations.platforms.base import NAME_FIELD
from integrations.services import connections
from podhub.core.exceptions import PodhubError
from podhub.workspaces.models import Workspace

MANUAL = "manual"


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _fields(platform) -> list:
    return [*platform.connect_fields(), *platform.operator_fields()]


class Command(BaseCommand):
    help = ("Connect a store to a workspace: `connect_store PLATFORM --workspace ID --FIELD "
            "VALUE …`, PLATFORM one of the registered store platforms (their fields below) "
            "or `manual` (a store for outside orders, --name). `--platform PLATFORM` works "
            "too. Prints {store_id, webhook_url}.")

    def add_arguments(self, parser):
        codes = [*registry.platforms(), MANUAL]
        parser.add_argument("platform_arg", nargs="?", metavar="PLATFORM", choices=codes)
        parser.add_argument("--platform", choices=codes)
        parser.add_argument("--workspace", required=True, type=int)
        # Every registered platform's fields, as options; a field two platforms share
        # (webhook_secret) is one option, its help naming each.
        helps: dict[str, list[str]] = {}
        for platform in registry.platforms().values():
            for spec in _fields(platform):
                helps.setdefault(spec.name, []).append(
                    f"{platform.label}: {spec.label}" + (f" ({spec.help})" if spec.help else "")
                    + ("" if spec.required else ", optional"))
        for name, texts in helps.items():
            parser.add_argument(_option(name), dest=name, help="; ".join(texts))
        parser.add_argument("--name", default="", help=NAME_FIELD.label)
        parser.add_argument("--no-import", action="store_true",
                            help="do not start the initial import of open orders")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        code = opts["platform_arg"] or opts["platform"]
        if not code:
            raise CommandError("say which platform: connect_store PLATFORM --workspace ID …")
        with scopes_disabled():
            workspace = Workspace.objects.filter(pk=opts["workspace"]).first()
        if code == MANUAL:
            credentials = {}
        else:
            platform = registry.get(code)
            credentials = self._credentials(platform, opts)
        if workspace is None:
            raise CommandError(f"no workspace with id {opts['workspace']}; nothing was changed")
        try:
            with scope(workspace=workspace):
                if code == MANUAL:
                    if not (opts["name"] or "").strip():
                        raise CommandError("--name is required for a manual store")
                    store = connections.store_create_manual(workspace=workspace,
                                                            name=opts["name"])
                    result = {"store_id": store.pk, "webhook_url": None}
                else:
                    conn = platform.connect(workspace=workspace, name=opts["name"],
                                            start_import=not opts["no_import"],
                                            by_operator=True, **credentials)
                    result = {"store_id": conn.store_id,
                              "webhook_url": platform.webhook_url(conn)}
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
    def _credentials(platform, opts) -> dict:
        """The platform's fields from the options: the required ones given, none of
        another platform's."""
        own = {spec.name for spec in _fields(platform)}
        missing = [_option(s.name) for s in _fields(platform)
                   if s.required and not (opts.get(s.name) or "").strip()]
        if missing:
            raise CommandError(f"{', '.join(missing)} required for {platform.label}; nothing "
                               "was changed")
        others = sorted({_option(s.name) for p in registry.platforms().values()
                         for s in _fields(p) if s.name not in own and opts.get(s.name)})
        if others:
            raise CommandError(f"{', '.join(others)} is not a {platform.label} option; nothing "
                               "was changed")
        return {s.name: opts.get(s.name) or "" for s in _fields(platform)}
