//! Organizations' files in blob storage, through one interface (`object_store`): the local
//! file system under the data directory by default, or an S3-compatible bucket.
//!
//! An upload is first spooled to a local file while its SHA-256 and MD5 are computed, so
//! that bytes already stored (same SHA-256 in the organization) are never written to the
//! store again, and so that nothing reaches the store's final key before it is complete.
//! Keeping a spooled file is a rename on the local backend and a (multipart) upload on S3.

use std::io::Write;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use md5::{Digest as _, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use purser_domain::Id;
use sha2::{Digest as _, Sha256};

/// Where files are kept.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// Under this folder (created 0700).
    Local {
        root: PathBuf,
    },
    S3(S3Settings),
}

#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// e.g. `http://127.0.0.1:9000`; none for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `bucket.host/key` instead of `host/bucket/key`.
    pub virtual_hosted_style: bool,
    /// The endpoint browsers reach, for pre-signed links (default: `endpoint`).
    pub public_endpoint: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BlobSettings {
    pub backend: BlobBackend,
    /// Where uploads are spooled while they arrive; on the local backend this is inside
    /// the root so that keeping a file is a rename.
    pub spool_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob storage configuration: {0}")]
    Config(String),
    #[error("blob storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("spooling an upload: {0}")]
    Io(#[from] std::io::Error),
}

pub type BlobResult<T> = std::result::Result<T, BlobError>;

/// Uploads are written to the spool in blocks this large, each hashed and written off the
/// async threads while the next block arrives.
const SPOOL_BLOCK: usize = 1 << 20;
/// Parts of an S3 multipart upload (S3 wants at least 5 MiB but the last).
const S3_PART: usize = 8 << 20;
/// How much of the start of a file is kept for checking its content type.
pub const HEAD_BYTES: usize = 8192;

pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// S3: signs links for the public endpoint.
    signer: Option<AmazonS3>,
    spool_dir: PathBuf,
    /// Local backend: spooled files are renamed into place under this key prefix.
    spool_key: Option<String>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("store", &self.store.to_string()).finish_non_exhaustive()
    }
}

/// The key of a stored file: sharded by the first bytes of its SHA-256 so that no folder
/// (or S3 prefix) holds millions of entries.
pub fn file_key(org: Id, sha256: &str) -> String {
    format!("tenants/{org}/files/{}/{}/{sha256}", &sha256[..2], &sha256[2..4])
}

fn org_prefix(org: Id) -> Path {
    Path::from(format!("tenants/{org}"))
}

impl Blobs {
    pub fn new(settings: BlobSettings) -> BlobResult<Self> {
        match settings.backend {
            BlobBackend::Local { root } => {
                create_private_dir(&root)?;
                let spool_dir = root.join("spool");
                create_private_dir(&spool_dir)?;
                let store = LocalFileSystem::new_with_prefix(&root)?;
                Ok(Self { store: Arc::new(store), signer: None, spool_dir, spool_key: Some("spool".into()) })
            }
            BlobBackend::S3(s3) => {
                if s3.bucket.is_empty() {
                    return Err(BlobError::Config("storage.s3.bucket is needed".into()));
                }
                // reqwest is built without a TLS provider of its own: use ring, as the rest of
                // Purser does (a no-op when one is installed already).
                let _ = rustls::crypto::ring::default_provider().install_default();
                let public = s3.public_endpoint.clone().or_else(|| s3.endpoint.clone());
                let store = s3_client(&s3, s3.endpoint.as_deref())?;
                let signer = s3_client(&s3, public.as_deref())?;
                create_private_dir(&settings.spool_dir)?;
                Ok(Self {
                    store: Arc::new(store),
                    signer: Some(signer),
                    spool_dir: settings.spool_dir,
                    spool_key: None,
                })
            }
        }
    }

    /// A new spool file for an upload. Dropped unkept, it is removed.
    pub fn spool(&self) -> BlobResult<Spool> {
        let name = format!("{:032x}", rand::random::<u128>());
        let path = self.spool_dir.join(&name);
        let file = private_file(&path)?;
        Ok(Spool {
            file: SpoolFile { path, name },
            state: Some(Hashing { file, sha256: Sha256::new(), md5: Md5::new(), block: Vec::new() }),
            pending: None,
            block: Vec::with_capacity(SPOOL_BLOCK),
            size: 0,
            head: Vec::new(),
        })
    }

    /// Whether the file under `key` is there.
    pub async fn exists(&self, key: &str) -> BlobResult<bool> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a spooled upload under `key` (replacing nothing: callers keep a key only
    /// once its database row says the bytes are not there yet).
    pub async fn keep(&self, spooled: Spooled, key: &str) -> BlobResult<()> {
        let to = Path::from(key);
        if let Some(prefix) = &self.spool_key {
            let from = Path::from(format!("{prefix}/{}", spooled.file.name));
            self.store.rename(&from, &to).await?;
            return Ok(());
        }
        let mut file = tokio::fs::File::open(&spooled.file.path).await?;
        if spooled.size <= S3_PART as u64 {
            let bytes = tokio::fs::read(&spooled.file.path).await?;
            self.store.put(&to, PutPayload::from(bytes)).await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&to).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART);
        let mut buf = vec![0; S3_PART];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(2).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// The bytes under `key`, or the `range` of them, as they are read.
    pub async fn read(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> BlobResult<BoxStream<'static, BlobResult<Bytes>>> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let got = self.store.get_opts(&Path::from(key), options).await?;
        Ok(got.into_stream().map_err(BlobError::from).boxed())
    }

    /// Removes the file under `key`; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> BlobResult<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes every file of an organization (its purge). Returns how many.
    pub async fn delete_organization(&self, org: Id) -> BlobResult<u64> {
        let prefix = org_prefix(org);
        let locations = self.store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
        let deleted = self.store.delete_stream(locations).try_collect::<Vec<_>>().await?;
        Ok(deleted.len() as u64)
    }

    /// S3: a pre-signed GET for the public endpoint that downloads as `filename`.
    pub async fn presigned_url(
        &self,
        key: &str,
        expires_in: Duration,
        disposition: &str,
    ) -> BlobResult<Option<String>> {
        let Some(signer) = &self.signer else { return Ok(None) };
        let options = SignedUrlOptions::new().with_query([("response-content-disposition", disposition)]);
        let url = signer.signed_url_opts(http::Method::GET, &Path::from(key), expires_in, &options).await?;
        Ok(Some(url.to_string()))
    }

    /// Removes spool files older than `age` (uploads a crash left behind). Returns how many.
    #[allow(clippy::disallowed_methods)] // files' times are the wall clock's, whatever Purser's clock says
    pub fn sweep_spool(&self, age: Duration) -> BlobResult<u64> {
        let cutoff = SystemTime::now() - age;
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.spool_dir)? {
            let entry = entry?;
            let modified = entry.metadata()?.modified()?;
            if modified < cutoff && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn s3_client(s3: &S3Settings, endpoint: Option<&str>) -> BlobResult<AmazonS3> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.access_key_id)
        .with_secret_access_key(&s3.secret_access_key)
        .with_virtual_hosted_style_request(s3.virtual_hosted_style);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    Ok(builder.build()?)
}

fn create_private_dir(dir: &FsPath) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_file(path: &FsPath) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A spool file, removed when dropped unless it was moved into the store.
struct SpoolFile {
    path: PathBuf,
    name: String,
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        // Gone already when it was kept (renamed) on the local backend.
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Hashing {
    file: std::fs::File,
    sha256: Sha256,
    md5: Md5,
    /// The block buffer, handed back for the next block.
    block: Vec<u8>,
}

impl Hashing {
    /// Hashes and writes one block: MD5 on a second thread, SHA-256 and the write on this one.
    fn absorb(mut self, block: Vec<u8>) -> std::io::Result<Self> {
        let Self { file, sha256, md5, .. } = &mut self;
        std::thread::scope(|scope| {
            scope.spawn(|| md5.update(&block));
            sha256.update(&block);
            file.write_all(&block)
        })?;
        self.block = block;
        Ok(self)
    }
}

/// An upload being written to the spool.
pub struct Spool {
    file: SpoolFile,
    /// The hashes and file, here between blocks or in `pending` while a block is absorbed.
    state: Option<Hashing>,
    pending: Option<tokio::task::JoinHandle<std::io::Result<Hashing>>>,
    block: Vec<u8>,
    size: u64,
    head: Vec<u8>,
}

/// A complete upload in the spool, with what was learned while it arrived.
pub struct Spooled {
    file: SpoolFile,
    pub sha256: String,
    pub md5: String,
    pub size: u64,
    /// Its first bytes, to check its content type.
    pub head: Vec<u8>,
}

impl Spool {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, mut chunk: &[u8]) -> std::io::Result<()> {
        self.size += chunk.len() as u64;
        if self.head.len() < HEAD_BYTES {
            let take = chunk.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        while !chunk.is_empty() {
            let take = chunk.len().min(SPOOL_BLOCK - self.block.len());
            self.block.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.block.len() == SPOOL_BLOCK {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Hands the full block to a blocking thread, after the previous one is absorbed.
    async fn flush(&mut self) -> std::io::Result<()> {
        let mut state = self.settle().await?;
        let next = std::mem::take(&mut state.block);
        let block = std::mem::replace(&mut self.block, next);
        self.block.clear();
        self.pending = Some(tokio::task::spawn_blocking(move || state.absorb(block)));
        Ok(())
    }

    async fn settle(&mut self) -> std::io::Result<Hashing> {
        match self.pending.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => self.state.take().ok_or_else(|| std::io::Error::other("spool used after a failure")),
        }
    }

    /// Writes the rest, syncs the file and returns what it holds.
    pub async fn finish(mut self) -> std::io::Result<Spooled> {
        let state = self.settle().await?;
        let block = std::mem::take(&mut self.block);
        let state = tokio::task::spawn_blocking(move || {
            let state = state.absorb(block)?;
            state.file.sync_data()?;
            Ok::<_, std::io::Error>(state)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Spooled {
            file: self.file,
            sha256: hex::encode(state.sha256.finalize()),
            md5: hex::encode(state.md5.finalize()),
            size: self.size,
            head: self.head,
        })
    }
}
