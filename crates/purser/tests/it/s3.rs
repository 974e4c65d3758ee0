//! A real S3-compatible server for the S3 backend's tests: `s3s` over a folder (`s3s-fs`),
//! which checks every request's SigV4 signature, pre-signed URLs and their expiry included.

use std::path::PathBuf;

use purser::config::{Config, Secret};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub const BUCKET: &str = "purser-test";
const ACCESS_KEY: &str = "purser-test-key";
const SECRET_KEY: &str = "purser-test-secret-0123456789";

pub struct S3Server {
    /// Where Purser reaches it.
    pub endpoint: String,
    /// The same server under another name: the endpoint browsers are given.
    pub public_endpoint: String,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback_service(axum::error_handling::HandleError::new(service, |e: s3s::HttpError| async move {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}"))
            }));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            public_endpoint: format!("http://localhost:{port}"),
            dir,
            task,
        }
    }

    /// Points a configuration at this server.
    pub fn configure(&self, config: &mut Config) {
        config.storage.backend = "s3".into();
        config.storage.s3.endpoint = Some(self.endpoint.clone());
        config.storage.s3.public_endpoint = Some(self.public_endpoint.clone());
        config.storage.s3.bucket = BUCKET.into();
        config.storage.s3.region = Some("us-east-1".into());
        config.storage.s3.access_key_id = Some(Secret::from(ACCESS_KEY));
        config.storage.s3.secret_access_key = Some(Secret::from(SECRET_KEY));
    }

    /// The keys of every object in the bucket.
    pub fn objects(&self) -> Vec<String> {
        let root = self.dir.path().join(BUCKET);
        files_under(&root).into_iter().map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every file below `dir`, sorted.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}
