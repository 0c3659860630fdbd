-- Where an episode came from (the instance, and an incident, a file or a postmortem), and when
-- this store last wrote it: the key that the recall index and memory sync follow.
ALTER TABLE episodes ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE episodes ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE episodes ADD COLUMN stored_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX episodes_by_stored ON episodes(stored_at, id);
