"""The store: the persistence interface, the fleet view, and its backends (TinyDB embedded, PostgreSQL shared).

``open_store`` is the front door: it picks the backend from the location, so the
backends can import the interface without the interface importing them. This
module reads locations only and imports the interface and a backend when a store
is opened: ``fleetsam scan`` asks ``is_server_location`` before ansible-playbook
starts, and that must not load the engine.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sam_engine.store.interface import Store


def is_server_location(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a TinyDB file."""
    return location.startswith(("postgresql://", "postgres://"))


def _url_parts(location: str) -> tuple[str, str, str, str]:
    """A server URL as (scheme, netloc, path, query); the query may follow the host directly."""
    scheme, rest = location.split("://", 1)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    path, _, query = rest[cut:].partition("?")
    return scheme, rest[:cut], path, query


def masked(location: str) -> str:
    """``location`` fit to print: the password of a server URL (in its user part or a ``password=``
    parameter) replaced by ``***``."""
    if not is_server_location(location):
        return location
    scheme, netloc, path, query = _url_parts(location)
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = "&".join("password=***" if p.startswith("password=") else p for p in query.split("&"))
    return f"{scheme}://{netloc}{path}{'?' if query else ''}{query}"


def scrubbed(text: str, location: str) -> str:
    """``text`` (a driver's message about ``location``) with the URL's password taken out, as written
    and decoded, and each part of it between ``@``: libpq splits a password holding ``@`` elsewhere
    than we do, and names the rest as the host it could not resolve."""
    if not is_server_location(location):
        return text
    from urllib.parse import unquote

    _, netloc, _, query = _url_parts(location)
    userinfo, at, _ = netloc.rpartition("@")
    found = [userinfo.split(":", 1)[1]] if at and ":" in userinfo else []
    found += [p.removeprefix("password=") for p in query.split("&") if p.startswith("password=")]
    pieces = {piece for secret in found for text_form in (secret, unquote(secret))
              for piece in (text_form, *text_form.split("@")) if len(piece) > 1}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def store_exists(location: str) -> bool:
    """Whether ``location`` names a store there to read (a server location always counts as one)."""
    path = location.removeprefix("tinydb://")
    return "://" in path or os.path.exists(path)


def open_store(location: str, *, create: bool = True, readonly: bool = False) -> Store:
    """Open the store at ``location``: a path, ``tinydb://PATH`` or ``postgresql://…``.

    Reading commands pass ``create=False``: a store that does not exist raises
    ``NoStore`` and nothing is created (a mistyped ``--store`` must not leave an
    empty store behind). A writer waits its turn behind other writers; a
    ``readonly`` session takes no lock, answers from the last committed state
    and cannot commit changes."""
    from sam_engine.store.interface import NoStore, StoreError

    if not create and not store_exists(location):
        raise NoStore(f"{masked(location)}: no store here (run a scan or fleetsam ingest first)")
    if os.path.isdir(location.removeprefix("tinydb://")):
        raise StoreError(f"{location}: is a directory; a store is a file (e.g. {location.rstrip('/')}/fleetsam.json)")
    if is_server_location(location):
        from sam_engine.store.postgres_store import PostgresStore  # psycopg is an optional extra

        return PostgresStore(location, readonly=readonly)
    from sam_engine.store.tinydb_store import TinyDBStore

    return TinyDBStore(location.removeprefix("tinydb://"), readonly=readonly)
