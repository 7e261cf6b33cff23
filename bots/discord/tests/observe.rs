//! What operators and users can see, on the real `parley-discord` binary against the fake
//! Discord: `/metrics` scraped over HTTP while it answers (read with a Prometheus text-format
//! parser, a 429 counted), `/healthz`, and `/why` as a reply to an answer.

use std::collections::HashMap;
use std::time::Duration;

use parley_testkit::discord::{FakeDiscord, FakeMessage, FakeUser, Fault};
use parley_testkit::real_binary::{model_config, RealBinary, SEED};
use prometheus_parse::{Sample, Scrape, Value};

const WAIT: Duration = Duration::from_secs(90);

/// One scrape of `/metrics`, parsed, with its text.
async fn scrape(client: &reqwest::Client, base: &str) -> Option<(Scrape, String)> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = Scrape::parse(lines).expect("the scrape is valid Prometheus text format");
    Some((parsed, text))
}

/// The value of the counter or gauge `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && has_labels(s, labels))
        .find_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

fn has_labels(s: &Sample, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(k, v)| s.labels.get(k).is_some_and(|got| got == *v))
}

/// How many observations the histogram `name` holds (its `+Inf` bucket).
fn observations(scrape: &Scrape, name: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find_map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.last().map(|b| b.count),
            _ => None,
        })
        .unwrap_or(0.0)
}

/// The real `parley-discord` binary against `fake`, its metrics served on a port the system
/// picks (read back from its log, so no other process can take it in between).
struct RunningBot {
    binary: RealBinary,
    _dir: tempfile::TempDir,
    base: String,
    client: reqwest::Client,
}

impl RunningBot {
    async fn start(fake: &FakeDiscord) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "[discord]\nedit_interval_ms = 100\nrate_limit_wait_ms = 50\nregister_commands = false\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n{}",
            model_config(dir.path(), 24)
        );
        let binary = RealBinary::start(
            env!("CARGO_BIN_EXE_parley-discord"),
            dir.path(),
            &config,
            &[
                ("DISCORD_TOKEN", "test-token"),
                ("DISCORD_API_BASE", &fake.api_base()),
            ],
        );
        let address = binary
            .logged_address("metrics at /metrics", WAIT)
            .await
            .unwrap_or_else(|| panic!("no metrics address logged:\n{}", binary.log()));
        RunningBot {
            binary,
            _dir: dir,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
        }
    }

    fn log(&self) -> String {
        self.binary.log()
    }

    /// Waits for `/healthz` to say 200 (engine loaded, shard connected) and checks its body.
    async fn wait_healthy(&self, deadline: tokio::time::Instant) {
        let mut health = HashMap::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
            {
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                health.insert("status", status.to_string());
                health.insert("body", body.to_string());
                if status == 200 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            health.get("status").map(String::as_str),
            Some("200"),
            "{health:?}\nlog:\n{}",
            self.log()
        );
        let body = &health["body"];
        assert!(body.contains(r#""engine_loaded":true"#), "{body}");
        assert!(body.contains(r#""discord shard 0":"connected""#), "{body}");
    }

    /// Scrapes `/metrics` until one answer is counted; returns that scrape (and checks it was
    /// scraped more than once meanwhile).
    async fn scrape_until_answered(&self, deadline: tokio::time::Instant) -> Scrape {
        let mut scrapes = 0;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no answer; log:\n{}",
                self.log()
            );
            if let Some((s, text)) = scrape(&self.client, &self.base).await {
                scrapes += 1;
                let answered = [("platform", "discord")];
                if value(&s, "parley_messages_answered_total", &answered) == Some(1.0) {
                    println!("scrape:\n{text}");
                    assert!(scrapes > 1, "scraped while it answered");
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The figures one answered DM, whose first send was throttled once, leaves in a scrape.
fn assert_one_throttled_answer(answered: &Scrape) {
    let discord = [("platform", "discord")];
    assert_eq!(
        value(answered, "parley_messages_seen_total", &discord),
        Some(1.0)
    );
    let throttled = [("platform", "discord"), ("call", "send")];
    assert_eq!(
        value(answered, "parley_platform_rate_limited_total", &throttled),
        Some(1.0)
    );
    assert_eq!(
        value(answered, "parley_platform_retries_total", &throttled),
        Some(1.0)
    );
    assert_eq!(
        observations(answered, "parley_time_to_first_token_seconds"),
        1.0
    );
    assert_eq!(
        observations(answered, "parley_answer_duration_seconds"),
        1.0
    );
    assert!(value(answered, "parley_generated_tokens_total", &[]).unwrap_or(0.0) > 0.0);
    assert!(value(answered, "parley_prompt_tokens_total", &[]).unwrap_or(0.0) > 0.0);
    assert!(value(answered, "parley_kv_cache_bytes", &[]).unwrap_or(0.0) > 0.0);
    assert_eq!(value(answered, "parley_queue_depth", &[]), Some(0.0));
    assert_eq!(
        value(answered, "parley_gateway_connected", &[("shard", "0")]),
        Some(1.0)
    );
}

/// `/why` as a reply to the answer of `question` explains it; as a reply to alice's own
/// message it has no record.
async fn why_explains_the_answer_only(
    fake: &FakeDiscord,
    bot: &RunningBot,
    alice: FakeUser,
    question: u64,
) {
    let answer = fake
        .wait_for(WAIT, |f| {
            f.messages(900)
                .into_iter()
                .find(|m| m.reply_to.as_deref() == Some(&question.to_string()))
        })
        .await
        .expect("the answer");
    let me = fake.bot_user();
    fake.send_message(FakeMessage::direct(900, alice.clone(), "/why").reply_to(answer.id, me));
    let why = fake
        .wait_for(WAIT, |f| {
            f.messages(900)
                .into_iter()
                .find(|m| m.content.starts_with("How I wrote that answer"))
        })
        .await
        .unwrap_or_else(|| panic!("a /why answer; log:\n{}", bot.log()));
    let text = &why.content;
    assert!(
        text.to_lowercase().contains("smollm2") && text.contains("(local engine)"),
        "{text}"
    );
    assert!(text.contains("persona \"assistant\""), "{text}");
    // Greedy and seeded (the testkit's real-model configuration): /why names the seed.
    assert!(text.contains(&format!("seed {SEED}")), "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("test-token"),
        "{text}"
    );
    println!("/why answer:\n{text}");
    fake.send_message(
        FakeMessage::direct(900, alice, "/why").reply_to(question, FakeUser::new(10, "alice")),
    );
    let none = fake
        .wait_for(WAIT, |f| {
            f.messages(900)
                .into_iter()
                .find(|m| m.content.starts_with("I have no record of that message"))
        })
        .await;
    assert!(none.is_some(), "log:\n{}", bot.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_while_it_answers_and_why_explains_the_answer() {
    let fake = FakeDiscord::start().await;
    let bot = RunningBot::start(&fake).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    bot.wait_healthy(deadline).await;

    // The answer's first send is throttled once: a 429 the outbox waits out.
    fake.fail_next(
        "POST",
        "/messages",
        1,
        Fault::RateLimited { retry_after: 0.05 },
    );
    let alice = FakeUser::new(10, "alice");
    let question = fake.send_message(FakeMessage::direct(900, alice.clone(), "hello there"));
    let answered = bot.scrape_until_answered(deadline + WAIT).await;
    assert_one_throttled_answer(&answered);
    why_explains_the_answer_only(&fake, &bot, alice, question).await;
}
