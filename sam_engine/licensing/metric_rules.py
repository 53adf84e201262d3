"""The metric rule data: core factors, product-specific metric parameters and the PVU table.

All live in YAML under ``catalogue/metrics/`` so a user can correct any number without
touching code: ``core_factors.yml`` (which processor weighs how much under a
core-weighted metric), ``metric_rules.yml`` (SQL Server sold in 2-core packs,
at least 4 per processor, ...) and ``pvu_table.yml`` (IBM PVUs per core, read by
``pvu_table``). Loading validates every entry through
``located_yaml`` and returns each mistake as a ``Problem``; all mistakes of a
file are reported together, and a file with any mistake is not used.

Worked example: the SQL Server entry's line 56 of the shipped ``metric_rules.yml``
edited to read ``core: {pack: two}`` -> ``Problem("catalogue/metrics/metric_rules.yml:56:20",
'products[0].metrics.core.pack: expected a whole number >= 1, got "two"')``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import yaml

from sam_engine.located_yaml import YamlFile
from sam_engine.model import Hardware, Problem, Virtualization
from sam_engine.package_data import data_dir
from sam_engine.licensing.pvu_table import PvuTable, load_pvu_table, read_cpu_ids
from sam_engine.vocabulary import HOST_LEVELS, HOST_SCOPES, METRICS, Metric

# Under catalogue/ but in a directory of their own: catalogue.load_catalogue reads every *.yml of catalogue/.
RULES_DIR = data_dir("catalogue") / "metrics"


def norm(text: str | None) -> str:
    """The comparison form of a publisher/product/edition name: casefolded, single spaces."""
    return " ".join((text or "").split()).casefold()


# --- core factors --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoreFactor:
    """One row of the core factor table; ``origin`` is ``file:line``."""

    label: str
    factor: Decimal
    origin: str
    patterns: tuple[str, ...] = ()
    cores_per_socket: int | None = None
    cpu_ids: tuple[str, ...] = ()  # ARM "implementer" or "implementer:part", lower-case hex

    def matches(self, hw: Hardware) -> bool:
        if self.cores_per_socket is not None:  # a VM's virtual sockets say nothing about the chip
            if hw.virtualization is Virtualization.VM or not hw.sockets or not hw.cores:
                return False
            if hw.cores != hw.sockets * self.cores_per_socket:
                return False
        if self.cpu_ids and self.matched_cpu_id(hw):
            return True
        if self.patterns:
            text = f"{hw.cpu_vendor or ''} {hw.cpu_model or ''}".strip()
            return any(re.search(p, text, re.IGNORECASE) for p in self.patterns)
        return not self.cpu_ids

    def matched_cpu_id(self, hw: Hardware) -> str | None:
        """The host's CPU id when one of this row's ids names it (an implementer alone names all its parts)."""
        if not hw.cpu_id:
            return None
        implementer = hw.cpu_id.partition(":")[0]
        return hw.cpu_id if hw.cpu_id in self.cpu_ids or implementer in self.cpu_ids else None

    def describe(self, hw: Hardware) -> str:
        """How a trace names this row: its label, and the CPU id when that is what matched."""
        cpu_id = self.matched_cpu_id(hw) if self.cpu_ids else None
        return f"{self.label}, CPU id {cpu_id}" if cpu_id else self.label


@dataclass(frozen=True, slots=True)
class CoreFactorTable:
    """The ordered core factor rows and the default for unlisted processors."""

    rows: tuple[CoreFactor, ...]
    default: CoreFactor

    def lookup(self, hw: Hardware) -> CoreFactor:
        """The first matching row, else the default: ``Xeon`` -> ``CoreFactor('Intel x86', 0.5)``."""
        return next((row for row in self.rows if row.matches(hw)), self.default)


CORE_FACTOR_KEYS = ("label", "factor", "match", "cpu_id", "cores_per_socket", "source")


def _core_factor_row(doc: YamlFile, node: yaml.Node | None, field: str, default: bool = False) -> CoreFactor | None:
    before = len(doc.problems)
    if not isinstance(node, yaml.MappingNode):
        doc.expected(node, field, "a mapping with label and factor")
        return None
    keys = doc.mapping(node, field, CORE_FACTOR_KEYS)
    label = doc.text(doc.required(keys, "label", node, field, "a text"), f"{field}.label")
    factor = doc.number(doc.required(keys, "factor", node, field, "a number > 0"), f"{field}.factor", None, above=True)
    match = keys.get("match")
    listed = [match] if isinstance(match, yaml.ScalarNode) and not doc.is_null(match) else doc.sequence(
        match, f"{field}.match", "a list of regular expressions")
    patterns = [doc.pattern(item, f"{field}.match[{n}]") for n, item in enumerate(listed)]
    cpu_ids, ids_given = read_cpu_ids(doc, keys.get("cpu_id"), field)
    cps = doc.integer(keys.get("cores_per_socket"), f"{field}.cores_per_socket", None, 1)
    if not default and not listed and not ids_given and "cores_per_socket" not in keys:
        doc.fail(node, field, "expected match, cpu_id or cores_per_socket: which processors the factor is for")
    if len(doc.problems) > before:
        return None
    return CoreFactor(label, factor, doc.line(node), tuple(p.pattern for p in patterns if p is not None), cps,
                      tuple(cpu_ids))


def load_core_factors(path: str | Path, label: str | None = None) -> tuple[CoreFactorTable | None, list[Problem]]:
    """Read and validate ``core_factors.yml``: the table (None when anything is wrong) and every mistake.

    ``label`` is how the file is named in problems and traces (default: ``path``).
    """
    doc = YamlFile(path, label=label)
    if doc.unreadable:
        return None, doc.problems
    top = doc.mapping(doc.root, "", ("default", "factors"), "a mapping with default and factors")
    default = (_core_factor_row(doc, top["default"], "default", default=True) if "default" in top
               else CoreFactor("unlisted processor", Decimal(1), doc.label))
    rows = [_core_factor_row(doc, node, f"factors[{n}]")
            for n, node in enumerate(doc.sequence(doc.required(top, "factors", doc.root, "", "a list of core factors"), "factors"))]
    if doc.problems:
        return None, doc.located()
    return CoreFactorTable(tuple(rows), default), []


# --- product metric parameters -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricParams:
    """Parameters of one metric for one product; the defaults mean "no special rule"."""

    pack: int = 1
    min_per_processor: int = 0
    min_per_server: int = 0
    min_per_vm: int = 0
    core_factor: bool = False
    sockets_per_licence: int = 1
    vms_per_licence: int | None = None
    max_sockets: int | None = None
    cloud_vcpus_per_licence: int | None = None
    host_level: str | None = None  # vocabulary.HostLevel: when a VM's physical server is counted instead
    host_scope: str = "cluster"  # the servers a VM pulls in: its cluster, or only its own server
    hard_partitioning: bool = False  # pinned vCPUs (hard partitions) count only the pinned cores
    vms_per_host_licence: int | None = None  # one full licensing of a server covers N VMs (stacking)
    host_needs_maintenance: bool = False  # licensing the host needs active maintenance (Software Assurance)
    vm_needs_maintenance: bool = False  # licensing each VM needs Software Assurance or a subscription
    vm_needs_maintenance_from: int | None = None  # ... only from this release year on (None: every version)
    devices_per_user: int | None = None  # named_user: one user's licence covers N devices; more is a breach, noted
    origin: str = "default"  # file:line of the entry, shown in traces
    # named_user with a minimum: the product's processor parameters, which count the minimum's Processors
    # and servers (core factor, cloud rule, the VM's physical servers); None: its own parameters count them
    minimum_basis: MetricParams | None = None


_INT_PARAMS = {"pack": 1, "min_per_processor": 0, "min_per_server": 0, "min_per_vm": 0,
               "sockets_per_licence": 1, "vms_per_licence": 1, "max_sockets": 1,
               "cloud_vcpus_per_licence": 1, "vms_per_host_licence": 1,
               "vm_needs_maintenance_from": 1, "devices_per_user": 1}  # name -> minimum
_BOOL_PARAMS = ("core_factor", "hard_partitioning", "host_needs_maintenance", "vm_needs_maintenance")
_CHOICE_PARAMS = {"host_level": HOST_LEVELS, "host_scope": HOST_SCOPES}


@dataclass(frozen=True, slots=True)
class ProductRule:
    """One ``metric_rules.yml`` entry: a product's default metric and metric parameters."""

    publisher: str
    product: str
    edition: str | None
    default_metric: str | None
    params: dict = field(default_factory=dict)  # metric name -> MetricParams
    source: str | None = None
    origin: str = ""

    def key(self) -> tuple[str, str, str]:
        return norm(self.publisher), norm(self.product), norm(self.edition)


@dataclass(frozen=True, slots=True)
class MetricRules:
    """Everything the metric functions need from data: product rules, core factors and PVU rows."""

    products: tuple[ProductRule, ...]
    core_factors: CoreFactorTable
    pvu: PvuTable = PvuTable(())
    _index: dict = field(default_factory=dict, compare=False, repr=False)  # lookups, filled on first use
    _found: dict = field(default_factory=dict, compare=False, repr=False)  # (publisher, product, edition) -> rule

    def rule_for(self, publisher: str | None, product: str, edition: str | None) -> ProductRule | None:
        """The entry for this edition if there is one, else the product's edition-less entry."""
        asked = (publisher, product, edition)
        if asked not in self._found:  # a position asks once per product group, and again for its parameters
            self._found[asked] = self._lookup(publisher, product, edition)
        return self._found[asked]

    def _lookup(self, publisher: str | None, product: str, edition: str | None) -> ProductRule | None:
        if not self._index:
            for r in reversed(self.products):  # the first rule of a key wins
                self._index[r.key()] = r
                if r.edition is None:
                    self._index[(*r.key()[:2], None)] = r
            self._index[None] = None  # marks the index as built
        want = (norm(publisher), norm(product), norm(edition))
        return self._index.get(want) or self._index.get((*want[:2], None))

    def params(self, publisher: str | None, product: str, edition: str | None, metric: str) -> MetricParams:
        rule = self.rule_for(publisher, product, edition)
        return rule.params.get(metric, MetricParams()) if rule else MetricParams()


PRODUCT_KEYS = ("publisher", "product", "edition", "default_metric", "metrics", "source")


def _params(doc: YamlFile, node: yaml.Node | None, parent: yaml.Node, field: str) -> MetricParams:
    origin = doc.line(node if isinstance(node, yaml.MappingNode) else parent)
    values: dict = {}
    known = [f.name for f in fields(MetricParams) if f.name not in ("origin", "minimum_basis")]
    for key, value in doc.mapping(node, field, known, "a mapping of parameters").items():
        if key in _BOOL_PARAMS:
            values[key] = doc.boolean(value, f"{field}.{key}", False)
        elif key in _CHOICE_PARAMS:
            values[key] = doc.choice(value, f"{field}.{key}", _CHOICE_PARAMS[key], None)
        else:
            values[key] = doc.integer(value, f"{field}.{key}", None, _INT_PARAMS[key])
    return MetricParams(origin=origin, **{k: v for k, v in values.items() if v is not None})


def _product_rule(doc: YamlFile, node: yaml.Node | None, field: str) -> ProductRule | None:
    before = len(doc.problems)
    if not isinstance(node, yaml.MappingNode):
        doc.expected(node, field, "a mapping with publisher and product")
        return None
    keys = doc.mapping(node, field, PRODUCT_KEYS)
    publisher, product = (doc.text(doc.required(keys, k, node, field, "a text"), f"{field}.{k}") for k in ("publisher", "product"))
    edition = doc.text(keys.get("edition"), f"{field}.edition")
    default = doc.choice(keys.get("default_metric"), f"{field}.default_metric", METRICS, None)
    metrics = keys.get("metrics")
    params = {}
    for metric, params_node in doc.mapping(metrics, f"{field}.metrics", METRICS,
                                           "a mapping of metric -> parameters").items():
        params[metric] = _params(doc, params_node, metrics, f"{field}.metrics.{metric}")
    named = params.get(Metric.NAMED_USER)
    if named and (named.min_per_processor or named.min_per_server) and Metric.PROCESSOR in params:
        params[Metric.NAMED_USER] = replace(named, minimum_basis=params[Metric.PROCESSOR])
    source = doc.text(keys.get("source"), f"{field}.source")
    if len(doc.problems) > before:
        return None
    return ProductRule(publisher, product, edition, default, params, source, doc.line(node))


def load_product_rules(path: str | Path, label: str | None = None) -> tuple[tuple[ProductRule, ...], list[Problem]]:
    """Read and validate ``metric_rules.yml``: its entries (none when anything is wrong) and every mistake."""
    doc = YamlFile(path, label=label)
    if doc.unreadable:
        return (), doc.problems
    top = doc.mapping(doc.root, "", ("products",), "a mapping with a products list")
    rules, seen = [], {}
    for n, node in enumerate(doc.sequence(doc.required(top, "products", doc.root, "", "a list of product rules"), "products")):
        rule = _product_rule(doc, node, f"products[{n}]")
        if rule is None:
            continue
        if rule.key() in seen:
            doc.fail(node, f"products[{n}]", f"{rule.publisher} / {rule.product} / {rule.edition or '(any edition)'} "
                                             f"is already defined at {seen[rule.key()]}")
        seen.setdefault(rule.key(), rule.origin)
        rules.append(rule)
    return ((), doc.located()) if doc.problems else (tuple(rules), [])


def load_rules(directory: str | Path | None = None) -> tuple[MetricRules | None, list[Problem]]:
    """The rule files from ``directory`` (default: the shipped ``catalogue/metrics/``, named so in traces):
    the rules, None when any file has a mistake, and every mistake of all. A directory without a
    ``pvu_table.yml`` (one written before the PVU metric) uses the shipped table."""
    shipped = "catalogue/metrics/"
    if directory is None:
        base, labels = RULES_DIR, tuple(shipped + n for n in ("core_factors.yml", "metric_rules.yml", "pvu_table.yml"))
    else:
        base, labels = Path(directory), (None, None, None)
    factors, problems = load_core_factors(base / "core_factors.yml", labels[0])
    products, more = load_product_rules(base / "metric_rules.yml", labels[1])
    problems += more
    pvu_file, pvu_label = base / "pvu_table.yml", labels[2]
    if not pvu_file.exists() and directory is not None:
        pvu_file, pvu_label = RULES_DIR / "pvu_table.yml", shipped + "pvu_table.yml"
    pvu, more = load_pvu_table(pvu_file, pvu_label)
    problems += more
    return (None, problems) if problems else (MetricRules(products, factors, pvu), [])


@lru_cache(maxsize=1)
def default_rules() -> MetricRules:
    """The shipped rule files, read once; a mistake in them is a fault of the installation (``ValueError``)."""
    rules, problems = load_rules()
    if rules is None:
        raise ValueError("the shipped metric rules are broken:\n" + "\n".join(str(p) for p in problems))
    return rules
