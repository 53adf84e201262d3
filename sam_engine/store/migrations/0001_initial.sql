-- fleetsam store schema 1: the documents of store.documents.TABLES, one row each.
-- Key columns are real columns (unique, indexed, referenced); the rest of a
-- document is JSONB as the engine reads it. ``seq`` keeps the order documents
-- were added in (scans: the commit order the fleet is built in).

CREATE TABLE scans (
    seq bigserial PRIMARY KEY,
    scan_id text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE host_scans (
    seq bigserial PRIMARY KEY,
    scan_id text NOT NULL REFERENCES scans (scan_id),
    inventory_name text NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX host_scans_scan_id ON host_scans (scan_id);

-- the string and row tables of the inventories a scan stored first
CREATE TABLE snapshots (
    seq bigserial PRIMARY KEY,
    scan_id text NOT NULL UNIQUE REFERENCES scans (scan_id),
    doc jsonb NOT NULL
);

-- content-addressed: an unchanged host adds no row here
CREATE TABLE inventories (
    seq bigserial PRIMARY KEY,
    digest text NOT NULL UNIQUE,
    scan_id text NOT NULL REFERENCES snapshots (scan_id),
    doc jsonb NOT NULL
);

CREATE TABLE entitlements (
    seq bigserial PRIMARY KEY,
    entitlement_id text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE findings_state (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE notify_outbox (
    seq bigserial PRIMARY KEY,
    delivery_id text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE scan_summaries (
    seq bigserial PRIMARY KEY,
    scan_id text NOT NULL UNIQUE,
    doc jsonb NOT NULL
);

CREATE TABLE retired (
    seq bigserial PRIMARY KEY,
    key text NOT NULL,
    doc jsonb NOT NULL
);
