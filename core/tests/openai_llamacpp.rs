//! Opt-in: the OpenAI-compatible engine against a real server.
//!
//! Start one (`scripts/llamacpp-server.sh` serves the default GGUF with llama-cpp-python on
//! 127.0.0.1:8088), then:
//!
//! ```text
//! PARLEY_OPENAI_BASE_URL=http://127.0.0.1:8088/v1 \
//!   cargo test -p parley-core --test openai_llamacpp -- --ignored --nocapture
//! ```
//! `PARLEY_OPENAI_MODEL` overrides the model name (llama.cpp ignores it; vLLM and Ollama need it).

use std::time::Instant;

use parley_core::engine::openai::{OpenAiConfig, OpenAiEngine};
use parley_core::engine::{
    ChatMessage, Engine, FinishReason, GenEvent, GenerateRequest, Role, SamplingParams,
};

fn engine() -> Option<OpenAiEngine> {
    let Ok(base_url) = std::env::var("PARLEY_OPENAI_BASE_URL") else {
        eprintln!(
            "skipped: set PARLEY_OPENAI_BASE_URL (e.g. http://127.0.0.1:8088/v1) to run this test"
        );
        return None;
    };
    let config = OpenAiConfig {
        base_url,
        model: std::env::var("PARLEY_OPENAI_MODEL").unwrap_or_else(|_| "default".into()),
        timeout_secs: 120.0,
        context_len: 2048,
        ..OpenAiConfig::default()
    };
    Some(OpenAiEngine::new(config).expect("engine"))
}

fn request(question: &str, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        conversation: "llamacpp".into(),
        messages: vec![
            ChatMessage::new(Role::System, "You are a helpful assistant. Answer briefly."),
            ChatMessage::new(Role::User, question),
        ],
        params: SamplingParams {
            max_tokens,
            temperature: 0.0,
            seed: Some(1),
            ..SamplingParams::default()
        },
        shareable_bytes: 0,
    }
}

#[tokio::test]
#[ignore = "needs a running OpenAI-compatible server: set PARLEY_OPENAI_BASE_URL"]
async fn short_chat_against_a_real_server() {
    let Some(engine) = engine() else { return };
    println!("engine: {}", engine.describe());
    println!(
        "estimated ratio before: {:.3} tokens/char",
        engine.token_ratio()
    );

    let started = Instant::now();
    let mut generation = engine
        .generate(request("What is the capital of France?", 48))
        .expect("generate");
    let mut deltas = Vec::new();
    let usage = loop {
        match generation.next().await.expect("stream ended without Done") {
            Ok(GenEvent::Delta(d)) => deltas.push(d),
            Ok(GenEvent::Done(u)) => break u,
            Err(e) => panic!("generation failed: {e}"),
        }
    };
    let text = deltas.concat();
    println!(
        "answer ({} deltas, {:?}): {text:?}",
        deltas.len(),
        started.elapsed()
    );
    println!("usage: {usage:?}");
    assert!(!text.trim().is_empty(), "the server answered nothing");
    assert!(
        deltas.len() > 1,
        "the answer should stream in several deltas"
    );
    assert!(usage.prompt_tokens > 0);
    assert!(usage.completion_tokens > 0);
    assert!(matches!(
        usage.finish,
        Some(FinishReason::Stop) | Some(FinishReason::Length)
    ));
    println!(
        "estimated ratio after: {:.3} tokens/char",
        engine.token_ratio()
    );

    // A stop string is cut client-side: nothing from it onwards comes out.
    let mut req = request("Count from 1 to 10, separated by commas.", 48);
    req.params.stop = vec!["5".into()];
    let (text, usage) = engine
        .generate(req)
        .expect("generate")
        .text()
        .await
        .expect("answer");
    println!("with stop \"5\": {text:?} ({:?})", usage.finish);
    assert!(!text.contains('5'));

    // Cancellation ends the stream promptly.
    let mut generation = engine
        .generate(request("Tell me a long story about a dragon.", 200))
        .expect("generate");
    let first = generation.next().await;
    println!("first delta before cancel: {first:?}");
    generation.cancel_token().cancel();
    let t = Instant::now();
    let mut last = None;
    while let Some(ev) = generation.next().await {
        last = Some(ev);
    }
    println!("after cancel: {last:?} in {:?}", t.elapsed());
    assert!(matches!(
        last,
        Some(Ok(GenEvent::Done(ref u))) if u.finish == Some(FinishReason::Cancelled)
    ));

    // Alternatives: llama.cpp may return fewer choices than asked; the engine makes up the rest.
    let mut req = request("Name a colour.", 8);
    req.params.temperature = 0.9;
    let answers = engine.alternatives(&req, 2).await.expect("alternatives");
    println!("alternatives: {answers:?}");
    assert_eq!(answers.len(), 2);
}
