-- (PostgreSQL) Memory sync: how much of each ledger entry was learned on other instances, and where this
-- instance is with each central it syncs with.
ALTER TABLE ledger ADD COLUMN remote_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN remote_successes BIGINT NOT NULL DEFAULT 0;
CREATE TABLE sync_peers (
    peer TEXT PRIMARY KEY,
    pushed_at BIGINT NOT NULL,
    pushed_id TEXT NOT NULL,
    pulled_at BIGINT NOT NULL,
    pulled_id TEXT NOT NULL,
    pushed BIGINT NOT NULL,
    pulled BIGINT NOT NULL,
    last_attempt BIGINT,
    last_success BIGINT,
    last_error TEXT
);
