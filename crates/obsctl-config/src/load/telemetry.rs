//! `[telemetry]`: whether `serve` takes OTLP/HTTP from applications, the token they present
//! (`OBSCTL_TELEMETRY_TOKEN` or `token`) and the largest body it takes; checks that read the
//! receiver need it on.

use super::super::raw::RawConfig;
use super::Validator;
use crate::TelemetryConfig;
use obsctl_core::check::CheckSpec;
use obsctl_core::quantity::parse_size;

impl Validator<'_, '_> {
    pub(super) fn telemetry(&mut self, raw: &RawConfig) -> TelemetryConfig {
        let r = &raw.telemetry;
        let mut telemetry = TelemetryConfig {
            receiver: r.receiver.unwrap_or(false),
            token: self.token("OBSCTL_TELEMETRY_TOKEN", r.token.as_ref(), "telemetry.token", "telemetry"),
            ..TelemetryConfig::default()
        };
        if let Some(size) = &r.max_body {
            match parse_size(size.get_ref()) {
                Ok(n) if n >= 64 * 1024 => telemetry.max_body = n as usize,
                Ok(_) => self.p.at(
                    Some(size.span()),
                    "telemetry.max_body",
                    "is below 64KiB; an SDK's batch of 512 spans needs e.g. \"4MiB\"",
                ),
                Err(e) => self.p.at(Some(size.span()), "telemetry.max_body", e),
            }
        }
        telemetry
    }

    /// A freshness check without `url` reads the receiver: refused while it is off.
    pub(super) fn receiver_readers(&mut self, telemetry: &TelemetryConfig, checks: &[CheckSpec]) {
        if telemetry.receiver {
            return;
        }
        for c in checks.iter().filter(|c| c.probe.reads_receiver()) {
            self.p.at(
                None,
                "telemetry.receiver",
                format!("is off, and check {} reads it (it has no url); set [telemetry] receiver = true, or give the check url and query", c.id),
            );
        }
    }
}
