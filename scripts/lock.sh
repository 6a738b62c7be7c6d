#!/usr/bin/env bash
# Refresh requirements.lock: every package (runtime and dev) at the version a fresh
# install of pyproject.toml resolves to today. Run after changing dependencies in
# pyproject.toml, commit the result; CI audits it (scripts/audit.sh) and the Docker
# image installs with it as constraints.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ENV_DIR=$(mktemp -d /tmp/podhub-lock.XXXXXX)
trap 'rm -rf "$ENV_DIR"' EXIT
"$PY" -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install --quiet --upgrade pip
"$ENV_DIR/bin/python" -m pip install --quiet -e ".[dev]"
{
  echo "# The locked dependencies of PodHub (runtime and dev), from scripts/lock.sh."
  echo "# Refresh: scripts/lock.sh (after any change to pyproject.toml's dependencies)."
  "$ENV_DIR/bin/python" -m pip freeze --exclude-editable | LC_ALL=C sort -f
} > requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
