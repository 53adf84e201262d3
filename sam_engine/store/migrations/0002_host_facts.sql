-- fleetsam store schema 2: a fleet's daily run adds small rows (store/documents.py, "a host's
-- row in PostgreSQL"). A host's facts (hardware, identity) are stored once per distinct content
-- and a run's row per host names them by digest; rows written before keep their facts inline
-- and are read as they are. One index on host_scans instead of two: (scan_id, seq) serves both
-- a run's rows and the order of all.

CREATE TABLE host_facts (
    digest text PRIMARY KEY,
    doc jsonb NOT NULL
);

ALTER TABLE host_scans DROP CONSTRAINT host_scans_pkey;
DROP INDEX host_scans_scan_id;
ALTER TABLE host_scans ADD PRIMARY KEY (scan_id, seq);
