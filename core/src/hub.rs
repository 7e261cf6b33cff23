//! Models by name from the Hugging Face Hub: `owner/repo[:QUANT]`, downloaded once into the
//! Hub's own cache and used from there.
//!
//! A [`HubModel`] is what `parley pull Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M` and
//! `model.path = "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M"` name: a repository and a
//! quantisation (default [`DEFAULT_QUANT`]). [`Hub::fetch`] asks the Hub which files the
//! repository holds (`GET {endpoint}/api/models/{repo}/revision/main?blobs=true`, which gives
//! each file's size and the sha256 of its content), picks the GGUF file of that quant (an
//! unknown quant is an error naming the ones that exist), and downloads it
//! (`GET {endpoint}/{repo}/resolve/{commit}/{file}`).
//!
//! The cache is the layout `huggingface_hub` (Python) and the `hf-hub` crate share, so a file
//! either of them downloaded is found here and the other way round:
//! `$HF_HUB_CACHE` (else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) /
//! `models--{owner}--{name}/` with `blobs/{sha256}`, `snapshots/{commit}/{file}` (a link to the
//! blob) and `refs/main` (the commit). Environment: `HF_ENDPOINT` (another Hub or a mirror),
//! `HF_HOME` / `HF_HUB_CACHE`, and `HF_TOKEN` (else the `token` file in `HF_HOME`), sent as
//! `Authorization: Bearer …` for gated and private repositories.
//!
//! Why not the `hf-hub` crate itself: its 1.0 download starts every file from byte 0 (no
//! resume of a partial `.incomplete` file), does not check the content against the Hub's
//! sha256, and brings a second HTTP stack (reqwest 0.13) and the xet storage client into every
//! binary. The little this needs is here, on the reqwest the OpenAI engine already uses.
//!
//! A download goes to `blobs/{sha256}.incomplete` and survives an interruption: the next
//! attempt (within one [`Hub::fetch`], a few times, or the next run) asks for the rest with
//! `Range: bytes=N-`. The finished file is hashed and compared with the Hub's sha256; a
//! mismatch deletes it and fails. Without a network, a file already in the cache for the
//! repository's last known commit is used.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tracing::{debug, info, warn};

use crate::{Error, Result};

mod listing;

/// The quantisation pulled when a spec names none.
pub const DEFAULT_QUANT: &str = "Q4_K_M";
/// How a model path in `config.toml` says "from the Hub": `hf:owner/repo[:QUANT]`.
pub const SPEC_PREFIX: &str = "hf:";
/// The Hub used when `HF_ENDPOINT` is not set.
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Attempts at one file's bytes within one fetch: each after the first resumes.
const ATTEMPTS: usize = 3;

/// A model on the Hub: a repository and the quantisation of its GGUF file to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    /// `owner/name`.
    pub repo: String,
    /// The quantisation (`Q4_K_M`), or a file name ending in `.gguf`.
    pub quant: String,
}

impl HubModel {
    /// Read `owner/repo[:QUANT]`, with or without the `hf:` prefix.
    ///
    /// ```
    /// use parley_core::hub::HubModel;
    /// let m = HubModel::parse("hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF:q8_0").unwrap();
    /// assert_eq!((m.repo.as_str(), m.quant.as_str()), ("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "q8_0"));
    /// assert_eq!(HubModel::parse("a/b").unwrap().quant, "Q4_K_M");
    /// assert!(HubModel::parse("just-a-name").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        let bare = spec.strip_prefix(SPEC_PREFIX).unwrap_or(spec);
        let (repo, quant) = match bare.split_once(':') {
            Some((r, q)) => (r, q),
            None => (bare, DEFAULT_QUANT),
        };
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let repo_ok =
            matches!(repo.split_once('/'), Some((o, n)) if valid_part(o) && valid_part(n));
        if !repo_ok || quant.trim().is_empty() {
            return Err(Error::Hub {
                repo: bare.to_string(),
                reason: "expected owner/repo or owner/repo:QUANT (e.g. \
                         Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M)"
                    .into(),
            });
        }
        Ok(Self {
            repo: repo.to_string(),
            quant: quant.trim().to_string(),
        })
    }

    /// The Hub model a configured path names, when it is written `hf:…`.
    pub fn from_path(path: &Path) -> Option<Result<Self>> {
        let text = path.to_str()?;
        text.starts_with(SPEC_PREFIX).then(|| Self::parse(text))
    }

    /// The repository's folder name in the cache: `models--owner--name`.
    fn folder(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Hub {
            repo: self.repo.clone(),
            reason: reason.into(),
        }
    }
}

/// The quantisation a GGUF file name carries: the last `-` or `.` separated part of its stem
/// (`qwen2.5-1.5b-instruct-q4_k_m.gguf` → `q4_k_m`), a split file's `-00001-of-00002` aside.
pub fn quant_of(file: &str) -> Option<String> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let stem = name
        .strip_suffix(".gguf")
        .or_else(|| name.strip_suffix(".GGUF"))?;
    let stem = match stem.rsplit_once("-of-") {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => {
            head.rsplit_once('-').map_or(head, |(h, n)| {
                if n.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    head
                }
            })
        }
        _ => stem,
    };
    let quant = stem.rsplit(['-', '.']).next()?;
    (!quant.is_empty() && quant != stem).then(|| quant.to_string())
}

/// The files of `files` that hold `model`'s quant (or its file name), with every quant seen.
fn matching<'a>(model: &HubModel, files: &[&'a str]) -> (Vec<&'a str>, Vec<String>) {
    let wanted = model.quant.to_ascii_lowercase();
    let mut quants: Vec<String> = Vec::new();
    let mut found = Vec::new();
    for &f in files {
        if f.eq_ignore_ascii_case(&model.quant)
            || f.rsplit('/')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(&model.quant))
        {
            found.push(f);
            continue;
        }
        let Some(q) = quant_of(f) else { continue };
        if q.to_ascii_lowercase() == wanted {
            found.push(f);
        }
        if !quants.iter().any(|k| k.eq_ignore_ascii_case(&q)) {
            quants.push(q);
        }
    }
    quants.sort_by_key(|q| q.to_ascii_uppercase());
    (found, quants)
}

/// Told how a download goes (the console draws a bar; servers log).
pub trait Progress: Send + Sync {
    /// A download of `file` starts: `total` bytes, `done` of them already here (resumed).
    fn start(&self, file: &str, total: u64, done: u64);
    /// `done` bytes of the file are here.
    fn advance(&self, done: u64);
    /// The file is complete and checked.
    fn finish(&self);
}

/// Progress in the log, at every tenth of the file: for the bots, whose output is a log.
#[derive(Debug, Default)]
pub struct LogProgress {
    state: std::sync::Mutex<(u64, u64)>,
}

impl Progress for LogProgress {
    fn start(&self, file: &str, total: u64, done: u64) {
        info!(
            file,
            total_mib = total >> 20,
            done_mib = done >> 20,
            "downloading"
        );
        if let Ok(mut s) = self.state.lock() {
            *s = (total, done * 10 / total.max(1));
        }
    }

    fn advance(&self, done: u64) {
        if let Ok(mut s) = self.state.lock() {
            let tenth = done * 10 / s.0.max(1);
            if tenth > s.1 {
                s.1 = tenth;
                info!(percent = tenth * 10, "downloading");
            }
        }
    }

    fn finish(&self) {
        info!("download complete");
    }
}

/// One file as the Hub lists it.
#[derive(Debug, Clone, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Debug, Clone, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// What the Hub says about a repository at a revision.
#[derive(Debug, Deserialize)]
struct RepoInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

/// The file to download: its path in the repository, size and sha256.
#[derive(Debug, Clone)]
struct Wanted {
    commit: String,
    file: String,
    size: u64,
    sha256: String,
}

/// A Hub and the local cache its files go to.
#[derive(Clone)]
pub struct Hub {
    endpoint: String,
    cache: PathBuf,
    token: Option<String>,
    client: reqwest::Client,
}

/// Without the token: a `Hub` in a log line or an error report must not hand it out.
impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("endpoint", &self.endpoint)
            .field("cache", &self.cache)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// The Hub the environment names: `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME`, `HF_TOKEN`
    /// (else `$HF_HOME/token`).
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            let base = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache")))?;
            Some(base.join("huggingface"))
        });
        let cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join("hub")))
            .ok_or_else(|| Error::Hub {
                repo: String::new(),
                reason: "no cache folder: set HF_HOME (or HOME)".into(),
            })?;
        let token = var("HF_TOKEN").or_else(|| {
            let file = home.as_ref()?.join("token");
            let t = std::fs::read_to_string(file).ok()?;
            Some(t.trim().to_string()).filter(|t| !t.is_empty())
        });
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Self::new(&endpoint, cache, token)
    }

    /// A Hub at `endpoint` caching into `cache`, sending `token` if any.
    pub fn new(endpoint: &str, cache: PathBuf, token: Option<String>) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Hub {
                repo: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache,
            token,
            client,
        })
    }

    /// The cache folder (`…/huggingface/hub`).
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// The local file of `model`: from the cache when it is there and whole, else downloaded
    /// (resumed, checked). Without a network, the cached file of the last known commit.
    pub async fn fetch(&self, model: &HubModel, progress: &dyn Progress) -> Result<PathBuf> {
        let info = match self.repo_info(model).await {
            Ok(info) => info,
            Err(Offline(e)) => {
                return match self.cached(model) {
                    Some(path) => {
                        warn!(repo = %model.repo, error = %e, "the Hub is unreachable; using the cached file");
                        Ok(path)
                    }
                    None => Err(e),
                };
            }
            Err(Refused(e)) => return Err(e),
        };
        let wanted = choose(model, info)?;
        let blob = self.blob_path(model, &wanted.sha256);
        if !blob.is_file() {
            self.download(model, &wanted, &blob, progress).await?;
        } else {
            debug!(file = %wanted.file, "already in the cache");
        }
        self.link(model, &wanted, &blob)
    }

    /// The file of `model` in the cache's last known commit of its repository, if any.
    pub fn cached(&self, model: &HubModel) -> Option<PathBuf> {
        let repo = self.cache.join(model.folder());
        let commit = std::fs::read_to_string(repo.join("refs").join("main")).ok()?;
        let commit = listing::commit(commit.trim()).ok()?;
        let snapshot = repo.join("snapshots").join(commit);
        let names: Vec<String> = std::fs::read_dir(&snapshot)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (found, _) = matching(model, &refs);
        match found.as_slice() {
            [one] => Some(snapshot.join(one)).filter(|p| p.is_file()),
            _ => None,
        }
    }

    fn blob_path(&self, model: &HubModel, sha256: &str) -> PathBuf {
        self.cache.join(model.folder()).join("blobs").join(sha256)
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.token {
            Some(t) => request.header(AUTHORIZATION, format!("Bearer {t}")),
            None => request,
        }
    }

    /// The repository's files at `main`.
    async fn repo_info(&self, model: &HubModel) -> std::result::Result<RepoInfo, Failure> {
        let url = format!(
            "{}/api/models/{}/revision/main?blobs=true",
            self.endpoint, model.repo
        );
        let response =
            self.get(&url).send().await.map_err(|e| {
                Offline(model.error(format!("cannot reach {}: {e}", self.endpoint)))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Refused(model.error(refusal(status, self.token.is_some()))));
        }
        let body = capped_body(response, listing::MAX_LISTING_BYTES)
            .await
            .map_err(|e| Refused(model.error(e)))?;
        serde_json::from_slice(&body)
            .map_err(|e| Refused(model.error(format!("unreadable answer from the Hub: {e}"))))
    }

    /// Download `wanted` into `blob`, resuming what an earlier attempt left, then check it.
    async fn download(
        &self,
        model: &HubModel,
        wanted: &Wanted,
        blob: &Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let partial = PathBuf::from(format!("{}.incomplete", blob.display()));
        if let Some(dir) = partial.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, model.repo, wanted.commit, wanted.file
        );
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            match self.transfer(model, wanted, &url, &partial, progress).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(Cut(e)) => {
                    warn!(file = %wanted.file, attempt, error = %e, "download interrupted; resuming");
                    last = Some(e);
                }
                Err(Fatal(e)) => return Err(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        verify(model, wanted, &partial).await?;
        tokio::fs::rename(&partial, blob).await?;
        progress.finish();
        info!(repo = %model.repo, file = %wanted.file, "downloaded and checked");
        Ok(())
    }

    /// One request for the bytes `partial` lacks, appended to it.
    async fn transfer(
        &self,
        model: &HubModel,
        wanted: &Wanted,
        url: &str,
        partial: &Path,
        progress: &dyn Progress,
    ) -> std::result::Result<(), Transfer> {
        let have = tokio::fs::metadata(partial).await.map_or(0, |m| m.len());
        let have = if have > wanted.size { 0 } else { have };
        if have == wanted.size && have > 0 {
            return Ok(());
        }
        let mut request = self.get(url);
        if have > 0 {
            request = request.header(RANGE, format!("bytes={have}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Cut(model.error(format!("download failed: {e}"))))?;
        let status = response.status();
        let resumed = status == StatusCode::PARTIAL_CONTENT;
        if !status.is_success() {
            return Err(Fatal(model.error(refusal(status, self.token.is_some()))));
        }
        let start = if resumed { have } else { 0 };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(partial)
            .await
            .map_err(|e| Fatal(e.into()))?;
        progress.start(&wanted.file, wanted.size, start);
        let mut done = start;
        let mut body = response.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            };
            // Never more than the listed size: a server that keeps sending fills no disk.
            let room = usize::try_from(wanted.size - done).unwrap_or(usize::MAX);
            let part = &chunk[..chunk.len().min(room)];
            file.write_all(part).await.map_err(|e| Fatal(e.into()))?;
            done += part.len() as u64;
            progress.advance(done);
            if part.len() < chunk.len() || done == wanted.size {
                if part.len() < chunk.len() {
                    warn!(file = %wanted.file, "the Hub sent more than the listed size; the rest is ignored");
                }
                break;
            }
        }
        // What arrived is on disk before anyone looks at the file's length to resume.
        file.flush().await.map_err(|e| Fatal(e.into()))?;
        if done < wanted.size {
            let why = broken.unwrap_or_else(|| "the body ended early".into());
            return Err(Cut(model.error(format!(
                "download interrupted after {done} of {} bytes ({why}); run again to resume",
                wanted.size
            ))));
        }
        Ok(())
    }

    /// Point `snapshots/{commit}/{file}` at the blob and `refs/main` at the commit.
    fn link(&self, model: &HubModel, wanted: &Wanted, blob: &Path) -> Result<PathBuf> {
        let repo = self.cache.join(model.folder());
        let snapshot = repo
            .join("snapshots")
            .join(&wanted.commit)
            .join(&wanted.file);
        if let Some(dir) = snapshot.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if !snapshot.is_file() {
            let _ = std::fs::remove_file(&snapshot);
            link_file(blob, &wanted.file, &snapshot)?;
        }
        std::fs::create_dir_all(repo.join("refs"))?;
        std::fs::write(repo.join("refs").join("main"), &wanted.commit)?;
        Ok(snapshot)
    }
}

/// Why the repository could not be listed: no network (the cache may serve) or a refusal.
enum Failure {
    Offline(Error),
    Refused(Error),
}
use Failure::{Offline, Refused};

/// How one transfer ended badly: cut off (resumable) or for good.
enum Transfer {
    Cut(Error),
    Fatal(Error),
}
use Transfer::{Cut, Fatal};

/// What a refusing status means for the operator.
fn refusal(status: StatusCode, has_token: bool) -> String {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND if !has_token => {
            format!("the Hub answered {status}: no such repository, or it is gated or private (set HF_TOKEN)")
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            format!("the Hub answered {status}: HF_TOKEN has no access to it (accept the model's terms on its page?)")
        }
        StatusCode::NOT_FOUND => format!("the Hub answered {status}: no such repository or file"),
        _ => format!("the Hub answered {status}"),
    }
}

/// The one GGUF file of `model`'s quant in `info`, with its checksum.
fn choose(model: &HubModel, info: RepoInfo) -> Result<Wanted> {
    let files: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    let (found, quants) = matching(model, &files);
    let file = match found.as_slice() {
        [one] => one.to_string(),
        [] if quants.is_empty() => {
            return Err(model.error("the repository holds no GGUF file"));
        }
        [] => {
            return Err(Error::UnknownQuant {
                repo: model.repo.clone(),
                asked: model.quant.clone(),
                available: quants,
            })
        }
        many => {
            return Err(model.error(format!(
            "{} is split into {} files ({}); split models are not supported: choose another quant",
            model.quant,
            many.len(),
            many.join(", ")
        )))
        }
    };
    let sibling = info
        .siblings
        .into_iter()
        .find(|s| s.rfilename == file)
        .ok_or_else(|| model.error("the listed file vanished"))?;
    let Some(lfs) = sibling.lfs else {
        return Err(model.error(format!(
            "the Hub gives no sha256 for {file} (size {:?}): refusing a file that cannot be checked",
            sibling.size
        )));
    };
    Ok(Wanted {
        commit: listing::commit(&info.sha)
            .map_err(|e| model.error(e))?
            .to_string(),
        file: listing::file_name(&file)
            .map_err(|e| model.error(e))?
            .to_string(),
        size: lfs.size,
        sha256: listing::sha256(&lfs.sha256).map_err(|e| model.error(e))?,
    })
}

/// The body of `response`, refused once it passes `cap` bytes (whatever its
/// `Content-Length` says).
async fn capped_body(
    response: reqwest::Response,
    cap: usize,
) -> std::result::Result<Vec<u8>, String> {
    let too_big = || format!("the Hub's answer is larger than {} MiB", cap >> 20);
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the Hub's answer broke off: {e}"))?;
        if body.len() + chunk.len() > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Hash the downloaded file; a mismatch deletes it.
async fn verify(model: &HubModel, wanted: &Wanted, partial: &Path) -> Result<()> {
    let path = partial.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || sha256_of(&path))
        .await
        .map_err(|e| model.error(format!("checksum task failed: {e}")))??;
    if hashed == wanted.sha256 {
        return Ok(());
    }
    let _ = tokio::fs::remove_file(partial).await;
    Err(Error::ChecksumMismatch {
        file: wanted.file.clone(),
        expected: wanted.sha256.clone(),
        actual: hashed,
    })
}

/// The sha256 of a file, in lowercase hex.
pub fn sha256_of(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Link `snapshot` (the repository file `file` of a commit) to `blob`: relatively, as
/// huggingface_hub writes it, so the cache can move.
#[cfg(unix)]
fn link_file(blob: &Path, file: &str, snapshot: &Path) -> Result<()> {
    let mut target = PathBuf::from("..");
    for _ in file.split('/') {
        target.push("..");
    }
    target.push("blobs");
    target.push(blob.file_name().unwrap_or_default());
    std::os::unix::fs::symlink(target, snapshot)?;
    Ok(())
}

/// Without symbolic links: a copy.
#[cfg(not(unix))]
fn link_file(blob: &Path, _file: &str, snapshot: &Path) -> Result<()> {
    std::fs::copy(blob, snapshot)?;
    Ok(())
}

/// `path` itself, or the local file of the Hub model it names (`hf:owner/repo:QUANT`),
/// fetched with `progress` if not yet in the cache.
pub async fn resolve(path: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    match HubModel::from_path(path) {
        None => Ok(path.to_path_buf()),
        Some(model) => Hub::from_env()?.fetch(&model?, progress).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quants_are_read_from_file_names() {
        assert_eq!(
            quant_of("qwen2.5-1.5b-instruct-q4_k_m.gguf").as_deref(),
            Some("q4_k_m")
        );
        assert_eq!(
            quant_of("SmolLM2-135M-Instruct.Q4_1.gguf").as_deref(),
            Some("Q4_1")
        );
        assert_eq!(
            quant_of("big/Model-Q8_0-00001-of-00002.gguf").as_deref(),
            Some("Q8_0")
        );
        assert_eq!(quant_of("README.md"), None);
        assert_eq!(quant_of("model.gguf"), None);
    }

    #[test]
    fn a_quant_is_matched_case_insensitively_and_the_others_are_listed() {
        let model = HubModel::parse("a/b:q4_k_m").unwrap();
        let files = ["a-Q4_K_M.gguf", "a-Q8_0.gguf", "README.md"];
        let (found, quants) = matching(&model, &files);
        assert_eq!(found, ["a-Q4_K_M.gguf"]);
        assert_eq!(quants, ["Q4_K_M", "Q8_0"]);
        let by_name = HubModel::parse("a/b:a-Q8_0.gguf").unwrap();
        assert_eq!(matching(&by_name, &files).0, ["a-Q8_0.gguf"]);
    }
}
