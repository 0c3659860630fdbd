-- (PostgreSQL) The replicas of a cluster on one store: each `serve` heartbeats its row; the live ones share
-- the checks.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    listen TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    checks BIGINT NOT NULL
);
