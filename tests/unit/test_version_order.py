"""Version order per source, checked against the package managers themselves: dpkg's verdicts on
3000 pairs of installed versions (captured, tests/fixtures/real/versions/) and live where dpkg is
installed, rpm's rpmvercmp live on thousands of pairs, and the generic order's pre-release markers."""

import random
import shutil
import subprocess
from functools import cmp_to_key
from pathlib import Path

import pytest

from sam_engine.licensing.versions import (dpkg_key, package_version_key, rpm_key, version_in_range,
                                           version_key)

PAIRS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "versions" / "dpkg_pairs.tsv"
ISSUE_CASES = [("2.0rc1", "2.0"), ("17.0beta", "17.0"), ("2.0.0-beta", "2.0.0"), ("1.2~git1", "1.2")]


def sign(a, b) -> int:
    return (a > b) - (a < b)


def captured_pairs() -> list[tuple[str, str, int]]:
    rows = [line.split("\t") for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines()]
    return [(a, b, int(v)) for a, b, v in rows]


# --- generic order: pre-releases before the release ---------------------------------------------


@pytest.mark.parametrize("lower, higher", ISSUE_CASES + [
    ("2.0rc1", "2.0.1"), ("1.9", "2.0rc1"), ("2.0alpha", "2.0beta"), ("2.0beta2", "2.0rc1"), ("6.4beta", "6.4"),
    ("10.0.19041.1", "10.0.19041.2"), ("10.0.19041.1", "10.0.22000.1"), ("6.1.7601.17514", "10.0.10240.16384"),
])
def test_generic_order_puts_pre_releases_before_the_release(lower, higher):
    assert version_key(lower) < version_key(higher)


def test_windows_four_part_versions_ignore_trailing_zero_parts():
    assert version_key("16.0.0.0") == version_key("16") and version_key("10.0.19041.0") == version_key("10.0.19041")


def test_ranges_and_downgrade_bounds_follow_the_pre_release_order():
    assert version_in_range("2.0rc1", "<2.0") and not version_in_range("2.0rc1", ">=2.0")
    assert version_in_range("17.0beta", "<17") and version_in_range("2.0.0-beta", ">=1.9,<2.0.0")


# --- dpkg -------------------------------------------------------------------------------------


def test_dpkg_key_agrees_with_dpkg_on_3000_captured_pairs_of_installed_versions():
    pairs = captured_pairs()
    assert len(pairs) == 3000
    wrong = [(a, b, v) for a, b, v in pairs if sign(dpkg_key(a), dpkg_key(b)) != v]
    assert wrong == []


@pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("dpkg-query") is None,
                    reason="dpkg is not installed: the live check needs dpkg --compare-versions")
def test_dpkg_key_agrees_with_the_live_dpkg_on_this_machines_versions():
    listed = subprocess.run(["dpkg-query", "-W", "-f", "${Version}\\n"], capture_output=True, text=True, check=True)
    versions = sorted({v for v in listed.stdout.split() if v})
    rng = random.Random(1519)
    pairs = [tuple(rng.sample(versions, 2)) for _ in range(120)] if len(versions) > 1 else []
    pairs += [(v, v + s) for v in rng.sample(versions, min(40, len(versions))) for s in ("~", "+1")]
    pairs += ISSUE_CASES + [("1:1.0", "2.0"), ("1.0", "1.0-0"), ("1.0~~", "1.0~"), ("1.0a", "1.0+")]
    for a, b in pairs:
        lower = subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0
        equal = subprocess.run(["dpkg", "--compare-versions", a, "eq", b]).returncode == 0
        assert sign(dpkg_key(a), dpkg_key(b)) == (0 if equal else -1 if lower else 1), (a, b)


# --- rpm --------------------------------------------------------------------------------------


def rpm_strings() -> list[str]:
    """Version strings for rpmvercmp: the upstream parts of the captured dpkg versions (rpm would read
    a ``-`` as the release and a ``:`` as the epoch), each also with rpm's own markers added."""
    upstream = sorted({v.split(":", 1)[-1].rsplit("-", 1)[0] for a, b, _ in captured_pairs() for v in (a, b)})
    plain = [v for v in upstream if "-" not in v and ":" not in v]
    return plain + [v + s for v in plain[::3] for s in ("~rc1", "^git2", ".a", "_1")]


@pytest.mark.skipif(shutil.which("rpm") is None, reason="rpm is not installed: rpmvercmp is checked with rpm's lua")
def test_rpm_key_agrees_with_rpmvercmp_on_thousands_of_pairs(tmp_path):
    strings = rpm_strings()
    rng = random.Random(15)
    pairs = list(zip(strings, strings[1:])) + [tuple(rng.sample(strings, 2)) for _ in range(1500)]
    pairs += [("1.0~rc1", "1.0"), ("1.0^git1", "1.0"), ("1.0^git1", "1.0.1"), ("1.0a", "1.0.1"), ("1_0", "1.0"),
              ("2.0rc1", "2.0"), ("010", "10"), ("a", "1")]
    script = tmp_path / "vercmp.lua"  # too long for one command-line argument
    script.write_text("\n".join(f"io.write(rpm.vercmp([==[{a}]==], [==[{b}]==]), ' ')" for a, b in pairs))
    out = subprocess.run(["rpm", "--eval", f"%{{lua: dofile([==[{script}]==])}}"], capture_output=True, text=True,
                         check=True)
    verdicts = [int(v) for v in out.stdout.split()]
    assert len(verdicts) == len(pairs) >= 2000
    wrong = [(a, b, v) for (a, b), v in zip(pairs, verdicts) if sign(rpm_key(a), rpm_key(b)) != v]
    assert wrong == []


def test_rpm_epoch_and_release():
    assert rpm_key("1:1.0-1") > rpm_key("9.9-1") and rpm_key("1.0-2.el9") > rpm_key("1.0-1.el9")
    assert rpm_key("1.0-1.el9~beta") < rpm_key("1.0-1.el9")


def test_package_version_key_uses_the_sources_own_order():
    # dpkg: 1.0-1 and 1.0.0-1 differ (".0" is more); the generic order calls them equal
    assert package_version_key("1.0-1", "dpkg") < package_version_key("1.0.0-1", "dpkg")
    assert package_version_key("1.0", "msi") == package_version_key("1.0.0", "msi")
    ordered = sorted(["1.2", "1.2~git1", "1:0.9", "1.2+b1"], key=lambda v: package_version_key(v, "dpkg"))
    assert ordered == ["1.2~git1", "1.2", "1.2+b1", "1:0.9"]
    # the captured verdicts give one consistent order, as a sort by the key does
    pairs = captured_pairs()[:200]
    versions = sorted({v for a, b, _ in pairs for v in (a, b)}, key=cmp_to_key(lambda a, b: sign(dpkg_key(a), dpkg_key(b))))
    assert versions == sorted(versions, key=dpkg_key)
