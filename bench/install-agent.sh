#!/bin/sh
# Install the Debian package bench/agent_anchor.py compares the collector with, only when missing:
#   fusioninventory-agent   the agent-based inventory run locally (fusioninventory-agent --local)
# Only the benchmark needs it; the tests do not. Idempotent (a dpkg-query) when present.
set -eu

PACKAGES="fusioninventory-agent"
missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
    echo "install-agent: all present ($PACKAGES)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-agent: missing:$missing; run this script as root (no sudo here)" >&2
        exit 2
    fi
    SUDO="sudo"
fi
echo "install-agent: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
