//! `parley pull` as a user runs it, against the fake Hub of the testkit: `HF_ENDPOINT`,
//! `HF_HOME` and `HF_TOKEN` come from the environment, the path is printed, errors are one
//! line.

use std::process::{Command, Output};

use parley_testkit::hub::{sha256_hex, FakeHub, COMMIT};

/// `parley pull SPEC` against `fake`, its cache in `home`, with `token` if any.
async fn pull(fake: &FakeHub, home: &std::path::Path, spec: &str, token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley"));
    cmd.args(["pull", spec])
        .env("HF_ENDPOINT", fake.url())
        .env("HF_HOME", home)
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_TOKEN")
        .env_remove("PARLEY_LOG");
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run parley"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_downloads_into_hf_home_from_hf_endpoint_with_hf_token() {
    let fake = FakeHub::start().await.expect("fake hub");
    let bytes = b"GGUF pretend weights".repeat(500);
    fake.add_file("acme/Chat-GGUF", "chat-Q4_K_M.gguf", bytes.clone());
    fake.add_file("acme/Chat-GGUF", "chat-Q8_0.gguf", b"other".to_vec());
    let home = tempfile::tempdir().expect("tmp");
    let out = pull(&fake, home.path(), "acme/Chat-GGUF", Some("hf_test_token")).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = home
        .path()
        .join("hub/models--acme--Chat-GGUF/snapshots")
        .join(COMMIT)
        .join("chat-Q4_K_M.gguf");
    assert_eq!(stdout.trim(), expected.display().to_string());
    assert_eq!(std::fs::read(&expected).expect("pulled"), bytes);
    let blob = home
        .path()
        .join("hub/models--acme--Chat-GGUF/blobs")
        .join(sha256_hex(&bytes));
    assert!(blob.is_file());
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer hf_test_token")),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_of_an_unknown_quant_names_the_ones_there_in_one_line() {
    let fake = FakeHub::start().await.expect("fake hub");
    fake.add_file("acme/Chat-GGUF", "chat-Q4_K_M.gguf", b"a".to_vec());
    fake.add_file("acme/Chat-GGUF", "chat-Q6_K.gguf", b"b".to_vec());
    let home = tempfile::tempdir().expect("tmp");
    let out = pull(&fake, home.path(), "acme/Chat-GGUF:IQ2_XS", None).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("IQ2_XS") && stderr.contains("Q4_K_M, Q6_K"),
        "{stderr}"
    );
    assert!(fake.requests().iter().all(|r| r.authorization.is_none()));
}
