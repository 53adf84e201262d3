-- fleetsam store schema 2: a host's facts (hardware, identity) stored once per
-- distinct content. A run's row per host names them by digest (doc->>'host_digest'),
-- so the daily run of an unchanged fleet adds only small rows; rows written
-- before keep their facts inline and are read as they are.

CREATE TABLE host_facts (
    digest text PRIMARY KEY,
    doc jsonb NOT NULL
);
