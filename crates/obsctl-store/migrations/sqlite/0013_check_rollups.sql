-- History at a glance: each check's runs summed per hour and per day (span_ms 3600000 or
-- 86400000), and its latencies per hour as a histogram of quarter-octave buckets, written with
-- the observations, so uptime and percentiles over 30 days read sums, not every observation.
-- The sums start from the observations already kept.
CREATE TABLE check_rollups (
    check_key INTEGER NOT NULL REFERENCES checks(key),
    span_ms INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    passes INTEGER NOT NULL,
    unknowns INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    PRIMARY KEY (check_key, span_ms, start_ms)
) WITHOUT ROWID;
CREATE INDEX check_rollups_by_start ON check_rollups(span_ms, start_ms);

CREATE TABLE check_latency (
    check_key INTEGER NOT NULL REFERENCES checks(key),
    start_ms INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (check_key, start_ms, bucket)
) WITHOUT ROWID;
CREATE INDEX check_latency_by_start ON check_latency(start_ms);

INSERT INTO check_rollups (check_key, span_ms, start_ms, runs, passes, unknowns, latency_sum_us)
SELECT check_key, span.ms, (at / span.ms) * span.ms, COUNT(*), SUM(ok = 1), SUM(ok = 2),
       SUM(CASE WHEN ok = 2 THEN 0 ELSE latency_us END)
FROM observations, (SELECT 3600000 AS ms UNION ALL SELECT 86400000) AS span
WHERE at >= 0
GROUP BY check_key, span.ms, (at / span.ms) * span.ms;
