"""Duplicate records of one installation on one host merged as auditors count (sam_engine.licensing.dedup)."""

from datetime import date

import pytest

from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.dedup import dedup_per_installation, location_key
from sam_engine.model import Installation

CATALOGUE, _ = load_catalogue(today=date(2025, 6, 1))


def inst(name, version=None, vendor=None, location=None, arch=None, source="windows", package_id=None):
    return Installation(source, name, version, arch, vendor, None, package_id or f"{source}:{name}:{arch}:{location}",
                        location)


def pairs(*installations):
    return [(i, CATALOGUE.recognise(i)) for i in installations]


# The same Office 2010 seen twice in the real XP export: its named key (Office14.PROPLUS)
# and its MSI GUID key, same DisplayName and DisplayVersion, no InstallLocation.
OFFICE_NAMED = inst("Microsoft Office Professional Plus 2010", "14.0.6029.1000", "Microsoft Corporation",
                    package_id=r"HKLM\...\Uninstall\Office14.PROPLUS")
OFFICE_GUID = inst("Microsoft Office Professional Plus 2010", "14.0.6029.1000", "Microsoft Corporation",
                   package_id=r"HKLM\...\Uninstall\{90140000-0011-0000-0000-0000000FF1CE}")
# The real amcache pair: Java 8 Update 141 and its 64-bit twin.
JAVA_X86 = inst("Java 8 Update 141", "8.0.1410.15", "Oracle Corporation",
                r"C:\Program Files (x86)\Java\jre1.8.0_141", "x86")
JAVA_X64 = inst("Java 8 Update 141 (64-bit)", "8.0.1410.15", "Oracle Corporation",
                r"C:\Program Files\Java\jre1.8.0_141\\", "x64")


def test_msi_guid_key_and_named_key_count_once():
    counted = dedup_per_installation(pairs(OFFICE_NAMED, OFFICE_GUID))
    assert len(counted) == 1
    assert counted[0].stands_for == (OFFICE_NAMED, OFFICE_GUID)
    assert counted[0].recognition.edition == "Professional Plus"


def test_32_and_64_bit_copies_count_once():
    counted = dedup_per_installation(pairs(JAVA_X86, JAVA_X64))
    assert [c.stands_for for c in counted] == [(JAVA_X86, JAVA_X64)]


def test_different_products_and_editions_count_separately():
    visio = inst("Microsoft Visio Professional 2016", "16.0.4266.1001", "Microsoft Corporation")
    standard = inst("Microsoft Office Standard 2016", "16.0.4266.1001", "Microsoft Corporation")
    counted = dedup_per_installation(pairs(OFFICE_NAMED, visio, standard, OFFICE_GUID))
    assert [(c.recognition.product, c.recognition.edition) for c in counted] == [
        ("Office", "Professional Plus"), ("Visio", "Professional"), ("Office", "Standard")]


def test_per_installation_distinct_locations_count_separately():
    home1 = inst("Oracle Database 19c Enterprise Edition", "19.21.0.0.0", location="/u01/app/oracle/product/19c/db1",
                 source="oracle_inventory")
    home2 = inst("Oracle Database 19c Enterprise Edition", "19.21.0.0.0", location="/u01/app/oracle/product/19c/db2",
                 source="oracle_inventory")
    assert len(dedup_per_installation(pairs(home1, home2))) == 2


def test_per_installation_versions_count_separately():
    old = inst("Java 8 Update 141", "8.0.1410.15", "Oracle Corporation", r"C:\Program Files\Java\jre1.8.0_141")
    new = inst("Java 8 Update 202", "8.0.2020.8", "Oracle Corporation", r"C:\Program Files\Java\jre1.8.0_202")
    assert [c.recognition.version for c in dedup_per_installation(pairs(old, new))] == ["8u141", "8u202"]


def test_per_installation_a_record_without_location_joins_its_twin():
    located = inst("WinSCP 4.0.7", "4.0.7", "Martin Prikryl", r"C:\Program Files\WinSCP\\")
    bare = inst("WinSCP 4.0.7", "4.0.7", "Martin Prikryl")
    other = inst("WinSCP 4.0.7", "4.0.7", "Martin Prikryl", r"E:\Tools\WinSCP")
    counted = dedup_per_installation(pairs(bare, located, other))
    assert [c.stands_for for c in counted] == [(bare, located), (other,)]


def test_a_swid_tag_and_its_package_are_one_installation():
    rpm = inst("bash", "4.2.46-33.el7", "CentOS", source="rpm", arch="x86_64")
    tag = inst("bash", "4.2.46-33.el7", "strongSwan", "/usr/share/swidtag/strongswan.org/bash.swidtag",
               source="swid", package_id="centos_7-x86_64-bash-4.2.46-33.el7")
    recs = pairs(rpm, tag)
    identity = [(r.publisher, r.product, r.edition, r.version) for _, r in recs]
    assert identity == [("CentOS", "bash", None, "4.2.46")] * 2
    (one,) = dedup_per_installation(recs)
    assert one.stands_for == (rpm, tag)


def test_empty_input():
    assert dedup_per_installation([]) == []


@pytest.mark.parametrize("location, source, key", [
    (r"C:\Program Files (x86)\Java\jre1.8.0_141", "windows", "c:/program files/java/jre1.8.0_141"),
    (r"C:\Program Files\Java\jre1.8.0_141\\", "windows", "c:/program files/java/jre1.8.0_141"),
    ("C:\\\\Program Files\\\\MS SQL 2017", "windows", "c:/program files/ms sql 2017"),
    ("/Applications/zoom.us.app/", "macos", "/applications/zoom.us.app"),
    ("/", "dpkg", "/"),
    ("   ", "windows", None),
    (None, "rpm", None),
    ("/usr/lib/swidtag/fedoraproject.org/x.swidtag", "swid", None),
])
def test_location_key(location, source, key):
    assert location_key(inst("x", location=location, source=source)) == key
