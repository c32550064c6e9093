//! The call service: validates and stores new calls, runs each on its own task through the agent
//! runtime (at most `max_concurrent_calls` at once, the rest wait as `queued`), keeps the store up to
//! date while the call runs, finalizes it, and hands the completion callback to the webhook sender.

use crate::clock::Clock;
use crate::config::Config;
use crate::model::call_json;
use crate::store::{CallRow, Finalized, Store, StoreError};
use crate::webhook::{CallbackUrlError, Webhooks, check_callback_url};
use agent_runtime::call::{CallReport, CallRequest, CallUpdate, RuntimeConfig, Speech, run_call};
use agent_runtime::outcome::Lifecycle;
use agent_runtime::phone::{E164, PhoneError};
use agent_runtime::transcript::Turn;
use agent_runtime::workflow::{self, WorkflowError};
use serde_json::Value;
use sip_stack::driver::SipHandle;
use sip_stack::{RegistrationStatus, TrunkId};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a call was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// `to` is not a dialable E.164 number.
    #[error("to: {0}")]
    To(#[from] PhoneError),
    /// The prompt is empty, too long or too vague.
    #[error("prompt: {0}")]
    Prompt(#[from] WorkflowError),
    /// The callback URL is not allowed.
    #[error("callback_url: {0}")]
    CallbackUrl(#[from] CallbackUrlError),
    /// `metadata` is not a JSON object.
    #[error("metadata must be a JSON object")]
    Metadata,
    /// No trunk by that name, or no trunk configured at all.
    #[error("unknown trunk {0:?}")]
    UnknownTrunk(String),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A call as requested through the API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewCall {
    /// Number to call, E.164.
    pub to: String,
    /// What the agent should do.
    pub prompt: String,
    /// Where to POST the completion callback.
    pub callback_url: Option<String>,
    /// Free-form data returned with the call.
    pub metadata: Option<Value>,
    /// Trunk name; the first trunk when absent.
    pub trunk: Option<String>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    sip: SipHandle,
    speech: Speech,
    runtime: RuntimeConfig,
    webhooks: Webhooks,
    trunks: Vec<(String, bool)>,
    recordings: PathBuf,
    public_url: String,
    allow_private_callbacks: bool,
    permits: Semaphore,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Cloneable handle to the call service.
#[derive(Clone)]
pub struct CallService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CallService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallService").finish_non_exhaustive()
    }
}

impl CallService {
    /// Builds the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &Config,
        store: Store,
        clock: Arc<dyn Clock>,
        sip: SipHandle,
        speech: Speech,
        webhooks: Webhooks,
        shutdown: CancellationToken,
    ) -> Self {
        let runtime = RuntimeConfig {
            rtp_ip: config.media.rtp_ip,
            public_ip: config.media.public_ip,
            ring_timeout: Duration::from_secs(config.media.ring_timeout_secs),
            max_duration: Duration::from_secs(config.media.max_duration_secs),
            jitter_delay_ms: config.media.jitter_delay_ms,
            end_of_turn_ms: config.media.end_of_turn_ms,
        };
        let trunks = config
            .sip_trunks()
            .iter()
            .map(|t| (t.name.clone(), t.register))
            .collect();
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                sip,
                speech,
                runtime,
                webhooks,
                trunks,
                recordings: config.storage.recordings_dir(),
                public_url: config.public_url(),
                allow_private_callbacks: config.webhooks.allow_private,
                permits: Semaphore::new(config.limits.max_concurrent_calls),
                tasks: TaskTracker::new(),
                shutdown,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Registration status per trunk name.
    pub fn trunk_status(&self) -> Vec<(String, RegistrationStatus)> {
        let statuses = self.inner.sip.registrations().borrow().clone();
        self.inner
            .trunks
            .iter()
            .map(|(n, _)| n.clone())
            .zip(statuses)
            .collect()
    }

    /// Validates, stores and starts a call; returns the stored row (lifecycle `queued`).
    pub async fn create(&self, api_key_id: Option<&str>, new: NewCall) -> Result<CallRow, CreateError> {
        let to = E164::parse(&new.to)?;
        let workflow = workflow::compile(&new.prompt)?;
        let callback_url = match new.callback_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(check_callback_url(url, self.inner.allow_private_callbacks)?.to_string()),
            None => None,
        };
        let metadata = match new.metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(Value::Object(m)) => Value::Object(m),
            Some(_) => return Err(CreateError::Metadata),
        };
        let trunk_index = match &new.trunk {
            Some(name) => self.inner.trunks.iter().position(|(n, _)| n == name),
            None => (!self.inner.trunks.is_empty()).then_some(0),
        }
        .ok_or_else(|| CreateError::UnknownTrunk(new.trunk.clone().unwrap_or_default()))?;
        let now = self.inner.clock.now_rfc3339();
        let workflow_id = format!("wf_{}", uuid::Uuid::now_v7().simple());
        let definition = serde_json::to_string(&workflow).unwrap_or_default();
        self.inner
            .store
            .insert_workflow(&workflow_id, &workflow.prompt, &definition, &now)
            .await?;
        let row = CallRow {
            id: format!("call_{}", uuid::Uuid::now_v7().simple()),
            workflow_id,
            api_key_id: api_key_id.map(str::to_owned),
            direction: "outbound".to_owned(),
            to_number: to.as_str().to_owned(),
            from_number: None,
            trunk: self.inner.trunks[trunk_index].0.clone(),
            lifecycle: "queued".to_owned(),
            outcome: None,
            sip_status: None,
            sip_reason: None,
            hangup_by: None,
            summary: None,
            transcript: "[]".to_owned(),
            form_fills: "{}".to_owned(),
            talk_seconds: None,
            recording_path: None,
            media: None,
            callback_url: callback_url.clone(),
            metadata: metadata.to_string(),
            error: None,
            created_at: now,
            answered_at: None,
            ended_at: None,
        };
        self.inner.store.insert_call(&row).await?;
        tracing::info!(call_id = %row.id, to = %to, "call queued");
        let request = CallRequest {
            to,
            workflow,
            trunk: TrunkId(trunk_index),
            recording: Some(self.inner.recordings.join(format!("{}.wav", row.id))),
        };
        let inner = Arc::clone(&self.inner);
        let id = row.id.clone();
        self.inner
            .tasks
            .spawn(async move { run(inner, id, request, callback_url).await });
        Ok(row)
    }

    /// Stops taking calls' results further: cancels running calls (they hang up) and waits for
    /// every call task and callback to finish, up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("calls still running at shutdown");
        }
    }
}

/// How long a call waits for its trunk's registration before failing.
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

async fn run(inner: Arc<Inner>, id: String, request: CallRequest, callback_url: Option<String>) {
    let report = {
        let _permit = inner.permits.acquire().await;
        match trunk_unavailable(&inner, request.trunk).await {
            Some(reason) => {
                tracing::warn!(call_id = %id, %reason, "trunk unavailable");
                CallReport::failed(reason)
            }
            None => {
                let (tx, rx) = mpsc::unbounded_channel();
                let updater = tokio::spawn(apply_updates(inner.clone(), id.clone(), rx));
                let cancel = inner.shutdown.child_token();
                let report = run_call(&inner.sip, &inner.speech, &inner.runtime, request, tx, cancel).await;
                let _ = updater.await;
                report
            }
        }
    };
    if let Err(err) = finalize(&inner, &id, &report).await {
        tracing::error!(call_id = %id, %err, "cannot finalize call");
        return;
    }
    tracing::info!(call_id = %id, outcome = ?report.outcome, "call finalized");
    let Some(url) = callback_url else { return };
    let data = match inner
        .store
        .call(&id)
        .await
        .map(|row| row.map(|r| call_json(&r, &inner.public_url)))
    {
        Ok(Some(Ok(data))) => data,
        other => {
            tracing::error!(call_id = %id, ?other, "cannot render the callback");
            return;
        }
    };
    inner.webhooks.deliver(&id, &url, "call.finalized", &data).await;
}

/// `Some(reason)` when the trunk registers and is not registered (after a short wait at start-up).
async fn trunk_unavailable(inner: &Inner, trunk: TrunkId) -> Option<String> {
    let registers = inner.trunks.get(trunk.0).is_some_and(|(_, r)| *r);
    if !registers {
        return None;
    }
    let mut statuses = inner.sip.registrations();
    let waited = tokio::time::timeout(REGISTRATION_WAIT, async {
        loop {
            let status = statuses.borrow_and_update().get(trunk.0).cloned();
            match status {
                Some(RegistrationStatus::Registered { .. }) => return None,
                Some(RegistrationStatus::Failed { status, reason }) => {
                    let code = status.map(|s| format!("{s} ")).unwrap_or_default();
                    return Some(format!("trunk registration failed: {code}{reason}"));
                }
                _ => {}
            }
            if statuses.changed().await.is_err() {
                return Some("SIP stack stopped".to_owned());
            }
        }
    });
    waited
        .await
        .unwrap_or_else(|_| Some("trunk not registered".to_owned()))
}

async fn apply_updates(inner: Arc<Inner>, id: String, mut updates: mpsc::UnboundedReceiver<CallUpdate>) {
    let mut transcript: Vec<Turn> = Vec::new();
    while let Some(update) = updates.recv().await {
        let result = match update {
            CallUpdate::Lifecycle(lifecycle) => {
                let answered_at = (lifecycle == Lifecycle::Answered).then(|| inner.clock.now_rfc3339());
                inner
                    .store
                    .set_lifecycle(&id, lifecycle.as_str(), answered_at.as_deref())
                    .await
            }
            CallUpdate::Turn(turn) => {
                transcript.push(turn);
                let text = serde_json::to_string(&transcript).unwrap_or_else(|_| "[]".to_owned());
                inner.store.set_transcript(&id, &text).await
            }
            // Keys are kept on the final report.
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::error!(call_id = %id, %err, "cannot store call progress");
        }
    }
}

async fn finalize(inner: &Inner, id: &str, report: &CallReport) -> Result<(), StoreError> {
    let outcome = report.outcome.as_str();
    let transcript = serde_json::to_string(&report.transcript).unwrap_or_else(|_| "[]".to_owned());
    let form_fills = Value::Object(report.form_fills.clone()).to_string();
    let media = report.media.as_ref().and_then(|m| serde_json::to_string(m).ok());
    let recording = report.recording.as_ref().map(|p| p.display().to_string());
    let ended_at = inner.clock.now_rfc3339();
    let talk_seconds = report
        .answered
        .then(|| (report.talk_ms as f64 / 100.0).round() / 10.0);
    inner
        .store
        .finalize(
            id,
            &Finalized {
                outcome,
                sip_status: report.sip.status,
                sip_reason: report.sip.reason.as_deref(),
                hangup_by: report.sip.hangup_by.as_deref(),
                summary: report.summary.as_deref(),
                transcript: &transcript,
                form_fills: &form_fills,
                talk_seconds,
                recording_path: recording.as_deref(),
                media: media.as_deref(),
                error: report.error.as_deref(),
                ended_at: &ended_at,
            },
        )
        .await
}
