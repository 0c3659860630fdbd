//! Where the Docker (or Podman) engine is: the standard `DOCKER_HOST`, `DOCKER_TLS_VERIFY`
//! and `DOCKER_CERT_PATH` variables, as the docker CLI reads them.

use std::path::PathBuf;

use super::Validator;
use crate::{DockerConfig, DockerTls};

impl Validator<'_, '_> {
    pub(super) fn docker(&mut self) -> DockerConfig {
        let host = self.env_var("DOCKER_HOST").unwrap_or_else(|| DockerConfig::DEFAULT_HOST.to_string());
        let known = ["unix://", "tcp://", "http://", "https://"];
        if !known.iter().any(|scheme| host.starts_with(scheme)) {
            self.p.at(
                None,
                "DOCKER_HOST",
                format!("{host:?} is not an engine address; use unix:///var/run/docker.sock or tcp://host:2376"),
            );
        }
        let verify = self.env_var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
        if !(verify || host.starts_with("https://")) {
            return DockerConfig { host, tls: None };
        }
        let dir = match (self.env_var("DOCKER_CERT_PATH"), self.env_var("HOME")) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(home)) => PathBuf::from(home).join(".docker"),
            (None, None) => {
                self.p.at(
                    None,
                    "DOCKER_CERT_PATH",
                    "TLS to the engine needs the folder of ca.pem, cert.pem and key.pem; set DOCKER_CERT_PATH",
                );
                return DockerConfig { host, tls: None };
            }
        };
        let tls = DockerTls { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") };
        if host.starts_with("unix://") {
            self.p.at(
                None,
                "DOCKER_TLS_VERIFY",
                "TLS is for a remote engine (tcp://host:2376); unset it for a unix socket",
            );
        }
        DockerConfig { host, tls: Some(tls) }
    }
}
