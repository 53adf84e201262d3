"""Microsoft 365 Apps: one user licence covers installs on up to 5 PCs or Macs (shared reference
licensing.md). A 6th PC for one person is a breach of the licence terms, not a second licence:
the position says so in a note and counts the person once, as before.
"""

from __future__ import annotations

import re
import shutil

from sam_engine.licensing.metric_rules import RULES_DIR, default_rules, load_rules
from sam_engine.licensing.named_users import People, hosts_per_person, load_people
from sam_engine.vocabulary import Status
from test_named_users import AS_OF, LONG_AGO, m365_position as m365_row, pc, person

ORIGIN = default_rules().params("Microsoft", "Microsoft 365 Apps", "Enterprise", "named_user").origin


def cap_notes(row):
    return [n for n in row.notes if " devices (" in n and "a user licence covers" in n]


def test_the_shipped_rule_caps_a_user_at_five_devices():
    assert re.fullmatch(r"catalogue/metrics/metric_rules\.yml:\d+", ORIGIN)
    rule = default_rules().rule_for("Microsoft", "Microsoft 365 Apps", "Enterprise")
    assert rule.default_metric == "named_user" and rule.params["named_user"].devices_per_user == 5


def test_one_person_on_six_pcs_is_noted_and_still_counts_one():
    row = m365_row([pc(f"pc{n}", person("CORP\\jdoe")) for n in range(1, 7)])
    assert row.consumption.quantity == 1 and row.status is Status.COMPLIANT
    assert cap_notes(row) == [f"CORP\\jdoe uses Microsoft 365 Apps on 6 devices (pc1, pc2, pc3, pc4, pc5, pc6); "
                              f"a user licence covers 5 ({ORIGIN})"]


def test_one_person_on_five_pcs_is_within_the_licence():
    row = m365_row([pc(f"pc{n}", person("CORP\\jdoe")) for n in range(1, 6)])
    assert row.consumption.quantity == 1 and row.status is Status.COMPLIANT and cap_notes(row) == []


def test_two_accounts_of_one_person_add_up_to_six_devices(tmp_path):
    users = tmp_path / "users.yml"
    users.write_text("people:\n  jdoe@corp.example: ['CORP\\jdoe', jdoe]\n")
    people, problems = load_people(users)
    assert not problems
    hosts = [pc(f"pc{n}", person("CORP\\jdoe")) for n in (1, 2, 3)] + [pc(f"mac{n}", person("jdoe")) for n in (1, 2, 3)]
    assert cap_notes(m365_row(hosts, owned=2)) == []  # without the file: two people on 3 devices each
    row = m365_row(hosts, people=people)
    assert row.consumption.quantity == 1 and row.status is Status.COMPLIANT
    assert cap_notes(row) == [f"jdoe@corp.example uses Microsoft 365 Apps on 6 devices "
                              f"(mac1, mac2, mac3, pc1, pc2, pc3); a user licence covers 5 ({ORIGIN})"]


def test_an_excluded_service_account_on_seven_pcs_is_not_noted(tmp_path):
    users = tmp_path / "users.yml"
    users.write_text("exclude: [svc_deploy]\n")
    people, _ = load_people(users)
    hosts = [pc(f"pc{n}", person("CORP\\svc_deploy"), person("PC\\Administrator", kind="service"))
             for n in range(1, 8)]
    row = m365_row([*hosts, pc("pc8", person("CORP\\alice"))], people=people)
    assert row.consumption.quantity == 1 and cap_notes(row) == []


def test_a_host_whose_login_is_outside_the_window_is_not_one_the_person_uses():
    hosts = [pc(f"pc{n}", person("CORP\\jdoe")) for n in range(1, 6)] + [pc("old", person("CORP\\jdoe", LONG_AGO))]
    assert cap_notes(m365_row(hosts)) == []
    assert hosts_per_person([(h.inventory_name, h.host.users) for h in hosts], People(), AS_OF) == {
        "CORP\\jdoe": ("pc1", "pc2", "pc3", "pc4", "pc5")}


def test_many_devices_are_named_ten_then_how_many_more():
    row = m365_row([pc(f"pc{n:02}", person("CORP\\jdoe")) for n in range(1, 13)])
    (note,) = cap_notes(row)
    assert note.startswith("CORP\\jdoe uses Microsoft 365 Apps on 12 devices (pc01, pc02, ")
    assert "pc10 and 2 more); a user licence covers 5" in note


def test_a_product_without_the_parameter_is_not_noted(tmp_path):
    rules_dir = tmp_path / "metrics"
    shutil.copytree(RULES_DIR, rules_dir)
    shipped = (rules_dir / "metric_rules.yml").read_text()
    assert "named_user: {devices_per_user: 5}" in shipped
    (rules_dir / "metric_rules.yml").write_text(shipped.replace("named_user: {devices_per_user: 5}", "named_user: {}"))
    rules, problems = load_rules(rules_dir)
    assert not problems
    row = m365_row([pc(f"pc{n}", person("CORP\\jdoe")) for n in range(1, 7)], rules=rules)
    assert row.consumption.quantity == 1 and cap_notes(row) == []
