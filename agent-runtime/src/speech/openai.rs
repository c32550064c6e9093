//! Remote speech providers over the OpenAI audio API, which most self-hosted servers copy:
//! `POST /v1/audio/transcriptions` (multipart upload, JSON `{"text"}` back) and
//! `POST /v1/audio/speech` (JSON in, audio bytes back; we ask for WAV).
//!
//! `base_url` is the server root (`http://127.0.0.1:8000`); a trailing `/v1` is accepted too, so
//! URLs copied from OpenAI client settings work. The bearer key is optional, as local servers
//! seldom want one. Every request has a connect timeout and an overall timeout, so a dead server
//! costs one turn, not the call.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};

use super::cleanup::has_word_loop;
use super::{Audio, SpeechError, SttHints};

/// How long to wait for a TCP/TLS connection to a provider.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an error body goes into [`SpeechError::HttpStatus`].
const ERROR_BODY_LIMIT: usize = 512;

/// Settings of a remote transcription endpoint.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSttConfig {
    /// Server root, without `/v1/audio/...`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; no header when unset.
    pub api_key: Option<String>,
    /// Model name (`whisper-1` at OpenAI; servers often ignore it or want their own).
    pub model: String,
    /// ISO-639-1 language hint; the server detects the language when unset.
    pub language: Option<String>,
    /// Overall request timeout, ms.
    pub timeout_ms: u64,
}

impl Default for OpenAiSttConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com".to_owned(),
            api_key: None,
            model: "whisper-1".to_owned(),
            language: None,
            timeout_ms: 30_000,
        }
    }
}

/// Settings of a remote speech endpoint.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiTtsConfig {
    /// Server root, without `/v1/audio/...`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer`; no header when unset.
    pub api_key: Option<String>,
    /// Model name (`tts-1`, `gpt-4o-mini-tts`, or the server's own).
    pub model: String,
    /// Voice name.
    pub voice: String,
    /// Speaking rate, 0.25 to 4.0; the server's default when unset.
    pub speed: Option<f32>,
    /// Overall request timeout, ms.
    pub timeout_ms: u64,
}

impl Default for OpenAiTtsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com".to_owned(),
            api_key: None,
            model: "tts-1".to_owned(),
            voice: "alloy".to_owned(),
            speed: None,
            timeout_ms: 30_000,
        }
    }
}

/// Keys are secrets: configs show up in logs, so their `Debug` shows only whether one is set.
fn redacted(key: &Option<String>) -> &'static str {
    if key.is_some() { "<redacted>" } else { "<none>" }
}

impl std::fmt::Debug for OpenAiSttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSttConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &redacted(&self.api_key))
            .field("model", &self.model)
            .field("language", &self.language)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl std::fmt::Debug for OpenAiTtsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiTtsConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &redacted(&self.api_key))
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("speed", &self.speed)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// `{base_url}/v1/{path}`, tolerating a trailing slash or `/v1` on the base.
fn endpoint(base_url: &str, path: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/v1/{path}")
}

fn client(timeout_ms: u64) -> Result<reqwest::Client, SpeechError> {
    Ok(reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(Duration::from_millis(timeout_ms))
        .build()?)
}

fn authorize(request: reqwest::RequestBuilder, api_key: Option<&str>) -> reqwest::RequestBuilder {
    match api_key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

/// Turns a non-2xx answer into [`SpeechError::HttpStatus`] with the start of its body.
async fn check_status(response: reqwest::Response) -> Result<reqwest::Response, SpeechError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let mut end = body.len().min(ERROR_BODY_LIMIT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    Err(SpeechError::HttpStatus {
        status: status.as_u16(),
        body: body[..end].to_owned(),
    })
}

/// Speech-to-text through `POST /v1/audio/transcriptions`.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    client: reqwest::Client,
    url: String,
    config: OpenAiSttConfig,
}

#[derive(Deserialize)]
struct Transcription {
    text: String,
}

impl OpenAiStt {
    /// Builds the HTTP client; no request is made.
    pub fn new(config: OpenAiSttConfig) -> Result<Self, SpeechError> {
        Ok(Self {
            client: client(config.timeout_ms)?,
            url: endpoint(&config.base_url, "audio/transcriptions"),
            config,
        })
    }

    /// Uploads `audio` as a 16-bit WAV file, with the hints' text as the API's `prompt` (the same
    /// previous-text prompt on-box Whisper gets), and returns the trimmed transcript. A transcript
    /// that is the hint written back, or loops, is asked for again without the prompt.
    pub async fn transcribe(&self, audio: &Audio, hints: &SttHints) -> Result<String, SpeechError> {
        let wav = audio.to_wav()?;
        let Some(prompt) = hints.prompt() else {
            return self.request(&wav, None).await;
        };
        let text = self.request(&wav, Some(&prompt)).await?;
        if hints.echoed_by(&text) || has_word_loop(&text) {
            tracing::debug!("the hinted transcript looped or wrote the hint back; asking without the hint");
            return self.request(&wav, None).await;
        }
        Ok(text)
    }

    async fn request(&self, wav: &[u8], prompt: Option<&str>) -> Result<String, SpeechError> {
        let file = Part::bytes(wav.to_vec())
            .file_name("utterance.wav")
            .mime_str("audio/wav")?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.config.model.clone())
            .text("response_format", "json");
        if let Some(language) = &self.config.language {
            form = form.text("language", language.clone());
        }
        if let Some(prompt) = prompt {
            form = form.text("prompt", prompt.to_owned());
        }
        let request = authorize(self.client.post(&self.url), self.config.api_key.as_deref()).multipart(form);
        let response = check_status(request.send().await?).await?;
        let body = response.bytes().await?;
        let transcription: Transcription = serde_json::from_slice(&body).map_err(SpeechError::BadResponse)?;
        Ok(transcription.text.trim().to_owned())
    }
}

/// Text-to-speech through `POST /v1/audio/speech`.
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    client: reqwest::Client,
    url: String,
    config: OpenAiTtsConfig,
}

#[derive(Serialize)]
struct SpeechRequest<'a> {
    model: &'a str,
    input: &'a str,
    voice: &'a str,
    response_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed: Option<f32>,
}

impl OpenAiTts {
    /// Builds the HTTP client; no request is made.
    pub fn new(config: OpenAiTtsConfig) -> Result<Self, SpeechError> {
        Ok(Self {
            client: client(config.timeout_ms)?,
            url: endpoint(&config.base_url, "audio/speech"),
            config,
        })
    }

    /// Asks for `text` as WAV and decodes it to mono 16-bit at the server's rate.
    pub async fn synthesize(&self, text: &str) -> Result<Audio, SpeechError> {
        let body = SpeechRequest {
            model: &self.config.model,
            input: text,
            voice: &self.config.voice,
            response_format: "wav",
            speed: self.config.speed,
        };
        let request = authorize(self.client.post(&self.url), self.config.api_key.as_deref()).json(&body);
        let response = check_status(request.send().await?).await?;
        Audio::from_wav(&response.bytes().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_roots_with_or_without_v1() {
        for base in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
        ] {
            assert_eq!(
                endpoint(base, "audio/speech"),
                "http://h:8000/v1/audio/speech",
                "{base}"
            );
        }
    }
}
