//! The campaign scheduler's tokio driver: every tick it reads each open campaign's rows, records
//! the ends of calls it placed (asking `retry` what follows), asks `plan` what to do now, and does
//! it: a call through `CallService::create` (the single-call path, so policy and do-not-call lists
//! apply) or a recipient ended without one. It keeps no state between ticks.
//!
//! Each call is created with the idempotency key `<campaign>/<position>/<n>`, the recipient's
//! n-th call: if the process dies between creating a call and recording it on the recipient, the
//! next tick creates "again" and gets the same call back instead of dialling the recipient twice.
//!
//! A pause or a cancel also holds back the campaign's calls already queued (the queue skips them
//! while the campaign is not running); the next tick takes them out of the queue undialled. After
//! a pause their recipients wait again, the withdrawn call not counted as an attempt.

use super::plan::{Action, plan};
use super::retry::{Ended, Next};
use super::{CampaignState, Script, Settings, template};
use crate::policy::Refusal;
use crate::service::{CallService, CallSpec, CreateError, Face, WorkflowSource};
use crate::store::{CampaignRow, RecipientRow, StoreError};
use serde_json::{Value, json};
use std::time::Duration;

/// How often the scheduler looks at the store.
const TICK: Duration = Duration::from_millis(500);
/// Why a queued call of a campaign that stopped running ended undialled (the call's `sip_reason`;
/// the driver knows its own withdrawals by it, after a restart too).
const WITHDRAWN: &str = "withdrawn before dialing: the campaign was paused or canceled";
/// How long a recipient waits when the call could not be queued for a passing reason (the
/// trunk's queue is full, the key's daily cap is reached).
const BUSY_WAIT_MS: i64 = 60_000;

/// Runs until the service shuts down.
pub(crate) async fn run(service: CallService) {
    let shutdown = service.shutdown_token().clone();
    loop {
        if let Err(err) = tick(&service).await {
            tracing::error!(%err, "campaign scheduler: cannot read the store");
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

async fn tick(service: &CallService) -> Result<(), StoreError> {
    for campaign in service.store().open_campaigns().await? {
        if service.shutdown_token().is_cancelled() {
            break;
        }
        let (Some(state), Ok(settings)) = (
            CampaignState::parse(&campaign.state),
            serde_json::from_str::<Settings>(&campaign.settings),
        ) else {
            tracing::error!(campaign_id = %campaign.id, "stored campaign does not parse; left alone");
            continue;
        };
        step(service, &campaign, state, &settings).await?;
    }
    Ok(())
}

/// One campaign's turn.
async fn step(
    service: &CallService,
    campaign: &CampaignRow,
    state: CampaignState,
    settings: &Settings,
) -> Result<(), StoreError> {
    let store = service.store();
    let now_ms = service.clock().now_ms();
    let mut rows = store.recipients(&campaign.id).await?;
    let mut ended_any = false;
    for row in rows.iter().filter(|r| r.state == "calling") {
        let Some(call_id) = &row.call_id else { continue };
        let Some(mut call) = store.call(call_id).await? else {
            continue;
        };
        if call.lifecycle == "queued" && state != CampaignState::Running {
            match service.withdraw_queued(call_id, WITHDRAWN).await? {
                Some(withdrawn) => call = withdrawn,
                None => continue,
            }
        }
        if call.lifecycle == "finalized" && call.sip_reason.as_deref() == Some(WITHDRAWN) {
            match state {
                CampaignState::Paused | CampaignState::Running => store.recipient_withdrawn(row).await?,
                CampaignState::Canceled | CampaignState::Finished => {
                    store.recipient_done(row, "canceled").await?
                }
            };
            ended_any = true;
            continue;
        }
        let Some(outcome) = call.outcome.as_deref().filter(|_| call.lifecycle == "finalized") else {
            continue;
        };
        let ended = Ended {
            outcome,
            sip_status: call.sip_status.and_then(|s| u16::try_from(s).ok()),
            end_reason: call.end_reason.as_deref(),
        };
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        match settings.retry.after_call(attempts, &ended, now_ms) {
            Next::Retry { not_before_ms } => store.recipient_wait(row, not_before_ms).await?,
            Next::Done(result) => store.recipient_done(row, &result).await?,
        };
        ended_any = true;
    }
    if ended_any {
        rows = store.recipients(&campaign.id).await?;
    }
    let recipients: Vec<_> = rows.iter().map(RecipientRow::recipient).collect();
    let decided = plan(now_ms, state, settings, &recipients);
    for action in &decided.actions {
        match action {
            Action::Dial(position) => {
                if let Some(row) = rows.iter().find(|r| r.position == i64::from(*position)) {
                    dial(service, campaign, settings, row, now_ms).await?;
                }
            }
            Action::End { position, result } => {
                if let Some(row) = rows.iter().find(|r| r.position == i64::from(*position)) {
                    store.recipient_done(row, result).await?;
                }
            }
        }
    }
    if decided.finished {
        store
            .finish_campaign(&campaign.id, &service.clock().now_rfc3339())
            .await?;
        tracing::info!(campaign_id = %campaign.id, "campaign finished");
    }
    Ok(())
}

/// Places one recipient's next call, or ends the recipient when the call is refused for good.
async fn dial(
    service: &CallService,
    campaign: &CampaignRow,
    settings: &Settings,
    row: &RecipientRow,
    now_ms: i64,
) -> Result<(), StoreError> {
    let store = service.store();
    // Paused or canceled since this pass read the campaign, or its key revoked: nobody more is
    // called. (A pass plans up to `concurrency` calls; the state is read again before each.)
    let running = store
        .campaign(&campaign.id)
        .await?
        .is_some_and(|c| CampaignState::parse(&c.state) == Some(CampaignState::Running));
    let key_active = store
        .key(&campaign.api_key_id)
        .await?
        .is_some_and(|k| k.revoked_at.is_none());
    if !running || !key_active {
        return Ok(());
    }
    let variables: serde_json::Map<String, Value> = serde_json::from_str(&row.variables).unwrap_or_default();
    let workflow = match &settings.script {
        Script::Prompt(prompt) => WorkflowSource::Prompt(template::fill(prompt, &variables)),
        Script::Workflow(id) => WorkflowSource::Stored(id.clone()),
    };
    let spec = CallSpec {
        face: Face::V1,
        to: row.to_number.clone(),
        workflow,
        callback_url: settings.callback_url.clone(),
        metadata: Some(json!({
            "campaign_id": campaign.id,
            "recipient": row.position,
            "variables": variables,
        })),
        trunk: settings.trunk.clone(),
        bridge_number: None,
        from: None,
        model: None,
        // Counted by calls made, not attempts: a withdrawn call is not an attempt, but its key is
        // spent.
        idempotency_key: Some(format!(
            "{}/{}/{}",
            campaign.id,
            row.position,
            row.call_id_list().len() + 1
        )),
        campaign: Some(campaign.id.clone()),
        source: None,
    };
    match service.create(&campaign.api_key_id, spec).await {
        Ok(created) => {
            store.recipient_calling(row, &created.row.id).await?;
        }
        Err(CreateError::ToNotAllowed(refused)) => {
            let result = match refused {
                Refusal::DoNotCall { .. } => "do_not_call",
                _ => "destination_not_allowed",
            };
            store.recipient_done(row, result).await?;
        }
        Err(CreateError::QueueFull(_) | CreateError::DailyCap { .. } | CreateError::TrialCap { .. }) => {
            store.recipient_wait(row, now_ms + BUSY_WAIT_MS).await?;
        }
        Err(CreateError::Store(err)) => return Err(err),
        Err(err) => {
            tracing::warn!(campaign_id = %campaign.id, position = row.position, %err, "a campaign call was refused");
            store.recipient_done(row, "refused").await?;
        }
    }
    Ok(())
}
