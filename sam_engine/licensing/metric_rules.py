"""The metric rule data: core factors and product-specific metric parameters.

Both live in YAML under ``catalogue/metrics/`` so a user can correct any number without
touching code: ``core_factors.yml`` (which processor weighs how much under a
core-weighted metric) and ``metric_rules.yml`` (SQL Server sold in 2-core packs,
at least 4 per processor, ...). Loading validates every entry and reports each
mistake as ``file:line: message``; all mistakes of a file are reported together.

Worked example: ``metric_rules.yml`` line 12 reads ``core: {pack: two}`` ->
``RuleDataError("catalogue/metrics/metric_rules.yml:12: core.pack: expected a whole
number >= 1, got 'two'")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sam_engine.model import Hardware, Virtualization
from sam_engine.package_data import data_dir
from sam_engine.vocabulary import METRICS

# Under catalogue/ but in a directory of their own: catalogue.load_catalogue reads every *.yml of catalogue/.
RULES_DIR = data_dir("catalogue") / "metrics"


class RuleDataError(ValueError):
    """One or more mistakes in a rule data file, each as ``file:line: message``."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = tuple(errors)


# --- YAML with line numbers ---------------------------------------------------------------


class _Map(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    line: int = 0
    key_lines: dict


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark,
                                       f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def _read_yaml(path: Path, read_from: Path | None = None) -> Any:
    try:
        return yaml.load((read_from or path).read_text(encoding="utf-8"), Loader=_LineLoader)
    except OSError as exc:
        raise RuleDataError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RuleDataError([f"{where}: {exc.problem or exc.context}"]) from exc


def _where(path: Path, mapping: Any, key: str | None = None) -> str:
    if isinstance(mapping, _Map):
        return f"{path}:{mapping.key_lines.get(key, mapping.line) if key else mapping.line}"
    return str(path)


def _factor(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() and out > 0 else None


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

    def matches(self, hw: Hardware) -> bool:
        if self.cores_per_socket is not None:  # a VM's virtual sockets say nothing about the chip
            if hw.virtualization is Virtualization.VM or not hw.sockets or not hw.cores:
                return False
            if hw.cores != hw.sockets * self.cores_per_socket:
                return False
        if self.patterns:
            text = f"{hw.cpu_vendor or ''} {hw.cpu_model or ''}".strip()
            return any(re.search(p, text, re.IGNORECASE) for p in self.patterns)
        return True


@dataclass(frozen=True, slots=True)
class CoreFactorTable:
    """The ordered core factor rows and the default for unlisted processors."""

    rows: tuple[CoreFactor, ...]
    default: CoreFactor

    def lookup(self, hw: Hardware) -> CoreFactor:
        """The first matching row, else the default: ``Xeon`` -> ``CoreFactor('Intel x86', 0.5)``."""
        return next((row for row in self.rows if row.matches(hw)), self.default)


def _core_factor_row(path: Path, doc: Any, errors: list[str], default: bool = False) -> CoreFactor | None:
    if not isinstance(doc, dict):
        errors.append(f"{path}: a core factor entry must be a mapping")
        return None
    known = {"label", "factor", "match", "cores_per_socket", "source"}
    for key in doc:
        if key not in known:
            errors.append(f"{_where(path, doc, key)}: unknown key {key!r} (expected one of {', '.join(sorted(known))})")
    label, factor = doc.get("label"), _factor(doc.get("factor"))
    if not isinstance(label, str) or not label.strip():
        errors.append(f"{_where(path, doc, 'label')}: label: expected a text")
    if factor is None:
        errors.append(f"{_where(path, doc, 'factor')}: factor: expected a number > 0, got {doc.get('factor')!r}")
    patterns = doc.get("match") or []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        errors.append(f"{_where(path, doc, 'match')}: match: expected a list of regular expressions")
        patterns = []
    for pattern in patterns:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            errors.append(f"{_where(path, doc, 'match')}: match: bad regular expression {pattern!r}: {exc}")
    cps = doc.get("cores_per_socket")
    if cps is not None and (not isinstance(cps, int) or isinstance(cps, bool) or cps < 1):
        errors.append(f"{_where(path, doc, 'cores_per_socket')}: cores_per_socket: expected a whole number >= 1")
    if not default and not patterns and cps is None:
        errors.append(f"{_where(path, doc)}: entry {label!r} needs `match` or `cores_per_socket`")
    if factor is None or not isinstance(label, str):
        return None
    return CoreFactor(label.strip(), factor, _where(path, doc), tuple(str(p) for p in patterns),
                      cps if isinstance(cps, int) else None)


def load_core_factors(path: str | Path, label: str | None = None) -> CoreFactorTable:
    """Read and validate ``core_factors.yml``; raises ``RuleDataError`` listing every mistake.

    ``label`` is how the file is named in messages and traces (default: ``path``).
    """
    doc, errors = _read_yaml(Path(label or path), Path(path)), []
    path = Path(label or path)
    if not isinstance(doc, dict):
        raise RuleDataError([f"{path}: expected a mapping with `default` and `factors`"])
    default = _core_factor_row(path, doc.get("default") or {"label": "unlisted processor", "factor": 1},
                               errors, default=True)
    rows = doc.get("factors")
    if not isinstance(rows, list):
        errors.append(f"{_where(path, doc, 'factors')}: factors: expected a list")
        rows = []
    parsed = [_core_factor_row(path, row, errors) for row in rows]
    if errors:
        raise RuleDataError(errors)
    return CoreFactorTable(tuple(r for r in parsed if r is not None), default)


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
    origin: str = "default"  # file:line of the entry, shown in traces


_INT_PARAMS = {"pack": 1, "min_per_processor": 0, "min_per_server": 0, "min_per_vm": 0,
               "sockets_per_licence": 1, "vms_per_licence": 1, "max_sockets": 1}  # name -> minimum


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
    """Everything the metric functions need from data: product rules and core factors."""

    products: tuple[ProductRule, ...]
    core_factors: CoreFactorTable
    _index: dict = field(default_factory=dict, compare=False, repr=False)  # lookups, filled on first use

    def rule_for(self, publisher: str | None, product: str, edition: str | None) -> ProductRule | None:
        """The entry for this edition if there is one, else the product's edition-less entry."""
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


def _params(path: Path, entry: Any, metric: str, doc: Any, errors: list[str]) -> MetricParams:
    where = _where(path, doc) if isinstance(doc, _Map) else _where(path, entry, "metrics")
    if doc is None:
        return MetricParams(origin=where)
    if not isinstance(doc, dict):
        errors.append(f"{where}: {metric}: expected a mapping of parameters")
        return MetricParams(origin=where)
    known = {f.name for f in fields(MetricParams)} - {"origin"}
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key not in known:
            errors.append(f"{where}: {metric}.{key}: unknown parameter (expected one of {', '.join(sorted(known))})")
        elif key == "core_factor":
            if not isinstance(value, bool):
                errors.append(f"{where}: {metric}.core_factor: expected true or false, got {value!r}")
            values[key] = bool(value)
        elif not isinstance(value, int) or isinstance(value, bool) or value < _INT_PARAMS[key]:
            errors.append(f"{where}: {metric}.{key}: expected a whole number >= {_INT_PARAMS[key]}, got {value!r}")
        else:
            values[key] = value
    return MetricParams(origin=where, **values)


def _product_rule(path: Path, entry: Any, errors: list[str]) -> ProductRule | None:
    if not isinstance(entry, dict):
        errors.append(f"{path}: each entry of `products` must be a mapping")
        return None
    known = {"publisher", "product", "edition", "default_metric", "metrics", "source"}
    for key in entry:
        if key not in known:
            errors.append(f"{_where(path, entry, key)}: unknown key {key!r} "
                          f"(expected one of {', '.join(sorted(known))})")
    for key in ("publisher", "product"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            errors.append(f"{_where(path, entry, key if key in entry else None)}: {key}: required text")
    default = entry.get("default_metric")
    if default is not None and default not in METRICS:
        errors.append(f"{_where(path, entry, 'default_metric')}: default_metric: {default!r} is not one of "
                      f"{', '.join(METRICS)}")
    metrics = entry.get("metrics") or {}
    if not isinstance(metrics, dict):
        errors.append(f"{_where(path, entry, 'metrics')}: metrics: expected a mapping of metric -> parameters")
        metrics = {}
    params = {}
    for metric, doc in metrics.items():
        if metric not in METRICS:
            errors.append(f"{_where(path, metrics, metric)}: metrics: {metric!r} is not one of "
                          f"{', '.join(METRICS)}")
            continue
        params[metric] = _params(path, metrics, metric, doc, errors)
    if not isinstance(entry.get("publisher"), str) or not isinstance(entry.get("product"), str):
        return None
    edition = entry.get("edition")
    return ProductRule(entry["publisher"].strip(), entry["product"].strip(), str(edition).strip() if edition else None,
                       default, params, entry.get("source"), _where(path, entry))


def load_metric_rules(path: str | Path, core_factors: CoreFactorTable, label: str | None = None) -> MetricRules:
    """Read and validate ``metric_rules.yml``; raises ``RuleDataError`` listing every mistake."""
    doc, errors = _read_yaml(Path(label or path), Path(path)), []
    path = Path(label or path)
    if not isinstance(doc, dict) or not isinstance(doc.get("products"), list):
        raise RuleDataError([f"{_where(path, doc)}: expected a mapping with a `products` list"])
    rules, seen = [], {}
    for entry in doc["products"]:
        rule = _product_rule(path, entry, errors)
        if rule is None:
            continue
        if rule.key() in seen:
            errors.append(f"{rule.origin}: {rule.publisher} / {rule.product} / {rule.edition or '(any edition)'} "
                          f"is already defined at {seen[rule.key()]}")
        seen.setdefault(rule.key(), rule.origin)
        rules.append(rule)
    if errors:
        raise RuleDataError(errors)
    return MetricRules(tuple(rules), core_factors)


def load_rules(directory: str | Path | None = None) -> MetricRules:
    """Both rule files from ``directory`` (default: the shipped ``catalogue/metrics/``, named so in traces)."""
    if directory is None:
        factors = load_core_factors(RULES_DIR / "core_factors.yml", "catalogue/metrics/core_factors.yml")
        return load_metric_rules(RULES_DIR / "metric_rules.yml", factors, "catalogue/metrics/metric_rules.yml")
    directory = Path(directory)
    return load_metric_rules(directory / "metric_rules.yml", load_core_factors(directory / "core_factors.yml"))


@lru_cache(maxsize=1)
def default_rules() -> MetricRules:
    """The shipped rule files, read once."""
    return load_rules()
