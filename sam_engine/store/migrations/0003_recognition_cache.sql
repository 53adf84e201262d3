-- fleetsam store schema 3: the recognition cache (store/recognition_cache.py, postgres_cache.py)
-- kept in the database, so that every AWX job and slice finds it. One row per digest of
-- recognition's inputs: the cache document, zlib-compressed by the engine (hence EXTERNAL
-- storage: TOAST does not try to compress it again). Rows are written outside the run's
-- session; the oldest digests are removed by the writer of a new one.

CREATE TABLE recognition_cache (
    digest text PRIMARY KEY,
    saved_at timestamptz NOT NULL DEFAULT now(),
    body bytea NOT NULL
);
ALTER TABLE recognition_cache ALTER COLUMN body SET STORAGE EXTERNAL;
