#!/usr/bin/env bash
# Create .venv and install PodHub with its dev dependencies (once per pyproject change).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # Debian's python3 has no venv/ensurepip until python3-venv is installed.
  "$PY" -c 'import ensurepip, venv' 2>/dev/null || scripts/apt_install.sh python3-venv
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
