#!/bin/sh
# Install the Debian packages `make test` needs that a minimal bookworm (git,
# make, python3, python3-venv) lacks, or those given as arguments, only when missing.
# Idempotent and quick (a dpkg-query) when everything is present.
set -eu

# Why each one:
#   openssh-server openssh-client  the integration tests' sshd test hosts, ssh, ssh-keygen
#   debootstrap ca-certificates    the chroot test hosts' bookworm root (an https mirror needs the CAs)
#   rpm                            rpmbuild for the test RPMs, rpm to read the chroot's rpm database
#   python3-apt                    ansible.builtin.package_facts (bench/collector.py and bench/fleet.py compare with it)
#   util-linux mount               unshare, mount (overlay roots) and lscpu (the hardware facts)
#   chromium fonts-liberation      the browser tests' headless browser and its fonts
#   libatomic1                     Playwright's bundled node driver links against libatomic.so.1
#   postgresql                     the PostgreSQL store's contract tests start a real server (tests/pg_server.py)
#   golang-go golang-github-vmware-govmomi-dev
#                                  govmomi's vCenter simulator, built offline (GOPATH mode) for the vcenter_facts
#                                  tests (tests/integration/vcsim.py)
#   libvirt-clients                virsh with libvirt's built-in test driver: the hypervisor collector's test host
PACKAGES="libvirt-clients golang-go golang-github-vmware-govmomi-dev postgresql openssh-server openssh-client debootstrap ca-certificates rpm python3 python3-apt util-linux mount chromium fonts-liberation libatomic1"
# Packages given as arguments replace the list: `make bench` installs the agent bench/agent_anchor.py
# compares the collector with this way (fusioninventory-agent); the tests do not need it.
if [ $# -gt 0 ]; then
    PACKAGES="$*"
fi

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
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: missing:$missing; run this script as root (no sudo here)" >&2
        exit 2
    fi
    SUDO="sudo"
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
# the package's postinst may have started the system sshd; the tests do not
# need it, but leave it alone: it may be the developer's own.
