"""Editions: which edition an entitlement covers, edition lines, and editionless records.

The rules, each data-driven or a small function:

* ``edition: any`` on an entitlement covers every edition of its product; an
  entitlement naming no edition covers only installations recognised without an
  edition (``coverage.matches_product``), and the rows it does not cover say so
  (``editionless_notes``), so it never covers Standard and Home silently.
* edition lines (catalogue ``edition_lineage``): editions that succeed one another
  are one row, named after the line's first edition; an entitlement for a later
  edition covers an earlier one's installations only with downgrade rights.
  Example: ``Professional Plus -> LTSC Professional Plus``; one LTSC Professional
  Plus 2021 entitlement with downgrade rights covers Professional Plus 2019 and
  2016 in the "Office Professional Plus" row; a Professional Plus 2019
  entitlement never covers LTSC Professional Plus 2021.
* ``fold_editionless``: a record without edition on a host that has an edition of
  the same product is that edition's software and is not counted again.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Container, Sequence

from sam_engine.licensing.hardware_counts import plural, some_of
from sam_engine.licensing.metric_rules import norm
from sam_engine.licensing.placements import SHIFT, host_indexes
from sam_engine.model import Entitlement, Recognition
from sam_engine.vocabulary import ANY_EDITION

if TYPE_CHECKING:  # annotations only: reconcile imports this module
    from sam_engine.licensing.reconcile import ProductGroup

ProductKey = tuple[str, str, str]  # normalised (publisher, product, row edition)


def product_key(publisher: str | None, product: str, edition: str | None) -> ProductKey:
    return norm(publisher), norm(product), norm(edition)


def every_edition(ent: Entitlement) -> bool:
    """Whether ``ent`` names ``edition: any``: it covers every edition of its product."""
    return norm(ent.edition) == ANY_EDITION


@dataclass(frozen=True)
class EditionLines:
    """The catalogue's edition lines per product: editions that succeed one another, oldest first.

    ``lines`` maps (publisher, product) to its lines as written, e.g. ``("microsoft", "office") ->
    (("Professional Plus", "LTSC Professional Plus"),)``. Every edition of a line is counted in
    one row, named by the line's first edition.
    """

    lines: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    _index: dict = field(default_factory=dict, compare=False, repr=False)  # filled on first use

    def place(self, publisher: str | None, product: str, edition: str | None) -> tuple[tuple[str, ...], int] | None:
        """(the line, the edition's rank in it) when ``edition`` is on a line of the product, else None."""
        if not self.lines or not edition:
            return None
        if not self._index:
            for (pub, prod), lines in self.lines.items():
                for line in lines:
                    for rank, name in enumerate(line):
                        self._index[(norm(pub), norm(prod), norm(name))] = (line, rank)
        return self._index.get(product_key(publisher, product, edition))

    def row(self, publisher: str | None, product: str, edition: str | None) -> str | None:
        """The edition the row of ``edition`` is named after (itself when it is on no line)."""
        found = self.place(publisher, product, edition)
        return found[0][0] if found else edition

    def key(self, publisher: str | None, product: str, edition: str | None) -> ProductKey:
        return product_key(publisher, product, self.row(publisher, product, edition))


NO_LINES = EditionLines()


def covers_edition(ent: Entitlement, rec: Recognition, lines: EditionLines = NO_LINES) -> tuple[bool, str]:
    """Whether ``ent``'s edition covers ``rec``'s on their edition line, and why ("" when it is the same)."""
    if every_edition(ent) or norm(ent.edition) == norm(rec.edition):
        return True, ""
    mine, theirs = lines.place(ent.publisher, ent.product, ent.edition), lines.place(rec.publisher, rec.product,
                                                                                     rec.edition)
    if not mine or not theirs or mine[0] != theirs[0]:
        return False, f"edition {rec.edition or '(none)'} is not {ent.edition or '(none)'}"
    if theirs[1] > mine[1]:
        return False, f"{rec.edition} succeeds {ent.edition}: an entitlement for the earlier edition does not cover it"
    if not ent.downgrade_rights:
        return False, f"{rec.edition} precedes {ent.edition}: no downgrade rights"
    return True, f"{rec.edition} precedes {ent.edition} on its edition line: downgrade rights"


def editionless_notes(edition: str | None, ents: Sequence[Entitlement], active: set[str]) -> list[str]:
    """For a row with an edition: the active entitlements of its product that name no edition, which do not
    count there (said, so an editionless purchase is not silently left out either)."""
    if not edition:
        return []
    return [f"{e.entitlement_id} names no edition: it covers only installations recognised without an edition, "
            f"not the {edition} edition; write `edition: any` if it covers every edition, or name the edition "
            f"it was bought for" for e in ents if not e.edition and e.entitlement_id in active]


def fold_editionless(groups: Sequence[ProductGroup]) -> None:
    """On a host that also has an edition of the same product, a record without edition is that
    edition's software (shared components, the Programs-and-Features entry of an instance): it is
    kept among the product's installations but not counted again.

    Example: win01 has "Microsoft SQL Server 2017 (64-bit) Standard Edition" (the instance,
    edition from its Setup key) and "Microsoft SQL Server 2017" (its Uninstall entry): SQL Server
    Standard counts win01's cores; the editionless SQL Server group counts nothing on win01.
    """
    editions: dict[tuple, list[ProductGroup]] = {}
    for g in groups:
        if g.recognised and g.placements is not None and g.key[2]:
            editions.setdefault(g.key[:2], []).append(g)
    for g in groups:
        siblings = editions.get(g.key[:2]) if g.recognised and g.placements is not None and not g.key[2] else None
        if not siblings or not g.required:
            continue
        covered: dict[int, str] = {}  # host index -> the edition counted there
        for sibling in siblings:
            for h in set(host_indexes(sibling.packed)):
                covered.setdefault(h, sibling.edition or "")
        folded_at, hosts = take_required(g, covered)
        if not folded_at:
            continue
        names = sorted({covered[g.packed[k] >> SHIFT] for k in folded_at})
        g.folded, g.folded_into = len(folded_at), tuple(names)
        g.notes.append(f"{plural(len(folded_at), 'installation')} on {some_of(hosts, 10)}: counted under the "
                       f"{' / '.join(names)} edition found on the same host, not again here")


def take_required(g: ProductGroup, hosts: Container[int]) -> tuple[list[int], list[str]]:
    """Take ``g``'s required installations on ``hosts`` (host indexes) out of what it counts: counted under
    another row on the same host (an edition's, a suite's). Their places in ``g.packed`` and the names of
    their hosts, in name order."""
    at = [k for k in g.required_at if g.packed[k] >> SHIFT in hosts]
    if at:
        g.required_at = array("Q", (k for k in g.required_at if g.packed[k] >> SHIFT not in hosts))
    return at, sorted({g.placements.host_scans[g.packed[k] >> SHIFT].inventory_name for k in at}, key=str.casefold)
