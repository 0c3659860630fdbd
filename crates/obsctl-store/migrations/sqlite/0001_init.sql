-- obsctl schema v1 (SQLite). Never edit a shipped migration; add the next file instead.
CREATE TABLE checks (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'unknown',
    status_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE observations (
    seq INTEGER PRIMARY KEY,
    check_key INTEGER NOT NULL REFERENCES checks(key),
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_us INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX observations_by_check ON observations(check_key, seq);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    check_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER,
    occurrences INTEGER NOT NULL,
    reopen_count INTEGER NOT NULL,
    upstream_incident TEXT,
    resolution TEXT
);
CREATE INDEX incidents_by_fingerprint ON incidents(fingerprint, opened_at);
CREATE INDEX incidents_by_status ON incidents(status, updated_at);

CREATE TABLE incident_events (
    id INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, id);

CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    service TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    planner TEXT NOT NULL,
    runbook TEXT,
    step INTEGER NOT NULL,
    tool TEXT NOT NULL,
    args TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    result TEXT,
    outcome TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    decided_by TEXT
);
CREATE INDEX actions_by_state ON actions(state, created_at);
CREATE INDEX actions_by_incident ON actions(incident_id, created_at);
CREATE INDEX actions_by_fingerprint ON actions(fingerprint, created_at);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    data TEXT NOT NULL
);

CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    service TEXT,
    kind TEXT,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL
);
