"""Named users counted as distinct people across the fleet (issue #15), with the users file.

Microsoft 365 Apps is licensed per user, up to 5 PCs/Macs each (shared reference
licensing.md): one person on 3 PCs needs 1 licence, not 3.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.context import LicenceSettings, load_context, position_of
from sam_engine.licensing.named_users import People, count_people, load_people
from sam_engine.licensing.position import build_position
from sam_engine.model import Entitlement, Host, HostScan, HostStatus, HostUser, Installation, LicenceNeed, Recognition
from sam_engine.vocabulary import Status

CATALOGUE, _ = load_catalogue()
AS_OF = dt.date(2026, 12, 1)
RECENT = int(dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc).timestamp())
LONG_AGO = int(dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc).timestamp())
M365 = Installation("windows", "Microsoft 365 Apps for enterprise - en-us", "16.0.17126.20132", "x64",
                    "Microsoft Corporation", None, "windows:O365ProPlusRetail - en-us")


def person(account, last=RECENT, kind="human", source="profilelist"):
    return HostUser(account, kind, last, source)


def pc(name, *users, installs=(M365,)):
    host = Host(f"smbios-uuid:{name}", name, "dmi-uuid", users=None if users == (None,) else tuple(users))
    return HostScan("s1", name, HostStatus.OK, host, installs, inventory_scan_id="s1")


def m365_position(hosts, owned=1, people=None, rules=None):
    ent = Entitlement("m365-e3", "Microsoft", "Microsoft 365 Apps", "named_user", owned, "licences/ms.yml:3",
                      edition="Enterprise")
    pos = build_position(hosts, CATALOGUE.recognise, [ent], AS_OF, people=people, rules=rules)
    (row,) = [p for p in pos.products if p.product == "Microsoft 365 Apps"]
    return row


def test_microsoft_365_one_user_on_three_pcs_counts_one():
    row = m365_position([pc(f"pc{n}", person("CORP\\jdoe")) for n in (1, 2, 3)])
    assert row.consumption.quantity == 1 and row.status is Status.COMPLIANT
    total = row.consumption.trace[-1].text
    assert total.startswith("named user: 1 distinct person on 3 hosts (aliases merged: 0; a login within 90 days")
    assert total.endswith(": CORP\\jdoe = 1")
    assert [ln.text for ln in row.consumption.trace[:3]] == [f"pc{n}: users CORP\\jdoe" for n in (1, 2, 3)]


def test_windows_accounts_match_whatever_their_case():
    row = m365_position([pc("pc1", person("CORP\\JDoe")), pc("pc2", person("corp\\jdoe"))])
    assert row.consumption.quantity == 1


def test_aliases_of_one_person_are_merged_by_the_users_file(tmp_path):
    hosts = [pc("pc1", person("CORP\\jdoe")), pc("pc2", person("JDoe@corp.example", source="profilelist")),
             pc("lin1", person("jdoe", source="wtmp"), person("alice", source="wtmp"))]
    assert m365_position(hosts, owned=4).consumption.quantity == 4  # without the file: four accounts
    users = tmp_path / "users.yml"
    users.write_text("people:\n  jdoe@corp.example: ['CORP\\jdoe', jdoe]\n")
    people, problems = load_people(users)
    assert not problems
    row = m365_position(hosts, owned=4, people=people)
    assert row.consumption.quantity == 2 and row.status is Status.OVER_LICENSED
    assert "2 distinct people on 3 hosts (aliases merged: 2;" in row.consumption.trace[-1].text
    assert row.consumption.trace[-1].text.endswith(": alice, jdoe@corp.example = 2")


def test_service_built_in_excluded_and_idle_accounts_do_not_count(tmp_path):
    users = tmp_path / "users.yml"
    users.write_text("window_days: 30\nexclude: [svc_sql]\n")
    people, _ = load_people(users)
    hosts = [pc("pc1", person("CORP\\jdoe"), person("PC1\\Administrator", kind="service"),
                person("CORP\\svc_sql"), person("CORP\\leaver", last=LONG_AGO), person("CORP\\newhire", last=None))]
    row = m365_position(hosts, people=people)
    assert row.consumption.quantity == 1
    assert row.consumption.trace[-1].text.startswith(
        f"named user: 1 distinct person on 1 host (aliases merged: 0; a login within 30 days; {users}); not counted: "
        f"1 built-in or service account, 1 excluded by {users}, 2 without a login in the 30 days to 2026-12-01")
    everyone = People(window_days=0)  # every human account, logged in or not
    assert count_people([pc("x", *hosts[0].host.users).host.users], everyone, AS_OF).people == (
        "CORP\\jdoe", "CORP\\leaver", "CORP\\newhire", "CORP\\svc_sql")


def test_a_host_without_user_data_makes_the_position_need_data():
    row = m365_position([pc("pc1", person("CORP\\jdoe")), pc("old1", None)], owned=5)
    assert row.status is Status.NEEDS_DATA and row.consumption.quantity == 0 and row.balance is None
    assert row.consumption.trace[0].text.startswith("named user: no user data from old1")
    assert any("scan these hosts again" in n for n in row.notes)
    assert m365_position([pc("old1", None)], owned=0).status is Status.UNLICENSED  # nothing owned: sure anyway


def test_a_host_whose_users_are_known_to_be_nobody_counts_zero():
    row = m365_position([pc("kiosk", installs=(M365,))], owned=1)  # users=(): read, and no person there
    assert row.consumption.quantity == 0 and "nobody = 0" in row.consumption.trace[-1].text


BAD_FILES = {
    "window_days: a quarter\n": "users.yml:1:14: window_days: expected a whole number >= 0, got \"a quarter\"",
    "peeople: {}\n": "users.yml:1:1: peeople: unknown field; expected one of window_days, people, exclude",
    "people:\n  jdoe@corp: [jdoe]\n  john@corp: [JDOE]\n":
        "users.yml:3:15: people.john@corp[0]: account 'JDOE' is already a person's at users.yml:2:15: "
        "an account is one person's",
    "people:\n  jdoe@corp: jdoe\n": "users.yml:2:14: people.jdoe@corp: expected a list of accounts, got \"jdoe\"",
    "exclude: [[svc]]\n": "users.yml:1:11: exclude[0]: expected a text, got a list",
    "people: [\n": "users.yml:2:1: users file is not valid YAML",
}


@pytest.mark.parametrize("text", sorted(BAD_FILES))
def test_a_bad_users_file_is_a_located_problem_and_nothing_of_it_is_used(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "users.yml").write_text(text)
    people, problems = load_people("users.yml")
    assert people == People()
    assert str(problems[0]).replace(": error: ", ": ").startswith(BAD_FILES[text])


def test_the_users_file_is_found_through_the_settings_and_a_missing_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert LicenceSettings.from_env({}).users_file is None
    (tmp_path / "users.yml").write_text("people:\n  jdoe@corp.example: ['CORP\\jdoe']\nwindow_days: 0\n")
    settings = LicenceSettings.from_env({})
    ctx = load_context(settings, AS_OF, [])
    assert ctx.people.window_days == 0 and ctx.people.person("corp\\JDOE") == "jdoe@corp.example"
    hosts = [pc("pc1", person("CORP\\jdoe", last=None)), pc("pc2", person("jdoe@corp.example", last=None))]
    (row,) = [p for p in position_of(hosts, ctx).products if p.product == "Microsoft 365 Apps"]
    assert row.consumption.quantity == 1
    missing = load_context(LicenceSettings.from_env({"FLEETSAM_USERS": "nowhere.yml"}), AS_OF, [])
    assert [p.message for p in missing.problems if p.source == "nowhere.yml"][0].startswith("cannot read users file")
    assert missing.has_errors


# One person counts once per product, whatever coverage groups (hosts covered by the same entitlements, e.g.
# split by version_range) their hosts fall in: a named-user licence is for the "distinct users entitled to use it"
# (shared reference licensing.md). Two builds of Microsoft 365 Apps stand for two versions.
M365_NEW = Installation("windows", "Microsoft 365 Apps for enterprise - en-us", "16.0.18000.20000", "x64",
                        "Microsoft Corporation", None, "windows:O365ProPlusRetail - en-us")


def by_version(*ents):
    """jdoe on h1 (the older build) and h2 (the newer one), bob on h3 (the older one), under ``ents``
    (id, quantity, version_range)."""
    hosts = [pc("h1", person("jdoe")), pc("h2", person("jdoe"), installs=(M365_NEW,)), pc("h3", person("bob"))]
    owned = [Entitlement(eid, "Microsoft", "Microsoft 365 Apps", "named_user", n, f"licences/ms.yml:{eid}",
                         edition="Enterprise", version_range=versions) for eid, n, versions in ents]
    (row,) = [p for p in build_position(hosts, CATALOGUE.recognise, owned, AS_OF).products
              if p.product == "Microsoft 365 Apps"]
    return row, [ln.text for ln in row.consumption.trace]


def test_a_person_on_hosts_of_two_coverage_groups_counts_once_where_one_entitlement_covers_both():
    row, trace = by_version(("EALL", 1, None), ("E5", 1, "<16.0.18000"))
    assert row.consumption.quantity == 2 and row.status is Status.COMPLIANT  # was 3: jdoe in both groups
    assert trace[:3] == ["covered by E5, EALL:",
                         "jdoe: counted once, under EALL, which covers every host they use it on: not here",
                         "h1: users none"]
    assert trace[4].endswith(": bob = 1") and trace[5] == "covered by EALL:"
    assert trace[6].startswith("jdoe: counted once, here:") and trace[8].endswith(": jdoe = 1")
    assert trace[-1] == "consumption: 1 + 1 = 2"


def test_a_person_whose_groups_share_an_entitlement_no_group_has_alone_counts_once_under_it():
    row, trace = by_version(("A", 1, "<16.0.18000"), ("B", 1, None), ("C", 1, ">=16.0.18000"))
    assert row.consumption.quantity == 2 and row.status is Status.OVER_LICENSED and row.balance == 1
    at = trace.index("covered by B:")  # a group of jdoe's own: copies of his hosts, only his accounts
    assert trace[at + 1:at + 4] == [
        "jdoe: counted once, here: these entitlements cover every host they use it on, hosts of other coverage groups",
        "h1: users jdoe", "h2: users jdoe"]
    assert trace[-1] == "consumption: 1 + 0 + 1 = 2"


def test_a_person_no_one_entitlement_covers_counts_once_in_each_group_of_their_hosts():
    row, trace = by_version(("E6", 1, ">=16.0.18000"), ("E5", 1, "<16.0.18000"))
    assert row.consumption.quantity == 3 and row.status is Status.UNDER_LICENSED and row.balance == -1
    each = ("jdoe: no one entitlement covers every host they use it on: counted once in each coverage group of "
            "their hosts (a licence from each)")
    assert trace.count(each) == 2 and trace[-1] == "consumption: 2 + 1 = 3"


# Counting a person once under the entitlements common to all their hosts is one way; a licence from each of their
# groups is the other, and the one taken when it leaves fewer short: one shared licence and one per version cover
# jdoe (two versions) and bob (a third) with a licence each per version for jdoe ("distinct users entitled to use
# it", shared reference licensing.md), where counting jdoe under the shared one needs two of it.
M365_NEXT = Installation("windows", "Microsoft 365 Apps for enterprise - en-us", "16.0.19000.20000", "x64",
                         "Microsoft Corporation", None, "windows:O365ProPlusRetail - en-us")
SHARED_SHORT = ("people counted once in each coverage group of their hosts (a licence from each): 0 named users "
                "short that way, 1 named user counting each once under the entitlements that cover every host they "
                "use it on")


@pytest.mark.parametrize("ids", [("EALL", "E5", "E6"), ("A", "Z", "M")])
def test_a_person_counts_in_each_group_when_the_shared_licences_are_too_few_and_per_version_ones_cover_them(ids):
    shared, old, new = ids  # the review's U1: the choice follows the figures, not the ids' text
    hosts = [pc("h1", person("jdoe")), pc("h2", person("jdoe"), installs=(M365_NEW,)),
             pc("h3", person("bob"), installs=(M365_NEXT,))]
    owned = [Entitlement(eid, "Microsoft", "Microsoft 365 Apps", "named_user", 1, f"licences/ms.yml:{eid}",
                         edition="Enterprise", version_range=versions)
             for eid, versions in ((shared, None), (old, "<16.0.18000"), (new, ">=16.0.18000,<16.0.19000"))]
    (row,) = [p for p in build_position(hosts, CATALOGUE.recognise, owned, AS_OF).products
              if p.product == "Microsoft 365 Apps"]
    trace = [ln.text for ln in row.consumption.trace]
    assert (row.consumption.quantity, row.owned, row.shortfall) == (3, 3, 0)  # was 2, 3, 1
    assert row.status is Status.COMPLIANT and SHARED_SHORT in row.notes
    each = (f"jdoe: counted once in each coverage group of their hosts (a licence from each): fewer licences fall "
            f"short than counting them once under {shared}, which covers every host they use it on")
    assert trace.count(each) == 2 and trace[-1] == "consumption: 1 + 1 + 1 = 3"
    assert trace[trace.index(f"covered by {shared}:") + 2].endswith(": bob = 1")


def teamviewer(inst):
    return Recognition("TeamViewer", "TeamViewer", None, inst.version, LicenceNeed.REQUIRED, "test:tv")


def test_teamviewer_per_version_licences_cover_a_person_the_one_any_version_licence_leaves_to_another():
    # the review's CLI case: users.yml people {jdoe: [user-h1, user-h2]}, every licence named_user x1
    hosts = [pc(f"h{n}", person(f"user-h{n}"),
                installs=(Installation("deb", "teamviewer", v, "amd64", None, None, "deb:teamviewer"),))
             for n, v in ((1, "15.1.0"), (2, "16.1.0"), (3, "17.1.0"))]
    owned = [Entitlement(eid, "TeamViewer", "TeamViewer", "named_user", 1, f"licences/tv.yml:{n}", version_range=r)
             for n, (eid, r) in enumerate((("PO-ALL", None), ("PO-15", "<16"), ("PO-16", ">=16,<17")))]
    people = People({"user-h1": "jdoe", "user-h2": "jdoe"})
    tv = build_position(hosts, teamviewer, owned, AS_OF, people=people).products[0]
    assert (tv.consumption.quantity, tv.owned, tv.shortfall, tv.status) == (3, 3, 0, Status.COMPLIANT)  # was short 1
    assert SHARED_SHORT in tv.notes
