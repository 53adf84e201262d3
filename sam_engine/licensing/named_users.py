"""Named users: the distinct people who use the hosts a product is installed on.

The hosts' accounts (``HostUser``, read by ``platforms.users``) become people
through the users file the organisation keeps in git (``users.yml`` in the
working directory, or ``FLEETSAM_USERS``)::

    window_days: 90          # a person counts after a login within this many days of the as-of date;
                             # 0: every human account counts, logged in or not
    people:                  # one person, and the accounts that are theirs on every platform
      jdoe@corp.example: ['CORP\\jdoe', jdoe]
    exclude: [svc_backup, 'CORP\\sql_svc']   # service accounts that look like people

Accounts are matched case-insensitively (Windows ignores case; an account
named in no ``people`` entry is a person of its own). Built-in and service
accounts (``platforms.users.BUILTIN_ACCOUNTS``, ``kind == "service"``) and the
file's ``exclude`` never count. A host with no user data at all makes the
count unknown (``missing``): the position needs data rather than a guess.

Example (Microsoft 365 per user): ``CORP\\jdoe`` on pc1 and pc2, ``jdoe`` on a
Linux desktop, all aliases of jdoe@corp.example -> 1 named user, "aliases merged: 2".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sam_engine.licensing.hardware_counts import some_of
from sam_engine.located_yaml import YamlFile
from sam_engine.model import HostUser, Problem
from sam_engine.platforms.users import HUMAN

DEFAULT_WINDOW_DAYS = 90
PEOPLE_SHOWN = 20  # people named in a trace line; the count covers all of them
NO_USER_DATA = "named-user licence: scan these hosts again with a collector that reports users to count it"


@dataclass(frozen=True)
class People:
    """The users file: aliases (folded account -> person as written), exclusions (folded), the login window."""

    aliases: dict[str, str] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()
    window_days: int = DEFAULT_WINDOW_DAYS
    origin: str = "built-in defaults"

    def person(self, account: str) -> str:
        """The person ``account`` belongs to: its ``people`` entry as written, else the account itself."""
        return self.aliases.get(account.casefold(), account)

    def excluded(self, account: str) -> bool:
        key = account.casefold()
        return key in self.exclude or key.rsplit("\\", 1)[-1] in self.exclude


@dataclass(frozen=True, slots=True)
class Counted:
    """The people of some hosts: who they are, the accounts behind them, and what was left out."""

    people: tuple[str, ...]
    accounts: int  # distinct (folded) accounts that counted
    left_out: tuple[str, ...]  # why accounts did not count, one phrase each

    @property
    def merged(self) -> int:
        return self.accounts - len(self.people)

    def rule(self, people: People, hosts: int) -> str:
        """The trace line of the count, stating the rule it applied and what it left out.

        Example: ``named user: 2 distinct people on 3 hosts (aliases merged: 2; a login within
        90 days; users.yml); not counted: 1 excluded by users.yml: alice, jdoe@corp.example = 2``.
        """
        n = len(self.people)
        who = "1 distinct person" if n == 1 else f"{n} distinct people"
        window = f"a login within {people.window_days} days" if people.window_days else "every human account"
        text = (f"named user: {who} on {hosts} host{'s' if hosts != 1 else ''} (aliases merged: {self.merged}; "
                f"{window}; {people.origin})")
        if self.left_out:
            text += f"; not counted: {', '.join(self.left_out)}"
        return f"{text}: {some_of(self.people, PEOPLE_SHOWN) or 'nobody'} = {n}"

    def unknown_rule(self, without: list[str], known_hosts: int) -> str:
        """The trace line of a count that cannot be made: hosts ``without`` user data, none invented."""
        return (f"named user: no user data from {', '.join(without)}: the distinct people cannot be counted "
                f"({len(self.people)} known on the other {known_hosts} host{'s' if known_hosts != 1 else ''})")


@dataclass(slots=True)
class _Tally:
    """The accounts of some hosts sorted by ``count_people``'s rules (folded accounts)."""

    found: dict[str, str] = field(default_factory=dict)  # folded person -> as first written
    accounts: set[str] = field(default_factory=set)  # accounts that count
    services: set[str] = field(default_factory=set)
    excluded: set[str] = field(default_factory=set)
    idle: set[str] = field(default_factory=set)  # idle somewhere (maybe active elsewhere)
    on: list[set[str]] = field(default_factory=list)  # per host: the folded people who count there


def _tally(hosts: Sequence[tuple[HostUser, ...]], people: People, as_of: dt.date) -> _Tally:
    cutoff = None
    if people.window_days:
        day = dt.datetime.combine(as_of, dt.time(23, 59, 59), dt.timezone.utc)
        cutoff = int((day - dt.timedelta(days=people.window_days)).timestamp())
    t = _Tally()
    for users in hosts:
        here: set[str] = set()
        for u in users:
            key = u.account.casefold()
            if u.kind != HUMAN:
                t.services.add(key)
            elif people.excluded(u.account):
                t.excluded.add(key)
            elif cutoff is not None and (u.last_login is None or u.last_login < cutoff):
                t.idle.add(key)
            else:
                t.accounts.add(key)
                name = people.person(u.account)
                t.found.setdefault(name.casefold(), name)
                here.add(name.casefold())
        t.on.append(here)
    return t


def count_people(hosts: list[tuple[HostUser, ...]], people: People, as_of: dt.date) -> Counted:
    """The distinct people among the users of ``hosts`` on ``as_of`` under ``people``'s rules.

    A login counts when it is at most ``window_days`` older than the end of ``as_of`` (UTC); an
    account idle on one host and active on another counts once, as active.
    """
    t = _tally(hosts, people, as_of)
    idle = t.idle - t.accounts  # an account idle on one host and active on another is active
    left_out = []
    if t.services:
        left_out.append(f"{len(t.services)} built-in or service account{'s' if len(t.services) != 1 else ''}")
    if t.excluded:
        left_out.append(f"{len(t.excluded)} excluded by {people.origin}")
    if idle:
        left_out.append(f"{len(idle)} without a login in the {people.window_days} days to {as_of}")
    return Counted(tuple(sorted(t.found.values(), key=str.casefold)), len(t.accounts), tuple(left_out))


def hosts_per_person(hosts: Sequence[tuple[str, tuple[HostUser, ...]]], people: People,
                     as_of: dt.date) -> dict[str, tuple[str, ...]]:
    """Per person ``count_people`` counts, the named hosts they use: those where one of their accounts
    counts (human, not excluded, a login within the window on that host), aliases merged.

    Example: ``CORP\\jdoe`` on pc1-pc3 and ``jdoe`` on pc4-pc6, aliases of jdoe@corp.example ->
    ``{"jdoe@corp.example": ("pc1", ..., "pc6")}``.
    """
    t = _tally([users for _, users in hosts], people, as_of)
    on: dict[str, list[str]] = {}
    for (name, _), here in zip(hosts, t.on):
        for key in here:
            on.setdefault(key, []).append(name)
    return {t.found[key]: tuple(dict.fromkeys(on[key])) for key in sorted(on, key=lambda k: t.found[k].casefold())}


def load_people(path: str | Path) -> tuple[People, list[Problem]]:
    """The users file at ``path``; on any problem the built-in defaults and the located problems."""
    doc = YamlFile(path, kind="users file")
    if doc.unreadable:
        return People(), doc.located()
    top = doc.mapping(doc.root, "", ("window_days", "people", "exclude"))
    window = doc.integer(top.get("window_days"), "window_days", DEFAULT_WINDOW_DAYS)
    aliases: dict[str, str] = {}
    first: dict[str, str] = {}  # folded alias -> where it was first given
    people = doc.mapping(top.get("people"), "people")
    for name, node in people.items():
        person = name.strip()
        for n, item in enumerate([people.key_nodes[name], *doc.sequence(node, f"people.{name}", "a list of accounts")]):
            alias = person if n == 0 else doc.text(item, f"people.{name}[{n - 1}]")
            if not alias:
                continue
            key = alias.casefold()
            if key in aliases and aliases[key].casefold() != person.casefold():
                doc.fail(item, f"people.{name}" + (f"[{n - 1}]" if n else ""),
                         f"account {alias!r} is already a person's at {first[key]}: an account is one person's")
                continue
            aliases[key], first[key] = person, doc.at(item)
    exclude = frozenset(a.casefold() for a in doc.text_list(top.get("exclude"), "exclude"))
    if doc.problems:
        return People(), doc.located()
    return People(aliases, exclude, DEFAULT_WINDOW_DAYS if window is None else window, doc.label), []
