//! The OpenAI-compatible providers against a fake server started in the test: it parses what the
//! providers send as a real server would (multipart, JSON), records it, and answers like the API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use agent_runtime::speech::{
    Audio, OpenAiSttConfig, OpenAiTtsConfig, SampleRate, SpeechError, SpeechToText, SttConfig, SttHints,
    TextToSpeech, TtsConfig,
};
use axum::Router;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// One multipart field as the server saw it.
#[derive(Debug, Clone)]
struct Field {
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// What the fake server received.
#[derive(Debug, Default)]
struct Seen {
    authorization: Vec<Option<String>>,
    transcription_fields: Vec<BTreeMap<String, Field>>,
    speech_bodies: Vec<serde_json::Value>,
}

type Shared = Arc<Mutex<Seen>>;

/// The server task is aborted when the test drops this.
struct FakeServer {
    addr: SocketAddr,
    seen: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records a transcription request's fields.
async fn record_transcription(
    seen: &Shared,
    headers: &HeaderMap,
    mut multipart: Multipart,
) -> BTreeMap<String, Field> {
    let mut fields = BTreeMap::new();
    while let Some(field) = multipart.next_field().await.expect("well-formed multipart") {
        let name = field.name().expect("named field").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.expect("field body").to_vec();
        fields.insert(
            name,
            Field {
                file_name,
                content_type,
                bytes,
            },
        );
    }
    let mut seen = seen.lock().expect("state");
    seen.authorization.push(authorization(headers));
    seen.transcription_fields.push(fields.clone());
    fields
}

async fn transcriptions(State(seen): State<Shared>, headers: HeaderMap, multipart: Multipart) -> Response {
    record_transcription(&seen, &headers, multipart).await;
    // Whisper servers pad the text with a leading space, and some leak a decoder token or a
    // caption for a noise.
    axum::Json(serde_json::json!({ "text": " <|notimestamps|> Hello from [BLANK_AUDIO] the fake server. " }))
        .into_response()
}

/// A server whose model writes the prompt back, as Whisper does now and then on noise.
async fn echoing_transcriptions(
    State(seen): State<Shared>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let fields = record_transcription(&seen, &headers, multipart).await;
    let text = match fields.get("prompt") {
        Some(prompt) => String::from_utf8_lossy(&prompt.bytes).into_owned(),
        None => "Friday works for me.".to_owned(),
    };
    axum::Json(serde_json::json!({ "text": text })).into_response()
}

async fn speech(
    State(seen): State<Shared>,
    headers: HeaderMap,
    body: axum::Json<serde_json::Value>,
) -> Response {
    {
        let mut seen = seen.lock().expect("state");
        seen.authorization.push(authorization(&headers));
        seen.speech_bodies.push(body.0);
    }
    // 0.1 s of a ramp at 24 kHz, with the placeholder lengths a streaming server writes.
    let audio = Audio::new(
        SampleRate::HZ_24000,
        (0..2_400).map(|i| (i * 10) as i16).collect(),
    );
    let mut wav = audio.to_wav().expect("encode");
    wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}

async fn unauthorized() -> Response {
    let error = serde_json::json!({ "error": { "message": "Incorrect API key provided", "type": "invalid_request_error" } });
    (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response()
}

async fn never_answers() -> Response {
    std::future::pending::<()>().await;
    StatusCode::OK.into_response()
}

async fn start() -> FakeServer {
    let seen = Shared::default();
    let app = Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/audio/speech", post(speech))
        .route("/echo/v1/audio/transcriptions", post(echoing_transcriptions))
        .route("/denied/v1/audio/speech", post(unauthorized))
        .route("/denied/v1/audio/transcriptions", post(unauthorized))
        .route("/slow/v1/audio/speech", post(never_answers))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("fake server");
    });
    FakeServer { addr, seen, task }
}

#[tokio::test]
async fn transcription_uploads_a_wav_file_with_the_model_and_parses_text() {
    let server = start().await;
    let stt = SpeechToText::from_config(&SttConfig::OpenAi(OpenAiSttConfig {
        base_url: format!("http://{}", server.addr),
        api_key: Some("sk-test".to_owned()),
        model: "whisper-large-v3".to_owned(),
        language: Some("en".to_owned()),
        ..Default::default()
    }))
    .expect("provider");
    let audio = Audio::new(
        SampleRate::HZ_8000,
        (0..800).map(|i| (i % 100) as i16 * 100).collect(),
    );

    let text = stt.transcribe(&audio).await.expect("transcription");
    assert_eq!(text, "Hello from the fake server.");

    let seen = server.seen.lock().expect("state");
    assert_eq!(seen.authorization, [Some("Bearer sk-test".to_owned())]);
    let fields = &seen.transcription_fields[0];
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(names, ["file", "language", "model", "response_format"]);
    let file = &fields["file"];
    assert!(
        file.file_name.as_deref().is_some_and(|n| n.ends_with(".wav")),
        "{file:?}"
    );
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    // The upload is a WAV file of the very audio, at its own rate.
    assert_eq!(Audio::from_wav(&file.bytes).expect("uploaded WAV"), audio);
    assert_eq!(fields["model"].bytes, b"whisper-large-v3");
    assert_eq!(fields["language"].bytes, b"en");
    assert_eq!(fields["response_format"].bytes, b"json");
}

#[tokio::test]
async fn hints_are_sent_as_the_prompt_and_an_echo_is_asked_again_without() {
    let server = start().await;
    let mut hints = SttHints::new();
    hints.extend([
        "Priya Raman",
        "Lakeside Dental",
        "Thursday at 10 AM",
        "Friday at 3 PM",
    ]);
    let audio = Audio::new(SampleRate::HZ_8000, vec![0; 800]);

    let stt = SpeechToText::from_config(&SttConfig::OpenAi(OpenAiSttConfig {
        base_url: format!("http://{}", server.addr),
        ..Default::default()
    }))
    .expect("provider");
    assert_eq!(
        stt.transcribe_with(&audio, &hints).await.expect("transcription"),
        "Hello from the fake server."
    );
    let sent = server.seen.lock().expect("state").transcription_fields[0]["prompt"]
        .bytes
        .clone();
    assert_eq!(
        sent,
        b"Priya Raman, Lakeside Dental, Thursday at 10 AM, Friday at 3 PM."
    );

    let echoing = SpeechToText::from_config(&SttConfig::OpenAi(OpenAiSttConfig {
        base_url: format!("http://{}/echo", server.addr),
        ..Default::default()
    }))
    .expect("provider");
    assert_eq!(
        echoing
            .transcribe_with(&audio, &hints)
            .await
            .expect("transcription"),
        "Friday works for me."
    );
    let asked: Vec<bool> = server.seen.lock().expect("state").transcription_fields[1..]
        .iter()
        .map(|f| f.contains_key("prompt"))
        .collect();
    assert_eq!(asked, [true, false], "asked with the hint, then without");
    // No hints, no prompt field.
    stt.transcribe(&audio).await.expect("transcription");
    let seen = server.seen.lock().expect("state");
    assert!(!seen.transcription_fields[3].contains_key("prompt"));
}

#[tokio::test]
async fn speech_posts_json_and_decodes_the_wav_answer() {
    let server = start().await;
    let tts = TextToSpeech::from_config(&TtsConfig::OpenAi(OpenAiTtsConfig {
        // A base URL copied from OpenAI client settings, with /v1 and a slash.
        base_url: format!("http://{}/v1/", server.addr),
        api_key: None,
        model: "tts-1-hd".to_owned(),
        voice: "nova".to_owned(),
        ..Default::default()
    }))
    .expect("provider");

    let audio = tts
        .synthesize("Hello, this is an AI assistant.")
        .await
        .expect("speech");
    assert_eq!(audio.sample_rate, SampleRate::HZ_24000);
    assert_eq!(audio.samples.len(), 2_400);
    assert_eq!(audio.samples[100], 1_000);

    let seen = server.seen.lock().expect("state");
    assert_eq!(seen.authorization, [None], "no key configured, no header sent");
    assert_eq!(
        seen.speech_bodies[0],
        serde_json::json!({
            "model": "tts-1-hd",
            "input": "Hello, this is an AI assistant.",
            "voice": "nova",
            "response_format": "wav",
        })
    );
}

#[tokio::test]
async fn error_statuses_are_reported_with_the_body() {
    let server = start().await;
    let base_url = format!("http://{}/denied", server.addr);
    let tts = TextToSpeech::from_config(&TtsConfig::OpenAi(OpenAiTtsConfig {
        base_url: base_url.clone(),
        speed: Some(1.25),
        ..Default::default()
    }))
    .expect("provider");
    match tts.synthesize("hi").await {
        Err(SpeechError::HttpStatus { status: 401, body }) => {
            assert!(body.contains("Incorrect API key"), "{body}")
        }
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    let stt = SpeechToText::from_config(&SttConfig::OpenAi(OpenAiSttConfig {
        base_url,
        ..Default::default()
    }))
    .expect("provider");
    let audio = Audio::new(SampleRate::HZ_16000, vec![0; 160]);
    assert!(matches!(
        stt.transcribe(&audio).await,
        Err(SpeechError::HttpStatus { status: 401, .. })
    ));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = start().await;
    let tts = TextToSpeech::from_config(&TtsConfig::OpenAi(OpenAiTtsConfig {
        base_url: format!("http://{}/slow", server.addr),
        timeout_ms: 200,
        ..Default::default()
    }))
    .expect("provider");
    match tts.synthesize("hi").await {
        Err(SpeechError::Http(e)) => assert!(e.is_timeout(), "{e:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(server.seen.lock().expect("state").speech_bodies.len(), 0);
    drop(server);
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    // Bind and drop to get a port that is almost certainly closed.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let stt = SpeechToText::from_config(&SttConfig::OpenAi(OpenAiSttConfig {
        base_url: format!("http://{addr}"),
        ..Default::default()
    }))
    .expect("provider");
    let result = stt
        .transcribe(&Audio::new(SampleRate::HZ_16000, vec![0; 160]))
        .await;
    assert!(
        matches!(&result, Err(SpeechError::Http(e)) if e.is_connect()),
        "{result:?}"
    );
}
