//! A container's last log lines, bounded by lines, bytes and time, however much it logged.

use bollard::query_parameters::LogsOptions;
use serde::Serialize;
use tokio_stream::StreamExt;

use super::{CALL_TIMEOUT, Engine, EngineError};

/// The most lines one request asks for.
pub const MAX_TAIL: usize = 2000;

#[derive(Debug, Clone, Serialize)]
pub struct LogTail {
    /// Oldest first; stdout and stderr interleaved as the engine stored them.
    pub lines: Vec<String>,
    /// Whether `max_bytes` cut what the engine sent.
    pub truncated: bool,
}

impl Engine {
    /// The last `tail` lines (at most `MAX_TAIL`) of a container's output, reading at most
    /// `max_bytes`: a container that logs gigabytes costs no more than that.
    pub async fn logs(&self, container: &str, tail: usize, max_bytes: usize) -> Result<LogTail, EngineError> {
        let name = container.to_string();
        let options =
            LogsOptions { stdout: true, stderr: true, tail: tail.clamp(1, MAX_TAIL).to_string(), ..Default::default() };
        self.call(CALL_TIMEOUT, |d| async move {
            let mut stream = d.logs(&name, Some(options));
            let mut bytes = Vec::new();
            let mut truncated = false;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?.into_bytes();
                let room = max_bytes.saturating_sub(bytes.len());
                if chunk.len() > room {
                    bytes.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                bytes.extend_from_slice(&chunk);
            }
            let text = String::from_utf8_lossy(&bytes);
            Ok(LogTail { lines: text.lines().map(str::to_string).collect(), truncated })
        })
        .await
    }
}
