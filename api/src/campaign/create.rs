//! Checking a campaign request into stored rows. Everything that can be known before the first
//! call is checked here, and nothing is stored unless the request is whole (or the request said to
//! leave bad rows out): numbers (parsed as calls' `to` is, and held to the destination policy and
//! the do-not-call lists, as a call would be), placeholders without a value, time zones that are
//! not IANA names, a recipient with no zone at all, duplicate numbers, and the campaign's own
//! settings. Bad recipients are named by row: a CSV line (the header is line 1) or a JSON
//! array position counted from 1.

use super::retry::{RetryError, RetryPolicy};
use super::window::{Window, WindowError, WindowSpec, ZoneError, zone};
use super::{CampaignId, CampaignState, Script, Settings, template};
use crate::http::RowError;
use crate::service::{CallService, CreateError};
use crate::store::{CampaignInsert, CampaignRow, RecipientRow, StoreError};
use crate::upload::{self, UploadError};
use agent_runtime::phone::E164;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The most recipients one campaign may have.
pub const MAX_RECIPIENTS: usize = 100_000;
/// The highest concurrency limit.
pub const MAX_CONCURRENCY: u32 = 1_000;

/// `POST /v1/campaigns` body.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    /// A label.
    pub name: Option<String>,
    /// The prompt; `{name}`-style placeholders are filled from each recipient's variables.
    #[schema(example = "Remind {name} that invoice {invoice} is due on Friday.")]
    pub prompt: Option<String>,
    /// A workflow from `POST /v1/workflows`, instead of `prompt`.
    pub workflow_id: Option<String>,
    /// Recipients as JSON (or give `recipients_csv`).
    pub recipients: Option<Vec<RecipientSpec>>,
    /// Recipients as CSV text: a header line with a `to` column (or `number`, `phone`), an
    /// optional `time_zone` column; every other column is a variable.
    pub recipients_csv: Option<String>,
    /// `refuse` (default): any bad recipient refuses the whole request. `skip`: bad recipients
    /// are left out and named in `rejected`.
    pub on_error: Option<crate::http::OnError>,
    /// Every call's signed completion callback goes here.
    pub callback_url: Option<String>,
    /// Calls in progress at most (1 to 1000, default 1).
    pub concurrency: Option<u32>,
    /// No call before this instant (RFC 3339); now when absent.
    pub starts_at: Option<String>,
    /// No call after this instant (RFC 3339); recipients still waiting end as `expired`.
    pub ends_at: Option<String>,
    /// The IANA time zone of recipients that name none (e.g. `America/New_York`). Without it,
    /// every recipient must name its own: Ringback does not guess a zone from a number.
    pub time_zone: Option<String>,
    /// Local hours and days; default 08:00 to 21:00 every day.
    pub window: Option<WindowSpec>,
    /// What is retried; default `no_answer`, `busy`, transient `failed`, 3 calls, an hour apart.
    pub retry: Option<RetryPolicy>,
    /// Trunk name; the first trunk when absent.
    pub trunk: Option<String>,
    /// Idempotency key (the `Idempotency-Key` header takes precedence).
    pub idempotency_key: Option<String>,
}

/// One recipient.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientSpec {
    /// E.164.
    #[schema(example = "+15551234567")]
    pub to: String,
    /// Values for the prompt's placeholders (strings, numbers or booleans).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// Its IANA time zone; the campaign's `time_zone` when absent.
    pub time_zone: Option<String>,
}

/// Why a campaign was not created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignError {
    /// Neither or both of prompt and workflow_id.
    #[error("give exactly one of prompt and workflow_id")]
    Script,
    /// Neither or both of recipients and recipients_csv, or none at all.
    #[error("give recipients (a JSON array) or recipients_csv, with at least one recipient")]
    NoRecipients,
    /// Too many.
    #[error("at most {MAX_RECIPIENTS} recipients per campaign")]
    TooManyRecipients,
    /// The CSV cannot be read.
    #[error("recipients_csv: {0}")]
    Csv(#[from] UploadError),
    /// The CSV has no number column.
    #[error("recipients_csv: the header names no `to` (or `number`, `phone`) column")]
    CsvNoNumberColumn,
    /// Some recipients are bad (and the request said to refuse them all).
    #[error("{} bad recipient(s): rows {}; nothing was created; send on_error=skip to leave them out", .0.len(), rows_text(.0))]
    BadRows(Vec<RowError>),
    /// Every recipient was bad.
    #[error("every recipient is bad: rows {}", rows_text(.0))]
    AllRowsBad(Vec<RowError>),
    /// The window is malformed.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// The retry policy is malformed.
    #[error(transparent)]
    Retry(#[from] RetryError),
    /// The default zone is unknown.
    #[error("time_zone: {0}")]
    TimeZone(ZoneError),
    /// A start or end that is not RFC 3339.
    #[error("{0}: not an RFC 3339 time")]
    Time(&'static str),
    /// The end is not after the start.
    #[error("ends_at must be later than starts_at")]
    EndsBeforeStart,
    /// Concurrency out of range.
    #[error("concurrency must be 1 to {MAX_CONCURRENCY}")]
    Concurrency,
    /// The prompt, workflow or callback URL is refused as a call's would be.
    #[error(transparent)]
    Call(#[from] CreateError),
    /// The idempotency key made a different campaign.
    #[error("idempotency key {0:?} was used with a different request")]
    IdempotencyReused(String),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn rows_text(rows: &[RowError]) -> String {
    let mut text: Vec<String> = rows.iter().take(10).map(|r| r.row.to_string()).collect();
    if rows.len() > 10 {
        text.push("...".to_owned());
    }
    text.join(", ")
}

/// A created (or replayed) campaign.
#[derive(Debug, Clone)]
pub struct Created {
    /// As stored.
    pub row: CampaignRow,
    /// Recipients left out (with `on_error=skip`).
    pub rejected: Vec<RowError>,
    /// True when the idempotency key named an earlier campaign.
    pub replayed: bool,
}

/// A recipient before it is checked: its row number and fields.
struct Candidate {
    row: usize,
    to: String,
    variables: Map<String, Value>,
    time_zone: Option<String>,
}

fn candidates(req: &CreateCampaign) -> Result<Vec<Candidate>, CampaignError> {
    let list: Vec<Candidate> = match (&req.recipients, &req.recipients_csv) {
        (Some(list), None) => list
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                row: i + 1,
                to: r.to.clone(),
                variables: r.variables.clone(),
                time_zone: r.time_zone.clone().filter(|z| !z.trim().is_empty()),
            })
            .collect(),
        (None, Some(csv)) => {
            let table = upload::read(csv, MAX_RECIPIENTS)?;
            let number = ["to", "number", "phone"]
                .iter()
                .find_map(|c| table.column(c))
                .ok_or(CampaignError::CsvNoNumberColumn)?;
            let zone_column = table.column("time_zone");
            table
                .rows
                .iter()
                .map(|row| {
                    let mut variables = Map::new();
                    for (i, column) in table.columns.iter().enumerate() {
                        let value = row.fields.get(i).filter(|v| !v.is_empty());
                        if i != number
                            && Some(i) != zone_column
                            && !column.is_empty()
                            && let Some(v) = value
                        {
                            variables.insert(column.clone(), Value::String(v.clone()));
                        }
                    }
                    Candidate {
                        row: row.line,
                        to: row.fields.get(number).cloned().unwrap_or_default(),
                        variables,
                        time_zone: zone_column
                            .and_then(|z| row.fields.get(z))
                            .filter(|z| !z.is_empty())
                            .cloned(),
                    }
                })
                .collect()
        }
        _ => return Err(CampaignError::NoRecipients),
    };
    if list.is_empty() {
        return Err(CampaignError::NoRecipients);
    }
    if list.len() > MAX_RECIPIENTS {
        return Err(CampaignError::TooManyRecipients);
    }
    Ok(list)
}

fn instant(text: Option<&str>, field: &'static str) -> Result<Option<i64>, CampaignError> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map(|ts| ts.as_millisecond())
                .map_err(|_| CampaignError::Time(field))
        })
        .transpose()
}

/// Checks `req` and stores the campaign for `owner`.
pub async fn create(
    service: &CallService,
    owner: &str,
    req: CreateCampaign,
) -> Result<Created, CampaignError> {
    let script = match (&req.prompt, &req.workflow_id) {
        (Some(p), None) => Script::Prompt(p.clone()),
        (None, Some(w)) => Script::Workflow(w.clone()),
        _ => return Err(CampaignError::Script),
    };
    let window = req.window.clone().unwrap_or_default();
    Window::try_from(&window)?;
    let retry = req.retry.clone().unwrap_or_default();
    retry.validate()?;
    let time_zone = req.time_zone.clone().filter(|z| !z.trim().is_empty());
    if let Some(name) = &time_zone {
        zone(name).map_err(CampaignError::TimeZone)?;
    }
    let concurrency = req.concurrency.unwrap_or(1);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(CampaignError::Concurrency);
    }
    let starts_ms = instant(req.starts_at.as_deref(), "starts_at")?;
    let ends_ms = instant(req.ends_at.as_deref(), "ends_at")?;
    if let (Some(s), Some(e)) = (starts_ms, ends_ms)
        && e <= s
    {
        return Err(CampaignError::EndsBeforeStart);
    }
    let callback_url = service.check_callback(req.callback_url.as_deref())?;
    // A misspelt trunk would end every recipient `refused` with nobody called.
    if let Some(name) = req.trunk.as_deref()
        && !service.has_trunk(name)
    {
        return Err(CreateError::UnknownTrunk(name.to_owned()).into());
    }
    match &script {
        Script::Prompt(prompt) => {
            // The built-in compiler's verdict on the prompt with its placeholders named: a vague
            // prompt is refused now, not on every recipient's call.
            agent_runtime::workflow::compile(prompt).map_err(CreateError::Prompt)?;
        }
        Script::Workflow(id) => service.check_workflow(owner, id).await?,
    }
    let list = candidates(&req)?;

    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for c in list {
        match check_recipient(service, owner, &script, time_zone.as_deref(), &c).await? {
            Err(error) => bad.push(RowError { row: c.row, error }),
            Ok(number) => {
                if let Some(first) = seen.get(number.as_str()) {
                    bad.push(RowError {
                        row: c.row,
                        error: format!("the same number as row {first}: a campaign calls each number once"),
                    });
                    continue;
                }
                seen.insert(number.as_str().to_owned(), c.row);
                good.push((number, c));
            }
        }
    }
    let skip = req.on_error.unwrap_or_default() == crate::http::OnError::Skip;
    if !bad.is_empty() && !skip {
        return Err(CampaignError::BadRows(bad));
    }
    if good.is_empty() {
        return Err(CampaignError::AllRowsBad(bad));
    }

    let settings = Settings {
        script,
        callback_url,
        concurrency,
        starts_ms,
        ends_ms,
        window,
        retry,
        time_zone,
        trunk: req.trunk.clone(),
    };
    let settings_json = serde_json::to_string(&settings).unwrap_or_default();
    let id = CampaignId::generate();
    let recipients: Vec<RecipientRow> = good
        .iter()
        .enumerate()
        .map(|(i, (number, c))| RecipientRow {
            campaign_id: id.0.clone(),
            position: i64::try_from(i + 1).unwrap_or(i64::MAX),
            to_number: number.as_str().to_owned(),
            variables: Value::Object(c.variables.clone()).to_string(),
            time_zone: c.time_zone.clone(),
            state: "waiting".to_owned(),
            attempts: 0,
            not_before_ms: 0,
            call_id: None,
            call_ids: "[]".to_owned(),
            result: None,
        })
        .collect();
    let request_hash = {
        let people: Vec<_> = recipients
            .iter()
            .map(|r| (&r.to_number, &r.variables, &r.time_zone))
            .collect();
        let canonical = serde_json::json!([req.name, settings_json, people]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    };
    let clock = service.clock();
    let row = CampaignRow {
        id: id.0.clone(),
        api_key_id: owner.to_owned(),
        name: req.name.clone(),
        settings: settings_json,
        state: CampaignState::Running.as_str().to_owned(),
        idempotency_key: req.idempotency_key.clone(),
        request_hash: request_hash.clone(),
        created_at: clock.now_rfc3339(),
        created_ms: clock.now_ms(),
        finished_at: None,
    };
    match service.store().insert_campaign(&row, &recipients).await? {
        CampaignInsert::Created => {
            tracing::info!(campaign_id = %id, recipients = recipients.len(), "campaign created");
            Ok(Created {
                row,
                rejected: bad,
                replayed: false,
            })
        }
        CampaignInsert::Existing(existing) if existing.request_hash == request_hash => Ok(Created {
            row: *existing,
            rejected: bad,
            replayed: true,
        }),
        CampaignInsert::Existing(_) => Err(CampaignError::IdempotencyReused(
            req.idempotency_key.unwrap_or_default(),
        )),
    }
}

/// A recipient's number, or why it cannot be called (the outer error is the store's).
async fn check_recipient(
    service: &CallService,
    owner: &str,
    script: &Script,
    default_zone: Option<&str>,
    c: &Candidate,
) -> Result<Result<E164, String>, StoreError> {
    let number = match E164::parse(&c.to) {
        Ok(n) => n,
        Err(e) => return Ok(Err(format!("to: {e}"))),
    };
    match service.check_destination(Some(owner), &number).await {
        Ok(()) => {}
        Err(CreateError::Store(e)) => return Err(e),
        Err(CreateError::ToNotAllowed(refused)) => {
            let code = match refused {
                crate::policy::Refusal::DoNotCall { .. } => "do_not_call",
                _ => "destination_not_allowed",
            };
            return Ok(Err(format!("{code}: {refused}")));
        }
        Err(other) => return Ok(Err(other.to_string())),
    }
    match c.time_zone.as_deref() {
        Some(name) => {
            if let Err(e) = zone(name) {
                return Ok(Err(format!("time_zone: {e}")));
            }
        }
        None if default_zone.is_none() => {
            return Ok(Err(
                "no time_zone: name the recipient's IANA zone, or give the campaign a time_zone".to_owned(),
            ));
        }
        None => {}
    }
    if let Script::Prompt(prompt) = script {
        let missing = template::missing(prompt, &c.variables);
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|m| format!("{{{m}}}")).collect();
            return Ok(Err(format!("no value for {}", names.join(", "))));
        }
    }
    Ok(Ok(number))
}
