-- Incident memory: one episode per ended incident opening, and the fix-efficacy ledger.
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
    opened_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    time_to_recover_ms INTEGER NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX episodes_by_cluster ON episodes(cluster, ended_at);

CREATE TABLE ledger (
    cluster TEXT NOT NULL,
    action_key TEXT NOT NULL,
    steps TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    successes INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    median_ttr_ms INTEGER,
    ttr_samples_ms TEXT NOT NULL,
    last_used INTEGER NOT NULL,
    episodes TEXT NOT NULL,
    PRIMARY KEY (cluster, action_key)
);
