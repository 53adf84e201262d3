"""The licence context of a run: catalogue, metric rules, entitlements, settings.

One loader for everything the reconcile stage needs, used alike by the
pipeline at the end of every scan and by ``fleetsam position``. Problems in
any input (a bad catalogue entry, a licence file error, a rule file typo) come
back as located ``Problem`` values; the caller decides whether they stop it
(the CLI: exit 2) or are shown beside the result (a scan: the report says the
position excludes the rejected records).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from sam_engine.licensing.catalogue import Catalogue, load_catalogue
from sam_engine.licensing.catalogue_cache import (CacheMismatch, catalogue_from_plain, catalogue_plain, inputs_digest,
                                                  shipped_catalogue)
from sam_engine.entitlements.files import licence_paths, load_licence_files
from sam_engine.entitlements.schema import CatalogueLike, same_as_files
from sam_engine.licensing.metric_rules import CoreFactor, CoreFactorTable, MetricRules, load_rules
from sam_engine.licensing.named_users import People, load_people
from sam_engine.model import Entitlement, HostScan, Problem
from sam_engine.licensing.position import DEFAULT_OVER_RATIO, LicencePosition, build_position
from sam_engine.topology import FleetTopology
from sam_engine.topology.link import fleet_topology


DEFAULT_LICENCES = Path("licences")  # relative to the working directory, as policy.yml


@dataclass(frozen=True)
class LicenceSettings:
    """Where licence data lives and the thresholds of the position.

    Each field has an environment variable, so the callback, the CLI and CI
    jobs read one configuration: ``FLEETSAM_LICENCES`` (licence files
    directory), ``FLEETSAM_RULES`` (metric rule directory),
    ``FLEETSAM_CATALOGUE_EXTRA`` (user catalogue paths, ``:``-separated),
    ``FLEETSAM_HEADCOUNT`` (employees, for per-employee licences), ``FLEETSAM_USERS``
    (the named-user aliases file; default ``users.yml`` when present).

    ``licences_named_by`` says who named ``licences_dir`` (``--licences``,
    ``FLEETSAM_LICENCES``): such a directory must exist, since a typo there
    would silently reconcile against no licence file. None: the default
    ``./licences``, read when present.
    """

    licences_dir: Path = DEFAULT_LICENCES
    rules_dir: Path | None = None
    catalogue_extra: tuple[Path, ...] = ()
    headcount: int | None = None
    over_ratio: Decimal = DEFAULT_OVER_RATIO
    users_file: Path | None = None
    licences_named_by: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, licences: str | None = None) -> "LicenceSettings":
        """The settings of the environment; ``licences``: the ``--licences`` option, before ``FLEETSAM_LICENCES``."""
        env = dict(os.environ if env is None else env)
        headcount = env.get("FLEETSAM_HEADCOUNT", "").strip()
        named_by = "--licences" if licences else "FLEETSAM_LICENCES" if env.get("FLEETSAM_LICENCES") else None
        return cls(
            licences_dir=Path(licences or env.get("FLEETSAM_LICENCES") or DEFAULT_LICENCES),
            licences_named_by=named_by,
            rules_dir=Path(env["FLEETSAM_RULES"]) if env.get("FLEETSAM_RULES") else None,
            catalogue_extra=tuple(Path(p) for p in env.get("FLEETSAM_CATALOGUE_EXTRA", "").split(os.pathsep) if p),
            headcount=int(headcount) if headcount.isdigit() else None,
            users_file=Path(env["FLEETSAM_USERS"]) if env.get("FLEETSAM_USERS")
            else Path("users.yml") if Path("users.yml").is_file() else None,
        )


class Memory(Protocol):
    """Where recognitions outlive a run (``store.recognition_cache.RecognitionCache.beside``)."""

    path: Path | str  # what its warnings name: a file, or a PostgreSQL store's table

    def load(self, digest: str) -> tuple[Any, list[Problem]]: ...  # (rows, catalogue) or None

    def save(self, digest: str, rows: Sequence[tuple], catalogue: Any = None) -> list[Problem]: ...


def recognition_digest(settings: LicenceSettings) -> str | None:
    """The digest of every input of recognition under ``settings`` (``catalogue_cache.inputs_digest``)."""
    return inputs_digest(settings.catalogue_extra, settings.rules_dir)


@dataclass(frozen=True)
class Recall:
    """How a run uses its store's recognition cache: where (``memory``), for which inputs
    (``digest``), and whether the catalogue came from it (else it is saved with the readings)."""

    memory: Memory
    digest: str
    catalogue_problems: tuple[Problem, ...]
    catalogue_cached: bool


@dataclass(frozen=True)
class LicenceContext:
    """Everything reconcile needs, loaded once per run."""

    as_of: dt.date
    catalogue: Catalogue
    rules: MetricRules
    entitlements: tuple[Entitlement, ...]
    settings: LicenceSettings
    problems: tuple[Problem, ...] = field(default=())
    people: People = field(default_factory=People)
    recall: Recall | None = None

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def remember(self) -> list[Problem]:
        """Save the readings (and the composed catalogue, when it was read from YAML) in the store's
        recognition cache when this run learnt something: a repeat run with the same inputs then
        reads no catalogue file and recognises only the records it has not seen."""
        recall = self.recall
        if recall is None or (recall.catalogue_cached and not self.catalogue.learnt()):
            return []
        composed = catalogue_plain(self.catalogue, list(recall.catalogue_problems))
        return recall.memory.save(recall.digest, self.catalogue.readings(), composed)


@dataclass(frozen=True)
class PreparedCatalogue:
    """The part of a run's licence context that needs no store session: the catalogue, from the
    recognition cache or its YAML, with the readings the cache gave back. ``sam_engine.standby``
    prepares it while the hosts are scanned; one run uses it (recognition teaches the catalogue)."""

    settings: LicenceSettings
    as_of: dt.date
    memory_path: str | None
    digest: str | None  # of recognition's inputs when prepared (None: one could not be read)
    catalogue: Catalogue
    read: tuple[Problem, ...]  # problems of the catalogue's files, first in the run's list
    recalled: tuple[Problem, ...]  # then the recognition cache's
    from_cache: bool

    def fits(self, settings: LicenceSettings, as_of: dt.date, memory: Memory | None) -> bool:
        """Whether a run with these inputs would prepare the same (its catalogue files unchanged since)."""
        where = None if memory is None else str(memory.path)
        return (self.settings == settings and self.as_of == as_of and self.memory_path == where
                and self.digest is not None and self.digest == recognition_digest(settings))


def prepare_catalogue(settings: LicenceSettings, as_of: dt.date, memory: Memory | None = None) -> PreparedCatalogue:
    """The catalogue of a run on ``as_of``: composed from the recognition cache in ``memory`` when it
    holds one for these inputs, else read from its YAML; with the readings the cache kept."""
    digest = recognition_digest(settings)
    cached, problems = memory.load(digest) if memory is not None and digest is not None else (None, [])
    catalogue = None
    if cached is not None and cached.catalogue is not None:
        try:
            catalogue, read = catalogue_from_plain(cached.catalogue, as_of)
        except CacheMismatch as exc:
            problems.append(Problem(str(memory.path), f"recognition cache catalogue: {exc}: ignored", "warning"))
    from_cache = catalogue is not None
    if catalogue is None:  # no cache yet: the shipped catalogue composed, when no user catalogue adds to it
        shipped = None if settings.catalogue_extra else shipped_catalogue(as_of)
        catalogue, read = shipped or load_catalogue(list(settings.catalogue_extra), today=as_of)
    if cached is not None and not catalogue.recall(cached.rows):
        problems.append(Problem(str(memory.path), "recognition cache names rules this catalogue lacks: ignored",
                                "warning"))
    return PreparedCatalogue(settings, as_of, None if memory is None else str(memory.path), digest, catalogue,
                             tuple(read), tuple(problems), from_cache)


def load_context(settings: LicenceSettings, as_of: dt.date, stored: Sequence[Entitlement],
                 memory: Memory | None = None, prepared: PreparedCatalogue | None = None) -> LicenceContext:
    """Load catalogue, rules and licence files; ``stored`` are the store's entitlements. ``memory``
    (the store's recognition cache) gives back the readings a run with the same inputs saved.
    ``prepared`` is used when it ``fits`` these inputs, else the catalogue is prepared here."""
    if prepared is None or not prepared.fits(settings, as_of, memory):
        prepared = prepare_catalogue(settings, as_of, memory)
    catalogue = prepared.catalogue
    recall = (None if memory is None or prepared.digest is None
              else Recall(memory, prepared.digest, prepared.read, prepared.from_cache))
    problems = [*prepared.read, *prepared.recalled]
    rules, found = load_rules(settings.rules_dir)
    problems += found
    if rules is None and settings.rules_dir is not None:  # a rejected file is not half-used: the shipped rules stand in
        rules, found = load_rules(None)
        problems += found
    if rules is None:  # the shipped rules are unreadable too: no product rules, every processor weighs 1
        rules = MetricRules((), CoreFactorTable((), CoreFactor("unlisted processor", Decimal(1), "default")))
    files, more = licence_files(settings, lambda: catalogue, stored)
    problems += more
    people = People()
    if settings.users_file is not None:
        people, more = load_people(settings.users_file)
        problems += more
    return LicenceContext(as_of, catalogue, rules, (*stored, *files), settings, tuple(problems), people, recall)


def licences_dir_problem(settings: LicenceSettings) -> Problem | None:
    """The error of a licence files directory that was named but is missing, or is not a directory."""
    where = settings.licences_dir
    if where.is_dir() or not (settings.licences_named_by or where.exists()):
        return None  # a directory, or the default ./licences absent: no licence files
    state = "is not a directory" if where.exists() else "does not exist"
    named = f" (named by {settings.licences_named_by})" if settings.licences_named_by else ""
    return Problem(str(where), f"the licence files directory{named} {state}: expected a directory of licence files")


def counted_once(stored: Sequence[Entitlement], files: Sequence[Entitlement]) -> tuple[list[Entitlement],
                                                                                         list[Problem]]:
    """The licence files' entitlements that are not stored too, and an error for each that is
    (``same_as_files``): an entitlement defined twice counts once, and is a licence data error."""
    ids = {e.entitlement_id for e in stored}
    return [e for e in files if e.entitlement_id not in ids], same_as_files(stored, files)


def licence_files(settings: LicenceSettings, catalogue: Callable[[], CatalogueLike],
                  stored: Sequence[Entitlement]) -> tuple[list[Entitlement], list[Problem]]:
    """The entitlements of the licence files of ``settings`` beside the ``stored`` ones, and their
    problems; ``catalogue`` is called only when there is a licence file to validate."""
    missing = licences_dir_problem(settings)
    if missing is not None:
        return [], [missing]
    paths = licence_paths([settings.licences_dir]) if settings.licences_dir.is_dir() else []
    if not paths:
        return [], []
    files, problems = load_licence_files(paths, catalogue(), list(stored))
    files, twice = counted_once(stored, files)
    return files, problems + twice


@contextmanager
def _cycle_collector_paused():
    """Reconciling makes many small objects without cycles beside a heap the fleet's inventories
    already fill; the cyclic collector would walk that heap again and again (a third of the
    reconcile time at 100 hosts). Reference counting still frees them; the collector resumes after.

    Resumed as it is, its first young collection would walk every object the position made (a
    sixth of a 100-host reconcile); they are moved to the oldest generation instead (freeze then
    unfreeze: two list splices), which a later full collection still visits. Only when nothing
    else froze objects, whose freeze must stay."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def position_of(host_scans: Sequence[HostScan], ctx: LicenceContext, topology: FleetTopology | None = None,
                licensable_only: bool = False) -> LicencePosition:
    """The Effective Licence Position of ``host_scans`` under ``ctx``; ``topology`` (default: the one the
    hosts' hypervisor collectors reported, ``topology.link.fleet_topology``) places VMs on the physical
    servers that host-level metrics count. ``licensable_only``: only the rows a comparison of two
    positions reads (``build_position``)."""
    with _cycle_collector_paused():
        return _position(host_scans, ctx, topology, licensable_only)


def _position(host_scans: Sequence[HostScan], ctx: LicenceContext, topology: FleetTopology | None,
              licensable_only: bool) -> LicencePosition:
    return build_position(
        host_scans,
        ctx.catalogue.recognise,
        ctx.entitlements,
        ctx.as_of,
        rules=ctx.rules,
        headcount=ctx.settings.headcount,
        over_ratio=ctx.settings.over_ratio,
        suites=ctx.catalogue.suite_components,
        metric_hint=ctx.catalogue.metric_hint,
        edition_lines=ctx.catalogue.edition_lines(),
        people=ctx.people,
        topology=fleet_topology(host_scans) if topology is None else topology,
        licensable_only=licensable_only,
    )
