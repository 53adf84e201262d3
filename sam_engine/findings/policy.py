"""The compliance policy (``policy.yml``): which findings fail, thresholds, the deny-list.

One file drives the findings computed after every scan, ``fleetsam check``
and ``playbooks/enforce.yml``. Every field is optional; ``Policy()`` holds the
defaults used when there is no policy file::

    fail_on: [under-licensed, unlicensed, prohibited]   # finding types that fail the check
    thresholds:
      expiring_days: 30          # subscription or maintenance ending within N days
      expiring_urgent_days: 7    # ... severity high from N days on
      stale_days: 7              # host not inventoried for N days (still counted, flagged stale)
      retire_days: 90            # ... for N days: it leaves the position, stays in history (0: never)
      shelfware_ratio: 2         # owned more than 2 x what is used
      shelfware_min_unused: 1    # ... and at least this many licences unused
    severity: {shelfware: info}  # override the default severity of a finding type
    prohibited:
      - product: TeamViewer      # product or publisher (or both), case-insensitive, * wildcards
        allow_groups: [helpdesk] # inventory groups whose hosts may have it
        reason: remote access needs a security review
        severity: critical

Mistakes are located errors (``policy.yml:7:17: thresholds.stale_days:
expected a number ...``), raised as ``ConfigError`` by ``load_policy``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from sam_engine.located_yaml import ConfigError, YamlFile
from sam_engine.vocabulary import DEFAULT_FAIL_ON, FINDING_TYPES, SEVERITIES

THRESHOLDS = ("expiring_days", "expiring_urgent_days", "stale_days", "retire_days", "shelfware_ratio",
              "shelfware_min_unused")
TOP_LEVEL = ("version", "fail_on", "thresholds", "severity", "prohibited")
RULE_FIELDS = ("product", "publisher", "allow_groups", "reason", "severity")


@dataclass(frozen=True, slots=True)
class DenyRule:
    """One deny-list entry: software nobody may run, except hosts in ``allow_groups``."""

    product: str | None
    publisher: str | None
    allow_groups: tuple[str, ...] = ()
    reason: str | None = None
    severity: str | None = None
    origin: str = ""  # policy.yml:LINE:COL

    @property
    def label(self) -> str:
        if self.product and self.publisher:
            return f"{self.publisher} {self.product}"
        return f"publisher {self.publisher}" if self.publisher else str(self.product)


@dataclass(frozen=True)
class Policy:
    """What counts as a finding and which findings fail the check."""

    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    expiring_days: int = 30
    expiring_urgent_days: int = 7
    stale_days: int = 7
    retire_days: int = 90
    shelfware_ratio: Decimal = Decimal(2)
    shelfware_min_unused: int = 1
    severity: dict[str, str] = field(default_factory=dict)
    prohibited: tuple[DenyRule, ...] = ()
    origin: str = "built-in defaults"

    def severity_of(self, finding_type: str, computed: str) -> str:
        return self.severity.get(finding_type, computed)

    def fails(self, finding_type: str) -> bool:
        return finding_type in self.fail_on


def _finding_types(reader: YamlFile, node, field_name: str) -> tuple[str, ...]:
    items = reader.sequence(node, field_name) if not reader.is_null(node) else []
    out = []
    for n, item in enumerate(items):
        name = reader.choice(item, f"{field_name}[{n}]", FINDING_TYPES, None)
        if name:
            out.append(name)
    return tuple(out)


def _rule(reader: YamlFile, node, where: str) -> DenyRule | None:
    if not isinstance(node, yaml.MappingNode):
        reader.fail(node, where, "expected a mapping with a product or a publisher to deny")
        return None
    keys = reader.mapping(node, where, RULE_FIELDS)
    product = reader.text(keys.get("product"), f"{where}.product")
    publisher = reader.text(keys.get("publisher"), f"{where}.publisher")
    if not product and not publisher and "product" not in keys and "publisher" not in keys:
        reader.fail(node, where, "expected a product or a publisher to deny")
        return None
    severity = reader.choice(keys.get("severity"), f"{where}.severity", SEVERITIES, None)
    return DenyRule(product, publisher, reader.text_list(keys.get("allow_groups"), f"{where}.allow_groups"),
                    reader.text(keys.get("reason"), f"{where}.reason"), severity, reader.at(node))


def read_policy(reader: YamlFile) -> Policy:
    """The policy in ``reader``'s file; problems are left in ``reader.problems``."""
    if reader.unreadable:
        return Policy(origin=str(reader.path))
    top = reader.mapping(reader.root, "", TOP_LEVEL)
    if "version" in top:
        reader.integer(top["version"], "version", 1, 1)
    defaults = Policy()
    fail_on = _finding_types(reader, top["fail_on"], "fail_on") if "fail_on" in top else defaults.fail_on
    limits = reader.mapping(top.get("thresholds"), "thresholds", THRESHOLDS)

    def days(name: str) -> int:
        return reader.integer(limits.get(name), f"thresholds.{name}", getattr(defaults, name))

    ratio = reader.number(limits.get("shelfware_ratio"), "thresholds.shelfware_ratio", defaults.shelfware_ratio,
                          Decimal(1))
    severity = {}
    for name, node in reader.mapping(top.get("severity"), "severity", FINDING_TYPES).items():
        value = reader.choice(node, f"severity.{name}", SEVERITIES, None)
        if value:
            severity[name] = value
    rules = [_rule(reader, node, f"prohibited[{n}]")
             for n, node in enumerate(reader.sequence(top.get("prohibited"), "prohibited"))]
    return Policy(fail_on=fail_on, expiring_days=days("expiring_days"),
                  expiring_urgent_days=days("expiring_urgent_days"), stale_days=days("stale_days"),
                  retire_days=days("retire_days"),
                  shelfware_ratio=ratio, shelfware_min_unused=days("shelfware_min_unused"), severity=severity,
                  prohibited=tuple(r for r in rules if r is not None), origin=str(reader.path))


def load_policy(path: str | Path | None) -> Policy:
    """The policy of ``path`` (``Policy()`` for None); raises ``ConfigError`` with every mistake."""
    if path is None:
        return Policy()
    reader = YamlFile(path)
    policy = read_policy(reader)
    reader.check()
    return policy


def policy_path(given: str | Path | None = None, env: dict[str, str] | None = None) -> Path | None:
    """The policy file to use: ``given``, else ``$FLEETSAM_POLICY``, else ``policy.yml`` if present."""
    env = dict(os.environ if env is None else env)
    if given:
        return Path(given)
    if env.get("FLEETSAM_POLICY"):
        return Path(env["FLEETSAM_POLICY"])
    return Path("policy.yml") if Path("policy.yml").is_file() else None


def policy_or_default(policy: str | Path | None) -> Policy:
    """The policy at ``policy``; the default policy when it is rejected (the findings stage reports
    the mistake)."""
    try:
        return load_policy(policy)
    except ConfigError:
        return Policy()


def retire_days(policy: str | Path | None) -> int:
    """The policy's ``retire_days`` (see ``policy_or_default``)."""
    return policy_or_default(policy).retire_days
