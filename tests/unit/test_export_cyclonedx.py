"""``fleetsam export --format cyclonedx``: a CycloneDX 1.6 SBOM of the fleet or of one host.

The fleet is report_fleet's: the recorded Windows and macOS module outputs and
generated Linux hosts (Debian dpkg and rpm packages, a stale host, hostile
titles), run through the real pipeline; every document is checked with
cyclonedx-python-lib's strict JSON schema validator.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import report_fleet
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.main import main
from sam_engine.export import cyclonedx
from sam_engine.export.purls import purl_of
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.catalogue_entries import read_entries
from sam_engine.licensing.context import load_context
from sam_engine.model import Entitlement, Host, HostScan, HostStatus, Installation, Scan
from sam_engine.store import open_store

KEY = "ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ"  # report_fleet's Oracle licence key


def validate(text: str) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error


def props(item: dict, name: str) -> list[str]:
    return [p["value"] for p in item.get("properties", ()) if p["name"] == f"fleetsam:{name}"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    store, _ = report_fleet.scanned_twice(root)
    with open_store(store, create=False) as st:
        scan, stored = st.load_scan(None), st.entitlements()
    ctx = load_context(report_fleet.settings(root), report_fleet.AS_OF, stored)
    assert not ctx.has_errors
    return root, store, scan, ctx


@pytest.fixture(scope="module")
def fleet_bom(fleet):
    _, _, scan, ctx = fleet
    text = cyclonedx.export(scan, ctx.catalogue, ctx.entitlements, licensee="ACME Ltd")
    return text, json.loads(text)


def by_name(doc: dict, name: str) -> list[dict]:
    return [c for c in doc["components"] if c["name"] == name]


def test_the_fleet_sbom_validates_and_names_every_package_by_purl(fleet, fleet_bom):
    _, _, scan, _ = fleet
    text, doc = fleet_bom
    validate(text)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")
    components = doc["components"]
    with_purl = [c for c in components if c.get("purl")]
    assert len(with_purl) >= 0.9 * len(components) and len(components) > 400
    assert len({c["bom-ref"] for c in components}) == len(components)
    for c in with_purl:  # each purl parses back to the component's name and version
        purl = PackageURL.from_string(c["purl"])
        assert (purl.name, purl.version or None) == (c["name"], c.get("version")), c["purl"]
    kinds = Counter(PackageURL.from_string(c["purl"]).type for c in with_purl)
    assert set(kinds) == {"deb", "rpm", "brew", "generic"} and kinds["brew"] == 18
    # every installation of every host is in a component that names the host
    where = {(c["name"], c.get("version")): set(props(c, "host")) for c in components}
    for hs in scan.hosts:
        for inst in hs.installations:
            assert hs.inventory_name in where[(inst.name, inst.version or None)], (hs.inventory_name, inst.name)


def test_purls_of_the_recorded_hosts(fleet_bom):
    _, doc = fleet_bom
    (bash,) = by_name(doc, "bash")
    assert bash["purl"] == "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"
    assert props(bash, "host") == ["app1", "db1", "db2", "web1", "web2"]
    (word,) = by_name(doc, "Microsoft Word")
    assert word["purl"].startswith("pkg:generic/Microsoft/Microsoft%20Word@16.84?") and "source=macos-app" in word["purl"]
    windows = [c for c in doc["components"] if "source=windows" in c["purl"]]
    assert windows and all(props(c, "host") == ["win1"] for c in windows)
    assert [c["type"] for c in windows if c["type"] != "application"] == ["operating-system"]


def test_hosts_are_in_the_metadata(fleet, fleet_bom):
    _, _, scan, _ = fleet
    _, doc = fleet_bom
    meta = doc["metadata"]
    assert props(meta, "host") == sorted(hs.inventory_name for hs in scan.hosts)
    assert props(meta, "stale_host") == ["db2"] and props(meta, "scan_id") == ["s2"]
    assert meta["timestamp"].startswith("2026-06-30T01:00:00")
    assert [t["name"] for t in meta["tools"]["components"]] == ["fleetsam"]


def test_entitlements_are_licensing_blocks_with_masked_keys(fleet_bom):
    text, doc = fleet_bom
    (oracle,) = by_name(doc, "oracle-database-ee-19c")
    assert props(oracle, "host") == ["db1", "db2"] and oracle["publisher"] == "Oracle"
    assert oracle["cpe"] == "cpe:2.3:a:oracle:database_server:19c:*:*:*:*:*:*:*", "from the catalogue entry"
    (licence,) = [item["license"] for item in oracle["licenses"]]
    assert licence["name"] == "Oracle Database Enterprise Edition: 16 processor, PO PO-2021-1190"
    assert licence["licensing"] == {
        "altIds": props(licence, "entitlement"), "licensor": {"organization": {"name": "Oracle"}},
        "licensee": {"organization": {"name": "ACME Ltd"}}, "purchaser": {"organization": {"name": "ACME Ltd"}},
        "purchaseOrder": "PO-2021-1190", "licenseTypes": ["processor-points", "perpetual"]}
    assert props(licence, "key") == ["XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"] and KEY not in text
    (sublime,) = by_name(doc, "sublime-text")
    assert sublime["licenses"][0]["license"]["licensing"]["licenseTypes"] == ["device", "perpetual"]
    licensed = {c["name"] for c in doc["components"] if c.get("licenses")}
    assert licensed == {"oracle-database-ee-19c", "sublime-text"}, "TeamViewer has no entitlement"


def test_a_subscription_expires_at_the_end_of_its_last_day():
    ent = Entitlement("ent-1", "Microsoft", "SQL Server", "core", 8, "cli", term_end="2027-06-30", po_number="PO-9")
    assert cyclonedx.licensing(ent, None) == {
        "altIds": ["ent-1"], "licensor": {"organization": {"name": "Microsoft"}}, "purchaseOrder": "PO-9",
        "licenseTypes": ["core-points", "subscription"], "expiration": "2027-06-30T23:59:59Z"}


def test_one_host_through_the_command_line(fleet, tmp_path, monkeypatch, capsys):
    root, store, scan, _ = fleet
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(root / "catalogue-extra.yml"))
    out = tmp_path / "web2.cdx.json"
    code = main(["--store", store, "export", "--format", "cyclonedx", "--host", "web2", "--output", str(out),
                 "--licences", str(root / "licences"), "--as-of", "2026-06-30"])  # today, every host aged out
    assert (code, capsys.readouterr().err) == (ExitCode.OK, "")
    text = out.read_text(encoding="utf-8")
    validate(text)
    doc = json.loads(text)
    assert doc["metadata"]["component"]["name"] == "web2" and doc["metadata"]["component"]["type"] == "device"
    assert props(doc["metadata"], "host") == ["web2"]
    (web2,) = [hs for hs in scan.hosts if hs.inventory_name == "web2"]
    assert sorted(c["name"] for c in doc["components"]) == sorted(i.name for i in web2.installations)
    assert all(props(c, "host") == ["web2"] for c in doc["components"])
    (graph,) = doc["dependencies"]  # the device is made of its packages
    assert graph["ref"] == "host" and graph["dependsOn"] == [c["bom-ref"] for c in doc["components"]]
    assert "licensee" not in by_name(doc, "sublime-text")[0]["licenses"][0]["license"]["licensing"]


@pytest.mark.parametrize("args, message", [
    (["--host", "nope", "--as-of", "2026-06-30"], "--host nope: no host of that name in the fleet; fleetsam hosts lists them"),
    (["--as-of", "30/06/2026"], "--as-of '30/06/2026': expected YYYY-MM-DD"),
    (["--scan", "nope"], '{store}: no scan with id "nope"; fleetsam scans lists them'),
    (["--output", "/nonexistent-dir/bom.json"], "--output /nonexistent-dir/bom.json: cannot write: "
                                                "No such file or directory"),
])
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(fleet, tmp_path, monkeypatch, capsys, args, message):
    _, store, _, _ = fleet
    monkeypatch.chdir(tmp_path)
    code = main(["--store", store, "export", "--output", "bom.json", *args])
    out, err = capsys.readouterr()
    assert (code, out, err) == (ExitCode.BAD_INPUT, "", f"fleetsam: error: {message.format(store=store)}\n")
    assert list(tmp_path.iterdir()) == []


def test_no_store_is_bad_input_and_none_is_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["--store", "typo.json", "export", "--output", "bom.json"])
    assert (code, capsys.readouterr().err) == (
        ExitCode.BAD_INPUT, "fleetsam: error: typo.json: no store here (run a scan or fleetsam ingest first)\n")
    assert list(tmp_path.iterdir()) == []


HOSTILE = ["<script>alert(1)</script>", "nul\x00byte", "lone\ud800surrogate", "line\nbreak\r\u2028end", "AC/DC", '"quoted", & <b>']


def test_hostile_names_give_valid_json():
    host = Host("mid-x", "evil\nhost<b>", "machine-id", os_name="Ubuntu", os_version="24.04")
    installs = tuple(Installation(src, name, f"1.{n}\ud800", "amd64", f"Vendor {name}", None, f"{src}:{n}")
                     for n, name in enumerate(HOSTILE) for src in ("dpkg", "windows"))
    scan = Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:00:00Z", "0", None,
                (HostScan("s1", "evil\nhost<b>", HostStatus.OK, host, installs),))
    catalogue, _ = load_catalogue()
    text = cyclonedx.export(scan, catalogue, [], host="evil\nhost<b>")
    text.encode("utf-8")  # strict: no lone surrogate left
    validate(text)
    doc = json.loads(text)
    assert len(doc["components"]) == len(installs)
    names = {c["name"] for c in doc["components"]}
    assert names == {"<script>alert(1)</script>", "nul\ufffdbyte", "lone\ufffdsurrogate", "line\nbreak\r\u2028end",
                     "AC/DC", '"quoted", & <b>'}
    for c in doc["components"]:
        purl = PackageURL.from_string(c["purl"])
        assert (purl.name, purl.version) == (c["name"], c["version"])
    assert doc["metadata"]["component"]["name"] == "evil\nhost<b>"


def test_packages_differing_only_in_surrounding_whitespace_stay_apart():
    """One component per distinct (name, version) as the inventory holds it: packageurl-python strips the
    whitespace around a name or version, so ``\\t=1+1`` and ``\\r=1+1`` were one purl listing both hosts."""
    held = {"h05": ("teamviewer", "\t=1+1"), "h06": ("teamviewer", "\r=1+1"), "h07": ("teamviewer", "=1+1"),
            "h08": (" teamviewer", "=1+1")}
    scan = Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:00:00Z", "0", None, tuple(
        HostScan("s1", h, HostStatus.OK, Host(f"mid-{h}", h, "machine-id"),
                 (Installation("dpkg", name, version, None, None, None, "dpkg:teamviewer"),))
        for h, (name, version) in held.items()))
    text = cyclonedx.export(scan, load_catalogue()[0], [])
    validate(text)
    found = {c["purl"]: (c["name"], c["version"], props(c, "host")) for c in json.loads(text)["components"]}
    assert found == {"pkg:deb/debian/teamviewer@%09%3D1%2B1": ("teamviewer", "\t=1+1", ["h05"]),
                     "pkg:deb/debian/teamviewer@%0D%3D1%2B1": ("teamviewer", "\r=1+1", ["h06"]),
                     "pkg:deb/debian/teamviewer@%3D1%2B1": ("teamviewer", "=1+1", ["h07"]),
                     "pkg:deb/debian/%20teamviewer@%3D1%2B1": (" teamviewer", "=1+1", ["h08"])}


def linux(os_name: str | None, os_version: str | None = None) -> Host:
    return Host("mid-1", "h1", "machine-id", os_name=os_name, os_version=os_version)


def pkg(source: str, name: str = "zlib", version: str | None = "1.3-1", arch: str | None = "x86_64") -> Installation:
    return Installation(source, name, version, arch, None, None, f"{source}:{name}")


@pytest.mark.parametrize("inst, host, publisher, expected", [
    (pkg("dpkg", arch="amd64"), linux("Ubuntu", "24.04"), None, "pkg:deb/ubuntu/zlib@1.3-1?arch=amd64&distro=ubuntu-24.04"),
    (pkg("dpkg", version="1:2.3-4"), linux("Linux"), None, "pkg:deb/debian/zlib@1:2.3-4?arch=x86_64"),
    (pkg("rpm", version="2:1.3-1.el9"), linux("Rocky Linux", "9.4"), None,
     "pkg:rpm/rocky/zlib@1.3-1.el9?arch=x86_64&distro=rocky-9.4&epoch=2"),
    (pkg("rpm"), linux("Red Hat Enterprise Linux", "9.4"), None, "pkg:rpm/redhat/zlib@1.3-1?arch=x86_64&distro=redhat-9.4"),
    (pkg("rpm"), linux(None), None, "pkg:rpm/zlib@1.3-1?arch=x86_64"),
    (pkg("apk", version="1.3-r0"), linux("Alpine Linux", "3.20.1"), None,
     "pkg:apk/alpine/zlib@1.3-r0?arch=x86_64&distro=alpine-3.20.1"),
    (pkg("pacman", version="1:1.3-1"), linux("Arch Linux"), None, "pkg:alpm/arch/zlib@1:1.3-1?arch=x86_64"),
    (pkg("brew", arch=None), None, None, "pkg:brew/zlib@1.3-1"),
    (pkg("brew-cask", "firefox", "126.0", None), None, None, "pkg:brew/firefox@126.0?kind=cask"),
    (pkg("windows", "7-Zip 23.01 (x64)", "23.01", None), None, "Igor Pavlov",
     "pkg:generic/Igor%20Pavlov/7-Zip%2023.01%20%28x64%29@23.01?source=windows"),
    (pkg("snap", "kdenlive", "23.08.5", None), linux("Ubuntu", "24.04"), None,
     "pkg:generic/kdenlive@23.08.5?source=snap"),
])
def test_purl_of(inst, host, publisher, expected):
    assert purl_of(inst, host, publisher).to_string() == expected


def test_readme_documents_the_export():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "fleetsam export --format cyclonedx" in readme


@pytest.mark.parametrize("version, expected", [
    ("2019", "cpe:2.3:a:microsoft:sql_server:2019:*:*:*:*:*:*:*"),
    ("1:2.3+b1", "cpe:2.3:a:microsoft:sql_server:1\\:2.3\\+b1:*:*:*:*:*:*:*"),
    (None, None), ("2019 R2", None), ("\u00e9t\u00e9", None),
])
def test_cpe_of_a_catalogue_product(version, expected):
    assert cyclonedx.cpe_of("cpe:2.3:a:microsoft:sql_server", version) == expected


def test_a_catalogue_cpe_is_checked(tmp_path):
    path = tmp_path / "acme.yml"
    path.write_text("- id: acme\n  publisher: ACME\n  product: Tool\n  licence: free\n  cpe: acme tool\n"
                    "  match: [{title: 'acme'}]\n", encoding="utf-8")
    entries, problems = read_entries(path, "acme.yml")
    assert entries == [] and [str(p) for p in problems] == [
        'acme.yml:5:8: error: acme.cpe: expected cpe:2.3:a|o|h:VENDOR:PRODUCT, got "acme tool"']
