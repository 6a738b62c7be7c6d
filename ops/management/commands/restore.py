"""manage.py restore ARCHIVE [--no-media] [--no-migrate] [--ignore-keys] [--json]."""

import json
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from ops.backup import BackupError, give_back_leases, restore


class Command(BaseCommand):
    help = ("Restore a `manage.py backup` archive into an empty database and the storage, "
            "then migrate. Start web, workers and one beat afterwards: the sweeps go on "
            "from where the backup was taken.")

    def add_arguments(self, parser):
        parser.add_argument("archive")
        parser.add_argument("--no-media", action="store_true")
        parser.add_argument("--no-migrate", action="store_true",
                            help="leave the schema as the backup had it")
        parser.add_argument("--ignore-keys", action="store_true",
                            help="restore although PODHUB_ENCRYPTION_KEYS cannot read the "
                            "backup's secrets (they must be entered again)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        archive = Path(opts["archive"])
        if not archive.is_file():
            raise CommandError(f"{archive}: no such file")
        try:
            result = restore(archive=archive, media=not opts["no_media"],
                             ignore_keys=opts["ignore_keys"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not opts["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        try:
            result["leases_given_back"] = give_back_leases()
        except DatabaseError:  # --no-migrate on a backup older than the sweep leases
            result["leases_given_back"] = 0
        if opts["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Restored the database of {result['created_at']} and "
                              f"{result['restored_media']['files']} files.")
