-- The replicas of a cluster on one store: each `serve` heartbeats its row; the live ones share
-- the checks.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    listen TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    checks INTEGER NOT NULL
);
