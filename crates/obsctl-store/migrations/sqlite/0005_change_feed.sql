-- The journal's change feed, which the Bolt graph mirror reads in (updated_at, id) order.
CREATE INDEX incidents_by_change ON incidents(updated_at, id);
CREATE INDEX actions_by_change ON actions(updated_at, id);
