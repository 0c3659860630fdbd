-- What each check looks at (a digest of its probe: kind, URL, address, path, query…). When a
-- check's target changes, its history is kept under a new name and the check starts afresh.
ALTER TABLE checks ADD COLUMN target TEXT;
