"""Cached artefacts for the integration test hosts: a debootstrapped Debian
root (a directory) and a few tiny, real RPM packages.

Everything is built once into the repository's ignored ``.cache/`` folder and
rebuilt automatically when missing.  Builds happen in a ``.build-*`` temp dir
next to the final artefact and are renamed into place at the end, so an
interrupted build never leaves a half-made cache entry.  Also home of the
mount helpers (:func:`mounts_under`, :func:`unmount_all`, :func:`safe_rmtree`)
that make deleting a root copy safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("FLEETSAM_TEST_CACHE_DIR", REPO_ROOT / ".cache"))
SUITE = "bookworm"
INCLUDE = ("python3", "openssh-server", "rpm")
RECIPE_VERSION = 2  # bump to force every cache to be rebuilt (2: the archive's apt lists are kept)
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class BuildError(RuntimeError):
    """A cached artefact could not be built."""


# --------------------------------------------------------------------------
# mounts and safe deletion


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(path: str | os.PathLike) -> list[str]:
    """Mount points at or below *path*, in mount order (one entry per mount)."""
    base = os.path.realpath(path).rstrip("/") or "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            mp = _unescape(line.split()[4])
            if mp == base or mp.startswith(base + "/"):
                found.append(mp)
    return found


def unmount_all(path: str | os.PathLike) -> list[str]:
    """Unmount everything at or below *path*, newest first, falling back to a
    lazy unmount.  Returns the mount points that are still there."""
    for _ in range(100):
        mps = mounts_under(path)
        if not mps:
            return []
        mp = mps[-1]
        if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
            if subprocess.run(["umount", "-l", mp], capture_output=True).returncode != 0:
                return mps
    return mounts_under(path)


def safe_rmtree(path: str | os.PathLike) -> None:
    """Delete *path* recursively, but only once nothing is mounted inside it."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    left = unmount_all(path)
    if left:
        raise RuntimeError(f"refusing to delete {path}: still mounted: {left}")
    # --one-file-system: never descend into anything that is another fs
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False)
    if path.exists():
        raise RuntimeError(f"could not delete {path} completely")


# --------------------------------------------------------------------------
# running things inside a root, in a private mount namespace

# Mounts made by this script live in a private mount namespace: they are never
# visible on the host, and vanish when the last process in it exits, so a
# crashed or killed session cannot leave /dev or /proc mounted in a root copy.
_NS_SCRIPT = r"""
set -e
R=$1; H=$2; shift 2
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys" 2>/dev/null || true
if [ -f "$R/.fleetsam-dmi/product_uuid" ]; then  # a guest's own SMBIOS UUID (this machine may have no DMI)
    mount -t tmpfs -o nosuid,nodev,noexec,mode=0755,size=64k tmpfs "$R/sys/class"
    mkdir -p "$R/sys/class/dmi/id" && cp "$R/.fleetsam-dmi/product_uuid" "$R/sys/class/dmi/id/"
    mount -o remount,ro "$R/sys/class"
fi
mount -t tmpfs -o nosuid,mode=0755,size=8m tmpfs "$R/dev"
for n in null zero full random urandom tty; do
    : > "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$R/dev/shm"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mkdir -p "$R/run/sshd"
hostname "$H"
exec chroot "$R" "$@"
"""


def in_root_argv(root: Path, hostname: str, argv: list[str]) -> list[str]:
    """argv that runs *argv* chrooted into *root* with /proc, /dev, /dev/pts
    (and read-only /sys) mounted and its own UTS hostname.  ``exec`` all the
    way down: the spawned pid is the pid of *argv*'s process."""
    return ["unshare", "--mount", "--uts", "--propagation", "private",
            "/bin/sh", "-c", _NS_SCRIPT, "sh", str(root), hostname, *argv]


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets *sig* when the thread that started it dies
    (PR_SET_PDEATHSIG), so a killed test session leaves no sshd/debootstrap."""
    ctypes.CDLL(None, use_errno=True).prctl(1, sig)


# --------------------------------------------------------------------------
# cache plumbing


def _key(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clean_stale(directory: Path, keep: Path) -> None:
    """Under the lock: remove interrupted builds and outdated cache entries."""
    for p in directory.iterdir():
        if p.name.startswith(".build-") or (p != keep and not p.name.startswith(".")):
            safe_rmtree(p)


def _tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------
# the Debian root


def debian_mirror() -> str:
    """FLEETSAM_DEBIAN_MIRROR, else the first apt source for Debian, else
    deb.debian.org."""
    if os.environ.get("FLEETSAM_DEBIAN_MIRROR"):
        return os.environ["FLEETSAM_DEBIAN_MIRROR"].rstrip("/")
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for src in sources + [Path("/etc/apt/sources.list")]:
        with contextlib.suppress(OSError):
            for uri in re.findall(r"(?m)^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", src.read_text()):
                if uri.rstrip("/").endswith("/debian") and uri.startswith("http"):
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def check_mirror(mirror: str, timeout: float = 20) -> None:
    url = f"{mirror}/dists/{SUITE}/Release"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read(64)
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        raise BuildError(
            f"the Debian mirror is unreachable ({url}: {exc}); the test root "
            f"{SUITE} cannot be built. Set FLEETSAM_DEBIAN_MIRROR to a reachable "
            f"mirror, or provide a cached root in {CACHE_DIR / 'roots'}"
        ) from None


def ensure_base_root() -> Path:
    """Directory of the cached ``debootstrap --variant=minbase`` root, built
    first when missing (about a minute).  Treat it as read-only: sessions
    work on copies (:func:`make_root_copy`)."""
    roots = CACHE_DIR / "roots"
    dest = roots / f"{SUITE}-minbase-{_key(SUITE, INCLUDE, RECIPE_VERSION)}"
    if (dest / "usr/sbin/sshd").exists():
        return dest
    with _locked(roots):
        if (dest / "usr/sbin/sshd").exists():
            return dest
        _clean_stale(roots, keep=dest)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=roots))
        try:
            _debootstrap(build / "root", build / "debootstrap.log")
            _prune_root(build / "root")
            os.rename(build / "root", dest)
        finally:
            safe_rmtree(build)
    return dest


def _debootstrap(target: Path, log: Path) -> None:
    for tool in ("debootstrap", "unshare"):
        if not shutil.which(tool):
            raise BuildError(f"{tool} is missing: run tests/integration/install-deps.sh")
    mirror = debian_mirror()
    check_mirror(mirror)
    # private mount and pid namespaces: if the session dies (die_with_parent
    # kills unshare, --kill-child the namespace's init) every process of the
    # build dies with it and its /proc, /sys mounts in the target vanish
    argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            "debootstrap", "--variant=minbase", "--components=main",
            f"--include={','.join(INCLUDE)}", SUITE, str(target), mirror]
    for attempt in (1, 2):
        with open(log, "a") as out:
            out.write(f"### attempt {attempt}: {' '.join(argv)}\n")
            out.flush()
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                preexec_fn=lambda: die_with_parent(signal.SIGKILL)).returncode
        if rc == 0:
            return
        detail = _tail(log) + "\n" + _tail(target / "debootstrap" / "debootstrap.log")
        safe_rmtree(target)
        if attempt == 1:
            time.sleep(3)
            check_mirror(mirror)
    raise BuildError(f"debootstrap {SUITE} failed twice (mirror {mirror}):\n{detail}")


def _prune_root(root: Path) -> None:
    """Drop per-machine state (host keys, machine-id) and bulky apt caches:
    every session writes its own. The archive's lists stay, as on any Debian
    host: they say where each package came from (``pkg_origins``)."""
    for p in (root / "etc/ssh").glob("ssh_host_*"):
        p.unlink()
    for p in ("etc/machine-id", "var/lib/dbus/machine-id"):
        with contextlib.suppress(FileNotFoundError):
            (root / p).unlink()
    for pattern in ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        for p in root.glob(pattern):
            if p.is_file():
                p.unlink()
    # a leftover sshd pid from the build must never be taken for ours
    with contextlib.suppress(FileNotFoundError):
        (root / "run/sshd.pid").unlink()


def make_root_copy(base: Path, root: Path, scratch: Path) -> str:
    """Give *root* a fresh, writable copy of *base*: an overlay mount whose
    upper and work dirs live in *scratch* (instant; deleting through it never
    touches *base*), or else a plain ``cp -a``.  Returns "overlay" or "copy".
    FLEETSAM_TESTHOSTS_ROOTS=copy forces the copy."""
    root.mkdir(parents=True)
    if os.environ.get("FLEETSAM_TESTHOSTS_ROOTS", "overlay") != "copy":
        (scratch / "upper").mkdir(parents=True)
        (scratch / "work").mkdir()
        opts = f"lowerdir={base},upperdir={scratch / 'upper'},workdir={scratch / 'work'}"
        if subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root)],
                          capture_output=True).returncode == 0:
            return "overlay"
        safe_rmtree(scratch)  # e.g. /tmp itself on overlayfs (docker): copy instead
    root.rmdir()
    subprocess.run(["cp", "-a", "--", str(base), str(root)], check=True)
    return "copy"


# --------------------------------------------------------------------------
# the test RPMs


@dataclasses.dataclass(frozen=True)
class RpmPackage:
    name: str
    version: str
    release: str
    arch: str
    vendor: str
    license: str
    summary: str
    epoch: int | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}.rpm"

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch is not None else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"

    def spec(self) -> str:
        return _SPEC.format(p=self, epoch=f"Epoch: {self.epoch}" if self.epoch is not None else "",
                            buildarch="BuildArch: noarch" if self.arch == "noarch" else "")


_SPEC = """\
%global debug_package %{{nil}}
%global __os_install_post %{{nil}}
%define _build_id_links none
Name: {p.name}
{epoch}
Version: {p.version}
Release: {p.release}
Summary: {p.summary}
License: {p.license}
Vendor: {p.vendor}
URL: https://example.invalid/{p.name}
Packager: fleetsam integration tests
Group: Applications/System
{buildarch}
AutoReqProv: no

%description
{p.summary}. Built by the fleetsam integration tests.

%install
mkdir -p %{{buildroot}}/usr/share/%{{name}}
echo '%{{name}} %{{version}}-%{{release}}' > %{{buildroot}}/usr/share/%{{name}}/VERSION

%files
/usr/share/%{{name}}/VERSION
"""

_NATIVE_ARCH = platform.machine()  # x86_64, aarch64: the names rpm uses

TEST_RPMS: tuple[RpmPackage, ...] = (
    RpmPackage("fleetsam-testpkg-alpha", "1.2.3", "4", "noarch", "Fleetsam Test Vendor",
               "MIT", "Fleetsam test package alpha"),
    RpmPackage("fleetsam-testpkg-beta", "0.9.1", "1", "noarch", "Fleetsam Test Vendor",
               "Apache-2.0", "Fleetsam test package beta, with an epoch", epoch=2),
    RpmPackage("fleetsam-testpkg-gamma", "10.4", "1.fleet9", _NATIVE_ARCH, "Gamma Software Ltd",
               "GPL-2.0-or-later", "Fleetsam test package gamma, arch-specific"),
)


def ensure_test_rpms(packages: tuple[RpmPackage, ...] = TEST_RPMS, folder: str = "rpms") -> list[Path]:
    """Paths of the cached, built *packages* (default :data:`TEST_RPMS`) in *folder*, built when missing."""
    rpms = CACHE_DIR / folder
    dest = rpms / _key([p.spec() for p in packages], RECIPE_VERSION)
    paths = [dest / p.filename for p in packages]
    if all(p.exists() for p in paths):
        return paths
    with _locked(rpms):
        if all(p.exists() for p in paths):
            return paths
        if not shutil.which("rpmbuild"):
            raise BuildError("rpmbuild is missing: run tests/integration/install-deps.sh")
        _clean_stale(rpms, keep=dest)
        build = Path(tempfile.mkdtemp(prefix=".build-", dir=rpms))
        try:
            out = build / "out"
            out.mkdir()
            for pkg in packages:
                spec = build / f"{pkg.name}.spec"
                spec.write_text(pkg.spec())
                proc = subprocess.run(
                    ["rpmbuild", "-bb", "--nodeps",
                     "--define", f"_topdir {build / 'top'}",
                     "--define", f"_rpmdir {out}",
                     "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
                     "--define", "_buildhost fleetsam-test-build",
                     "--define", "use_source_date_epoch_as_buildtime 1",
                     str(spec)],
                    capture_output=True, text=True,
                    env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
                if proc.returncode != 0 or not (out / pkg.filename).exists():
                    raise BuildError(f"rpmbuild {pkg.name} failed:\n{proc.stdout}\n{proc.stderr}")
            os.rename(out, dest)
        finally:
            safe_rmtree(build)
    return paths


def install_rpms(root: Path, rpms: list[Path]) -> None:
    """Install *rpms* into *root*'s rpm database at /var/lib/rpm with the
    root's own rpm, and make /var/lib/rpm its default dbpath (as on RHEL)."""
    (root / "etc/rpm").mkdir(parents=True, exist_ok=True)
    (root / "etc/rpm/macros.dbpath").write_text("%_dbpath /var/lib/rpm\n")
    # Debian's rpm defaults to ~/.rpmdb: a relative link lets a plain
    # `rpm -qa --root ROOT` run by root on a Debian machine find the same db
    (root / "root/.rpmdb").symlink_to("../var/lib/rpm")
    stage = root / "tmp/fleetsam-rpms"
    stage.mkdir(parents=True)
    for rpm in rpms:
        (stage / rpm.name).write_bytes(rpm.read_bytes())
    argv = ["rpm", "-i", "--nodeps", "--force-debian", "--dbpath", "/var/lib/rpm",
            *[f"/tmp/fleetsam-rpms/{r.name}" for r in rpms]]
    proc = subprocess.run(in_root_argv(root, "fleet-rpm-setup", argv),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"rpm -i into {root} failed:\n{proc.stdout}\n{proc.stderr}")
    safe_rmtree(stage)
