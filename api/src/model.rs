//! What the API shows: the native call object (also the body of the native completion callback),
//! and the shapes of the two compatible faces (prompt-to-call and fire-and-poll), all rendered
//! from one stored call. Field names are the contracts in DESIGN.md.

use crate::store::{CallRow, StoreError, json_column};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The native call object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Call {
    /// Call id (`call_...`).
    pub call_id: String,
    /// Workflow id (`wf_...`).
    pub workflow_id: String,
    /// `outbound` (or `inbound`).
    pub direction: String,
    /// Callee, E.164.
    pub to: String,
    /// Caller id, when known.
    pub from: Option<String>,
    /// Trunk name.
    pub trunk: String,
    /// `queued | dialing | ringing | answered | finalized`.
    pub lifecycle: String,
    /// Set when finalized: `completed | voicemail | no_answer | busy | declined | failed | canceled`.
    pub outcome: Option<String>,
    /// The SIP side of the ending.
    pub sip: SipInfo,
    /// Answering-machine detection.
    pub amd: Amd,
    /// Summary of the conversation.
    pub summary: Option<String>,
    /// The conversation so far (live while the call runs).
    pub transcript: Vec<TranscriptTurn>,
    /// Fields collected.
    #[schema(value_type = Object)]
    pub form_fills: Map<String, Value>,
    /// DTMF digits sent and received.
    pub dtmf: Vec<Dtmf>,
    /// Seconds from answer to hangup.
    pub talk_seconds: Option<f64>,
    /// The recording, an authenticated API URL.
    pub recording_url: Option<String>,
    /// Media quality.
    pub media: Option<MediaStats>,
    /// Why the call failed.
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub answered_at: Option<String>,
    /// RFC 3339.
    pub ended_at: Option<String>,
    /// Caller-supplied data, returned as given.
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    /// The idempotency key the call was created with.
    pub idempotency_key: Option<String>,
    /// Why the agent ended the call: `completed | no_input | voicemail | do_not_call |
    /// caller_done | max_duration | error`, or null when the other side hung up first.
    pub end_reason: Option<String>,
    /// Per answered turn, where the time from the end of the caller's speech to the agent's first
    /// audio went.
    pub latency: Vec<TurnLatency>,
    /// A human to bridge to.
    pub bridge_number: Option<String>,
}

/// How the call ended in SIP terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SipInfo {
    /// Final SIP status, e.g. 486.
    pub status: Option<i64>,
    /// Reason phrase or description.
    pub reason: Option<String>,
    /// `agent | remote | system`.
    pub hangup_by: Option<String>,
}

/// Where one answered turn's time went, ms: from the end of the caller's speech to the agent's
/// first audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TurnLatency {
    /// End of speech to the end-of-turn decision.
    pub endpointing_ms: u64,
    /// Speech to text.
    pub stt_ms: u64,
    /// The language model's first token (0 without a model).
    pub llm_first_token_ms: u64,
    /// Text to the first audio.
    pub tts_first_audio_ms: u64,
    /// The server's own share between the stages.
    pub server_ms: u64,
    /// End of speech to the first audio.
    pub total_ms: u64,
}

/// Answering-machine detection verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Amd {
    /// `human | machine | unknown`.
    pub verdict: String,
    /// 0 to 1.
    pub confidence: f64,
    /// When it was decided, ms after answer.
    pub decided_ms: Option<i64>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptTurn {
    /// `agent | caller`.
    pub role: String,
    /// What was said (for the agent: only what was played).
    pub text: String,
    /// ms after answer.
    pub start_ms: i64,
    /// ms after answer.
    pub end_ms: i64,
    /// Whether the other side cut in.
    #[serde(default)]
    pub interrupted: bool,
}

/// One DTMF digit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dtmf {
    /// `0-9 * # A-D`.
    pub digit: String,
    /// ms after answer.
    pub at_ms: i64,
    /// `sent | received`.
    pub direction: String,
}

/// Media quality of the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MediaStats {
    /// Codec, e.g. `PCMU`.
    pub codec: String,
    /// Lost packets, percent.
    pub loss_pct: f64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Estimated mean opinion score, 1 to 4.5.
    pub mos: f64,
    /// RTP packets received from the callee.
    #[serde(default)]
    pub packets_received: u64,
    /// RTP packets sent to the callee (none while the callee holds the call).
    #[serde(default)]
    pub packets_sent: u64,
    /// Packets dropped because they came from another source than the callee's media (someone
    /// spraying our RTP port, or a source the `[media] latch` policy refused).
    #[serde(default)]
    pub packets_foreign: u64,
    /// Why the call has no recording though one was configured (the disk filled, the directory
    /// was not writable): the call went on without it. Absent when nothing failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_failed: Option<String>,
}

/// The prompt-to-call face's completion callback body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptCallback {
    /// Call id.
    pub call_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// `completed | not picked up | busy | voicemail | failed`.
    pub call_status: String,
    /// The native outcome word, finer than `call_status`.
    pub provider_status: String,
    /// Summary.
    pub call_summary: Option<String>,
    /// The conversation.
    pub messages: Vec<PromptMessage>,
    /// Fields collected.
    #[schema(value_type = Object)]
    pub form_fills: Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub ended_at: Option<String>,
    /// Seconds from answer to hangup.
    pub talk_seconds: Option<f64>,
    /// Final SIP status.
    pub sip_status: Option<i64>,
    /// The recording, an authenticated API URL.
    pub recording_url: Option<String>,
}

/// One message of the prompt-to-call transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PromptMessage {
    /// `ai | human`.
    pub role: String,
    /// What was said.
    pub content: String,
}

/// The fire-and-poll face's call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PollCall {
    /// Call id.
    pub call_id: String,
    /// `queued | dialing | answered | finalized` (ringing shows as dialing).
    pub lifecycle: String,
    /// Once finalized: `completed | voicemail_detected | no_answer | busy | declined_by_callee | failed`.
    pub outcome: Option<String>,
    /// Callee, E.164.
    pub to: String,
    /// Seconds from answer to hangup (0 when never answered).
    pub talk_seconds: f64,
    /// Role-tagged turns.
    pub transcript: Vec<PollTurn>,
    /// The recording (`GET /call/{id}/recording`).
    pub recording_url: Option<String>,
    /// Why the call ended, in Q.850 cause words (`normal_clearing`, `user_busy`, ...).
    pub hangup_cause: Option<String>,
    /// The SIP status that ended it, e.g. `486`.
    pub sip_hangup_cause: Option<String>,
    /// A human to bridge to.
    pub bridge_number: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub answered_at: Option<String>,
    /// RFC 3339.
    pub ended_at: Option<String>,
}

/// One fire-and-poll transcript turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PollTurn {
    /// `agent | caller`.
    pub role: String,
    /// What was said.
    pub text: String,
}

fn object(column: &'static str, text: &str) -> Result<Map<String, Value>, StoreError> {
    match json_column(column, text)? {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

fn transcript(row: &CallRow) -> Result<Vec<TranscriptTurn>, StoreError> {
    serde_json::from_str(&row.transcript).map_err(|source| StoreError::Json {
        column: "transcript",
        source,
    })
}

impl Call {
    /// Renders a stored call.
    pub fn from_row(row: &CallRow, public_url: &str) -> Result<Self, StoreError> {
        let media = match &row.media {
            Some(text) => {
                let media = json_column("media", text)?;
                let loss = media.get("loss_pct").and_then(Value::as_f64).unwrap_or(0.0);
                let jitter = media.get("jitter_ms").and_then(Value::as_f64).unwrap_or(0.0);
                Some(MediaStats {
                    codec: media
                        .get("codec")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    loss_pct: loss,
                    jitter_ms: jitter,
                    mos: round2(estimate_mos(loss, jitter)),
                    packets_received: media.get("packets_received").and_then(Value::as_u64).unwrap_or(0),
                    packets_sent: media.get("packets_sent").and_then(Value::as_u64).unwrap_or(0),
                    packets_foreign: media.get("packets_foreign").and_then(Value::as_u64).unwrap_or(0),
                    recording_failed: media
                        .get("recording_failed")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
            }
            None => None,
        };
        Ok(Self {
            call_id: row.id.clone(),
            workflow_id: row.workflow_id.clone(),
            direction: row.direction.clone(),
            to: row.to_number.clone(),
            from: row.from_number.clone(),
            trunk: row.trunk.clone(),
            lifecycle: row.lifecycle.clone(),
            outcome: row.outcome.clone(),
            sip: SipInfo {
                status: row.sip_status,
                reason: row.sip_reason.clone(),
                hangup_by: row.hangup_by.clone(),
            },
            amd: match &row.amd {
                // The on-box detector's verdict.
                Some(text) => serde_json::from_str(text).map_err(|source| StoreError::Json {
                    column: "amd",
                    source,
                })?,
                // No detector ran (energy endpointer, or the call was never answered): what the
                // outcome says, without a confidence.
                None => Amd {
                    verdict: match row.outcome.as_deref() {
                        Some("voicemail") => "machine",
                        Some("completed") => "human",
                        _ => "unknown",
                    }
                    .to_owned(),
                    confidence: 0.0,
                    decided_ms: None,
                },
            },
            end_reason: row.end_reason.clone(),
            latency: serde_json::from_str(&row.latency).map_err(|source| StoreError::Json {
                column: "latency",
                source,
            })?,
            summary: row.summary.clone(),
            transcript: transcript(row)?,
            form_fills: object("form_fills", &row.form_fills)?,
            dtmf: serde_json::from_str(&row.dtmf).map_err(|source| StoreError::Json {
                column: "dtmf",
                source,
            })?,
            talk_seconds: row.talk_seconds(),
            recording_url: row
                .recording_path
                .as_ref()
                .map(|_| format!("{public_url}/v1/calls/{}/recording", row.id)),
            media,
            error: row.error.clone(),
            created_at: row.created_at.clone(),
            answered_at: row.answered_at.clone(),
            ended_at: row.ended_at.clone(),
            metadata: object("metadata", &row.metadata)?,
            idempotency_key: row.idempotency_key.clone(),
            bridge_number: row.bridge_number.clone(),
        })
    }
}

/// The prompt-to-call `call_status` word for a native outcome (the table in DESIGN.md).
pub fn prompt_call_status(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "completed",
        "voicemail" => "voicemail",
        "no_answer" | "declined" => "not picked up",
        "busy" => "busy",
        _ => "failed",
    }
}

/// The fire-and-poll `outcome` word for a native outcome.
pub fn poll_outcome(outcome: &str) -> &'static str {
    match outcome {
        "completed" => "completed",
        "voicemail" => "voicemail_detected",
        "no_answer" => "no_answer",
        "busy" => "busy",
        "declined" => "declined_by_callee",
        _ => "failed",
    }
}

/// The Q.850 cause word (as carriers report it) for how a call ended.
pub fn hangup_cause(outcome: &str, sip_status: Option<i64>) -> &'static str {
    match (outcome, sip_status) {
        ("completed" | "voicemail", _) => "normal_clearing",
        ("busy", _) => "user_busy",
        ("declined", _) => "call_rejected",
        ("canceled", _) => "originator_cancel",
        ("no_answer", Some(480)) => "no_user_response",
        ("no_answer", Some(408)) => "recovery_on_timer_expire",
        ("no_answer", _) => "no_answer",
        (_, Some(404 | 410 | 484)) => "unallocated_number",
        (_, Some(s)) if s >= 500 => "normal_temporary_failure",
        _ => "network_out_of_order",
    }
}

impl PromptCallback {
    /// Renders a finalized call for the prompt-to-call face.
    pub fn from_row(row: &CallRow, public_url: &str) -> Result<Self, StoreError> {
        let outcome = row.outcome.as_deref().unwrap_or("failed");
        let messages = transcript(row)?
            .into_iter()
            .map(|t| PromptMessage {
                role: if t.role == "agent" { "ai" } else { "human" }.to_owned(),
                content: t.text,
            })
            .collect();
        Ok(Self {
            call_id: row.id.clone(),
            workflow_id: row.workflow_id.clone(),
            call_status: prompt_call_status(outcome).to_owned(),
            provider_status: outcome.to_owned(),
            call_summary: row.summary.clone(),
            messages,
            form_fills: object("form_fills", &row.form_fills)?,
            created_at: row.created_at.clone(),
            ended_at: row.ended_at.clone(),
            talk_seconds: row.talk_seconds(),
            sip_status: row.sip_status,
            recording_url: row
                .recording_path
                .as_ref()
                .map(|_| format!("{public_url}/v1/calls/{}/recording", row.id)),
        })
    }
}

impl PollCall {
    /// Renders a call for the fire-and-poll face.
    pub fn from_row(row: &CallRow, public_url: &str) -> Result<Self, StoreError> {
        let lifecycle = match row.lifecycle.as_str() {
            "ringing" => "dialing",
            other => other,
        };
        let finalized = row.lifecycle == "finalized";
        let outcome = row.outcome.as_deref().filter(|_| finalized);
        Ok(Self {
            call_id: row.id.clone(),
            lifecycle: lifecycle.to_owned(),
            outcome: outcome.map(|o| poll_outcome(o).to_owned()),
            to: row.to_number.clone(),
            talk_seconds: row.talk_seconds().unwrap_or(0.0),
            transcript: transcript(row)?
                .into_iter()
                .map(|t| PollTurn {
                    role: t.role,
                    text: t.text,
                })
                .collect(),
            recording_url: row
                .recording_path
                .as_ref()
                .map(|_| format!("{public_url}/call/{}/recording", row.id)),
            hangup_cause: outcome.map(|o| hangup_cause(o, row.sip_status).to_owned()),
            sip_hangup_cause: row.sip_status.filter(|_| finalized).map(|s| s.to_string()),
            bridge_number: row.bridge_number.clone(),
            created_at: row.created_at.clone(),
            answered_at: row.answered_at.clone(),
            ended_at: row.ended_at.clone(),
        })
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A mean opinion score from loss and jitter with the simplified ITU-T G.107 E-model used by most
/// VoIP monitors: effective latency = one-way delay (a 20 ms frame plus jitter buffering) + 2 x jitter
/// + 10 ms; R = 93.2 minus the latency and loss penalties; MOS from R by the G.107 mapping.
pub fn estimate_mos(loss_pct: f64, jitter_ms: f64) -> f64 {
    let latency = 20.0 + 60.0 + 2.0 * jitter_ms + 10.0;
    let delay_penalty = if latency < 160.0 {
        latency / 40.0
    } else {
        (latency - 120.0) / 10.0
    };
    let r = (93.2 - delay_penalty - 2.5 * loss_pct).clamp(0.0, 100.0);
    1.0 + 0.035 * r + 0.000_007 * r * (r - 60.0) * (100.0 - r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mos_falls_with_loss_and_jitter() {
        let clean = estimate_mos(0.0, 1.0);
        assert!(clean > 4.3 && clean < 4.5, "{clean}");
        assert!(estimate_mos(5.0, 1.0) < clean);
        assert!(estimate_mos(0.0, 80.0) < clean);
        assert!(estimate_mos(100.0, 500.0) >= 1.0);
    }

    #[test]
    fn the_contract_table_maps_every_outcome_for_both_faces() {
        let table = [
            ("completed", "completed", "completed"),
            ("voicemail", "voicemail", "voicemail_detected"),
            ("no_answer", "not picked up", "no_answer"),
            ("busy", "busy", "busy"),
            ("declined", "not picked up", "declined_by_callee"),
            ("failed", "failed", "failed"),
            ("canceled", "failed", "failed"),
        ];
        for (native, prompt, poll) in table {
            assert_eq!(prompt_call_status(native), prompt, "{native}");
            assert_eq!(poll_outcome(native), poll, "{native}");
        }
        assert_eq!(hangup_cause("busy", Some(486)), "user_busy");
        assert_eq!(hangup_cause("failed", Some(404)), "unallocated_number");
        assert_eq!(hangup_cause("failed", None), "network_out_of_order");
    }

    fn row() -> CallRow {
        CallRow {
            id: "call_1".into(),
            workflow_id: "wf_1".into(),
            api_key_id: None,
            direction: "outbound".into(),
            to_number: "+15551234567".into(),
            from_number: None,
            trunk: "t".into(),
            lifecycle: "ringing".into(),
            outcome: None,
            sip_status: None,
            sip_reason: None,
            hangup_by: None,
            summary: None,
            transcript: r#"[{"role":"agent","text":"Hello","start_ms":0,"end_ms":900,"interrupted":false},
                {"role":"caller","text":"Hi","start_ms":1000,"end_ms":1400,"interrupted":false}]"#
                .into(),
            form_fills: "{}".into(),
            talk_ms: None,
            recording_path: None,
            media: None,
            callback_url: None,
            metadata: "{}".into(),
            error: None,
            created_at: "2026-04-07T14:30:00.000Z".into(),
            answered_at: None,
            ended_at: None,
            face: "v1".into(),
            idempotency_key: None,
            bridge_number: None,
            created_ms: 0,
            purged_at: None,
            dtmf: r#"[{"digit":"1","at_ms":1200,"direction":"received"}]"#.into(),
            amd: Some(r#"{"verdict":"machine","confidence":0.9,"decided_ms":2400}"#.into()),
            end_reason: Some("voicemail".into()),
            latency: "[]".into(),
            campaign_id: None,
        }
    }

    #[test]
    fn faces_render_one_row_their_own_way() {
        let mut r = row();
        let poll = PollCall::from_row(&r, "http://x").expect("renders");
        assert_eq!(poll.lifecycle, "dialing", "ringing shows as dialing");
        assert_eq!(poll.outcome, None, "no outcome before the end");
        r.lifecycle = "finalized".into();
        r.outcome = Some("declined".into());
        r.sip_status = Some(603);
        r.recording_path = Some("/x.wav".into());
        let poll = PollCall::from_row(&r, "http://x").expect("renders");
        assert_eq!(poll.outcome.as_deref(), Some("declined_by_callee"));
        assert_eq!(poll.sip_hangup_cause.as_deref(), Some("603"));
        assert_eq!(
            poll.recording_url.as_deref(),
            Some("http://x/call/call_1/recording")
        );
        let prompt = PromptCallback::from_row(&r, "http://x").expect("renders");
        assert_eq!(prompt.call_status, "not picked up");
        assert_eq!(prompt.messages[0].role, "ai");
        assert_eq!(prompt.messages[1].role, "human");
        let native = Call::from_row(&r, "http://x").expect("renders");
        assert_eq!(native.transcript.len(), 2);
        assert_eq!(native.dtmf[0].digit, "1");
        assert_eq!(
            native.recording_url.as_deref(),
            Some("http://x/v1/calls/call_1/recording")
        );
        r.transcript = "not json".into();
        assert!(
            Call::from_row(&r, "http://x").is_err(),
            "corrupt rows are errors, not panics"
        );
    }
}
