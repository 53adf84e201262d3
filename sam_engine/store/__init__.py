"""The store: the persistence interface, the fleet view, and its backends (TinyDB embedded, PostgreSQL shared).

``open_store`` is the front door: it picks the backend from the location, so the
backends can import the interface without the interface importing them. This
module reads locations only and imports the interface and a backend when a store
is opened: ``fleetsam scan`` asks ``is_server_location`` before ansible-playbook
starts, and that must not load the engine.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sam_engine.store.interface import Store


SERVER_SCHEMES = ("postgresql", "postgres")  # the URI schemes libpq reads
FILE_SCHEME = "tinydb"
EXPECTED = "a path, tinydb://PATH or postgresql://USER@HOST/DATABASE"
_SCHEME = re.compile("[a-z][a-z0-9+.-]*")  # RFC 3986, in lower case


def _scheme(location: str) -> str:
    """The scheme of a URL location in lower case; "" for a path."""
    scheme, sep, _ = location.partition("://")
    return scheme.lower() if sep else ""


def is_server_location(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a TinyDB file."""
    return _scheme(location) in SERVER_SCHEMES


def normalised(location: str) -> str:
    """``location`` with its scheme in lower case (libpq reads only that); ValueError, the URL masked, for a
    scheme fleetsam does not read: taken as a file path it would create a store named by the URL."""
    scheme = _scheme(location)
    if not scheme:
        return location
    if not _SCHEME.fullmatch(scheme):  # then what precedes "://" may be anything, a password too: not shown
        raise ValueError(f"the store location has no URL scheme before its '://'; expected {EXPECTED}")
    if scheme not in (*SERVER_SCHEMES, FILE_SCHEME):
        raise ValueError(f"{masked(location)}: unsupported store scheme {scheme}://; expected {EXPECTED}")
    return scheme + location[len(scheme):]


def _url_parts(location: str) -> tuple[str, str, str, str]:
    """A URL as (scheme, user part, host and port, path and query). A password may hold ``/``, ``?``, ``#``,
    ``@`` and ``:`` unencoded, so the user part runs to the last ``@``, unless what precedes the first ``:`` is
    no user name (the ``@`` is then in the path or query): a password is never read as a host, at worst a
    host is masked with it."""
    scheme, rest = location.split("://", 1)
    userinfo, at, after = rest.rpartition("@")
    if not at or any(c in userinfo.split(":", 1)[0] for c in "/?#"):
        userinfo, after = "", rest
    cut = min((i for i in (after.find("/"), after.find("?")) if i >= 0), default=len(after))
    return scheme, userinfo, after[:cut], after[cut:]


def _passwords(location: str) -> list[str]:
    """The passwords a URL location holds: in its user part and in ``password=`` parameters."""
    _, userinfo, _, tail = _url_parts(location)
    query = tail.partition("?")[2]
    return ([userinfo.split(":", 1)[1]] if ":" in userinfo else []) + [
        p.removeprefix("password=") for p in query.split("&") if p.startswith("password=")]


def masked(location: str) -> str:
    """``location`` fit to print: the password of a URL (in its user part or a ``password=`` parameter)
    replaced by ``***``; a path as it is."""
    if _scheme(location) in ("", FILE_SCHEME):
        return location
    scheme, userinfo, hostport, tail = _url_parts(location)
    user = f"{userinfo.split(':', 1)[0]}{':***' if ':' in userinfo else ''}@" if userinfo else ""
    path, mark, query = tail.partition("?")
    query = "&".join("password=***" if p.startswith("password=") else p for p in query.split("&"))
    return f"{scheme}://{user}{hostport}{path}{mark}{query}"


def scrubbed(text: str, location: str) -> str:
    """``text`` (a driver's message about ``location``) with the URL's password taken out, as written
    and decoded, and each part of it between the characters that end a part of a URL: libpq cuts the
    user part at the first ``@`` or ``/``, and names the rest as the host, port or database it could not use."""
    if not is_server_location(location):
        return text
    from urllib.parse import unquote

    pieces = {piece for secret in _passwords(location) for text_form in (secret, unquote(secret))
              for piece in (text_form, *re.split("[@/:?#&=]", text_form)) if len(piece) > 1}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def store_exists(location: str) -> bool:
    """Whether ``location`` names a store there to read (a server location always counts as one)."""
    location = normalised(location)
    return is_server_location(location) or os.path.exists(location.removeprefix("tinydb://"))


def open_store(location: str, *, create: bool = True, readonly: bool = False) -> Store:
    """Open the store at ``location``: a path, ``tinydb://PATH`` or ``postgresql://…``.

    Reading commands pass ``create=False``: a store that does not exist raises
    ``NoStore`` and nothing is created (a mistyped ``--store`` must not leave an
    empty store behind). A writer waits its turn behind other writers; a
    ``readonly`` session takes no lock, answers from the last committed state
    and cannot commit changes."""
    from sam_engine.store.interface import NoStore, StoreError

    try:
        location = normalised(location)
    except ValueError as exc:  # refused before anything is created
        raise StoreError(str(exc)) from None
    if not create and not store_exists(location):
        raise NoStore(f"{masked(location)}: no store here (run a scan or fleetsam ingest first)")
    if os.path.isdir(location.removeprefix("tinydb://")):
        raise StoreError(f"{location}: is a directory; a store is a file (e.g. {location.rstrip('/')}/fleetsam.json)")
    if is_server_location(location):
        from sam_engine.store.postgres_store import PostgresStore  # psycopg is an optional extra

        return PostgresStore(location, readonly=readonly)
    from sam_engine.store.tinydb_store import TinyDBStore

    return TinyDBStore(location.removeprefix("tinydb://"), readonly=readonly)
