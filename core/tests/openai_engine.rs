//! The OpenAI-compatible engine against the fake server of `parley-testkit`.

use std::time::{Duration, Instant};

use parley_core::engine::openai::{OpenAiConfig, OpenAiEngine};
use parley_core::engine::{
    ChatMessage, Engine, FinishReason, GenEvent, GenerateRequest, Generation, Role, SamplingParams,
    Usage,
};
use parley_core::Error;
use parley_testkit::openai::{Chunking, FakeOpenAi, Fault};

/// Longest any test may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(10);

fn config(server: &FakeOpenAi) -> OpenAiConfig {
    OpenAiConfig {
        base_url: server.base_url(),
        model: FakeOpenAi::MODEL.into(),
        timeout_secs: 5.0,
        max_retries: 3,
        retry_backoff_ms: 10,
        ..OpenAiConfig::default()
    }
}

fn engine(config: OpenAiConfig) -> OpenAiEngine {
    OpenAiEngine::with_api_key(config, None).expect("engine")
}

fn request(user: &str) -> GenerateRequest {
    GenerateRequest {
        conversation: "test".into(),
        messages: vec![
            ChatMessage::new(Role::System, "You are terse."),
            ChatMessage::new(Role::User, user),
        ],
        params: SamplingParams::default(),
        shareable_bytes: 0,
    }
}

/// Everything a generation produced: its deltas, then either usage or an error.
#[derive(Debug)]
struct Outcome {
    deltas: Vec<String>,
    usage: Option<Usage>,
    error: Option<Error>,
}

impl Outcome {
    fn text(&self) -> String {
        self.deltas.concat()
    }
}

async fn collect(mut generation: Generation) -> Outcome {
    let run = async {
        let mut out = Outcome {
            deltas: Vec::new(),
            usage: None,
            error: None,
        };
        while let Some(event) = generation.next().await {
            match event {
                Ok(GenEvent::Delta(d)) => out.deltas.push(d),
                Ok(GenEvent::Done(u)) => out.usage = Some(u),
                Err(e) => out.error = Some(e),
            }
        }
        out
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("generation hung")
}

fn remote_message(out: &Outcome) -> String {
    match &out.error {
        Some(Error::Remote(m)) => m.clone(),
        other => panic!(
            "expected a remote error, got {other:?} (deltas {:?})",
            out.deltas
        ),
    }
}

#[tokio::test]
async fn streamed_deltas_arrive_in_order_and_make_the_reply() {
    let server = FakeOpenAi::start().await.unwrap();
    server.push_reply("The quick brown fox jumps over the lazy dog.");
    let e = engine(config(&server));
    let out = collect(e.generate(request("hi")).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(
        out.deltas,
        vec!["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog."]
    );
    assert_eq!(out.text(), "The quick brown fox jumps over the lazy dog.");
    assert_eq!(out.usage.unwrap().finish, Some(FinishReason::Stop));
}

#[tokio::test]
async fn multibyte_text_streams_unbroken() {
    let server = FakeOpenAi::start().await.unwrap();
    server.set_chunking(Chunking::Chars(1));
    server.push_reply("héllo 世界 🦀");
    let e = engine(config(&server));
    let out = collect(e.generate(request("hi")).unwrap()).await;
    assert_eq!(out.text(), "héllo 世界 🦀");
    assert_eq!(out.deltas.len(), "héllo 世界 🦀".chars().count());
}

#[tokio::test]
async fn request_body_speaks_the_openai_vocabulary() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(config(&server));
    let mut req = request("Say something");
    req.params = SamplingParams {
        max_tokens: 77,
        temperature: 0.25,
        top_p: 0.5,
        seed: Some(42),
        stop: ["a1", "b2", "c3", "d4", "e5"].map(String::from).to_vec(),
        ..SamplingParams::default()
    };
    let out = collect(e.generate(req).unwrap()).await;
    assert!(out.error.is_none());
    let bodies = server.chat_requests();
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(b["model"], FakeOpenAi::MODEL);
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"]["include_usage"], true);
    assert_eq!(b["max_tokens"], 77);
    assert_eq!(b["temperature"], 0.25);
    assert_eq!(b["top_p"], 0.5);
    assert_eq!(b["seed"], 42);
    assert_eq!(b["stop"], serde_json::json!(["a1", "b2", "c3", "d4"]));
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][0]["content"], "You are terse.");
    assert_eq!(b["messages"][1]["role"], "user");
    assert_eq!(b["messages"][1]["content"], "Say something");
    assert!(b.get("n").is_none());
    assert!(b.get("top_k").is_none(), "not an OpenAI parameter");
}

#[tokio::test]
async fn empty_stop_list_is_not_sent() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(config(&server));
    collect(e.generate(request("x")).unwrap()).await;
    let b = &server.chat_requests()[0];
    assert!(b.get("stop").is_none());
    assert!(b.get("seed").is_none());
}

#[tokio::test]
async fn stop_strings_are_cut_client_side_even_if_the_server_goes_on() {
    let server = FakeOpenAi::start().await.unwrap();
    // The fifth stop string never reaches the server (limit 4): the client must enforce it.
    server.push_reply("Sure thing. ENDE and then the server keeps talking");
    server.set_chunking(Chunking::Chars(2));
    let e = engine(config(&server));
    let mut req = request("x");
    req.params.stop = ["s1", "s2", "s3", "s4", "ENDE"].map(String::from).to_vec();
    let out = collect(e.generate(req).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "Sure thing. ");
    assert!(
        out.deltas.iter().all(|d| !d.contains('E')),
        "{:?}",
        out.deltas
    );
    assert_eq!(out.usage.unwrap().finish, Some(FinishReason::Stop));
}

#[tokio::test]
async fn usage_comes_from_the_server() {
    let server = FakeOpenAi::start().await.unwrap();
    server.set_cached_tokens(3);
    server.push_reply("one two three four");
    let e = engine(config(&server));
    let out = collect(e.generate(request("count please")).unwrap()).await;
    let usage = out.usage.expect("usage");
    let body = &server.chat_requests()[0];
    assert_eq!(usage.prompt_tokens, FakeOpenAi::prompt_tokens(body));
    assert_eq!(usage.completion_tokens, 4);
    assert_eq!(usage.cached_tokens, 3);
    assert_eq!(usage.finish, Some(FinishReason::Stop));
    assert!(usage.time_to_first_token <= LIMIT);
}

#[tokio::test]
async fn max_tokens_reached_finishes_with_length() {
    let server = FakeOpenAi::start().await.unwrap();
    server.push_reply("a b c d e f g");
    let e = engine(config(&server));
    let mut req = request("x");
    req.params.max_tokens = 3;
    let out = collect(e.generate(req).unwrap()).await;
    assert_eq!(out.text(), "a b c ");
    assert_eq!(out.usage.unwrap().finish, Some(FinishReason::Length));
}

#[tokio::test]
async fn token_estimate_is_calibrated_by_reported_usage() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(config(&server));
    let before = e.token_ratio();
    assert!((before - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(e.count_tokens("abcdef"), 2);
    // The fake counts 1 token per 4 characters: the estimate drops but stays above that.
    let long = "word ".repeat(200);
    collect(e.generate(request(&long)).unwrap()).await;
    let after = e.token_ratio();
    assert!(after < before && after > 0.25, "{after}");
    assert!(e.count_tokens(&long) >= long.len() / 4);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_then_succeeds() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(
        Fault::RateLimited {
            retry_after: Some("1".into()),
        },
        1,
    );
    server.push_reply("after the wait");
    let e = engine(config(&server));
    let t = Instant::now();
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "after the wait");
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(server.chat_requests().len(), 2);
}

#[tokio::test]
async fn rate_limit_asking_too_long_a_wait_fails_at_once() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(
        Fault::RateLimited {
            retry_after: Some("3600".into()),
        },
        1,
    );
    let e = engine(config(&server));
    let t = Instant::now();
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(
        msg.contains("429") && msg.contains("max_retry_wait_secs"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(server.chat_requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::Status(503), 2);
    server.push_reply("third time lucky");
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "third time lucky");
    assert_eq!(server.chat_requests().len(), 3);
}

#[tokio::test]
async fn server_errors_forever_give_up_after_max_retries() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::Status(500), 100);
    let e = engine(OpenAiConfig {
        max_retries: 2,
        ..config(&server)
    });
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("500") && msg.contains("2 retries"), "{msg}");
    assert!(
        msg.contains("injected failure"),
        "server's message is kept: {msg}"
    );
    assert!(out.deltas.is_empty());
    assert_eq!(server.chat_requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::Status(404), 1);
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("404") && msg.contains("base_url"), "{msg}");
    assert_eq!(server.chat_requests().len(), 1);
}

#[tokio::test]
async fn stream_cut_mid_answer_keeps_the_partial_text_and_errors() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::CutAfter(3), 1);
    server.push_reply("one two three four five");
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert_eq!(out.text(), "one two three ");
    assert!(out.usage.is_none());
    let msg = remote_message(&out);
    assert!(msg.contains("broke off after 14 characters"), "{msg}");
    // Never started over once text was forwarded.
    assert_eq!(server.chat_requests().len(), 1);
}

#[tokio::test]
async fn stream_ending_without_finish_is_an_error() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::EndAfter(2), 1);
    server.push_reply("one two three");
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert_eq!(out.text(), "one two ");
    let msg = remote_message(&out);
    assert!(msg.contains("without finishing"), "{msg}");
    assert_eq!(server.chat_requests().len(), 1);
}

#[tokio::test]
async fn stream_cut_before_any_text_is_retried() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::CutAfter(0), 1);
    server.push_reply("lost");
    server.push_reply("kept");
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "kept");
    assert_eq!(server.chat_requests().len(), 2);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::Hang, 1);
    let e = engine(OpenAiConfig {
        timeout_secs: 0.3,
        ..config(&server)
    });
    let t = Instant::now();
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("did not answer within 0.3 s"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(server.chat_requests().len(), 1, "timeouts are not retried");
}

#[tokio::test]
async fn a_server_refusing_stream_options_is_asked_without_them() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(
        Fault::Error {
            status: 400,
            message: "Unrecognized request argument supplied: stream_options".into(),
        },
        1,
    );
    server.push_reply("fine");
    server.push_reply("again");
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "fine");
    let out = collect(e.generate(request("y")).unwrap()).await;
    assert_eq!(out.text(), "again");
    assert!(out.usage.unwrap().prompt_tokens > 0, "estimated");
    let bodies = server.chat_requests();
    assert_eq!(bodies.len(), 3);
    assert!(bodies[0].get("stream_options").is_some());
    assert!(bodies[1].get("stream_options").is_none());
    assert!(bodies[2].get("stream_options").is_none());
}

#[tokio::test]
async fn alternatives_fall_back_when_the_server_rejects_n() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(
        Fault::Error {
            status: 400,
            message: "n must be 1".into(),
        },
        1,
    );
    server.push_reply("one");
    server.push_reply("two");
    let e = engine(config(&server));
    let answers = e.alternatives(&request("x"), 2).await.unwrap();
    assert_eq!(answers, vec!["one", "two"]);
    assert_eq!(server.chat_requests().len(), 3);
}

#[tokio::test]
async fn a_stream_that_stalls_times_out() {
    let server = FakeOpenAi::start().await.unwrap();
    server.set_chunk_delay(Duration::from_millis(600));
    server.push_reply("slow slow slow");
    let e = engine(OpenAiConfig {
        timeout_secs: 0.2,
        ..config(&server)
    });
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("no data for 0.2 s"), "{msg}");
}

#[tokio::test]
async fn connection_refused_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = engine(OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        max_retries: 1,
        retry_backoff_ms: 10,
        ..OpenAiConfig::default()
    });
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("cannot connect to"), "{msg}");
    assert!(msg.contains("after 1 retries"), "{msg}");
}

async fn slow_generation(server: &FakeOpenAi, e: &OpenAiEngine) -> Generation {
    server.set_chunk_delay(Duration::from_millis(30));
    server.push_reply("word ".repeat(200));
    let mut g = e.generate(request("x")).unwrap();
    for _ in 0..2 {
        match g.next().await {
            Some(Ok(GenEvent::Delta(_))) => {}
            other => panic!("expected a delta, got {other:?}"),
        }
    }
    g
}

#[tokio::test]
async fn cancelling_stops_the_stream_and_closes_the_connection() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(config(&server));
    let g = slow_generation(&server, &e).await;
    g.cancel_token().cancel();
    let out = collect(g).await;
    // Counted, not timed: 198 words were still to come, one every 30 ms (6 s). Stopping within
    // half of them leaves a loaded machine 3 s, and an ignored cancel cannot pass.
    assert!(
        out.deltas.len() < 100,
        "{} deltas after cancel",
        out.deltas.len()
    );
    assert_eq!(out.usage.unwrap().finish, Some(FinishReason::Cancelled));
    assert!(
        server.wait_closed_early(1, Duration::from_secs(3)).await,
        "the server should see the stream closed"
    );
}

#[tokio::test]
async fn dropping_the_generation_closes_the_connection() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(config(&server));
    let g = slow_generation(&server, &e).await;
    drop(g);
    assert!(server.wait_closed_early(1, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn concurrency_is_bounded_by_max_concurrent() {
    let server = FakeOpenAi::start().await.unwrap();
    server.set_chunk_delay(Duration::from_millis(5));
    let e = engine(OpenAiConfig {
        max_concurrent: 1,
        ..config(&server)
    });
    let a = e.generate(request("first")).unwrap();
    let b = e.generate(request("second")).unwrap();
    let (a, b) = tokio::join!(collect(a), collect(b));
    assert_eq!(a.text(), "You said: first");
    assert_eq!(b.text(), "You said: second");
    assert_eq!(server.max_in_flight(), 1);
}

#[tokio::test]
async fn alternatives_ask_for_n_choices_at_once() {
    let server = FakeOpenAi::start().await.unwrap();
    for r in ["alpha", "beta", "gamma"] {
        server.push_reply(r);
    }
    let e = engine(config(&server));
    let answers = e.alternatives(&request("x"), 3).await.unwrap();
    assert_eq!(answers, vec!["alpha", "beta", "gamma"]);
    let bodies = server.chat_requests();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["n"], 3);
    assert_eq!(bodies[0]["stream"], false);
}

#[tokio::test]
async fn alternatives_fall_back_to_one_at_a_time() {
    let server = FakeOpenAi::start().await.unwrap();
    server.set_max_choices(1);
    for r in ["alpha STOP x", "beta", "gamma"] {
        server.push_reply(r);
    }
    let e = engine(config(&server));
    let mut req = request("x");
    req.params.seed = Some(7);
    req.params.stop = vec![" STOP".into()];
    let answers = e.alternatives(&req, 3).await.unwrap();
    assert_eq!(answers, vec!["alpha", "beta", "gamma"]);
    let bodies = server.chat_requests();
    assert_eq!(bodies.len(), 3);
    let seeds: Vec<_> = bodies.iter().map(|b| b["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![7, 8, 9]);
    assert!(bodies[1].get("n").is_none());
}

#[tokio::test]
async fn alternatives_report_failures() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::Status(500), 100);
    let e = engine(OpenAiConfig {
        max_retries: 1,
        ..config(&server)
    });
    match e.alternatives(&request("x"), 2).await {
        Err(Error::Remote(m)) => assert!(m.contains("500"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn api_key_is_sent_as_bearer_token() {
    let server = FakeOpenAi::start().await.unwrap();
    let with = OpenAiEngine::with_api_key(config(&server), Some("sk-test-123".into())).unwrap();
    collect(with.generate(request("x")).unwrap()).await;
    let without = engine(config(&server));
    collect(without.generate(request("x")).unwrap()).await;
    let reqs = server.requests();
    assert_eq!(reqs[0].authorization.as_deref(), Some("Bearer sk-test-123"));
    assert_eq!(reqs[1].authorization, None);
}

#[test]
fn generate_can_be_called_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeOpenAi::start()).unwrap();
    server.push_reply("from a thread");
    let e = OpenAiEngine::with_runtime(config(&server), None, rt.handle().clone()).unwrap();
    let text = std::thread::spawn(move || {
        let mut g = e.generate(request("x")).unwrap();
        let mut text = String::new();
        while let Some(ev) = g.blocking_next() {
            match ev.unwrap() {
                GenEvent::Delta(d) => text.push_str(&d),
                GenEvent::Done(_) => break,
            }
        }
        text
    })
    .join()
    .unwrap();
    assert_eq!(text, "from a thread");
}

#[test]
fn engine_outside_a_runtime_is_an_error_not_a_panic() {
    let err = OpenAiEngine::with_api_key(OpenAiConfig::default(), None).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn engine_reports_its_limits() {
    let server = FakeOpenAi::start().await.unwrap();
    let e = engine(OpenAiConfig {
        context_len: 8192,
        ..config(&server)
    });
    assert_eq!(e.context_len(), 8192);
    assert!(e.message_overhead() > 0);
    assert!(e.describe().contains(FakeOpenAi::MODEL));
    e.forget("test");
    assert!(
        !e.describe().contains("127.0.0.1"),
        "users see describe() in /stats: no server address: {}",
        e.describe()
    );
    assert!(
        server.requests().is_empty(),
        "nothing here touches the network"
    );
}

#[tokio::test]
async fn a_server_trickling_keep_alives_hits_the_answer_deadline() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::KeepAliveForever, 1);
    // Keep-alives arrive every 20 ms, well inside the 5 s gap timeout: only the overall
    // deadline can end this answer.
    let e = engine(OpenAiConfig {
        answer_timeout_secs: 0.5,
        ..config(&server)
    });
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("engine.openai.answer_timeout_secs"), "{msg}");
    assert!(out.text().is_empty());
}

#[tokio::test]
async fn a_server_ignoring_max_tokens_is_cut_client_side() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::IgnoreMaxTokens, 1);
    let e = engine(config(&server));
    let mut req = request("x");
    req.params.max_tokens = 5;
    let out = collect(e.generate(req).unwrap()).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.text(), "word ".repeat(5));
    let usage = out.usage.expect("usage");
    assert_eq!(usage.finish, Some(FinishReason::Length));
    assert!(
        server.wait_closed_early(1, LIMIT).await,
        "the endless stream must be hung up on"
    );
}

#[tokio::test]
async fn an_endless_stream_event_fails_the_answer_instead_of_filling_memory() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::HugeEvent(3 << 20), 1);
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(
        msg.contains("an event of the stream is over 1024 KiB"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_oversized_json_answer_is_refused() {
    let server = FakeOpenAi::start().await.unwrap();
    server.fail_next(Fault::HugeBody(9 << 20), 1);
    let e = engine(config(&server));
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(msg.contains("the answer is over 8 MiB"), "{msg}");
}

#[tokio::test]
async fn debug_output_never_shows_the_api_key_and_messages_hide_url_credentials() {
    let server = FakeOpenAi::start().await.unwrap();
    let secret = "sk-very-secret-key";
    let mut cfg = config(&server);
    cfg.base_url = cfg.base_url.replacen("http://", "http://user:hunter2@", 1);
    let e = OpenAiEngine::with_api_key(cfg, Some(secret.into())).unwrap();
    let debug = format!("{e:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
    server.fail_next(Fault::Status(400), 1);
    let out = collect(e.generate(request("x")).unwrap()).await;
    let msg = remote_message(&out);
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(!e.describe().contains("hunter2"));
}
