//! `GET /api/backup`: a backup archive of the store and the config as a download, for operators
//! (the bearer token) only: it holds everything obsctl knows.

use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use obsctl_store::backup::archive::ConfigFile;
use tokio::io::AsyncReadExt;

use crate::auth::ApiOperator;
use crate::{ApiError, AppState};

pub async fn download(State(s): State<AppState>, _op: ApiOperator) -> Result<Response, ApiError> {
    let name = format!("obsctl-backup-{}.jsonl.gz", obsctl_core::Timestamp::now().rfc3339().replace([':', '-'], ""));
    let path = std::env::temp_dir().join(format!("{}-{name}", obsctl_store::new_id("dl")));
    let archived = ConfigFile::read(Path::new(&s.config.file));
    let backend = obsctl_store::backend_of(&s.config.store.url);
    // Writing the archive compresses and writes on this thread: on a multi-threaded runtime the
    // other tasks move to the other workers meanwhile instead of waiting behind it.
    let take = obsctl_store::backup::take(s.store.as_ref(), &path, backend, archived, Box::new(|_, _| {}));
    let handle = tokio::runtime::Handle::current();
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(|| handle.block_on(take))?;
    } else {
        take.await?;
    }
    let file = tokio::fs::File::open(&path).await.map_err(ApiError::internal);
    // The open file stays readable; nothing is left in the temp folder whatever the client does.
    let _ = std::fs::remove_file(&path);
    let mut file = file?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut buf = vec![0; 1 << 16];
        loop {
            let sent = match file.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await,
                Err(e) => tx.send(Err(e)).await,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let headers = [
        (header::CONTENT_TYPE, "application/gzip".to_string()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
    ];
    Ok((headers, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))).into_response())
}
