//! A real RFC 3161 time-stamping authority for the tests: `openssl ts -reply` behind a
//! small HTTP server, signing with a certificate from a test CA made for the run (its
//! extended key usage `timeStamping`, critical, as RFC 3161 asks).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use purser::config::Config;

use crate::harness::Options;

/// How the authority's signing certificate is made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// Issued by the CA that Purser trusts, for time-stamping.
    Trusted,
    /// Issued by the trusted CA, but for TLS servers, not for time-stamping.
    NotForTimestamping,
    /// Issued by a CA that Purser does not know.
    UnknownCa,
}

pub struct Tsa {
    pub url: String,
    /// The CA Purser is told to trust.
    pub ca_file: PathBuf,
    /// Requests answered so far.
    requests: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=Purser test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Issues `{name}.crt` (and its key) from the CA `issuer`, for the extended key `usage`.
fn issue(dir: &Path, name: &str, issuer: &str, usage: &str) {
    std::fs::write(
        dir.join(format!("{name}-ext.cnf")),
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"),
    )
    .unwrap();
    let (key, csr, crt, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}-ext.cnf"));
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN=Purser test {name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{issuer}.crt"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

/// Signs the TSTInfo of a genuine reply again with the `server` certificate (not meant
/// for time-stamping; openssl's own TSA refuses to use it) and wraps it as a granted reply.
fn resign_with_server_certificate(dir: &Path) -> Vec<u8> {
    openssl(dir, &["ts", "-reply", "-in", "reply.tsr", "-token_out", "-out", "reply.tok"]);
    openssl(
        dir,
        &["cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", "reply.tok", "-out", "tstinfo.der"],
    );
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-nosmimecap",
            "-outform",
            "DER",
            "-econtent_type",
            "1.2.840.113549.1.9.16.1.4",
            "-md",
            "sha256",
            "-in",
            "tstinfo.der",
            "-signer",
            "server.crt",
            "-inkey",
            "server.key",
            "-out",
            "forged.tok",
        ],
    );
    let token = std::fs::read(dir.join("forged.tok")).unwrap();
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo (SEQUENCE { INTEGER 0 }), token }
    let mut body = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    body.extend_from_slice(&token);
    let mut reply = vec![0x30];
    let n = body.len();
    match n {
        0..=0x7f => reply.push(n as u8),
        0x80..=0xff => reply.extend([0x81, n as u8]),
        _ => reply.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    reply.extend(body);
    reply
}

impl Tsa {
    pub async fn start(signer: Signer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        let issuer = if signer == Signer::UnknownCa {
            make_ca(d, "other-ca");
            "other-ca"
        } else {
            "ca"
        };
        issue(d, "tsa", issuer, "critical,timeStamping");
        if signer == Signer::NotForTimestamping {
            issue(d, "server", "ca", "critical,serverAuth");
        }
        std::fs::write(d.join("serial"), "01\n").unwrap();
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\ndir = {}\nserial = $dir/serial\n\
                 crypto_device = builtin\nsigner_cert = $dir/tsa.crt\nsigner_key = $dir/tsa.key\n\
                 signer_digest = sha256\ndefault_policy = 1.3.6.1.4.1.4146.2.3\ndigests = sha256, sha384, sha512\n\
                 accuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                d.display()
            ),
        )
        .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let work = Arc::new(tokio::sync::Mutex::new(d.to_path_buf()));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        let forge = signer == Signer::NotForTimestamping;
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let work = Arc::clone(&work);
                let counted = Arc::clone(&counted);
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
                        != Some("application/timestamp-query")
                    {
                        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "send application/timestamp-query")
                            .into_response();
                    }
                    // One at a time: openssl keeps the serial number in a file.
                    let dir = work.lock().await;
                    std::fs::write(dir.join("query.tsq"), &body).unwrap();
                    let at = dir.clone();
                    let out = tokio::task::spawn_blocking(move || {
                        Command::new("openssl")
                            .args([
                                "ts",
                                "-reply",
                                "-config",
                                "tsa.cnf",
                                "-queryfile",
                                "query.tsq",
                                "-out",
                                "reply.tsr",
                            ])
                            .current_dir(at)
                            .output()
                            .unwrap()
                    })
                    .await
                    .unwrap();
                    if !out.status.success() {
                        return (StatusCode::BAD_REQUEST, String::from_utf8_lossy(&out.stderr).into_owned())
                            .into_response();
                    }
                    let reply = if forge {
                        resign_with_server_certificate(&dir)
                    } else {
                        std::fs::read(dir.join("reply.tsr")).unwrap()
                    };
                    ([(header::CONTENT_TYPE, "application/timestamp-reply")], reply).into_response()
                }
            }),
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url: format!("http://127.0.0.1:{port}/"), ca_file: d.join("ca.crt"), requests, dir, task }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Asks for a reply to a DER request directly.
    pub async fn reply(&self, query: &[u8]) -> Vec<u8> {
        let response = reqwest::Client::new()
            .post(&self.url)
            .header("content-type", "application/timestamp-query")
            .body(query.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }

    /// Options that point the app at this authority.
    pub fn options(&self) -> Options {
        let (url, ca_file) = (self.url.clone(), self.ca_file.clone());
        Options::tweak(move |c: &mut Config| {
            c.timestamps.url = Some(url.clone());
            c.timestamps.ca_file = Some(ca_file.clone());
        })
    }

    /// Checks a reply with `openssl ts -verify` against the data it stamps and the CA.
    pub fn openssl_verifies(&self, reply: &[u8], data: &[u8]) -> bool {
        let d = self.dir.path();
        std::fs::write(d.join("check.tsr"), reply).unwrap();
        std::fs::write(d.join("check.data"), data).unwrap();
        let out = Command::new("openssl")
            .args([
                "ts",
                "-verify",
                "-in",
                "check.tsr",
                "-data",
                "check.data",
                "-CAfile",
                "ca.crt",
                "-untrusted",
                "tsa.crt",
            ])
            .current_dir(d)
            .output()
            .unwrap();
        out.status.success()
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.task.abort();
    }
}
