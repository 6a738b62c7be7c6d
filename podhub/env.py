"""Reading the environment, and the embedded default's generated files.

With no environment set, PodHub runs the embedded default: everything it
needs to keep (SQLite file, broker folders, media, dev keys) lives under
``var/`` at the repository root, or under ``PODHUB_VAR_DIR``.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
VAR_DIR = Path(env.str("PODHUB_VAR_DIR", default=str(BASE_DIR / "var")))


def generated_secret(name: str, make) -> str:
    """A dev-only secret kept in a file under var/, created on first use."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()
