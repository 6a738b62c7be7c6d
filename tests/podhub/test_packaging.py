"""The wheel and the image carry every app: pyproject.toml's package list, its package
data and the Dockerfile's copies follow INSTALLED_APPS (insights was once left out)."""

import fnmatch
import re
import subprocess
import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def our_apps() -> set[str]:
    """Top-level packages of the installed apps that live in this repository."""
    top = {config.name.split(".")[0]: Path(config.path).resolve()
           for config in apps.get_app_configs()}
    return {name for name, path in top.items() if path.is_relative_to(ROOT / name)}


def test_every_app_is_a_package_of_the_wheel():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert our_apps() >= {"podhub", "orders", "quotes", "billing", "fulfillment",
                          "integrations", "insights"}
    missing = [app for app in sorted(our_apps())
               if not any(fnmatch.fnmatch(app, pattern) for pattern in include)]
    assert missing == [], f"add {missing} to [tool.setuptools.packages.find] include"


def test_every_file_an_app_needs_besides_code_is_package_data():
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["*"]
    tracked = subprocess.run(["git", "ls-files", *sorted(our_apps())], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    not_code = [p for p in tracked if not p.endswith(".py")]
    # package data globs are relative to the package that holds the file
    uncovered = [p for p in not_code
                 if not any(fnmatch.fnmatch(part, g) for g in globs
                            for part in _suffixes(p))]
    assert uncovered == [], f"not in the wheel: {uncovered}"


def _suffixes(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[i:]) for i in range(1, len(parts))]


def test_the_image_installs_every_app_before_pip_install():
    dockerfile = (ROOT / "Dockerfile").read_text()
    before_install = dockerfile.split("RUN pip install")[0]
    copied = set(re.findall(r"^COPY (\w+) \1$", before_install, flags=re.MULTILINE))
    assert copied == our_apps()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"var", ".venv", ".git"} <= set(ignored)  # no local database or secrets inside
