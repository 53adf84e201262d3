"""The engine's fixed words, each written here once: metrics, collectors, statuses, finding types, severities.

Everything that validates, computes or shows one of these words reads it from
here: the entitlement parsers and the metric-rule loader (metric names), the
position and the report (statuses and their order), the findings, the policy
and the notification settings (finding types and severities). The report
templates get ``LICENSABLE`` as a Jinja global (``report.render.environment``)
and ``report.js`` gets ``NON_COMPLIANT`` in the page's data island, so neither
spells a status. The report schema (``data/schemas/report.schema.json``) is published and
keeps its own status list, which a unit test holds equal to ``URGENCY``.

The tool's version is ``sam_engine.__version__`` (pyproject.toml reads it;
galaxy.yml repeats it as a literal, which a unit test keeps equal).
"""

from __future__ import annotations

import enum
import re

# --- licence metrics -------------------------------------------------------------------------


class Metric(enum.StrEnum):
    """How consumption is counted; ``licensing.metrics`` has one rule per member."""

    INSTALLATION = "installation"
    DEVICE = "device"
    NAMED_USER = "named_user"
    PROCESSOR = "processor"
    CORE = "core"
    VM = "vm"
    SITE = "site"
    EMPLOYEE = "employee"
    PVU = "pvu"  # IBM Processor Value Units: cores × PVUs per core (catalogue/metrics/pvu_table.yml)


METRICS = tuple(m.value for m in Metric)
# How a quantity of each metric reads in a sentence: (one, several).
METRIC_UNITS = {
    Metric.INSTALLATION: ("installation", "installations"),
    Metric.DEVICE: ("device", "devices"),
    Metric.NAMED_USER: ("named user", "named users"),
    Metric.PROCESSOR: ("processor", "processors"),
    Metric.CORE: ("core", "cores"),
    Metric.VM: ("VM", "VMs"),
    Metric.SITE: ("site licence", "site licences"),
    Metric.EMPLOYEE: ("employee", "employees"),
    Metric.PVU: ("PVU", "PVUs"),
}
# Other spellings people write for a metric, after the normalisation of ``metric_name``
# (lower case, spaces and hyphens as ``_``, a leading ``per_`` dropped).
METRIC_ALIASES = {"install": Metric.INSTALLATION}


def units(quantity: int | None, metric: str | None) -> str:
    """``1 device``, ``0 employees``, ``400 named users``; a metric without a unit word counts licences."""
    one, several = METRIC_UNITS.get(metric, ("licence", "licences")) if metric else ("licence", "licences")
    return f"{quantity} {one if quantity == 1 else several}"


# The edition an entitlement names to cover every edition of its product; one naming no edition
# covers only installations recognised without an edition (``licensing.coverage``).
ANY_EDITION = "any"


class OnRestated(enum.StrEnum):
    """What a procurement import does with a row restating a stored purchase line (``entitlements.restated``)."""

    REFUSE = "refuse"
    REPLACE = "replace"
    KEEP_BOTH = "keep-both"


# Licensing a VM's host instead of the VM (``licensing.host_metrics``): an entitlement's choice
# (``licensing: host|vm``) and a product rule's ``host_level`` (when the host counts).
class Licensing(enum.StrEnum):
    HOST = "host"  # licence the physical servers the VMs run on (or can move to)
    VM = "vm"  # licence each VM by its own virtual hardware


class HostLevel(enum.StrEnum):
    ALWAYS = "always"  # the vendor counts the host whenever it is known (Oracle soft partitioning)
    DEFAULT = "default"  # the host, unless an entitlement says ``licensing: vm``
    OPTIONAL = "optional"  # each VM, unless an entitlement says ``licensing: host``


LICENSING_CHOICES = tuple(c.value for c in Licensing)
HOST_LEVELS = tuple(h.value for h in HostLevel)
HOST_SCOPES = ("cluster", "server")  # every server a VM can move to, or only the one it runs on


def metric_name(text: str) -> str | None:
    """The metric ``text`` names (``Per Device`` -> ``device``, ``install`` -> ``installation``), or None."""
    name = re.sub(r"[\s-]+", "_", text.strip().lower()).removeprefix("per_")
    name = METRIC_ALIASES.get(name, name)
    return str(name) if name in METRICS else None


# --- collectors ------------------------------------------------------------------------------


class Collector(enum.StrEnum):
    """The collector modules: the one that produced a result is recorded on its ``HostScan``
    (``platforms.registry``); ``fleetsam scan`` counts a host done when one has run on it."""

    LINUX = "fleetsam.sam.software_facts"
    WINDOWS = "fleetsam.sam.win_software_facts"
    MACOS = "fleetsam.sam.macos_software_facts"
    VCENTER = "fleetsam.sam.vcenter_facts"


COLLECTORS = tuple(c.value for c in Collector)


# --- position statuses -----------------------------------------------------------------------


class Status(str, enum.Enum):
    """A product's licence position (rules in ``licensing.position``)."""

    COMPLIANT = "compliant"
    UNDER_LICENSED = "under-licensed"
    OVER_LICENSED = "over-licensed"
    UNLICENSED = "unlicensed"
    NO_LICENCE_NEEDED = "no licence needed"
    UNRECOGNISED = "unrecognised"
    NEEDS_DATA = "needs data"  # something is owned, but the metric lacks an input (the headcount)


# Most urgent first: what an auditor finds, then money spent for nothing, then the rest.
URGENCY = tuple(s.value for s in (Status.UNDER_LICENSED, Status.UNLICENSED, Status.NEEDS_DATA, Status.OVER_LICENSED,
                                  Status.COMPLIANT, Status.NO_LICENCE_NEEDED, Status.UNRECOGNISED))
# Short of licences: the statuses that fail JUnit, count as non-compliant and raise findings.
NON_COMPLIANT = (Status.UNDER_LICENSED.value, Status.UNLICENSED.value)
# The statuses of a product that needs a licence, most urgent first.
LICENSABLE = tuple(s for s in URGENCY if s not in (Status.NO_LICENCE_NEEDED.value, Status.UNRECOGNISED.value))


# --- findings --------------------------------------------------------------------------------


class FindingType(enum.StrEnum):
    """What a finding is about (rules in ``findings.detect``)."""

    UNDER_LICENSED = Status.UNDER_LICENSED.value
    UNLICENSED = Status.UNLICENSED.value
    PROHIBITED = "prohibited"
    EXPIRING = "expiring"
    SHELFWARE = "shelfware"
    STALE_HOST = "stale-host"
    TOPOLOGY_UNKNOWN = "topology-unknown"  # a VM under a host-level rule whose host is not known


FINDING_TYPES = tuple(t.value for t in FindingType)
SEVERITIES = ("info", "low", "medium", "high", "critical")  # least to most severe
# The severity of each finding type unless the policy overrides it.
DEFAULT_SEVERITY = {
    FindingType.UNDER_LICENSED: "high",
    FindingType.UNLICENSED: "high",
    FindingType.PROHIBITED: "high",
    FindingType.EXPIRING: "medium",
    FindingType.SHELFWARE: "low",
    FindingType.STALE_HOST: "medium",
    FindingType.TOPOLOGY_UNKNOWN: "medium",
}
URGENT_EXPIRY_SEVERITY = "high"  # an expiry within the policy's expiring_urgent_days
DEFAULT_FAIL_ON = (FindingType.UNDER_LICENSED.value, FindingType.UNLICENSED.value, FindingType.PROHIBITED.value)


def severity_rank(severity: str) -> int:
    """0 for ``info`` up to 4 for ``critical``; an unknown word ranks as ``info``."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
