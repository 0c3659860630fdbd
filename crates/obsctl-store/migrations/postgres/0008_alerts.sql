-- Alerts from outside (Alertmanager, Grafana, generic events): the last delivery of each alert,
-- keyed by its source and fingerprint, and every webhook request received.
CREATE TABLE alerts (
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    starts_at BIGINT,
    ends_at BIGINT,
    source_url TEXT,
    incident_id TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    deliveries BIGINT NOT NULL,
    PRIMARY KEY (source, fingerprint)
);
CREATE INDEX alerts_by_last_seen ON alerts(last_seen);

CREATE TABLE alert_deliveries (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    alerts BIGINT NOT NULL,
    truncated BIGINT NOT NULL
);
