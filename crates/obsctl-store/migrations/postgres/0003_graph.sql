-- DEPENDS_ON edges of the fix-history graph, replaced from the config at start.
CREATE TABLE service_dependencies (
    service TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    PRIMARY KEY (service, depends_on)
);
CREATE INDEX service_dependencies_reverse ON service_dependencies(depends_on);
-- Fix history of a service: its actions, newest first.
CREATE INDEX actions_by_service ON actions(service, created_at);
