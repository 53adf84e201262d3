#!/bin/sh
# Install the Debian packages the integration tests need, only when missing.
# Idempotent and quick (a dpkg-query) when everything is present.
set -eu

# python3-apt: ansible.builtin.package_facts needs it (bench/collector.py and bench/fleet.py compare with it)
PACKAGES="openssh-server openssh-client debootstrap rpm python3 python3-apt util-linux mount chromium fonts-liberation"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
    echo "install-deps: all present ($PACKAGES)"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# the package's postinst may have started the system sshd; the tests do not
# need it, but leave it alone: it may be the developer's own.
