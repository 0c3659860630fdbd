-- Memory sync: how much of each ledger entry was learned on other instances, and where this
-- instance is with each central it syncs with.
ALTER TABLE ledger ADD COLUMN remote_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN remote_successes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sync_peers (
    peer TEXT PRIMARY KEY,
    pushed_at INTEGER NOT NULL,
    pushed_id TEXT NOT NULL,
    pulled_at INTEGER NOT NULL,
    pulled_id TEXT NOT NULL,
    pushed INTEGER NOT NULL,
    pulled INTEGER NOT NULL,
    last_attempt INTEGER,
    last_success INTEGER,
    last_error TEXT
);
