//! The call service: validates and stores new calls (idempotently, within the per-key daily cap and
//! the per-trunk queue bound), hangs calls up, and owns what every running call shares: the store,
//! the SIP handle, speech, live events, metrics and the outbox. Placing calls is the dispatcher's
//! job (`dispatch.rs`).

use crate::clock::Clock;
use crate::config::Config;
use crate::dispatch::{self, Trunk};
use crate::events::{Events, LiveEvent};
use crate::limits::utc_day;
use crate::metrics::Metrics;
use crate::model::{Call, PromptCallback};
use crate::outbox::Outbox;
use crate::store::{
    CallRow, DailyCap, Finalized, IdempotencyClaim, Inserted, NewDelivery, Store, StoreError, TrialCap,
    WorkflowRow,
};
use crate::webhook::{CallbackUrlError, check_callback_url};
use agent_runtime::call::{RuntimeConfig, Speech};
use agent_runtime::llm::{ModelName, ModelNameError};
use agent_runtime::phone::{E164, PhoneError};
use agent_runtime::workflow::{self, Workflow, WorkflowError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sip_stack::RegistrationStatus;
use sip_stack::driver::SipHandle;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a call was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// `to` is not a dialable E.164 number (or an emergency number).
    #[error("to: {0}")]
    To(PhoneError),
    /// `from` is not an E.164 number.
    #[error("from: {0}")]
    From(PhoneError),
    /// `from` is not one of the trunk's numbers.
    #[error("from: {0} is not one of the numbers trunk {1:?} may present")]
    FromNotAllowed(String, String),
    /// `bridge_number` is not a dialable E.164 number.
    #[error("bridge_number: {0}")]
    BridgeNumber(PhoneError),
    /// The destination policy refuses `to`.
    #[error("to: {0}")]
    ToNotAllowed(crate::policy::Refusal),
    /// The destination policy refuses `bridge_number`.
    #[error("bridge_number: {0}")]
    BridgeNotAllowed(crate::policy::Refusal),
    /// The prompt is empty, too long or too vague.
    #[error("prompt: {0}")]
    Prompt(#[from] WorkflowError),
    /// No workflow by that id for this key.
    #[error("no workflow {0:?}")]
    UnknownWorkflow(String),
    /// `model` is not a model name.
    #[error("model: {0}")]
    Model(#[from] ModelNameError),
    /// `model` was given with a stored workflow, which already chose its model.
    #[error(
        "model: the model is chosen with the workflow; give it to POST /v1/workflows, or give a prompt instead of workflow_id"
    )]
    ModelWithStoredWorkflow,
    /// The callback URL is not allowed.
    #[error("callback_url: {0}")]
    CallbackUrl(#[from] CallbackUrlError),
    /// `metadata` is not a JSON object.
    #[error("metadata must be a JSON object")]
    Metadata,
    /// No trunk by that name, or no trunk configured at all.
    #[error("unknown trunk {0:?}")]
    UnknownTrunk(String),
    /// The idempotency key is empty or too long.
    #[error("idempotency key must be 1 to 255 printable characters")]
    IdempotencyKey,
    /// The idempotency key is live for a call made with a different request.
    #[error("idempotency key {0:?} was used with a different request in its window")]
    IdempotencyReused(String),
    /// The key's calls for today are used up.
    #[error("daily call cap of {cap} reached for this API key")]
    DailyCap {
        /// The cap.
        cap: u32,
        /// Seconds until the next UTC day.
        retry_after_secs: u64,
    },
    /// The trial calls of this client for today are used up.
    #[error("this client's trial calls for today ({cap}) are used up; use an API key")]
    TrialCap {
        /// The cap.
        cap: u32,
        /// Seconds until the next UTC day.
        retry_after_secs: u64,
    },
    /// The trunk's queue is full.
    #[error("the queue of trunk {0:?} is full; try again later")]
    QueueFull(String),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a hangup was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HangupError {
    /// The call is already over.
    #[error("the call is already finalized")]
    Finalized,
    /// No such call.
    #[error("no such call")]
    NotFound,
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which face created a call: decides the callback's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// Native `v1`.
    V1,
    /// Prompt-to-call compatible.
    Prompt,
    /// Fire-and-poll compatible.
    Poll,
}

impl Face {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Face::V1 => "v1",
            Face::Prompt => "prompt",
            Face::Poll => "poll",
        }
    }
}

/// Where a call's workflow comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum WorkflowSource {
    /// Compile this prompt.
    Prompt(String),
    /// Use this stored workflow.
    Stored(String),
}

/// A call as requested through any face.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallSpec {
    /// The face.
    #[serde(skip)]
    pub face: Face,
    /// Number to call.
    pub to: String,
    /// What the agent should do.
    pub workflow: WorkflowSource,
    /// Where to POST the completion callback.
    pub callback_url: Option<String>,
    /// Free-form data returned with the call.
    pub metadata: Option<Value>,
    /// Trunk name; the first trunk when absent.
    pub trunk: Option<String>,
    /// A human to bridge to.
    pub bridge_number: Option<String>,
    /// The caller ID to present, E.164; the trunk's `from_number` when absent.
    pub from: Option<String>,
    /// The language model for the call's workflow (with a prompt only); the configured one when
    /// absent.
    pub model: Option<String>,
    /// Idempotency key.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// The client address, for the audit log (a refused destination is recorded with it).
    #[serde(skip)]
    pub source: Option<std::net::IpAddr>,
    /// The campaign the call is placed for: the queue holds it back while that campaign is not
    /// running.
    #[serde(skip)]
    pub campaign: Option<String>,
}

/// A created (or replayed) call.
#[derive(Debug, Clone)]
pub struct Created {
    /// The call as stored.
    pub row: CallRow,
    /// True when an idempotency key named an earlier call: nothing new was dialled.
    pub replayed: bool,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sip: SipHandle,
    pub(crate) speech: Speech,
    pub(crate) runtime: RuntimeConfig,
    pub(crate) outbox: Outbox,
    pub(crate) events: Events,
    pub(crate) metrics: Metrics,
    pub(crate) trunks: Vec<Trunk>,
    pub(crate) recordings: PathBuf,
    pub(crate) public_url: String,
    pub(crate) allow_private_callbacks: bool,
    pub(crate) idempotency_window: Duration,
    pub(crate) daily_cap: u32,
    /// Calls per UTC day of all trial keys minted for one client.
    pub(crate) trial_calls_per_source: u32,
    /// The longest a trial key's call lasts after answer.
    pub(crate) trial_max_call_secs: u32,
    /// Which destinations may be dialled.
    pub(crate) policy: crate::policy::PolicyConfig,
    pub(crate) running: Mutex<HashMap<String, CancellationToken>>,
    pub(crate) tasks: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    /// The `[[inbound]]` routes, their workflows compiled and stored.
    pub(crate) inbound: Vec<crate::inbound::InboundPlan>,
}

impl Inner {
    /// Registers a call being run and returns the token that hangs it up (the API's hangup and
    /// shutdown cancel it); an earlier registration of the same id keeps its token.
    pub(crate) fn track(&self, id: &str) -> CancellationToken {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .entry(id.to_owned())
            .or_insert_with(|| self.shutdown.child_token())
            .clone()
    }

    /// Forgets a call that has ended.
    pub(crate) fn untrack(&self, id: &str) {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// Cloneable handle to the call service.
#[derive(Clone)]
pub struct CallService {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for CallService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallService").finish_non_exhaustive()
    }
}

/// What the service is built from.
#[derive(Debug)]
pub struct Parts {
    /// The store.
    pub store: Store,
    /// Wall clock.
    pub clock: Arc<dyn Clock>,
    /// The SIP driver.
    pub sip: SipHandle,
    /// Speech providers.
    pub speech: Speech,
    /// The outbox sender's handle.
    pub outbox: Outbox,
    /// Metrics.
    pub metrics: Metrics,
    /// `[media] stun_server`, resolved.
    pub stun_server: Option<std::net::SocketAddr>,
}

/// Compiles a prompt: by the language model when one is configured (the built-in compiler answers
/// when the model fails or breaks a rule), else by the built-in compiler alone. A chosen `model`
/// compiles it and is stored with the workflow, for its calls.
async fn compile(
    speech: &Speech,
    prompt: &str,
    model: Option<&ModelName>,
) -> Result<Workflow, workflow::WorkflowError> {
    let mut workflow = match (&speech.llm, model) {
        (Some(llm), Some(model)) => {
            agent_runtime::llm::compile_workflow(&llm.with_model(model), prompt).await
        }
        (Some(llm), None) => agent_runtime::llm::compile_workflow(llm, prompt).await,
        (None, _) => workflow::compile(prompt),
    }?;
    workflow.model = model.cloned();
    Ok(workflow)
}

/// Parses an optional model name (an empty one is refused: leave the field out for the default).
fn model_name(model: Option<&str>) -> Result<Option<ModelName>, ModelNameError> {
    model.map(ModelName::parse).transpose()
}

/// Compiles and stores the workflow of each `[[inbound]]` route (the configured model when there
/// is one, the built-in compiler when it fails: the route's prompt already passed it at load).
async fn inbound_plans(
    config: &Config,
    parts: &Parts,
) -> Result<Vec<crate::inbound::InboundPlan>, StoreError> {
    let mut plans = Vec::new();
    for route in &config.inbound {
        let workflow = match compile(&parts.speech, &route.prompt, None).await {
            Ok(w) => w,
            Err(err) => {
                tracing::warn!(%err, number = %route.number, "the model could not compile an inbound prompt");
                match workflow::compile(&route.prompt) {
                    Ok(w) => w,
                    Err(err) => {
                        tracing::error!(%err, number = %route.number, "inbound route left out");
                        continue;
                    }
                }
            }
        };
        let workflow = workflow.answering();
        let row = WorkflowRow {
            id: format!("wf_{}", uuid::Uuid::now_v7().simple()),
            prompt: workflow.prompt.clone(),
            definition: serde_json::to_string(&workflow).unwrap_or_default(),
            created_at: parts.clock.now_rfc3339(),
            api_key_id: route.owner_key.clone(),
        };
        parts.store.insert_workflow(&row).await?;
        plans.push(crate::inbound::InboundPlan {
            number: route.number.clone(),
            workflow_id: row.id,
            workflow,
            callback_url: route.callback_url.clone(),
            owner: route.owner_key.clone(),
            bridge: route.bridge_number.as_deref().and_then(|b| E164::parse(b).ok()),
        });
    }
    Ok(plans)
}

impl CallService {
    /// Answers the SIP driver's inbound calls by their `[[inbound]]` routes until shutdown.
    pub fn serve_inbound(
        &self,
        incoming: tokio::sync::mpsc::Receiver<sip_stack::driver::IncomingCallHandle>,
    ) {
        let inner = Arc::clone(&self.inner);
        self.inner.tasks.spawn(crate::inbound::run(inner, incoming));
    }

    /// Builds the service and recovers what the last process left: calls it was placing are
    /// finalized `failed` (their callbacks queued), queued calls stay queued and will be placed.
    pub async fn start(
        config: &Config,
        parts: Parts,
        shutdown: CancellationToken,
    ) -> Result<Self, StoreError> {
        let runtime = RuntimeConfig {
            rtp_ip: config.media.rtp_ip,
            public_ip: config.media.public_ip,
            stun_server: parts.stun_server,
            ring_timeout: Duration::from_secs(config.media.ring_timeout_secs),
            max_duration: Duration::from_secs(config.media.max_duration_secs),
            max_bridged: Duration::from_secs(config.media.max_bridged_secs),
            jitter_delay_ms: config.media.jitter_delay_ms,
            end_of_turn_ms: config.media.end_of_turn_ms,
            barge_in_ms: config.media.barge_in_ms,
            turn_patience_ms: config.media.turn_patience_ms,
            speculative_stt: config.media.speculative_stt,
            analysis: config.media.vad != crate::config::VadChoice::Energy,
            opus: config.media.opus,
            srtp: config.media.srtp,
            latch: config.media.latch.into(),
        };
        let mut trunks = Vec::new();
        for (index, t) in config.sip_trunks().iter().enumerate() {
            let queued = parts.store.queued_count(&t.name).await?;
            let mut trunk = Trunk::new(
                index,
                t.name.clone(),
                t.register,
                config.trunk_limit(index),
                config.limits.queue_capacity,
                usize::try_from(queued).unwrap_or(0),
            );
            if let Some(section) = config.trunks.get(index) {
                trunk.transfer = section.transfer;
                trunk.from_number.clone_from(&section.from_number);
                trunk.numbers.clone_from(&section.numbers);
                trunk.forward_headers.clone_from(&section.forward_headers);
            }
            trunks.push(trunk);
        }
        let inbound = inbound_plans(config, &parts).await?;
        let service = Self {
            inner: Arc::new(Inner {
                store: parts.store,
                clock: parts.clock,
                sip: parts.sip,
                speech: parts.speech,
                runtime,
                outbox: parts.outbox,
                events: Events::default(),
                metrics: parts.metrics,
                trunks,
                recordings: config.storage.recordings_dir(),
                public_url: config.public_url(),
                allow_private_callbacks: config.webhooks.allow_private,
                idempotency_window: config.limits.idempotency_window,
                daily_cap: config.limits.daily_calls_per_key,
                trial_calls_per_source: config.server.trial_calls_per_source,
                trial_max_call_secs: config.server.trial_max_call_secs,
                policy: config.policy.clone(),
                running: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                shutdown,
                inbound,
            }),
        };
        service.recover().await?;
        for trunk in 0..service.inner.trunks.len() {
            let inner = Arc::clone(&service.inner);
            service
                .inner
                .tasks
                .spawn(async move { dispatch::run(inner, trunk).await });
        }
        service
            .inner
            .tasks
            .spawn(crate::campaign::driver::run(service.clone()));
        Ok(service)
    }

    async fn recover(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now_rfc3339();
        let cause = "interrupted: the server stopped during the call";
        let mut failed = 0;
        for id in inner.store.live_calls().await? {
            let recording = crate::salvage::salvage(&inner.recordings, &id);
            let f = Finalized {
                outcome: "failed",
                hangup_by: Some("system"),
                sip_reason: Some(cause),
                error: Some(cause),
                recording_path: recording.as_deref(),
                ended_at: &now,
                ..Finalized::default()
            };
            if finalize_row(inner, &id, &f, false).await?.is_some() {
                failed += 1;
            }
        }
        let known: Vec<&str> = inner.trunks.iter().map(|t| t.name.as_str()).collect();
        for (id, trunk) in inner.store.queued_calls().await? {
            if known.contains(&trunk.as_str()) {
                continue;
            }
            let reason = format!("trunk {trunk:?} is no longer configured");
            let f = Finalized {
                outcome: "failed",
                hangup_by: Some("system"),
                sip_reason: Some(&reason),
                error: Some(&reason),
                ended_at: &now,
                ..Finalized::default()
            };
            finalize_row(inner, &id, &f, true).await?;
        }
        if failed > 0 {
            tracing::warn!(
                failed,
                "calls interrupted by the last shutdown were finalized as failed"
            );
        }
        for trunk in &inner.trunks {
            inner.metrics.set_queued(&trunk.name, trunk.queued() as i64);
        }
        Ok(())
    }

    /// Cancelled when the service stops.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Live events.
    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Tells the outbox sender a delivery is due now.
    pub fn wake_outbox(&self) {
        self.inner.outbox.wake();
    }

    /// The wall clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Registration status per trunk: (name, needs registration, status).
    pub fn trunk_status(&self) -> Vec<(String, bool, RegistrationStatus)> {
        let statuses = self.inner.sip.registrations().borrow().clone();
        self.inner
            .trunks
            .iter()
            .zip(statuses)
            .map(|(t, s)| (t.name.clone(), t.registers, s))
            .collect()
    }

    /// Queue length and running calls per trunk: (name, queued, running, limit).
    pub fn trunk_load(&self) -> Vec<(String, usize, usize, usize)> {
        self.inner
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.queued(), t.running(), t.limit))
            .collect()
    }

    /// Compiles and stores a workflow for `owner`.
    pub async fn create_workflow(
        &self,
        owner: &str,
        prompt: &str,
        model: Option<&str>,
    ) -> Result<(WorkflowRow, Workflow), CreateError> {
        let model = model_name(model)?;
        let workflow = compile(&self.inner.speech, prompt, model.as_ref()).await?;
        let row = workflow_row(&workflow, owner, &self.inner.clock.now_rfc3339());
        self.inner.store.insert_workflow(&row).await?;
        Ok((row, workflow))
    }

    /// A callback URL as a call's would be checked: the normalized URL, or `None` when absent.
    pub fn check_callback(&self, url: Option<&str>) -> Result<Option<String>, CreateError> {
        match url.filter(|u| !u.is_empty()) {
            Some(url) => Ok(Some(
                check_callback_url(url, self.inner.allow_private_callbacks)?.to_string(),
            )),
            None => Ok(None),
        }
    }

    /// Refuses (`CreateError::UnknownWorkflow`) a workflow id that `owner` may not use.
    pub async fn check_workflow(&self, owner: &str, id: &str) -> Result<(), CreateError> {
        match self.inner.store.workflow(id).await? {
            Some(w) if w.api_key_id.as_deref().is_none_or(|k| k == owner) => Ok(()),
            _ => Err(CreateError::UnknownWorkflow(id.to_owned())),
        }
    }

    /// Whether the destination policy (the installation's, and the key's own list when `owner` has
    /// one) lets `to` be dialled, as a `to` refusal; checked again by [`Self::create`]. Faces call it
    /// early when a refusal must cost nothing, such as minting a trial key.
    pub async fn check_destination(&self, owner: Option<&str>, to: &E164) -> Result<(), CreateError> {
        let key = match owner {
            Some(owner) => self.key_policy(owner).await?,
            None => None,
        };
        let listed = self.inner.store.dnc_listed(owner, to.as_str()).await?;
        self.inner
            .policy
            .check_dialable(key.as_ref(), to, listed)
            .map_err(CreateError::ToNotAllowed)
    }

    /// Refuses (`CreateError::TrialCap`) when the trial keys minted for `source` have placed
    /// today's share of calls: checked before a new trial key is minted, so a client past its
    /// share mints nothing (the insert checks again, atomically).
    pub async fn check_trial_calls(&self, source: Option<std::net::IpAddr>) -> Result<(), CreateError> {
        let inner = &self.inner;
        let (day_start, day_left) = utc_day(inner.clock.now_ms());
        let made = inner
            .store
            .trial_calls_since(&crate::keys::trial_source(source), day_start)
            .await?;
        if made >= i64::from(inner.trial_calls_per_source) {
            return Err(CreateError::TrialCap {
                cap: inner.trial_calls_per_source,
                retry_after_secs: day_left,
            });
        }
        Ok(())
    }

    /// The key's own destination list, if it has one.
    async fn key_policy(&self, owner: &str) -> Result<Option<crate::policy::KeyPolicy>, StoreError> {
        match self.inner.store.key(owner).await? {
            Some(row) => crate::keys::policy_of(&row),
            None => Ok(None),
        }
    }

    /// Records a refused destination in the audit log (a failed write is logged: the refusal stands).
    pub async fn audit_refusal(
        &self,
        owner: &str,
        field: &str,
        refused: &crate::policy::Refusal,
        source: Option<std::net::IpAddr>,
    ) {
        let actor = crate::audit::Actor::Key(owner.to_owned());
        let entry = crate::audit::refusal(actor, field, refused, source);
        crate::audit::record_or_log(&self.inner.store, self.inner.clock.as_ref(), entry).await;
    }

    /// Whether a trunk of that name is configured (what a call's `trunk` may name).
    pub fn has_trunk(&self, name: &str) -> bool {
        self.inner.trunks.iter().any(|t| t.name == name)
    }

    /// Validates and stores a call (lifecycle `queued`), or names the earlier call its idempotency
    /// key is live for. The dispatcher places it when its trunk has a free channel.
    pub async fn create(&self, owner: &str, spec: CallSpec) -> Result<Created, CreateError> {
        let inner = &self.inner;
        let to = E164::parse(&spec.to).map_err(CreateError::To)?;
        let owner_row = inner.store.key(owner).await?;
        let key_policy = match &owner_row {
            Some(row) => crate::keys::policy_of(row)?,
            None => None,
        };
        let trial_source = owner_row.and_then(|row| row.trial_source);
        let listed = inner.store.dnc_listed(Some(owner), to.as_str()).await?;
        if let Err(refused) = inner.policy.check_dialable(key_policy.as_ref(), &to, listed) {
            self.audit_refusal(owner, "to", &refused, spec.source).await;
            return Err(CreateError::ToNotAllowed(refused));
        }
        let bridge_number = match spec.bridge_number.as_deref().filter(|b| !b.trim().is_empty()) {
            Some(b) => {
                let number = E164::parse(b).map_err(CreateError::BridgeNumber)?;
                let listed = inner.store.dnc_listed(Some(owner), number.as_str()).await?;
                if let Err(refused) = inner.policy.check_dialable(key_policy.as_ref(), &number, listed) {
                    self.audit_refusal(owner, "bridge_number", &refused, spec.source)
                        .await;
                    return Err(CreateError::BridgeNotAllowed(refused));
                }
                Some(number)
            }
            None => None,
        };
        let model = model_name(spec.model.as_deref())?;
        let now_ms = inner.clock.now_ms();
        let now = inner.clock.now_rfc3339();
        let (workflow_id, new_workflow) = match &spec.workflow {
            WorkflowSource::Stored(_) if model.is_some() => return Err(CreateError::ModelWithStoredWorkflow),
            WorkflowSource::Prompt(prompt) => {
                let compiled = compile(&inner.speech, prompt, model.as_ref()).await?;
                let row = workflow_row(&compiled, owner, &now);
                (row.id.clone(), Some(row))
            }
            WorkflowSource::Stored(id) => match inner.store.workflow(id).await? {
                Some(w) if w.api_key_id.as_deref().is_none_or(|k| k == owner) => (w.id, None),
                _ => return Err(CreateError::UnknownWorkflow(id.clone())),
            },
        };
        let callback_url = match spec.callback_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(check_callback_url(url, inner.allow_private_callbacks)?.to_string()),
            None => None,
        };
        let metadata = match &spec.metadata {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(Value::Object(m)) => Value::Object(m.clone()),
            Some(_) => return Err(CreateError::Metadata),
        };
        let trunk_index = match &spec.trunk {
            Some(name) => inner.trunks.iter().position(|t| &t.name == name),
            None => (!inner.trunks.is_empty()).then_some(0),
        }
        .ok_or_else(|| CreateError::UnknownTrunk(spec.trunk.clone().unwrap_or_default()))?;
        let trunk = &inner.trunks[trunk_index];
        let from = match spec.from.as_deref().filter(|f| !f.trim().is_empty()) {
            Some(f) => {
                let number = E164::parse(f).map_err(CreateError::From)?;
                let digits = |n: &str| n.chars().filter(char::is_ascii_digit).collect::<String>();
                if !trunk.numbers.is_empty()
                    && !trunk.numbers.iter().any(|n| digits(n) == digits(number.as_str()))
                {
                    return Err(CreateError::FromNotAllowed(
                        number.as_str().to_owned(),
                        trunk.name.clone(),
                    ));
                }
                Some(number.as_str().to_owned())
            }
            None => trunk.from_number.clone(),
        };

        let key = match spec.idempotency_key.as_deref() {
            None => None,
            Some(k) if k.is_empty() || k.len() > 255 || k.chars().any(char::is_control) => {
                return Err(CreateError::IdempotencyKey);
            }
            Some(k) => Some(k),
        };
        let request_hash = request_hash(
            spec.face,
            &to,
            &spec,
            &callback_url,
            &metadata,
            &trunk.name,
            model.as_ref(),
        );
        let window_ms = i64::try_from(inner.idempotency_window.as_millis()).unwrap_or(i64::MAX);
        let expired_before = now_ms.saturating_sub(window_ms);
        if let Some(key) = key
            && let Some((call_id, hash)) = inner.store.idempotent_call(owner, key, expired_before).await?
        {
            return self.replay(key, &call_id, &hash, &request_hash).await;
        }
        // Checked early (a refusal costs no queue slot) and again inside the insert (a burst of
        // concurrent requests cannot all pass the early check).
        let (day_start, day_left) = utc_day(now_ms);
        let cap_reached = CreateError::DailyCap {
            cap: inner.daily_cap,
            retry_after_secs: day_left,
        };
        let cap = (inner.daily_cap > 0).then(|| DailyCap {
            since_ms: day_start,
            max: i64::from(inner.daily_cap),
        });
        if let Some(cap) = cap
            && inner.store.calls_created_since(owner, cap.since_ms).await? >= cap.max
        {
            return Err(cap_reached);
        }
        // A trial client's calls share one cap whichever of its trial keys places them (checked in
        // the insert only: trial traffic is small, and the insert's count is the one that holds).
        let trial_cap = trial_source.map(|source| TrialCap {
            source,
            since_ms: day_start,
            max: i64::from(inner.trial_calls_per_source),
        });
        let trial_cap_reached = CreateError::TrialCap {
            cap: inner.trial_calls_per_source,
            retry_after_secs: day_left,
        };
        let reservation = trunk
            .reserve()
            .ok_or_else(|| CreateError::QueueFull(trunk.name.clone()))?;
        let row = CallRow {
            id: format!("call_{}", uuid::Uuid::now_v7().simple()),
            workflow_id,
            api_key_id: Some(owner.to_owned()),
            direction: "outbound".to_owned(),
            to_number: to.as_str().to_owned(),
            from_number: from,
            trunk: trunk.name.clone(),
            lifecycle: "queued".to_owned(),
            outcome: None,
            sip_status: None,
            sip_reason: None,
            hangup_by: None,
            summary: None,
            transcript: "[]".to_owned(),
            form_fills: "{}".to_owned(),
            talk_ms: None,
            recording_path: None,
            media: None,
            callback_url,
            metadata: metadata.to_string(),
            error: None,
            created_at: now,
            answered_at: None,
            ended_at: None,
            face: spec.face.as_str().to_owned(),
            idempotency_key: key.map(str::to_owned),
            bridge_number: bridge_number.map(|b| b.as_str().to_owned()),
            created_ms: now_ms,
            purged_at: None,
            dtmf: "[]".to_owned(),
            amd: None,
            end_reason: None,
            latency: "[]".to_owned(),
            campaign_id: spec.campaign.clone(),
        };
        let claim = key.map(|key| IdempotencyClaim {
            owner,
            key,
            request_hash: &request_hash,
            now_ms,
            expired_before_ms: expired_before,
        });
        match inner
            .store
            .insert_call_capped(
                &row,
                new_workflow.as_ref(),
                claim.as_ref(),
                cap,
                trial_cap.as_ref(),
            )
            .await?
        {
            Inserted::CapReached => Err(cap_reached),
            Inserted::TrialCapReached => Err(trial_cap_reached),
            Inserted::Created => {
                reservation.commit();
                inner.metrics.set_queued(&trunk.name, trunk.queued() as i64);
                trunk.wake();
                tracing::info!(call_id = %row.id, to = %to, trunk = %trunk.name, "call queued");
                Ok(Created { row, replayed: false })
            }
            Inserted::Existing {
                call_id,
                request_hash: hash,
            } => {
                drop(reservation);
                self.replay(key.unwrap_or_default(), &call_id, &hash, &request_hash)
                    .await
            }
        }
    }

    async fn replay(
        &self,
        key: &str,
        call_id: &str,
        stored: &str,
        presented: &str,
    ) -> Result<Created, CreateError> {
        if stored != presented {
            return Err(CreateError::IdempotencyReused(key.to_owned()));
        }
        let row = self
            .inner
            .store
            .call(call_id)
            .await?
            .ok_or_else(|| StoreError::Query(sqlx::Error::RowNotFound))?;
        Ok(Created { row, replayed: true })
    }

    /// Hangs a call up: a queued call is finalized `canceled` at once; a call being placed is
    /// canceled (CANCEL before the answer, BYE after) and finalizes through its task.
    pub async fn hangup(&self, id: &str) -> Result<CallRow, HangupError> {
        let inner = &self.inner;
        let row = inner.store.call(id).await?.ok_or(HangupError::NotFound)?;
        if row.lifecycle == "finalized" {
            return Err(HangupError::Finalized);
        }
        if row.lifecycle == "queued"
            && let Some(done) = self
                .withdraw_queued(id, "hung up through the API before dialing")
                .await?
        {
            return Ok(done);
        }
        let token = {
            let mut running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
            running
                .entry(id.to_owned())
                .or_insert_with(|| inner.shutdown.child_token())
                .clone()
        };
        token.cancel();
        let row = inner.store.call(id).await?.ok_or(HangupError::NotFound)?;
        if row.lifecycle == "finalized" {
            // It ended on its own meanwhile; nobody will pick the token up.
            inner.running.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        }
        Ok(row)
    }

    /// Takes a call out of the queue before it is dialled: finalized `canceled` with `reason`, its
    /// place in the trunk's queue freed. `None` when it was no longer queued (a dispatcher took
    /// it, or it ended).
    pub async fn withdraw_queued(&self, id: &str, reason: &str) -> Result<Option<CallRow>, StoreError> {
        let inner = &self.inner;
        let now = inner.clock.now_rfc3339();
        let f = Finalized {
            outcome: "canceled",
            hangup_by: Some("agent"),
            sip_reason: Some(reason),
            ended_at: &now,
            ..Finalized::default()
        };
        let done = finalize_row(inner, id, &f, true).await?;
        if let Some(done) = &done
            && let Some(trunk) = inner.trunks.iter().find(|t| t.name == done.trunk)
        {
            trunk.dequeued();
            inner.metrics.set_queued(&trunk.name, trunk.queued() as i64);
        }
        Ok(done)
    }

    /// Stops: dispatchers stop taking queued calls (they stay queued for the next start), running
    /// calls are hung up and finalized, all within `grace`.
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

fn workflow_row(workflow: &Workflow, owner: &str, now: &str) -> WorkflowRow {
    WorkflowRow {
        id: format!("wf_{}", uuid::Uuid::now_v7().simple()),
        prompt: workflow.prompt.clone(),
        definition: serde_json::to_string(workflow).unwrap_or_default(),
        created_at: now.to_owned(),
        api_key_id: Some(owner.to_owned()),
    }
}

/// What identifies a request for idempotency: the normalized fields that decide what is dialled
/// and reported, so a retry with the same meaning but other spacing or key order still matches.
fn request_hash(
    face: Face,
    to: &E164,
    spec: &CallSpec,
    callback_url: &Option<String>,
    metadata: &Value,
    trunk: &str,
    model: Option<&ModelName>,
) -> String {
    let mut canonical = json!([
        face.as_str(),
        to.as_str(),
        spec.workflow,
        callback_url,
        metadata.to_string(),
        trunk,
        spec.bridge_number.as_deref().map(str::trim),
    ]);
    // Appended only when given, so the hashes of requests without a model stay what they were.
    if let (Some(model), Some(parts)) = (model, canonical.as_array_mut()) {
        parts.push(json!(model.as_str()));
    }
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Finalizes a call with its callback in the outbox (one transaction), then tells listeners,
/// metrics and the outbox sender. `None` when it was already finalized (or, with `only_queued`,
/// no longer queued).
pub(crate) async fn finalize_row(
    inner: &Inner,
    id: &str,
    f: &Finalized<'_>,
    only_queued: bool,
) -> Result<Option<CallRow>, StoreError> {
    let public_url = inner.public_url.clone();
    let created_at = inner.clock.now_rfc3339();
    let created_ms = inner.clock.now_ms();
    let row = inner
        .store
        .finalize(id, f, only_queued, |row| {
            let url = row.callback_url.clone()?;
            let payload = callback_payload(row, &public_url, &created_at)?;
            Some(NewDelivery {
                id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
                call_id: row.id.clone(),
                url,
                event_type: "call.finalized".to_owned(),
                payload,
                created_at: created_at.clone(),
                created_ms,
            })
        })
        .await?;
    let Some(row) = row else { return Ok(None) };
    crate::fault::reached(crate::fault::FaultPoint::Finalized).await;
    let media = row.media.as_deref().and_then(|m| {
        let m: Value = serde_json::from_str(m).ok()?;
        Some((m.get("loss_pct")?.as_f64()?, m.get("jitter_ms")?.as_f64()?))
    });
    inner
        .metrics
        .call_finalized(row.outcome.as_deref().unwrap_or("failed"), media);
    if row.callback_url.is_some() {
        inner.outbox.wake();
    }
    match Call::from_row(&row, &inner.public_url) {
        Ok(call) => inner.events.finish(id, LiveEvent::Finalized(Box::new(call))),
        Err(err) => tracing::error!(call_id = %id, %err, "cannot render the final call"),
    }
    tracing::info!(call_id = %id, outcome = row.outcome.as_deref().unwrap_or(""), "call finalized");
    Ok(Some(row))
}

/// The callback body for a finalized call, in the shape of the face that created it.
fn callback_payload(row: &CallRow, public_url: &str, timestamp: &str) -> Option<String> {
    let body = if row.face == Face::Prompt.as_str() {
        serde_json::to_value(PromptCallback::from_row(row, public_url).ok()?).ok()?
    } else {
        let call = Call::from_row(row, public_url).ok()?;
        json!({ "type": "call.finalized", "timestamp": timestamp, "data": call })
    };
    Some(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prompt: &str) -> CallSpec {
        CallSpec {
            face: Face::V1,
            to: "+15551234567".into(),
            workflow: WorkflowSource::Prompt(prompt.into()),
            callback_url: None,
            metadata: None,
            trunk: None,
            bridge_number: None,
            from: None,
            model: None,
            idempotency_key: Some("k".into()),
            campaign: None,
            source: None,
        }
    }

    #[test]
    fn request_hashes_see_meaning_not_form() {
        let to = E164::parse("+15551234567").expect("valid");
        let meta = json!({"a": 1, "b": 2});
        let a = request_hash(Face::V1, &to, &spec("Ask if ok?"), &None, &meta, "t", None);
        let b = request_hash(Face::V1, &to, &spec("Ask if ok?"), &None, &meta, "t", None);
        assert_eq!(a, b);
        assert_ne!(
            a,
            request_hash(Face::V1, &to, &spec("Ask if fine?"), &None, &meta, "t", None)
        );
        assert_ne!(
            a,
            request_hash(Face::Prompt, &to, &spec("Ask if ok?"), &None, &meta, "t", None)
        );
        assert_ne!(
            a,
            request_hash(Face::V1, &to, &spec("Ask if ok?"), &None, &json!({}), "t", None)
        );
        let model = ModelName::parse("gpt-4o-mini").expect("a name");
        assert_ne!(
            a,
            request_hash(
                Face::V1,
                &to,
                &spec("Ask if ok?"),
                &None,
                &meta,
                "t",
                Some(&model)
            ),
            "another model is another request"
        );
    }
}
