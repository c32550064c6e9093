//! The native call object: one JSON shape for `GET /v1/calls/{id}` and the completion callback, with
//! the field names of the contract in DESIGN.md.

use crate::store::{CallRow, StoreError, json_column};
use serde_json::{Value, json};

/// Renders a stored call as the contract's call object.
pub fn call_json(row: &CallRow, public_url: &str) -> Result<Value, StoreError> {
    let transcript = json_column("transcript", &row.transcript)?;
    let form_fills = json_column("form_fills", &row.form_fills)?;
    let metadata = json_column("metadata", &row.metadata)?;
    let media = match &row.media {
        Some(text) => {
            let mut media = json_column("media", text)?;
            let loss = media.get("loss_pct").and_then(Value::as_f64).unwrap_or(0.0);
            let jitter = media.get("jitter_ms").and_then(Value::as_f64).unwrap_or(0.0);
            if let Some(obj) = media.as_object_mut() {
                obj.insert("mos".to_owned(), json!(round2(estimate_mos(loss, jitter))));
            }
            media
        }
        None => Value::Null,
    };
    let recording_url = row
        .recording_path
        .as_ref()
        .map(|_| format!("{public_url}/v1/calls/{}/recording", row.id));
    Ok(json!({
        "call_id": row.id,
        "workflow_id": row.workflow_id,
        "direction": row.direction,
        "to": row.to_number,
        "from": row.from_number,
        "trunk": row.trunk,
        "lifecycle": row.lifecycle,
        "outcome": row.outcome,
        "sip": {
            "status": row.sip_status,
            "reason": row.sip_reason,
            "hangup_by": row.hangup_by,
        },
        "amd": { "verdict": "unknown", "confidence": 0.0, "decided_ms": null },
        "summary": row.summary,
        "transcript": transcript,
        "form_fills": form_fills,
        "dtmf": [],
        "talk_seconds": row.talk_seconds,
        "recording_url": recording_url,
        "media": media,
        "error": row.error,
        "created_at": row.created_at,
        "answered_at": row.answered_at,
        "ended_at": row.ended_at,
        "metadata": metadata,
    }))
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
}
