-- Incident memory (PostgreSQL): one episode per ended incident opening, and the fix-efficacy ledger.
CREATE TABLE episodes (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    cluster TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL,
    text TEXT NOT NULL,
    actions TEXT NOT NULL,
    outcome TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    time_to_recover_ms BIGINT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX episodes_by_cluster ON episodes(cluster, ended_at);

CREATE TABLE ledger (
    cluster TEXT NOT NULL,
    action_key TEXT NOT NULL,
    steps TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    median_ttr_ms BIGINT,
    ttr_samples_ms TEXT NOT NULL,
    last_used BIGINT NOT NULL,
    episodes TEXT NOT NULL,
    PRIMARY KEY (cluster, action_key)
);
