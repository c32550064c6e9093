//! Workflow compilation by a model (a fake OpenAI-compatible server answering fixed JSON): the result
//! goes through the same rules as the built-in compiler's, the disclosure is never the model's, and
//! any failure falls back to the built-in compiler.

use agent_runtime::llm::{LlmClient, LlmConfig, compile_workflow};
use agent_runtime::workflow::{FieldKind, WorkflowError};
use serde_json::{Value, json};

async fn model_answering(content: Value) -> LlmClient {
    let text = match content {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let text = text.clone();
            async move {
                assert_eq!(
                    body.0["response_format"]["type"], "json_object",
                    "structured output is requested"
                );
                axum::Json(json!({"choices":[{"message":{"role":"assistant","content": text}}]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    LlmClient::new(LlmConfig {
        base_url: format!("http://{addr}"),
        retries: 0,
        ..LlmConfig::default()
    })
    .expect("client")
}

#[tokio::test]
async fn the_models_workflow_is_used_with_our_disclosure() {
    let client = model_answering(json!({
        "vague": false, "organization": "Acme Plumbing", "goal": "Book a visit",
        "steps": [
            {"question": "Is the leak still active?", "field": {"name": "leak_active", "type": "yes_no"}},
            {"question": "Would Monday or Friday suit you?", "field": {"name": "day", "type": "choice", "options": ["Monday", "Friday"]},
             "when": {"field": "leak_active", "equals": true}}
        ],
        "voicemail_message": "Acme Plumbing here, please call us back.",
        "max_duration_secs": 240, "ivr_target": null, "transfer_on_request": true
    }))
    .await;
    let w = compile_workflow(&client, "Call about the leak for Acme Plumbing and book a visit.")
        .await
        .expect("compiles");
    assert_eq!(
        w.opening,
        "Hello, this is an AI assistant calling on behalf of Acme Plumbing."
    );
    assert_eq!(w.steps.len(), 2);
    assert_eq!(
        w.steps[1].field.kind,
        FieldKind::Choice {
            options: vec!["Monday".into(), "Friday".into()]
        }
    );
    assert_eq!(w.max_duration_secs, 240);
    assert!(w.transfer_on_request);
}

#[tokio::test]
async fn a_vague_verdict_is_a_refusal() {
    let client = model_answering(json!({"vague": true, "reason": "no goal"})).await;
    assert_eq!(
        compile_workflow(&client, "Call them. Ask if they can come on Tuesday.").await,
        Err(WorkflowError::TooVague)
    );
}

#[tokio::test]
async fn broken_answers_fall_back_to_the_built_in_compiler() {
    for broken in [
        json!("this is not json"),
        json!({"steps": [{"question": "x", "field": {"name": "a", "type": "weird"}}]}),
        json!({"steps": []}),
    ] {
        let client = model_answering(broken).await;
        let w = compile_workflow(&client, "Ask if they can come on Tuesday.")
            .await
            .expect("falls back");
        assert_eq!(w.steps[0].question, "Can you come on Tuesday?");
    }
    let unreachable = LlmClient::new(LlmConfig {
        base_url: "http://127.0.0.1:9".into(),
        retries: 0,
        ..LlmConfig::default()
    })
    .expect("client");
    let w = compile_workflow(&unreachable, "Ask if they can come on Tuesday.")
        .await
        .expect("falls back");
    assert_eq!(w.steps.len(), 1);
}
