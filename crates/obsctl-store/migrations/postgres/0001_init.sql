-- obsctl schema v1 (PostgreSQL). Never edit a shipped migration; add the next file instead.
-- Integers are BIGINT throughout (timestamps are unix milliseconds), matching the SQLite schema.
CREATE TABLE checks (
    key BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'unknown',
    status_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE observations (
    seq BIGSERIAL PRIMARY KEY,
    check_key BIGINT NOT NULL REFERENCES checks(key),
    at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    latency_us BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX observations_by_check ON observations(check_key, seq);

CREATE TABLE incidents (
    seq BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    check_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    occurrences BIGINT NOT NULL,
    reopen_count BIGINT NOT NULL,
    upstream_incident TEXT,
    resolution TEXT
);
CREATE INDEX incidents_by_fingerprint ON incidents(fingerprint, opened_at);
CREATE INDEX incidents_by_status ON incidents(status, updated_at);

CREATE TABLE incident_events (
    id BIGSERIAL PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX incident_events_by_incident ON incident_events(incident_id, id);

CREATE TABLE actions (
    seq BIGSERIAL UNIQUE,
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    service TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    planner TEXT NOT NULL,
    runbook TEXT,
    step BIGINT NOT NULL,
    tool TEXT NOT NULL,
    args TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    result TEXT,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    decided_by TEXT
);
CREATE INDEX actions_by_state ON actions(state, created_at);
CREATE INDEX actions_by_incident ON actions(incident_id, created_at);
CREATE INDEX actions_by_fingerprint ON actions(fingerprint, created_at);

CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
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
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL
);
