"""manage.py backup [--output FILE] [--no-media] [--json]: ops/backup.py."""

import json
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, backup
from podhub.env import VAR_DIR


class Command(BaseCommand):
    help = ("Back up the database (pg_dump custom format, or SQLite's online backup) and "
            "every uploaded file into one tar archive, while PodHub runs.")

    def add_arguments(self, parser):
        parser.add_argument("--output", help="the archive to write (default: "
                            "var/backups/podhub-<UTC time>.tar)")
        parser.add_argument("--no-media", action="store_true",
                            help="the database only (back the bucket up yourself)")
        parser.add_argument("--json", action="store_true", help="print the manifest as JSON")

    def handle(self, *args, **opts):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        output = Path(opts["output"] or VAR_DIR / "backups" / f"podhub-{stamp}.tar")
        try:
            manifest = backup(output=output, media=not opts["no_media"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest["archive"] = str(output)
        if opts["json"]:
            self.stdout.write(json.dumps(manifest))
        else:
            self.stdout.write(f"Backed up the {manifest['vendor']} database "
                              f"({manifest['database']['bytes']} bytes) and "
                              f"{manifest['media']['files']} files to {output}")
