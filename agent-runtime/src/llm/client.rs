//! The HTTP side: requests with retries before the first token, streaming with a first-token and an
//! overall timeout.

use super::sse::{EventParser, StreamError};
use super::{ChatMessage, Delta, LlmConfig, ModelName, Reply, Tool};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What can go wrong talking to the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The request could not be sent or the connection broke.
    #[error("LLM request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("LLM server answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// No (first) token in time.
    #[error("LLM timed out after {0:?}")]
    Timeout(Duration),
    /// The stream was malformed or carried an error.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The answer did not have the expected shape.
    #[error("unexpected LLM answer: {0}")]
    BadResponse(String),
}

/// A chat-completions client.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    config: LlmConfig,
    url: String,
}

/// A streamed answer: deltas in order; dropping it stops the stream.
#[derive(Debug)]
pub struct LlmStream {
    /// The deltas.
    pub deltas: mpsc::Receiver<Result<Delta, LlmError>>,
    task: JoinHandle<()>,
}

impl Drop for LlmStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LlmClient {
    /// A client for the configured server.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let base = config.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let url = format!("{base}/v1/chat/completions");
        Ok(Self { http, config, url })
    }

    /// The same client asking for another model (a workflow's choice); the connection pool is
    /// shared.
    pub fn with_model(&self, model: &ModelName) -> Self {
        let mut client = self.clone();
        client.config.model = model.as_str().to_owned();
        client
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn body(
        &self,
        messages: &[ChatMessage],
        tools: &[Tool],
        stream: bool,
        json_mode: bool,
        max_tokens: Option<u32>,
    ) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "stream": stream,
        });
        if let Some(max) = max_tokens {
            body["max_tokens"] = json!(max);
        }
        if !tools.is_empty() {
            body["tools"] = Value::Array(
                tools
                    .iter()
                    .map(|t| json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": t.parameters } }))
                    .collect(),
            );
        }
        if json_mode {
            body["response_format"] = json!({ "type": "json_object" });
        }
        body
    }

    /// Sends the request, retrying connection errors, 429 and 5xx with a short backoff.
    async fn send(&self, body: &Value, deadline: Instant) -> Result<reqwest::Response, LlmError> {
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.post(&self.url).json(body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let result = tokio::time::timeout(remaining, request.send()).await;
            let retryable = match &result {
                Err(_) => {
                    return Err(LlmError::Timeout(Duration::from_millis(
                        self.config.first_token_timeout_ms,
                    )));
                }
                Ok(Ok(r)) if r.status().is_success() => false,
                Ok(Ok(r)) => r.status().as_u16() == 429 || r.status().is_server_error(),
                Ok(Err(e)) => e.is_connect() || e.is_request(),
            };
            if retryable && attempt <= self.config.retries && Instant::now() + backoff < deadline {
                tracing::warn!(attempt, "LLM request failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 4;
                continue;
            }
            let response = match result {
                Ok(r) => r?,
                Err(_) => {
                    return Err(LlmError::Timeout(Duration::from_millis(
                        self.config.first_token_timeout_ms,
                    )));
                }
            };
            if !response.status().is_success() {
                let status = response.status().as_u16();
                let body: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                return Err(LlmError::Status { status, body });
            }
            return Ok(response);
        }
    }

    /// One whole answer (no streaming). `json_mode` asks for a JSON object; `max_tokens` bounds
    /// its length (none for a workflow, whose JSON is long).
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        tools: &[Tool],
        json_mode: bool,
        max_tokens: Option<u32>,
    ) -> Result<Reply, LlmError> {
        let deadline = Instant::now() + Duration::from_millis(self.config.timeout_ms);
        let body = self.body(messages, tools, false, json_mode, max_tokens);
        let response = self.send(&body, deadline).await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let value: Value = tokio::time::timeout(remaining, response.json())
            .await
            .map_err(|_| LlmError::Timeout(Duration::from_millis(self.config.timeout_ms)))??;
        let message = value
            .get("choices")
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("message"))
            .ok_or_else(|| LlmError::BadResponse("no choices[0].message".to_owned()))?;
        let text = message
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tool_calls = match message.get("tool_calls") {
            Some(calls) if !calls.is_null() => {
                serde_json::from_value(calls.clone()).map_err(|e| LlmError::BadResponse(e.to_string()))?
            }
            _ => Vec::new(),
        };
        Ok(Reply { text, tool_calls })
    }

    /// A streamed answer of at most `max_tokens` (the configuration's). Errors before the first
    /// byte are returned here (after retries); later ones arrive on the stream.
    pub async fn stream(&self, messages: &[ChatMessage], tools: &[Tool]) -> Result<LlmStream, LlmError> {
        let started = Instant::now();
        let first_deadline = started + Duration::from_millis(self.config.first_token_timeout_ms);
        let deadline = started + Duration::from_millis(self.config.timeout_ms);
        let body = self.body(messages, tools, true, false, Some(self.config.max_tokens));
        let mut response = self.send(&body, first_deadline).await?;
        let (tx, deltas) = mpsc::channel(64);
        let first_timeout = Duration::from_millis(self.config.first_token_timeout_ms);
        let total = Duration::from_millis(self.config.timeout_ms);
        let task = tokio::spawn(async move {
            let mut parser = EventParser::default();
            loop {
                // Until the model writes something, only the first-token deadline counts: a server's
                // keep-alive pings and role-only chunks do not show that it is generating.
                let first = !parser.has_started();
                let limit = if first { first_deadline } else { deadline };
                let chunk = tokio::time::timeout_at(limit, response.chunk()).await;
                let chunk = match chunk {
                    Err(_) => {
                        let _ = tx
                            .send(Err(LlmError::Timeout(if first { first_timeout } else { total })))
                            .await;
                        return;
                    }
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(LlmError::Http(e))).await;
                        return;
                    }
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(bytes))) => bytes,
                };
                match parser.push(&chunk) {
                    Ok(deltas) => {
                        for d in deltas {
                            if tx.send(Ok(d)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
                if parser.is_done() {
                    break;
                }
            }
            for d in parser.finish() {
                if tx.send(Ok(d)).await.is_err() {
                    return;
                }
            }
        });
        Ok(LlmStream { deltas, task })
    }
}
