"""ISO/IEC 19770-2 SWID tag parsing on real tags, concatenated streams and a
synthetic tag tree; and the engine's parser (sam_engine.platforms.swid) reading
every tag as the host's (plugins/module_utils/swid.py) does."""

import shutil

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import swid
from sam_engine.platforms import swid as engine_swid

KEYS = {"source", "name", "version", "arch", "vendor", "install_time", "package_id", "location", "extra"}
EXTRA_KEYS = {"schema", "version_scheme", "supplemental", "patch", "corpus", "tag_creator_regid",
              "software_creator_regid", "product", "edition", "colloquial_version", "entitlement_data_required"}

LEGACY_2009 = """<?xml version="1.0" encoding="utf-8"?>
<swid:software_identification_tag xmlns:swid="http://standards.iso.org/iso/19770/-2/2009/schema.xsd">
  <swid:entitlement_required_indicator>true</swid:entitlement_required_indicator>
  <swid:product_title>Example Office Suite</swid:product_title>
  <swid:product_version>
    <swid:name>16.0</swid:name>
    <swid:numeric><swid:major>16</swid:major><swid:minor>0</swid:minor></swid:numeric>
  </swid:product_version>
  <swid:software_creator>
    <swid:name>Example Corp</swid:name><swid:regid>regid.1991-06.com.example</swid:regid>
  </swid:software_creator>
  <swid:software_licensor>
    <swid:name>Example Licensing</swid:name><swid:regid>regid.1991-06.com.example</swid:regid>
  </swid:software_licensor>
  <swid:software_id>
    <swid:unique_id>Office16-ProPlus</swid:unique_id>
    <swid:tag_creator_regid>regid.1991-06.com.example</swid:tag_creator_regid>
  </swid:software_id>
  <swid:tag_creator><swid:name>Example Corp</swid:name><swid:regid>regid.1991-06.com.example</swid:regid></swid:tag_creator>
</swid:software_identification_tag>
"""

FULL_2015 = """<SoftwareIdentity xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
    name="Example DB Server" tagId="com.example.db-12.1" version="12.1.0.2" versionScheme="multipartnumeric"
    patch="false" corpus="1">
  <Entity name="Example Corp" regid="example.com" role="tagCreator softwareCreator"/>
  <Entity name="Example Licensing Ltd" regid="lic.example.com" role="licensor"/>
  <Meta product="Example DB" edition="Enterprise" colloquialVersion="12c" entitlementDataRequired="true"/>
  <Meta arch="x86_64"/>
</SoftwareIdentity>"""


def tag_text(real_fixtures, name):
    return (real_fixtures / "swid" / name).read_text(encoding="utf-8")


def only(records, errors):
    assert errors == []
    assert len(records) == 1
    return records[0]


def check_contract(record):
    assert set(record) == KEYS and set(record["extra"]) == EXTRA_KEYS
    assert record["source"] == "swid" and record["install_time"] is None
    assert isinstance(record["name"], str) and isinstance(record["package_id"], str)


def test_rpm2swidtag_signed_hello(real_fixtures):
    rec = only(*swid.parse_swid_text(tag_text(real_fixtures, "rpm2swidtag_hello-2.0-1.x86_64-signed.swidtag"),
                                     "/usr/lib/swidtag/invalid.unavailable/hello.swidtag"))
    check_contract(rec)
    assert (rec["name"], rec["version"], rec["arch"], rec["package_id"]) == (
        "hello", "2.0-1.x86_64", "x86_64", "unavailable.invalid.hello-2.0-1.x86_64")
    assert rec["location"] == "/usr/lib/swidtag/invalid.unavailable/hello.swidtag"
    assert rec["vendor"] is None  # the only Entity is a tagCreator with an empty name
    assert rec["extra"]["tag_creator_regid"] == "invalid.unavailable"
    assert rec["extra"]["version_scheme"] == "rpm"
    assert (rec["extra"]["product"], rec["extra"]["colloquial_version"]) == ("hello", "2.0")


def test_xmlsec_signed_tag_with_epoch(real_fixtures):
    text = tag_text(real_fixtures, "rpm2swidtag_pkg2-epoch13-signed-xmlsec.swidtag")
    assert "<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">" in text
    rec = only(*swid.parse_swid_text(text))
    assert (rec["name"], rec["version"], rec["package_id"]) == (
        "pkg2", "13:0.0.1-1.git0f5628a6.fc28.x86_64", "test.example.pkg2-13:0.0.1-1.git0f5628a6.fc28.x86_64")
    assert rec["extra"]["tag_creator_regid"] == "example.test"
    assert rec["extra"]["colloquial_version"] == "0.0.1"


def test_swidgenerator_signed_dsig_prefix(real_fixtures):
    text = tag_text(real_fixtures, "swidgenerator_docker-rpm_signed.swidtag")
    assert "<dsig:Signature>" in text
    rec = only(*swid.parse_swid_text(text))
    assert (rec["name"], rec["version"], rec["package_id"]) == (
        "docker-ce", "17.03.0.ce-1.fc24.x86_64", "Fedora_28-x86_64-docker-ce-17.03.0.ce-1.fc24.x86_64")
    assert rec["extra"]["product"] == "Fedora 28 x86_64"
    assert rec["extra"]["tag_creator_regid"] == "strongswan.org"
    assert rec["extra"]["version_scheme"] == "alphanumeric"


def test_rpm_and_src_tags(real_fixtures):
    x86 = only(*swid.parse_swid_text(tag_text(real_fixtures, "rpm2swidtag_pkg1-1.2.0-1.fc28.x86_64-rpm.swidtag")))
    src = only(*swid.parse_swid_text(tag_text(real_fixtures, "rpm2swidtag_pkg1-1.2.0-1.fc28.src.swidtag")))
    assert (x86["name"], x86["version"], x86["arch"]) == ("pkg1", "1.2.0-1.fc28.x86_64", "x86_64")
    assert (src["name"], src["version"], src["arch"]) == ("pkg1", "1.2.0-1.fc28.src.rpm", None)
    assert src["package_id"] == "unavailable.invalid.pkg1-1.2.0-1.fc28.src.rpm"


def test_supplemental_tag(real_fixtures):
    rec = only(*swid.parse_swid_text(tag_text(
        real_fixtures, "rpm2swidtag_pkg1-1.3.0_supplemental-component-of-distro.swidtag")))
    assert rec["extra"]["supplemental"] is True
    assert (rec["extra"]["patch"], rec["extra"]["corpus"]) == (False, False)
    assert (rec["name"], rec["version"]) == ("Example OS Distribution", None)
    assert rec["package_id"] == \
        "unavailable.invalid.pkg1-1.3.0-1.fc28.x86_64-component-of-test.a.Example-OS-Distro-3.x86_64"


def test_prefinal_2014_schema_uniqueid(real_fixtures):
    rec = only(*swid.parse_swid_text(tag_text(real_fixtures, "strongtnc_debian7.4_cowsay.full.swidtag")))
    check_contract(rec)
    assert (rec["name"], rec["version"], rec["package_id"]) == (
        "cowsay", "3.03+dfsg1-4", "debian_7.4-x86_64-cowsay-3.03+dfsg1-4")
    assert rec["extra"]["schema"] == "2014"
    assert rec["extra"]["tag_creator_regid"] == "strongswan.org"  # lower-case role "tagcreator"
    assert rec["vendor"] == "strongSwan"  # from the licensor Entity


def test_other_real_tags(real_fixtures):
    fedora = only(*swid.parse_swid_text(tag_text(real_fixtures, "strongtnc_fedora19_strongswan-tnc-imcvs.full.swidtag")))
    assert (fedora["name"], fedora["version"], fedora["extra"]["schema"]) == (
        "strongswan-tnc-imcvs", "5.1.2-4.fc19", "2015")
    deb = only(*swid.parse_swid_text(tag_text(real_fixtures, "swidgenerator_docker-deb.swidtag")))
    assert deb["package_id"] == "debian stretch/sid-x86_64-docker-1.5-1"  # space inside the tagId
    assert (deb["name"], deb["version"]) == ("docker", "1.5-1")


def test_many_concatenated_tags(real_fixtures):
    text = tag_text(real_fixtures, "strongtnc_ubuntu12.04_many-concatenated-tags.txt")
    assert len(swid.split_swid_documents(text)) == 118
    records, errors = swid.parse_swid_text(text, "/tmp/ubuntu_full_swid.txt")
    assert errors == []
    assert len(records) == 118
    for rec in records:
        check_contract(rec)
    assert [r["extra"]["schema"] for r in records].count("2014") == 117
    first = records[0]
    assert (first["name"], first["version"], first["package_id"], first["extra"]["schema"]) == (
        "accountsservice", "0.6.15-2ubuntu9", "Ubuntu_12.04-i686-accountsservice-0.6.15-2ubuntu9", "2015")
    assert first["extra"]["tag_creator_regid"] == "strongswan.or"  # the upstream typo is kept
    assert records[-1]["package_id"] == "Ubuntu_12.04-i686-strongswan-starter-4.5.2-1.2"
    assert len(set(r["package_id"] for r in records)) == 118
    cowsay = [r for r in records if r["name"] == "cowsay"]
    assert [(r["version"], r["extra"]["tag_creator_regid"]) for r in cowsay] == [
        ("3.03+dfsg1-3", "regid.2004-03.org.strongswan")]
    assert all(r["location"] == "/tmp/ubuntu_full_swid.txt" for r in records)


def test_concatenation_with_declarations_noise_and_a_broken_tag(real_fixtures):
    hello = tag_text(real_fixtures, "rpm2swidtag_hello-2.0-1.x86_64-signed.swidtag")
    cowsay = tag_text(real_fixtures, "strongtnc_debian7.4_cowsay.full.swidtag")
    broken = '<SoftwareIdentity name="half" tagId="half-1"><Entity name="x"'
    stream = "\ufeff" + hello + "\n-- next --\n" + broken + "\n" + cowsay + "trailing junk\n"
    records, errors = swid.parse_swid_text(stream, "/var/tmp/stream.txt")
    assert [r["name"] for r in records] == ["hello", "cowsay"]
    assert len(errors) == 1
    assert errors[0]["path"] == "/var/tmp/stream.txt"
    assert errors[0]["reason"].startswith("document 2: not well-formed XML")


@pytest.mark.parametrize("text, reason", [
    ("", "no SoftwareIdentity element found"),
    ("just some text", "no SoftwareIdentity element found"),
    ('<SoftwareIdentity name="x" version="1"/>', "SoftwareIdentity has no tagId"),
    ('<SoftwareIdentity xmlns="urn:other" name="x" tagId="t"/>', "unsupported namespace urn:other"),
    # the splitter starts a document at its root element, so a DTD never reaches the parser
    ('<!DOCTYPE x [<!ENTITY a "b">]><SoftwareIdentity name="&a;" tagId="t"/>',
     "not well-formed XML: undefined entity"),
    ("<SoftwareIdentity name='x' tagId='t'><Meta></SoftwareIdentity>", "not well-formed XML"),
])
def test_malformed_tags_are_error_values(text, reason):
    records, errors = swid.parse_swid_text(text, "/usr/share/swidtag/x.swidtag")
    assert records == []
    assert len(errors) == 1 and errors[0]["path"] == "/usr/share/swidtag/x.swidtag"
    assert errors[0]["reason"].startswith(reason)


def test_parse_swid_tag_raises_its_own_error():
    with pytest.raises(swid.SwidTagError, match="root element is NotATag"):
        swid.parse_swid_tag("<NotATag/>")
    with pytest.raises(swid.SwidTagError, match="DTD and entity declarations are not allowed"):
        swid.parse_swid_tag('<!DOCTYPE x [<!ENTITY a "b">]><SoftwareIdentity name="&a;" tagId="t"/>')


def test_full_2015_entities_and_meta():
    rec = swid.parse_swid_tag(FULL_2015, "/usr/share/swidtag/example.com/db.swidtag")
    check_contract(rec)
    assert (rec["name"], rec["version"], rec["arch"], rec["vendor"]) == (
        "Example DB Server", "12.1.0.2", "x86_64", "Example Corp")
    assert rec["extra"] == {
        "schema": "2015", "version_scheme": "multipartnumeric", "supplemental": False, "patch": False,
        "corpus": True, "tag_creator_regid": "example.com", "software_creator_regid": "example.com",
        "product": "Example DB", "edition": "Enterprise", "colloquial_version": "12c",
        "entitlement_data_required": True}


def test_no_namespace_tag():
    rec = swid.parse_swid_tag('<SoftwareIdentity name="tool" tagId="tool-1" version="1.0"/>')
    assert (rec["name"], rec["version"], rec["extra"]["schema"]) == ("tool", "1.0", None)


def test_legacy_2009_tag():
    rec = swid.parse_swid_tag(LEGACY_2009, "C:/ProgramData/regid.1991-06.com.example/office.swidtag")
    check_contract(rec)
    assert (rec["name"], rec["version"], rec["vendor"], rec["package_id"]) == (
        "Example Office Suite", "16.0", "Example Corp", "Office16-ProPlus")
    assert rec["extra"]["schema"] == "2009"
    assert rec["extra"]["entitlement_data_required"] is True
    assert rec["extra"]["tag_creator_regid"] == "regid.1991-06.com.example"


def test_decode_tag_bytes():
    assert swid.decode_tag_bytes("\ufeff<a/>".encode("utf-8")) == "<a/>"
    assert swid.decode_tag_bytes("<a>\u00e9</a>".encode("utf-16")) == "<a>\u00e9</a>"


def test_find_swid_tags_under_root(tmp_path, real_fixtures):
    lib = tmp_path / "usr/lib/swidtag"
    (lib / "invalid.unavailable").mkdir(parents=True)
    (lib / "strongswan.org").mkdir()
    share = tmp_path / "usr/share/swidtag/example.test"
    share.mkdir(parents=True)
    src = real_fixtures / "swid"
    shutil.copy(str(src / "rpm2swidtag_hello-2.0-1.x86_64-signed.swidtag"), str(lib / "invalid.unavailable" / "hello.swidtag"))
    shutil.copy(str(src / "strongtnc_debian7.4_cowsay.full.swidtag"), str(lib / "strongswan.org" / "cowsay.swidtag"))
    shutil.copy(str(src / "rpm2swidtag_pkg2-epoch13-signed-xmlsec.swidtag"), str(share / "pkg2.swidtag"))
    (share / "README").write_text("not a tag")
    (share / "broken.swidtag").write_bytes(b"\xff\xfe\x00garbage")
    (share / "loop").symlink_to(share)
    records, errors = swid.find_swid_tags(root=str(tmp_path))
    assert sorted((r["name"], r["location"]) for r in records) == [
        ("cowsay", "/usr/lib/swidtag/strongswan.org/cowsay.swidtag"),
        ("hello", "/usr/lib/swidtag/invalid.unavailable/hello.swidtag"),
        ("pkg2", "/usr/share/swidtag/example.test/pkg2.swidtag")]
    assert [e["path"] for e in errors] == ["/usr/share/swidtag/example.test/broken.swidtag"]
    assert swid.find_swid_tags(dirs=("/nowhere",), root=str(tmp_path)) == ([], [])


MALFORMED = ["", "just some text", '<SoftwareIdentity name="x" version="1"/>',
             '<SoftwareIdentity xmlns="urn:other" name="x" tagId="t"/>', "<SoftwareIdentity name='x' tagId='t'><Meta>",
             '<!DOCTYPE x [<!ENTITY a "b">]><SoftwareIdentity name="&a;" tagId="t"/>', "<NotATag/>",
             LEGACY_2009, FULL_2015, FULL_2015 + "noise" + LEGACY_2009 + '<SoftwareIdentity tagId="half"']


def test_engine_parser_reads_every_real_tag_as_the_host_parser(real_fixtures):
    tags = sorted((real_fixtures / "swid").iterdir())
    assert len(tags) >= 10
    for path in tags:
        text = swid.decode_tag_bytes(path.read_bytes())
        assert engine_swid.decode_tag_bytes(path.read_bytes()) == text
        records, errors = swid.parse_swid_text(text, str(path))
        assert engine_swid.parse_text(text, str(path)) == (records, [e["reason"] for e in errors]), path.name


@pytest.mark.parametrize("text", MALFORMED)
def test_engine_parser_agrees_on_synthetic_and_malformed_tags(text):
    records, errors = swid.parse_swid_text(text, "/x.swidtag")
    assert engine_swid.parse_text(text, "/x.swidtag") == (records, [e["reason"] for e in errors])
    try:
        expected = swid.parse_swid_tag(text, "/x.swidtag")
    except swid.SwidTagError as exc:
        with pytest.raises(engine_swid.SwidTagError) as raised:
            engine_swid.parse_tag(text, "/x.swidtag")
        assert str(raised.value) == str(exc)
    else:
        assert engine_swid.parse_tag(text, "/x.swidtag") == expected
