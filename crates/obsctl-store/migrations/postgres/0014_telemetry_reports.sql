-- What each service's `obsctl telemetry check` last reported (POST /api/v1/telemetry-reports):
-- one row per service, replaced by its next report; the report itself as JSON.
CREATE TABLE telemetry_reports (
    service TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    report TEXT NOT NULL
);
