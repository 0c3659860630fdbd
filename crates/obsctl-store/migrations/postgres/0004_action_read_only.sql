-- Read-only actions (e.g. fs.usage) never spend budgets or start a runbook's cooldown.
ALTER TABLE actions ADD COLUMN read_only BIGINT NOT NULL DEFAULT 0;
