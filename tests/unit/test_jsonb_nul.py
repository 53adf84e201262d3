"""The PostgreSQL store's NUL-safe JSONB (``store/jsonb_nul.py``): any string survives, through a real server too."""

from __future__ import annotations

import json

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sam_engine.store import jsonb_nul
from sam_engine.store.jsonb_nul import ESCAPE

# Lone surrogates never reach the store (ingest makes them U+FFFD), so the text is valid Unicode.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["\x00", ESCAPE, "0", "\\"]))
DOCS = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)


@given(DOCS)
def test_any_document_round_trips(doc):
    text = jsonb_nul.dumps(doc)
    assert "\\u0000" not in text.replace("\\\\", "")  # what JSONB refuses never reaches it
    assert jsonb_nul.loads(text) == doc
    # PostgreSQL answers with the characters raw, not as JSON escapes.
    assert jsonb_nul.loads(json.dumps(json.loads(text), ensure_ascii=False)) == doc


def test_ordinary_documents_are_plain_json():
    doc = {"name": "Microsoft Office Professional Plus 2021", "version": "16.0.14332.20447", "n": [1, None]}
    assert jsonb_nul.dumps(doc) == json.dumps(doc)


@pytest.fixture(scope="module")
def conn(pg_server):
    with psycopg.connect(pg_server.url(pg_server.create_db(), password=True), autocommit=True) as connection:
        jsonb_nul.install(connection)
        connection.execute("CREATE TABLE docs (doc jsonb NOT NULL)")
        yield connection


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_any_document_round_trips_through_postgresql(conn, doc):
    conn.execute("TRUNCATE docs")
    conn.execute("INSERT INTO docs VALUES (%s)", (psycopg.types.json.Jsonb(doc),))
    assert conn.execute("SELECT doc FROM docs").fetchone()[0] == doc
