-- (PostgreSQL) How far each replica's own clock is from the store's at its last heartbeat (its clock less the
-- store's, in milliseconds): leases and heartbeats follow the store's clock, but the times a
-- replica writes itself follow its own, so a skew is shown and warned about. And from when, by
-- the store's clock, it runs its share: a replica joining (or back after its heartbeat lapsed)
-- waits a grace, and every replica hands it its share at that same instant.
ALTER TABLE replicas ADD COLUMN clock_offset_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE replicas ADD COLUMN active_from BIGINT NOT NULL DEFAULT 0;
