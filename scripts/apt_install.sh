#!/usr/bin/env bash
# Install Debian packages with apt-get (as root, or with sudo): `scripts/apt_install.sh pkg…`.
# Used by bootstrap.sh and test.sh for what a fresh Debian machine lacks.
set -euo pipefail
[ $# -gt 0 ] || exit 0
echo "PodHub: installing $* with apt-get" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=""; fi
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
