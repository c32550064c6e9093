//! Placing calls: one dispatcher task per trunk takes the oldest queued call from the store when
//! the trunk has a free channel (its concurrent-call limit), and runs it on its own task through the
//! agent runtime, keeping the store and live listeners up to date and finalizing it at the end.
//! The queue lives in the store, so calls queued before a restart are placed after it.

use crate::events::LiveEvent;
use crate::fault::FaultPoint;
use crate::model::{Dtmf, TranscriptTurn};
use crate::service::{Inner, finalize_row};
use crate::store::{CallRow, Finalized, StoreError};
use agent_runtime::call::{BridgeTo, CallReport, CallRequest, CallUpdate, TransferMode, run_call};
use agent_runtime::outcome::{Lifecycle, Outcome};
use agent_runtime::phone::E164;
use agent_runtime::workflow::Workflow;
use serde_json::Value;
use sip_stack::{RegistrationStatus, TrunkId};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// How often an idle dispatcher looks at the store anyway (another node may share it).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long a call waits for its trunk's registration before failing.
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);
/// The first wait before a finalization the store refused is tried again; it doubles up to
/// [`FINALIZE_RETRY_MAX`].
const FINALIZE_RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest wait between tries of a finalization the store refused.
const FINALIZE_RETRY_MAX: Duration = Duration::from_secs(30);

/// A trunk's channels and queue bound.
#[derive(Debug)]
pub(crate) struct Trunk {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) registers: bool,
    pub(crate) limit: usize,
    /// How calls are handed to their bridge number.
    pub(crate) transfer: TransferMode,
    /// The caller ID of calls that name none, and the numbers we may present (any when empty).
    pub(crate) from_number: Option<String>,
    pub(crate) numbers: Vec<String>,
    /// Metadata keys sent as headers on the INVITE.
    pub(crate) forward_headers: Vec<String>,
    capacity: usize,
    queued: AtomicUsize,
    running: AtomicUsize,
    pub(crate) permits: Arc<Semaphore>,
    wake: Notify,
}

/// A place in a trunk's queue, held while a new call is stored; released unless committed.
pub(crate) struct Reservation<'a> {
    trunk: &'a Trunk,
    committed: bool,
}

impl Reservation<'_> {
    /// The call was stored: the place is now its.
    pub(crate) fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.trunk.dequeued();
        }
    }
}

impl Trunk {
    pub(crate) fn new(
        index: usize,
        name: String,
        registers: bool,
        limit: usize,
        capacity: usize,
        queued: usize,
    ) -> Self {
        Self {
            index,
            name,
            registers,
            limit,
            transfer: TransferMode::default(),
            from_number: None,
            numbers: Vec::new(),
            forward_headers: Vec::new(),
            capacity,
            queued: AtomicUsize::new(queued),
            running: AtomicUsize::new(0),
            permits: Arc::new(Semaphore::new(limit)),
            wake: Notify::new(),
        }
    }

    /// Calls waiting.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Calls in progress.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Takes a place in the queue, unless it is full.
    pub(crate) fn reserve(&self) -> Option<Reservation<'_>> {
        self.queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                (q < self.capacity).then_some(q + 1)
            })
            .ok()
            .map(|_| Reservation {
                trunk: self,
                committed: false,
            })
    }

    /// A call left the queue (placed or canceled).
    pub(crate) fn dequeued(&self) {
        let _ = self
            .queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| Some(q.saturating_sub(1)));
    }

    /// A call was queued.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The dispatcher of trunk `index`: runs until shutdown.
pub(crate) async fn run(inner: Arc<Inner>, index: usize) {
    let trunk = &inner.trunks[index];
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&trunk.permits).acquire_owned() => permit,
            () = inner.shutdown.cancelled() => return,
        };
        let Ok(permit) = permit else { return };
        let row = loop {
            match inner.store.claim_queued(&trunk.name).await {
                Ok(Some(row)) => break row,
                Ok(None) => tokio::select! {
                    () = trunk.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = inner.shutdown.cancelled() => return,
                },
                Err(err) => {
                    tracing::error!(%err, trunk = %trunk.name, "cannot read the call queue");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = inner.shutdown.cancelled() => return,
                    }
                }
            }
        };
        trunk.dequeued();
        inner.metrics.set_queued(&trunk.name, trunk.queued() as i64);
        let call_inner = Arc::clone(&inner);
        inner
            .tasks
            .spawn(async move { place(call_inner, index, row, permit).await });
    }
}

/// Places one claimed call and finalizes it.
async fn place(inner: Arc<Inner>, index: usize, row: CallRow, permit: OwnedSemaphorePermit) {
    let trunk = &inner.trunks[index];
    trunk.running.fetch_add(1, Ordering::SeqCst);
    inner.metrics.active(1);
    inner.events.publish(
        &row.id,
        LiveEvent::Lifecycle {
            call_id: row.id.clone(),
            lifecycle: "dialing".to_owned(),
        },
    );
    let token = inner.track(&row.id);
    let report = match request(&inner, trunk, &row).await {
        Err(unplaceable) => unplaceable.report(),
        Ok(request) => run_placed(&inner, trunk, &row.id, request, token).await,
    };
    record(&inner, &row.id, &report).await;
    inner.untrack(&row.id);
    inner.metrics.active(-1);
    trunk.running.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
}

/// Stores a finished call's report: the row is finalized and its callback queued.
pub(crate) async fn record(inner: &Inner, id: &str, report: &CallReport) {
    let transcript = serde_json::to_string(&report.transcript).unwrap_or_else(|_| "[]".to_owned());
    let form_fills = Value::Object(report.form_fills.clone()).to_string();
    let media = report.media.as_ref().and_then(|m| serde_json::to_string(m).ok());
    // A recording the session did not finish (its disk filled or went read-only mid-call, or the
    // call was never answered and the file made before dialing is empty): what reached the disk
    // is attached, a file without audio deleted.
    let recording = match &report.recording {
        Some(path) => Some(path.display().to_string()),
        None => crate::salvage::salvage(&inner.recordings, id),
    };
    let dtmf = serde_json::to_string(&report.dtmf).unwrap_or_else(|_| "[]".to_owned());
    let amd = report.amd.as_ref().and_then(|a| serde_json::to_string(a).ok());
    let latency = serde_json::to_string(&report.latency).unwrap_or_else(|_| "[]".to_owned());
    let ended_at = inner.clock.now_rfc3339();
    let talk_ms = report
        .answered
        .then(|| i64::try_from(report.talk_ms).unwrap_or(i64::MAX));
    let f = Finalized {
        outcome: report.outcome.as_str(),
        sip_status: report.sip.status,
        sip_reason: report.sip.reason.as_deref(),
        hangup_by: report.sip.hangup_by.as_deref(),
        summary: report.summary.as_deref(),
        transcript: Some(&transcript),
        form_fills: Some(&form_fills),
        talk_ms,
        recording_path: recording.as_deref(),
        media: media.as_deref(),
        error: report.error.as_deref(),
        dtmf: Some(&dtmf),
        amd: amd.as_deref(),
        end_reason: report.end_reason.as_deref(),
        latency: Some(&latency),
        ended_at: &ended_at,
    };
    crate::fault::reached(FaultPoint::Finalizing).await;
    finalize_until_stored(inner, id, &f).await;
}

/// Finalizes a call, trying again while the store refuses the write (its disk is full, the
/// database is restarting): a call whose end is not stored would stay live, with no callback, until
/// the next restart. At shutdown it gives up, and the next start finalizes the call as
/// interrupted.
async fn finalize_until_stored(inner: &Inner, id: &str, f: &Finalized<'_>) {
    let mut wait = FINALIZE_RETRY_FIRST;
    loop {
        let Err(err) = finalize_row(inner, id, f, false).await else {
            return;
        };
        tracing::error!(call_id = %id, %err, retry_in = ?wait, "cannot finalize call; will retry");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = inner.shutdown.cancelled() => {
                tracing::warn!(call_id = %id, "call left unfinalized at shutdown; the next start finalizes it");
                return;
            }
        }
        wait = (wait * 2).min(FINALIZE_RETRY_MAX);
    }
}

/// Why a claimed call cannot be dialled; the call ends `failed` with this as its cause.
#[derive(Debug, thiserror::Error)]
enum Unplaceable {
    /// A do-not-call list took the number while the call waited (or across a restart).
    #[error("do_not_call: {0}")]
    DoNotCall(crate::policy::Refusal),
    /// The store could not be read.
    #[error("cannot read {what}: {source}")]
    Store {
        /// What was being read.
        what: &'static str,
        /// Why not.
        source: StoreError,
    },
    /// The call's workflow was deleted.
    #[error("workflow {0} is gone")]
    WorkflowGone(String),
    /// A stored value does not parse (a number, the workflow).
    #[error("stored {what}: {detail}")]
    Stored {
        /// Which value.
        what: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// The recording cannot be created (a full disk, a directory that is not writable).
    #[error("cannot create the call's recording: {0}")]
    Recording(#[from] media_core::recorder::RecorderError),
}

impl Unplaceable {
    fn store(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| Self::Store { what, source }
    }

    fn stored<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |e| Self::Stored {
            what,
            detail: e.to_string(),
        }
    }

    /// The call's report: `failed` with the cause. A do-not-call refusal also says so as the end
    /// reason, so a campaign ends its recipient `do_not_call` and never tries it again.
    fn report(&self) -> CallReport {
        let mut report = CallReport::failed(self.to_string());
        if matches!(self, Self::DoNotCall(_)) {
            report.end_reason = Some("do_not_call".to_owned());
        }
        report
    }
}

/// What the agent runtime needs, rebuilt from the store (so it works after a restart too).
async fn request(inner: &Inner, trunk: &Trunk, row: &CallRow) -> Result<CallRequest, Unplaceable> {
    let to = E164::parse(&row.to_number).map_err(Unplaceable::stored("number"))?;
    // The do-not-call lists again, at dial time: a number listed while its call waited in the
    // queue (or across a restart) is not dialled.
    let listed = inner
        .store
        .dnc_listed(row.api_key_id.as_deref(), to.as_str())
        .await
        .map_err(Unplaceable::store("the do-not-call lists"))?;
    if let Some(list) = listed {
        return Err(Unplaceable::DoNotCall(crate::policy::Refusal::DoNotCall {
            number: to.to_string(),
            list,
        }));
    }
    let workflow = inner
        .store
        .workflow(&row.workflow_id)
        .await
        .map_err(Unplaceable::store("the workflow"))?
        .ok_or_else(|| Unplaceable::WorkflowGone(row.workflow_id.clone()))?;
    let mut workflow: Workflow =
        serde_json::from_str(&workflow.definition).map_err(Unplaceable::stored("workflow"))?;
    // A trial key's call is short whatever its workflow asks: decided here, at dial time from the
    // stored key, so it holds after a restart too.
    let key = match row.api_key_id.as_deref() {
        Some(id) => inner
            .store
            .key(id)
            .await
            .map_err(Unplaceable::store("the call's key"))?,
        None => None,
    };
    limit_trial(&mut workflow, key.as_ref(), inner.trial_max_call_secs);
    let bridge = match row.bridge_number.as_deref() {
        Some(number) => Some(BridgeTo {
            number: E164::parse(number).map_err(Unplaceable::stored("bridge number"))?,
            mode: trunk.transfer,
            channels: Some(Arc::clone(&trunk.permits)),
        }),
        None => None,
    };
    // The recording is opened before dialing: one that cannot be created refuses the call with
    // that cause, rather than leaving the callee in dead air after they answer.
    let recording = inner.recordings.join(format!("{}.wav", row.id));
    media_core::recorder::Recorder::create(&recording)?;
    let from = match row.from_number.as_deref() {
        Some(number) => Some(E164::parse(number).map_err(Unplaceable::stored("caller ID"))?),
        None => None,
    };
    Ok(CallRequest {
        to,
        workflow,
        trunk: TrunkId(trunk.index),
        recording: Some(recording),
        bridge,
        from,
        headers: forwarded_headers(&trunk.forward_headers, &row.metadata),
    })
}

/// The metadata entries the trunk forwards as SIP headers (names as the trunk lists them), with
/// their values as text; objects and arrays are not sent.
fn forwarded_headers(names: &[String], metadata: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(metadata) else {
        return Vec::new();
    };
    names
        .iter()
        .filter_map(|name| {
            let (_, value) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((name.clone(), text))
        })
        .collect()
}

/// Holds a trial key's call to `max_secs` after answer (an operator's key keeps its workflow's limit).
fn limit_trial(workflow: &mut Workflow, key: Option<&crate::store::ApiKeyRow>, max_secs: u32) {
    if key.is_some_and(|k| k.trial_source.is_some()) {
        workflow.max_duration_secs = workflow.max_duration_secs.min(max_secs);
    }
}

async fn run_placed(
    inner: &Arc<Inner>,
    trunk: &Trunk,
    id: &str,
    request: CallRequest,
    token: CancellationToken,
) -> CallReport {
    let unavailable = tokio::select! {
        reason = trunk_unavailable(inner, trunk) => reason,
        () = token.cancelled() => Some(String::new()),
    };
    if token.is_cancelled() {
        let mut report = CallReport::failed("hung up through the API before dialing".to_owned());
        report.outcome = Outcome::Canceled;
        report.error = None;
        report.sip.hangup_by = Some("agent".to_owned());
        return report;
    }
    if let Some(reason) = unavailable {
        tracing::warn!(call_id = %id, %reason, "trunk unavailable");
        return CallReport::failed(reason);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let updater = tokio::spawn(apply_updates(Arc::clone(inner), id.to_owned(), rx));
    let report = run_call(&inner.sip, &inner.speech, &inner.runtime, request, tx, token).await;
    let _ = updater.await;
    report
}

/// `Some(reason)` when the trunk registers and is not registered (after a short wait at start-up).
async fn trunk_unavailable(inner: &Inner, trunk: &Trunk) -> Option<String> {
    if !trunk.registers {
        return None;
    }
    let mut statuses = inner.sip.registrations();
    let waited = tokio::time::timeout(REGISTRATION_WAIT, async {
        loop {
            let status = statuses.borrow_and_update().get(trunk.index).cloned();
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

/// Applies the call's progress to the store and tells live listeners.
pub(crate) async fn apply_updates(
    inner: Arc<Inner>,
    id: String,
    mut updates: mpsc::UnboundedReceiver<CallUpdate>,
) {
    let mut transcript: Vec<agent_runtime::Turn> = Vec::new();
    while let Some(update) = updates.recv().await {
        let result = match update {
            CallUpdate::Lifecycle(lifecycle) => {
                let answered_at = (lifecycle == Lifecycle::Answered).then(|| inner.clock.now_rfc3339());
                let stored = inner
                    .store
                    .set_lifecycle(&id, lifecycle.as_str(), answered_at.as_deref())
                    .await;
                inner.events.publish(
                    &id,
                    LiveEvent::Lifecycle {
                        call_id: id.clone(),
                        lifecycle: lifecycle.as_str().to_owned(),
                    },
                );
                stored
            }
            CallUpdate::Turn(turn) => {
                if let Ok(turn) =
                    serde_json::to_value(&turn).and_then(serde_json::from_value::<TranscriptTurn>)
                {
                    inner.events.publish(
                        &id,
                        LiveEvent::Transcript {
                            call_id: id.clone(),
                            turn,
                        },
                    );
                }
                // Turns arrive when they are final, and a caller's turn is final only once it is
                // transcribed, after the agent may already have spoken over its end (a machine's
                // greeting, then our message): the stored transcript is in the order things were
                // said.
                let at = transcript.partition_point(|t| t.start_ms <= turn.start_ms);
                transcript.insert(at, turn);
                let text = serde_json::to_string(&transcript).unwrap_or_else(|_| "[]".to_owned());
                inner.store.set_transcript(&id, &text).await
            }
            CallUpdate::Dtmf(record) => {
                if let Ok(dtmf) = serde_json::to_value(&record).and_then(serde_json::from_value::<Dtmf>) {
                    inner.events.publish(
                        &id,
                        LiveEvent::Dtmf {
                            call_id: id.clone(),
                            dtmf,
                        },
                    );
                }
                // The digits are stored with the final report.
                Ok(())
            }
            // Progress this version does not show.
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::error!(call_id = %id, %err, "cannot store call progress");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_and_places_are_released_unless_committed() {
        let trunk = Trunk::new(0, "t".into(), false, 1, 2, 0);
        let a = trunk.reserve().expect("room");
        let b = trunk.reserve().expect("room");
        assert!(trunk.reserve().is_none(), "full at capacity");
        drop(a);
        assert_eq!(trunk.queued(), 1, "an uncommitted place is released");
        b.commit();
        assert_eq!(
            trunk.queued(),
            1,
            "a committed place stays until the call leaves the queue"
        );
        trunk.dequeued();
        trunk.dequeued();
        assert_eq!(trunk.queued(), 0, "never below zero");
    }

    #[test]
    fn a_trial_keys_call_is_held_to_the_trial_limit_and_no_other() {
        let workflow =
            agent_runtime::workflow::compile("Ask if they can come on Tuesday.").expect("compiles");
        assert!(workflow.max_duration_secs > 120, "{}", workflow.max_duration_secs);
        let key = |trial_source: Option<&str>| crate::store::ApiKeyRow {
            id: "key_1".into(),
            prefix: "rb_live_abcdef".into(),
            hash: String::new(),
            name: None,
            created_at: String::new(),
            revoked_at: None,
            policy: None,
            trial_source: trial_source.map(str::to_owned),
        };
        let mut trial = workflow.clone();
        limit_trial(&mut trial, Some(&key(Some("203.0.113.9"))), 120);
        assert_eq!(trial.max_duration_secs, 120);
        let mut short = workflow.clone();
        short.max_duration_secs = 30;
        limit_trial(&mut short, Some(&key(Some("203.0.113.9"))), 120);
        assert_eq!(
            short.max_duration_secs, 30,
            "a shorter workflow keeps its own limit"
        );
        for operator in [Some(key(None)), None] {
            let mut kept = workflow.clone();
            limit_trial(&mut kept, operator.as_ref(), 120);
            assert_eq!(kept.max_duration_secs, workflow.max_duration_secs);
        }
    }
}
