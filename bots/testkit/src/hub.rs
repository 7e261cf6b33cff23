//! A fake Hugging Face Hub: the two endpoints `parley pull` uses, with byte ranges and faults.
//!
//! - `GET /api/models/{owner}/{name}/revision/{rev}`: the repository's commit and files, each
//!   with its size and (for files added as LFS files) `lfs.sha256`, as the real Hub answers
//!   with `?blobs=true`;
//! - `GET /{owner}/{name}/resolve/{rev}/{file}`: the file's bytes, honouring `Range: bytes=N-`
//!   with `206 Partial Content`.
//!
//! Faults: [`FakeHub::cut_next_download_after`] drops the connection after some bytes of the
//! next download (the client sees a body shorter than its `Content-Length`);
//! [`FakeHub::add_file_with_wrong_checksum`] advertises a sha256 its bytes do not have;
//! a hostile mirror: [`FakeHub::add_file_listed_as`] lists any sha256 and size for a file,
//! [`FakeHub::set_commit`] any commit id, [`FakeHub::pad_listing`] a listing of any size. Every
//! request is recorded with its `Range` and `Authorization` headers ([`FakeHub::requests`]).
//! [`FakeHub::refuse_next`] answers the next request with a status (401, 403, 404, …).
//! Habits of real servers a client must cope with: [`FakeHub::redirect_downloads`] sends
//! downloads to a second server on another port (the Hub serves large files from a CDN host:
//! `302`, `GET /cdn/{owner}/{name}/{file}` there), and [`FakeHub::ignore_ranges`] answers a
//! `Range` request with the whole file and `200`. Every request (to either server) is recorded
//! with its `Range` and `Authorization` headers ([`FakeHub::requests`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRequest {
    /// The path, without the query.
    pub path: String,
    /// The `Range` header, if sent.
    pub range: Option<String>,
    /// The `Authorization` header, if sent.
    pub authorization: Option<String>,
}

impl HubRequest {
    /// Whether it asked for a file's bytes (not the listing).
    pub fn is_download(&self) -> bool {
        self.path.contains("/resolve/") || self.path.starts_with("/cdn/")
    }
}

#[derive(Debug, Clone)]
struct FakeFile {
    name: String,
    bytes: Bytes,
    /// The sha256 the listing gives; `None` for a file stored without LFS.
    sha256: Option<String>,
    /// The size the listing gives, when not the bytes' own.
    listed_size: Option<usize>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Files by repository (`owner/name`).
    repos: Mutex<HashMap<String, Vec<FakeFile>>>,
    requests: Mutex<Vec<HubRequest>>,
    /// Bytes after which the next download is cut off.
    cut_after: Mutex<Option<usize>>,
    /// The commit listings give instead of [`COMMIT`].
    commit: Mutex<Option<String>>,
    /// Bytes of padding added to every listing.
    padding: Mutex<usize>,
    /// The status the next request is refused with.
    refuse_next: Mutex<Option<StatusCode>>,
    /// Where downloads are redirected to (the CDN server's base URL), when they are.
    redirect_to: Mutex<Option<String>>,
    /// Answer `Range` requests with the whole file and `200`.
    ignore_ranges: Mutex<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The commit every fake repository is at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The sha256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running fake Hub on 127.0.0.1, and its CDN on another port.
#[derive(Debug)]
pub struct FakeHub {
    addr: SocketAddr,
    cdn: SocketAddr,
    shared: Arc<Shared>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serve `app` on a free port of 127.0.0.1.
async fn serve(app: Router) -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("fake Hub stopped: {e}");
        }
    });
    Ok((addr, task))
}

impl FakeHub {
    /// Start it on a free port.
    pub async fn start() -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let hub = Router::new()
            .route("/api/models/{owner}/{name}/revision/{rev}", get(listing))
            .route("/{owner}/{name}/resolve/{rev}/{*file}", get(download))
            .with_state(Arc::clone(&shared));
        let cdn = Router::new()
            .route("/cdn/{owner}/{name}/{*file}", get(from_cdn))
            .with_state(Arc::clone(&shared));
        let (addr, hub_task) = serve(hub).await?;
        let (cdn, cdn_task) = serve(cdn).await?;
        Ok(Self {
            addr,
            cdn,
            shared,
            tasks: [hub_task, cdn_task],
        })
    }

    /// What `HF_ENDPOINT` should say.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn add(&self, repo: &str, file: FakeFile) {
        lock(&self.shared.repos)
            .entry(repo.to_string())
            .or_default()
            .push(file);
    }

    /// Serve `bytes` as the LFS file `name` of `repo`, with their true sha256.
    pub fn add_file(&self, repo: &str, name: &str, bytes: Vec<u8>) {
        let sha256 = Some(sha256_hex(&bytes));
        self.add(
            repo,
            FakeFile {
                name: name.into(),
                bytes: bytes.into(),
                sha256,
                listed_size: None,
            },
        );
    }

    /// Serve `bytes` as `name` but list a sha256 they do not have.
    pub fn add_file_with_wrong_checksum(&self, repo: &str, name: &str, bytes: Vec<u8>) {
        let mut wrong = bytes.clone();
        wrong.push(0);
        self.add(
            repo,
            FakeFile {
                name: name.into(),
                bytes: bytes.into(),
                sha256: Some(sha256_hex(&wrong)),
                listed_size: None,
            },
        );
    }

    /// Serve a small file stored in git itself (no LFS, no sha256), like a README.
    pub fn add_plain_file(&self, repo: &str, name: &str, text: &str) {
        self.add(
            repo,
            FakeFile {
                name: name.into(),
                bytes: Bytes::copy_from_slice(text.as_bytes()),
                sha256: None,
                listed_size: None,
            },
        );
    }

    /// Serve `bytes` as the LFS file `name`, listed with any `sha256` and `size`.
    pub fn add_file_listed_as(
        &self,
        repo: &str,
        name: &str,
        bytes: Vec<u8>,
        sha256: &str,
        size: usize,
    ) {
        self.add(
            repo,
            FakeFile {
                name: name.into(),
                bytes: bytes.into(),
                sha256: Some(sha256.into()),
                listed_size: Some(size),
            },
        );
    }

    /// List `commit` as every repository's commit.
    pub fn set_commit(&self, commit: &str) {
        *lock(&self.shared.commit) = Some(commit.into());
    }

    /// Add `bytes` of padding to every listing.
    pub fn pad_listing(&self, bytes: usize) {
        *lock(&self.shared.padding) = bytes;
    }

    /// Drop the connection after `bytes` bytes of the next download's body.
    pub fn cut_next_download_after(&self, bytes: usize) {
        *lock(&self.shared.cut_after) = Some(bytes);
    }

    /// Answer the next request (listing or download) with `status` and nothing else.
    pub fn refuse_next(&self, status: u16) {
        *lock(&self.shared.refuse_next) = StatusCode::from_u16(status).ok();
    }

    /// From now on answer downloads with `302 Found` to the CDN server (another port, so
    /// another origin: a client must not send it the Hub's token).
    pub fn redirect_downloads(&self) {
        *lock(&self.shared.redirect_to) = Some(format!("http://{}", self.cdn));
    }

    /// From now on answer a `Range` request with the whole file and `200 OK`, as a server
    /// that does not do ranges would.
    pub fn ignore_ranges(&self) {
        *lock(&self.shared.ignore_ranges) = true;
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<HubRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The requests for file bytes so far.
    pub fn downloads(&self) -> Vec<HubRequest> {
        self.requests()
            .into_iter()
            .filter(HubRequest::is_download)
            .collect()
    }
}

fn record(shared: &Shared, path: String, headers: &HeaderMap) {
    let text = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    lock(&shared.requests).push(HubRequest {
        path,
        range: text(header::RANGE),
        authorization: text(header::AUTHORIZATION),
    });
}

async fn listing(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &shared,
        format!("/api/models/{owner}/{name}/revision/{rev}"),
        &headers,
    );
    if let Some(status) = lock(&shared.refuse_next).take() {
        return status.into_response();
    }
    let repo = format!("{owner}/{name}");
    let Some(files) = lock(&shared.repos).get(&repo).cloned() else {
        let body = Json(json!({ "error": "Repository not found" }));
        return (StatusCode::NOT_FOUND, body).into_response();
    };
    let siblings: Vec<_> = files
        .iter()
        .map(|f| {
            let size = f.listed_size.unwrap_or(f.bytes.len());
            match &f.sha256 {
                Some(sha) => json!({ "rfilename": f.name, "size": size, "blobId": "b10b",
                    "lfs": { "sha256": sha, "size": size, "pointerSize": 134 } }),
                None => json!({ "rfilename": f.name, "size": size, "blobId": "b10b" }),
            }
        })
        .collect();
    let commit = lock(&shared.commit).clone();
    let commit = commit.as_deref().unwrap_or(COMMIT);
    let padding = " ".repeat(*lock(&shared.padding));
    Json(json!({ "id": repo, "sha": commit, "siblings": siblings, "padding": padding }))
        .into_response()
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(
        &shared,
        format!("/{owner}/{name}/resolve/{rev}/{file}"),
        &headers,
    );
    if let Some(status) = lock(&shared.refuse_next).take() {
        return status.into_response();
    }
    if let Some(cdn) = lock(&shared.redirect_to).clone() {
        let to = format!("{cdn}/cdn/{owner}/{name}/{file}");
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    file_bytes(&shared, &owner, &name, &file, &headers)
}

/// A download the Hub redirected to its CDN.
async fn from_cdn(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&shared, format!("/cdn/{owner}/{name}/{file}"), &headers);
    file_bytes(&shared, &owner, &name, &file, &headers)
}

/// The bytes of `file` in `owner/name`, from the `Range` asked for (unless ranges are
/// ignored), cut off when a test asked for that.
fn file_bytes(
    shared: &Shared,
    owner: &str,
    name: &str,
    file: &str,
    headers: &HeaderMap,
) -> Response {
    let repo = format!("{owner}/{name}");
    let found = lock(&shared.repos)
        .get(&repo)
        .and_then(|files| files.iter().find(|f| f.name == file).cloned());
    let Some(found) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let total = found.bytes.len();
    let start = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| !*lock(&shared.ignore_ranges));
    let (status, from) = match start {
        Some(s) if s < total => (StatusCode::PARTIAL_CONTENT, s),
        Some(_) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => (StatusCode::OK, 0),
    };
    let rest = found.bytes.slice(from..);
    let length = rest.len();
    let body = match lock(&shared.cut_after).take() {
        Some(cut) => {
            let head = rest.slice(..cut.min(length));
            // The head goes out first (an error ready at once would abort the response before
            // its bytes left), then the connection drops.
            let cut_off = async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"))
            };
            let head = futures::stream::iter([Ok::<_, io::Error>(head)]);
            Body::from_stream(head.chain(futures::stream::once(cut_off)))
        }
        None => Body::from(rest),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, length.into());
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = format!("bytes {from}-{}/{total}", total - 1).parse() {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    response
}
