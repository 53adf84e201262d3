"""Version normalisation, ordering and ranges (sam_engine.licensing.versions)."""

import pytest

from sam_engine.licensing.versions import normalise_version, parse_range, version_in_range, version_key


@pytest.mark.parametrize(
    "raw, source, expected",
    [
        ("6.4Beta", None, "6.4beta"),
        ("6.4beta", None, "6.4beta"),
        ("  6.4 BETA  ", None, "6.4 beta"),
        ("v1.10", "snap", "1.10"),  # real: scrcpy in glpi-agent_snap-list.txt
        ("version", None, "version"),  # a leading v is dropped only before a digit
        ("1 . 2 . 2", "macos", "1.2.2"),  # real: Adobe Acrobat Updater on macOS
        ("1:2.3-4", "dpkg", "2.3"),
        ("1:9.11.3+dfsg-1ubuntu1.9", "dpkg", "9.11.3+dfsg"),
        ("2.31.1-0.4ubuntu3.1", "dpkg", "2.31.1"),  # real: fdisk in the trivy dpkg status
        ("2000:1.8.0_211-fcs", "rpm", "1.8.0_211"),
        ("4.2.46-33.el7", "rpm", "4.2.46"),  # real: bash in jc_centos7.7_rpm-qai.txt
        ("3.2.0-r22", "apk", "3.2.0"),  # real: alpine-baselayout-data
        ("20181109-1", "pacman", "20181109"),
        ("2.4.x-build-26", "windows", "2.4.x-build-26"),  # vendor versions keep their dashes
        ("5.9.3 (3169)", "windows", "5.9.3 (3169)"),  # real: Zoom in the HKCU export
        ("", None, None),
        ("   ", None, None),
        (None, "rpm", None),
    ],
)
def test_normalise_version(raw, source, expected):
    assert normalise_version(raw, source) == expected


def test_one_version_whatever_the_case():
    assert normalise_version("6.4Beta") == normalise_version("6.4beta")
    assert version_key("6.4Beta") == version_key("6.4beta")


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("8u202", "8u211"),
        ("17.0.12", "17.0.13"),
        ("9", "10"),
        ("1.9", "1.10"),
        ("6.4beta", "6.4"),
        ("6.4rc1", "6.4"),
        ("6.4alpha", "6.4beta"),
        ("8", "8u211"),
        ("1.0.2", "1.0.2a"),  # OpenSSL letter releases come after
        ("2019", "2022"),
        ("24.001.20604", "24.002.20687"),
        ("6u45", "7"),
        (None, "0.1"),
    ],
)
def test_version_key_orders(lower, higher):
    assert version_key(lower) < version_key(higher)


def test_trailing_zero_parts_do_not_count():
    assert version_key("17.0.12.0") == version_key("17.0.12")
    assert version_key("2.0") == version_key("2")


def test_version_key_never_raises_on_mixed_schemes():
    values = ["8u211", "8.0.2110.12", "r2023b", "2023b", "1.0-beta", "x", "2.4.x-build-26", None, ""]
    assert len(sorted(values, key=version_key)) == len(values)


@pytest.mark.parametrize(
    "version, spec, expected",
    [
        ("8u202", "<=8u202", True),
        ("8u211", "<=8u202", False),
        ("8u211", ">=8u211", True),
        ("17.0.12", ">=17,<=17.0.12", True),
        ("17.0.12.0", ">=17,<=17.0.12", True),
        ("17.0.13", ">=17,<=17.0.12", False),
        ("2016", ">=2016,<2020", True),
        ("2019", ">=2016,<2020", True),
        ("2020", ">=2016,<2020", False),
        ("2012 R2", ">=2012,<2016", True),
        ("17.0.9", "17.*", True),
        ("17", "==17.*", True),
        ("170.1", "17.*", False),
        ("18.0.1", "!=17.*", True),
        ("17.0", "17.0.*", True),
        ("21.0.2", ">=17,<=17.0.12 || >=21", True),
        ("18.0.2", ">=17,<=17.0.12 || >=21", False),
        ("2019", "2019", True),
        ("2019", "=2019", True),
        ("2019", "!=2019", False),
        ("1.2", ">1.1", True),
        ("1.2", "<1.2", False),
        ("anything", "*", True),
        ("anything", "", True),
        (None, ">=1", False),
        (None, "*", True),
    ],
)
def test_version_in_range(version, spec, expected):
    assert version_in_range(version, spec) is expected


@pytest.mark.parametrize("spec", [">=", ",", ">=1,,<2", "<=1.*", "=>2", "||", ">=*"])
def test_bad_ranges_raise(spec):
    with pytest.raises(ValueError):
        parse_range(spec)
