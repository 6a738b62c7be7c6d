"""Backups that restore: the database and every uploaded file in one tar archive.

`manage.py backup` writes, while PodHub runs:
- `database.pgdump`: PostgreSQL's own consistent snapshot (`pg_dump --format=custom`,
  one repeatable-read transaction), or `database.sqlite3`: the embedded SQLite
  through its online backup API (a consistent copy while the web and the worker
  write; a plain file copy of a WAL database is not);
- `media/...`: every file of the default storage (print files, previews, claim
  photos, CSV uploads, template assets), read through the storage API, so a local
  MEDIA_ROOT and an S3 bucket are backed up alike; taken after the dump, so every
  file the dump names is there;
- `manifest.json`: what is inside, the migrations applied, and fingerprints of the
  encryption keys the secrets were written with (never the keys themselves).

`manage.py restore` refuses a database that is not empty and an archive whose
secrets the configured PODHUB_ENCRYPTION_KEYS cannot read, restores the database
(`pg_restore` in one transaction, or SQLite's backup API), the files, gives back
the sweeps' leases (no process of the old install runs any more), and migrates
(the upgrade path: an older backup under newer code). docs/operations.md
"Backups and restore".
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

FORMAT = 1
PG_DUMP = "database.pgdump"
SQLITE = "database.sqlite3"


class BackupError(Exception):
    """A backup or restore that cannot go on, with what to do about it."""


# --- tools and settings ----------------------------------------------------------------


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: PODHUB_PG_BIN, else the newest /usr/lib/postgresql/*/bin (a
    client at least as new as the server), else PATH."""
    folders = [os.environ.get("PODHUB_PG_BIN", "")]
    folders += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
                      key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                      else 0, reverse=True)
    for folder in folders:
        if folder and (Path(folder) / name).exists():
            return str(Path(folder) / name)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools "
                          "(apt-get install postgresql-client) or set PODHUB_PG_BIN.")
    return found


def _pg_args(db: dict) -> tuple[list[str], dict]:
    """Connection arguments for pg_dump/pg_restore; the password goes in the environment,
    never on a command line other users can read."""
    args = ["--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", db["HOST"]]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    sslmode = (db.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = sslmode
    return args, env


def _run(cmd: list[str], env: dict) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-2000:]}")


def key_fingerprints() -> list[str]:
    return [hashlib.sha256(k.encode()).hexdigest()[:16] for k in settings.FIELD_ENCRYPTION_KEYS]


def _applied_migrations() -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


# --- storage ----------------------------------------------------------------------------


def media_files(storage=None, folder: str = "") -> list[str]:
    """Every file name in the storage, through its own API (local disk or S3 alike)."""
    storage = storage or default_storage
    try:
        dirs, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    names = [f"{folder}/{f}" if folder else f for f in files]
    for d in dirs:
        names += media_files(storage, f"{folder}/{d}" if folder else d)
    return sorted(names)


# --- backup -----------------------------------------------------------------------------


def backup(*, output: Path, media: bool = True) -> dict:
    """Write the archive; its manifest."""
    output.parent.mkdir(parents=True, exist_ok=True)
    connection.ensure_connection()
    vendor = connection.vendor
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "vendor": vendor, "migrations": _applied_migrations(),
                "encryption_keys": key_fingerprints()}
    partial = output.with_name(output.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="podhub-backup-") as tmp:
        if vendor == "postgresql":
            dump = Path(tmp) / PG_DUMP
            args, env = _pg_args(connection.settings_dict)
            _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(dump), *args], env)
        elif vendor == "sqlite":
            dump = Path(tmp) / SQLITE
            sqlite_backup(connection.connection, dump)
        else:
            raise BackupError(f"No backup for a {vendor} database.")
        manifest["database"] = {"file": dump.name, "bytes": dump.stat().st_size,
                                "sha256": _sha256(dump)}
        names = media_files() if media else []
        with tarfile.open(partial, "w") as tar:
            tar.add(dump, arcname=dump.name)
            total = 0
            for name in names:
                info = tarfile.TarInfo(f"media/{name}")
                info.size = default_storage.size(name)
                with default_storage.open(name, "rb") as fh:
                    tar.addfile(info, fh)  # streamed: a print file is tens of MB
                total += info.size
            manifest["media"] = {"included": media, "files": len(names), "bytes": total}
            body = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    partial.replace(output)  # never a half-written archive under the final name
    return manifest


def sqlite_backup(source: sqlite3.Connection, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while other connections write."""
    dest = sqlite3.connect(str(target))
    try:
        source.backup(dest)
    finally:
        dest.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- restore ----------------------------------------------------------------------------


def read_manifest(archive: Path) -> dict:
    try:
        with tarfile.open(archive, "r") as tar:
            return json.load(tar.extractfile("manifest.json"))
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise BackupError(f"{archive} is not a PodHub backup: {exc}") from exc


def restore(*, archive: Path, media: bool = True, ignore_keys: bool = False) -> dict:
    """Restore the archive into the configured (empty) database and storage."""
    manifest = read_manifest(archive)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Backup format {manifest.get('format')} is not {FORMAT}.")
    connection.ensure_connection()
    vendor = connection.vendor
    if manifest["vendor"] != vendor:
        raise BackupError(f"The backup is of a {manifest['vendor']} database; this PodHub "
                          f"uses {vendor}. Restore it into {manifest['vendor']} (then move "
                          "the data with dumpdata/loaddata if you must change).")
    if not ignore_keys and manifest["encryption_keys"] and not (
            set(manifest["encryption_keys"]) & set(key_fingerprints())):
        raise BackupError("PODHUB_ENCRYPTION_KEYS holds none of the keys this backup's "
                          "secrets were written with (store tokens, provider keys would not "
                          "decrypt). Set them first, or pass --ignore-keys to restore anyway.")
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(f"The database {connection.settings_dict['NAME']} is not empty "
                          f"({len(tables)} tables): restore into a fresh one (createdb, or a "
                          "new SQLite file) and point DATABASE_URL at it.")
    with tempfile.TemporaryDirectory(prefix="podhub-restore-") as tmp, \
            tarfile.open(archive, "r") as tar:
        name = manifest["database"]["file"]
        tar.extract(name, tmp, filter="data")
        dump = Path(tmp) / name
        if _sha256(dump) != manifest["database"]["sha256"]:
            raise BackupError(f"{name} in the archive is damaged (checksum mismatch).")
        if vendor == "postgresql":
            args, env = _pg_args(connection.settings_dict)
            connection.close()  # pg_restore takes its own connection
            _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                  "--single-transaction", *args, str(dump)], env)
        else:
            source = sqlite3.connect(str(dump))
            try:
                source.backup(connection.connection)
            finally:
                source.close()
        restored = skipped = 0
        if media:
            for member in tar:
                if not member.isfile() or not member.name.startswith("media/"):
                    continue
                path = member.name.removeprefix("media/")
                data = tar.extractfile(member)
                if default_storage.exists(path):
                    if default_storage.size(path) == member.size:
                        skipped += 1
                        continue
                    default_storage.delete(path)
                saved = default_storage.save(path, File(data, name=path))
                if saved != path:
                    raise BackupError(f"The storage saved {path} as {saved}.")
                restored += 1
    return {**manifest, "restored_media": {"files": restored, "already_there": skipped}}


def give_back_leases() -> int:
    """No process of the backed-up install runs any more: its sweep leases are void
    (after migrate: an older backup may not have the table yet)."""
    from podhub.core.models import SweepRun

    return SweepRun.objects.exclude(holder="").update(holder="", lease_until=None)
