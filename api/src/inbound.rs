//! Inbound calls: the SIP driver offers each admitted INVITE (from a trunk's sources or with its
//! digest); the dialled number picks an `[[inbound]]` route, whose workflow the agent runs, and the
//! call is stored, reported live and finalized with its callback exactly like an outbound one.
//! A number without a route is refused with 404, a trunk with no free channel answers 486.

use crate::dispatch::{apply_updates, record};
use crate::service::Inner;
use crate::store::CallRow;
use agent_runtime::Workflow;
use agent_runtime::call::{BridgeTo, CallReport, InboundRequest, answer_call};
use agent_runtime::phone::E164;
use sip_stack::driver::IncomingCallHandle;
use std::sync::Arc;
use tokio::sync::mpsc;

/// An `[[inbound]]` route, its workflow compiled and stored.
#[derive(Debug, Clone)]
pub(crate) struct InboundPlan {
    /// The dialled number, or `*`.
    pub(crate) number: String,
    pub(crate) workflow_id: String,
    pub(crate) workflow: Workflow,
    pub(crate) callback_url: Option<String>,
    pub(crate) owner: Option<String>,
    pub(crate) bridge: Option<E164>,
}

/// The route for a dialled number: its own, else the catch-all.
fn route<'a>(plans: &'a [InboundPlan], dialled: &str) -> Option<&'a InboundPlan> {
    plans
        .iter()
        .find(|p| p.number == dialled)
        .or_else(|| plans.iter().find(|p| p.number == "*"))
}

/// Takes the driver's inbound calls until shutdown.
pub(crate) async fn run(inner: Arc<Inner>, mut incoming: mpsc::Receiver<IncomingCallHandle>) {
    loop {
        let call = tokio::select! {
            call = incoming.recv() => match call {
                Some(call) => call,
                None => return,
            },
            () = inner.shutdown.cancelled() => return,
        };
        let call_inner = Arc::clone(&inner);
        inner.tasks.spawn(async move { answer(call_inner, call).await });
    }
}

async fn answer(inner: Arc<Inner>, call: IncomingCallHandle) {
    let handle = call.info.call;
    let dialled = call.info.to_user.clone();
    let Some(plan) = route(&inner.inbound, &dialled).cloned() else {
        tracing::info!(dialled = %redact(&dialled), "inbound call to a number without a route: 404");
        let _ = inner.sip.reject(handle, 404).await;
        return;
    };
    let Some(trunk) = inner.trunks.get(call.info.trunk.0) else {
        let _ = inner.sip.reject(handle, 404).await;
        return;
    };
    // An inbound call takes one of the trunk's channels, like an outbound one.
    let Ok(permit) = Arc::clone(&trunk.permits).try_acquire_owned() else {
        tracing::info!(trunk = %trunk.name, "inbound call while every channel is busy: 486");
        let _ = inner.sip.reject(handle, 486).await;
        return;
    };
    let now_ms = inner.clock.now_ms();
    let row = CallRow {
        id: format!("call_{}", uuid::Uuid::now_v7().simple()),
        workflow_id: plan.workflow_id.clone(),
        api_key_id: plan.owner.clone(),
        direction: "inbound".to_owned(),
        to_number: dialled.clone(),
        from_number: call.info.from_user.clone(),
        trunk: trunk.name.clone(),
        lifecycle: "ringing".to_owned(),
        callback_url: plan.callback_url.clone(),
        created_at: inner.clock.now_rfc3339(),
        created_ms: now_ms,
        bridge_number: plan.bridge.as_ref().map(|b| b.as_str().to_owned()),
        face: "v1".to_owned(),
        transcript: "[]".to_owned(),
        form_fills: "{}".to_owned(),
        metadata: inbound_metadata(&call.info.headers),
        dtmf: "[]".to_owned(),
        latency: "[]".to_owned(),
        ..CallRow::default()
    };
    if let Err(err) = inner.store.insert_call(&row, None, None).await {
        tracing::error!(%err, "cannot store an inbound call; refusing it");
        let _ = inner.sip.reject(handle, 500).await;
        return;
    }
    tracing::info!(call_id = %row.id, dialled = %redact(&dialled), "inbound call");
    inner.metrics.active(1);
    let token = inner.track(&row.id);
    let request = InboundRequest {
        call,
        workflow: plan.workflow.clone(),
        recording: Some(inner.recordings.join(format!("{}.wav", row.id))),
        bridge: plan.bridge.clone().map(|number| BridgeTo {
            number,
            mode: trunk.transfer,
            channels: Some(Arc::clone(&trunk.permits)),
        }),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let updater = tokio::spawn(apply_updates(Arc::clone(&inner), row.id.clone(), rx));
    let report: CallReport = answer_call(&inner.sip, &inner.speech, &inner.runtime, request, tx, token).await;
    let _ = updater.await;
    record(&inner, &row.id, &report).await;
    inner.untrack(&row.id);
    inner.metrics.active(-1);
    drop(permit);
}

/// A number for logs, masked as every number in the logs is ([`sip_stack::Redacted`]).
fn redact(number: &str) -> String {
    sip_stack::Redacted(number).to_string()
}

/// An inbound call's metadata: what the trunk said about it beyond From and To
/// (P-Asserted-Identity, Privacy, Diversion, History-Info, `X-` headers) under `sip_headers`, a
/// name to its values; `{}` when it said nothing more.
fn inbound_metadata(headers: &[(String, String)]) -> String {
    if headers.is_empty() {
        return "{}".to_owned();
    }
    let mut kept = serde_json::Map::new();
    for (name, value) in headers {
        let values = kept
            .entry(name.clone())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(list) = values {
            list.push(serde_json::Value::String(value.clone()));
        }
    }
    serde_json::json!({ "sip_headers": kept }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(number: &str) -> InboundPlan {
        InboundPlan {
            number: number.to_owned(),
            workflow_id: format!("wf_{number}"),
            workflow: agent_runtime::workflow::compile("Ask for the caller's name.").expect("compiles"),
            callback_url: None,
            owner: None,
            bridge: None,
        }
    }

    #[test]
    fn a_number_s_own_route_wins_over_the_catch_all() {
        let plans = [plan("*"), plan("+15551230000")];
        assert_eq!(
            route(&plans, "+15551230000").map(|p| p.number.as_str()),
            Some("+15551230000")
        );
        assert_eq!(
            route(&plans, "+15559999999").map(|p| p.number.as_str()),
            Some("*")
        );
        assert!(route(&plans[1..], "+15559999999").is_none());
    }

    #[test]
    fn logs_keep_only_the_last_digits() {
        // One masker: the same number shows the same digits wherever it is logged, so log lines
        // from different parts of the system together reveal no more than one of them.
        let number = "+15551230000";
        let e164 = agent_runtime::phone::E164::parse(number).expect("valid");
        assert_eq!(redact(number), "+1********00");
        assert_eq!(redact(number), e164.to_string());
        assert_eq!(redact(number), sip_stack::Redacted(number).to_string());
        assert_eq!(redact("12"), "**");
        assert_eq!(redact("ünïcödé"), "ü****dé", "never cut inside a character");
    }
}
