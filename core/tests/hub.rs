//! Models by name from the Hub, against the fake Hub of the testkit (never the real one): a
//! download with progress into the Hub's cache layout that then loads, a resume after a cut,
//! a checksum mismatch refused, an unknown quant named with the ones that exist, the token
//! sent, the cache used when the Hub is unreachable, a redirect to another host followed
//! without the token, a server ignoring `Range`, and 401/403/404 explained.

mod util;

use std::path::Path;
use std::sync::Mutex;

use candle_core::quantized::GgmlDType;
use parley_core::engine::local::model::{Model, WeightFormat};
use parley_core::hub::{sha256_of, Hub, HubModel, Progress};
use parley_core::Error;
use parley_testkit::hub::{sha256_hex, FakeHub, COMMIT};

const REPO: &str = "tiny/Tiny-Llama-GGUF";

/// Records what a download reported.
#[derive(Debug, Default)]
struct Recorded {
    events: Mutex<Vec<(String, u64, u64)>>,
}

impl Recorded {
    fn events(&self) -> Vec<(String, u64, u64)> {
        self.events.lock().unwrap().clone()
    }
}

impl Progress for Recorded {
    fn start(&self, file: &str, total: u64, done: u64) {
        self.events
            .lock()
            .unwrap()
            .push((format!("start {file}"), done, total));
    }
    fn advance(&self, done: u64) {
        self.events
            .lock()
            .unwrap()
            .push(("advance".into(), done, 0));
    }
    fn finish(&self) {
        self.events.lock().unwrap().push(("finish".into(), 0, 0));
    }
}

/// A tiny llama GGUF's bytes.
fn tiny_gguf(dir: &Path) -> Vec<u8> {
    let path = dir.join("tiny.gguf");
    util::tiny::write_tiny("llama", &path, GgmlDType::Q4_1);
    std::fs::read(path).unwrap()
}

/// A fake Hub holding a tiny model in two quants and a README; its bytes for Q4_K_M.
async fn hub_with_tiny(dir: &Path) -> (FakeHub, Vec<u8>) {
    let fake = FakeHub::start().await.unwrap();
    let bytes = tiny_gguf(dir);
    fake.add_plain_file(REPO, "README.md", "# Tiny");
    fake.add_file(REPO, "tiny-llama-Q4_K_M.gguf", bytes.clone());
    fake.add_file(REPO, "tiny-llama-Q8_0.gguf", b"other bytes".to_vec());
    (fake, bytes)
}

fn hub(fake: &FakeHub, cache: &Path, token: Option<&str>) -> Hub {
    Hub::new(&fake.url(), cache.to_path_buf(), token.map(str::to_string)).unwrap()
}

#[tokio::test]
async fn a_pulled_model_downloads_with_progress_into_the_hub_cache_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, bytes) = hub_with_tiny(dir.path()).await;
    let cache = dir.path().join("hub");
    let progress = Recorded::default();
    let model = HubModel::parse(&format!("hf:{REPO}:q4_k_m")).unwrap();
    let path = hub(&fake, &cache, None)
        .fetch(&model, &progress)
        .await
        .unwrap();

    // The Hub's layout: a snapshot link to a blob named by its sha256, refs/main the commit.
    let sha = sha256_hex(&bytes);
    let repo = cache.join("models--tiny--Tiny-Llama-GGUF");
    assert_eq!(
        path,
        repo.join("snapshots")
            .join(COMMIT)
            .join("tiny-llama-Q4_K_M.gguf")
    );
    assert!(std::fs::symlink_metadata(&path).unwrap().is_symlink());
    assert_eq!(std::fs::read(repo.join("blobs").join(&sha)).unwrap(), bytes);
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert_eq!(sha256_of(&path).unwrap(), sha);

    // Progress: a start with the size, advances up to the whole file, a finish.
    let events = progress.events();
    let total = bytes.len() as u64;
    assert_eq!(
        events.first(),
        Some(&("start tiny-llama-Q4_K_M.gguf".to_string(), 0, total)),
        "{events:?}"
    );
    let advances: Vec<u64> = events
        .iter()
        .filter(|e| e.0 == "advance")
        .map(|e| e.1)
        .collect();
    assert!(advances.windows(2).all(|w| w[0] < w[1]), "{advances:?}");
    assert_eq!(advances.last(), Some(&total), "{events:?}");
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("finish"));

    // It is a model Parley runs.
    let loaded = Model::load(&path, WeightFormat::default()).unwrap();
    assert_eq!(loaded.name, "tiny-llama");

    // A second fetch finds it in the cache: no bytes downloaded again.
    let again = hub(&fake, &cache, None)
        .fetch(&model, &Recorded::default())
        .await
        .unwrap();
    assert_eq!(again, path);
    assert_eq!(fake.downloads().len(), 1, "{:?}", fake.requests());
}

#[tokio::test]
async fn an_interrupted_download_resumes_with_a_range_request_and_ends_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, bytes) = hub_with_tiny(dir.path()).await;
    let cut = bytes.len() / 3;
    fake.cut_next_download_after(cut);
    let progress = Recorded::default();
    let model = HubModel::parse(REPO).unwrap();
    let path = hub(&fake, &dir.path().join("hub"), None)
        .fetch(&model, &progress)
        .await
        .unwrap();

    let downloads = fake.downloads();
    assert_eq!(downloads.len(), 2, "{downloads:?}");
    assert_eq!(downloads[0].range, None);
    assert_eq!(downloads[1].range, Some(format!("bytes={cut}-")));
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file is whole");
    // The resumed part reported from where it took up.
    let starts: Vec<u64> = progress
        .events()
        .iter()
        .filter(|e| e.0.starts_with("start"))
        .map(|e| e.1)
        .collect();
    assert_eq!(starts, [0, cut as u64]);
    Model::load(&path, WeightFormat::default()).unwrap();
}

#[tokio::test]
async fn a_file_failing_its_checksum_is_refused_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeHub::start().await.unwrap();
    fake.add_file_with_wrong_checksum(
        REPO,
        "tiny-llama-Q4_K_M.gguf",
        b"not what was listed".into(),
    );
    let cache = dir.path().join("hub");
    let model = HubModel::parse(REPO).unwrap();
    let err = hub(&fake, &cache, None)
        .fetch(&model, &Recorded::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains("tiny-llama-Q4_K_M.gguf"), "{err}");
    let blobs = cache.join("models--tiny--Tiny-Llama-GGUF/blobs");
    let left: Vec<_> = std::fs::read_dir(&blobs).unwrap().collect();
    assert!(left.is_empty(), "the bad download is deleted: {left:?}");
    assert!(!cache
        .join("models--tiny--Tiny-Llama-GGUF/snapshots")
        .exists());
}

#[tokio::test]
async fn an_unknown_quant_names_the_quants_the_repository_has() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = hub_with_tiny(dir.path()).await;
    let model = HubModel::parse(&format!("{REPO}:Q5_K_S")).unwrap();
    let err = hub(&fake, &dir.path().join("hub"), None)
        .fetch(&model, &Recorded::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, Error::UnknownQuant { available, .. } if available == &["Q4_K_M", "Q8_0"]),
        "{text}"
    );
    assert!(
        text.contains("Q5_K_S") && text.contains("Q4_K_M, Q8_0"),
        "{text}"
    );
    assert!(fake.downloads().is_empty());
}

#[tokio::test]
async fn the_token_is_sent_as_a_bearer_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = hub_with_tiny(dir.path()).await;
    let model = HubModel::parse(REPO).unwrap();
    hub(&fake, &dir.path().join("hub"), Some("hf_secret"))
        .fetch(&model, &Recorded::default())
        .await
        .unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer hf_secret"),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn a_cached_model_is_used_when_the_hub_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, bytes) = hub_with_tiny(dir.path()).await;
    let cache = dir.path().join("hub");
    let model = HubModel::parse(REPO).unwrap();
    let path = hub(&fake, &cache, None)
        .fetch(&model, &Recorded::default())
        .await
        .unwrap();
    let url = fake.url();
    drop(fake);
    let offline = Hub::new(&url, cache.clone(), None).unwrap();
    let again = offline.fetch(&model, &Recorded::default()).await.unwrap();
    assert_eq!(again, path);
    assert_eq!(std::fs::read(again).unwrap(), bytes);
    let other = HubModel::parse("tiny/Never-Pulled-GGUF").unwrap();
    let err = offline
        .fetch(&other, &Recorded::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot reach"), "{err}");
}

/// Every file under `dir`, walked.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A mirror (`HF_ENDPOINT`) is a stranger: a commit that is not 40 hex digits, a sha256 that
/// is not 64, a file name with `..` or an absolute one is refused with a line saying which,
/// before anything is written (before, a sha256 of `../../../outside` put the download
/// outside the cache).
#[tokio::test]
async fn a_hostile_listing_never_becomes_a_path_outside_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = b"GGUF from a hostile mirror".to_vec();
    let sha = sha256_hex(&bytes);
    let absolute = format!("{}/absolute-Q4_K_M.gguf", dir.path().display());
    let cases = [
        (
            COMMIT,
            "../../../outside-Q4_K_M.gguf",
            sha.as_str(),
            "unsafe file name",
        ),
        (COMMIT, absolute.as_str(), sha.as_str(), "unsafe file name"),
        (
            "../../../outside",
            "x-Q4_K_M.gguf",
            sha.as_str(),
            "40 hex digits",
        ),
        (COMMIT, "x-Q4_K_M.gguf", "../../../outside", "64 hex digits"),
    ];
    for (i, (commit, name, listed_sha, why)) in cases.into_iter().enumerate() {
        let fake = FakeHub::start().await.unwrap();
        let repo = format!("evil/Repo{i}-GGUF");
        fake.set_commit(commit);
        fake.add_file_listed_as(&repo, name, bytes.clone(), listed_sha, bytes.len());
        let cache = dir.path().join(format!("cache{i}")).join("hub");
        let model = HubModel::parse(&repo).unwrap();
        let err = hub(&fake, &cache, None)
            .fetch(&model, &Recorded::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Hub { reason, .. } if reason.contains(why)),
            "case {i}: {err}"
        );
        let written = files_under(dir.path());
        assert!(written.is_empty(), "case {i} wrote {written:?}");
    }
}

/// A server that sends more bytes than it listed fills no disk: what passes the listed size
/// is never written, and the listed bytes are checked as usual.
#[tokio::test]
async fn bytes_past_the_listed_size_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeHub::start().await.unwrap();
    let served = vec![7u8; 256 << 10];
    let listed = 1000;
    let sha = sha256_hex(&served[..listed]);
    fake.add_file_listed_as(REPO, "tiny-llama-Q4_K_M.gguf", served, &sha, listed);
    let path = hub(&fake, &dir.path().join("hub"), None)
        .fetch(&HubModel::parse(REPO).unwrap(), &Recorded::default())
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), listed as u64);
}

/// The repository listing is read up to a few MiB; a larger one is refused, not buffered.
#[tokio::test]
async fn an_oversized_listing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = hub_with_tiny(dir.path()).await;
    fake.pad_listing(5 << 20);
    let err = hub(&fake, &dir.path().join("hub"), None)
        .fetch(&HubModel::parse(REPO).unwrap(), &Recorded::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
}

/// A `Hub` printed for a log or an error report never shows the token.
#[tokio::test]
async fn the_token_never_shows_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeHub::start().await.unwrap();
    let printed = format!("{:?}", hub(&fake, dir.path(), Some("hf_SECRETtoken")));
    assert!(
        !printed.contains("SECRET") && printed.contains("redacted"),
        "{printed}"
    );
}
/// The Hub sends large files from another host: the download follows the redirect, the file
/// is whole, and the token never goes to the other host.
#[tokio::test]
async fn a_redirected_download_ends_whole_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, bytes) = hub_with_tiny(dir.path()).await;
    fake.redirect_downloads();
    let model = HubModel::parse(REPO).unwrap();
    let path = hub(&fake, &dir.path().join("hub"), Some("hf_secret"))
        .fetch(&model, &Recorded::default())
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file is whole");
    let from_cdn: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/cdn/"))
        .collect();
    assert_eq!(from_cdn.len(), 1, "{:?}", fake.requests());
    assert_eq!(
        from_cdn[0].authorization, None,
        "the token stays with the Hub"
    );
}

/// A server that ignores `Range` answers a resume with the whole file and 200: the download
/// starts over instead of appending, and the file is whole.
#[tokio::test]
async fn a_resume_answered_with_the_whole_file_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, bytes) = hub_with_tiny(dir.path()).await;
    let cut = bytes.len() / 3;
    fake.cut_next_download_after(cut);
    fake.ignore_ranges();
    let model = HubModel::parse(REPO).unwrap();
    let path = hub(&fake, &dir.path().join("hub"), None)
        .fetch(&model, &Recorded::default())
        .await
        .unwrap();
    let downloads = fake.downloads();
    assert_eq!(downloads.len(), 2, "{downloads:?}");
    assert_eq!(
        downloads[1].range,
        Some(format!("bytes={cut}-")),
        "it asked to resume"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "whole, not doubled");
}

/// 401, 403 and 404 each tell the operator what to do, with and without a token.
#[tokio::test]
async fn refusals_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, _) = hub_with_tiny(dir.path()).await;
    let model = HubModel::parse(REPO).unwrap();
    let cases = [
        (401, None, "set HF_TOKEN"),
        (403, None, "set HF_TOKEN"),
        (404, None, "set HF_TOKEN"),
        (401, Some("hf_secret"), "HF_TOKEN has no access"),
        (403, Some("hf_secret"), "HF_TOKEN has no access"),
        (404, Some("hf_secret"), "no such repository or file"),
    ];
    for (status, token, advice) in cases {
        fake.refuse_next(status);
        let err = hub(&fake, &dir.path().join(format!("hub-{status}")), token)
            .fetch(&model, &Recorded::default())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::Hub { .. }) && text.contains(&status.to_string()),
            "{status}: {text}"
        );
        assert!(text.contains(advice), "{status} {token:?}: {text}");
    }
}
