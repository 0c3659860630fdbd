//! The TLS expiry check against a real TLS server (`openssl s_server`) whose certificate comes
//! from a private CA generated here, valid for 5 days.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use obsctl_core::check::{HttpProbe, Probe};

use crate::probes::{http, run};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a localhost certificate it signed, valid for `days`.
fn make_certs(dir: &Path, days: u32) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=obsctl test CA"],
        ]
        .concat(),
    );
    openssl(dir, &[&["req"], &ec[..], &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(dir.join("leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    let days = days.to_string();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            &days,
            "-extfile",
            "leaf.ext",
        ],
    );
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(dir: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string(), "-cert", "leaf.pem", "-key", "leaf.key"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not listen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (Server(child), port)
}

#[tokio::test]
async fn certificate_expiry_against_a_real_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path(), 5);
    let (_server, port) = serve(dir.path()).await;
    let url = format!("https://localhost:{port}/");
    let ca = Some(dir.path().join("ca.pem").display().to_string());
    let probe = |days| Probe::Http(HttpProbe { cert_days_left_over: Some(days), ca_file: ca.clone(), ..http(&url) });

    let (ok, detail) = run(probe(3), 5000).await;
    assert!(ok, "{detail}");
    let (ok, detail) = run(probe(10), 5000).await;
    assert!(!ok && detail.contains("certificate expires in 4 days (want more than 10)"), "{detail}");
    // Without the private CA the certificate is not trusted at all.
    let (ok, detail) = run(Probe::Http(http(&url)), 5000).await;
    assert!(!ok && detail.to_lowercase().contains("certificate"), "{detail}");
    // A missing CA file is a clear failure, not a panic.
    let missing = Probe::Http(HttpProbe { ca_file: Some("/no/such/ca.pem".into()), ..http(&url) });
    let (ok, detail) = run(missing, 5000).await;
    assert!(!ok && detail.starts_with("ca_file /no/such/ca.pem"), "{detail}");
}
