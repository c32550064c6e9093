//! Campaigns (issue 18): one prompt (or workflow) called to a list of recipients, each with the
//! variables that fill the prompt's `{placeholders}`, within calling windows in the recipient's
//! time zone, a concurrency limit, a start and an end, and a retry policy. Every call a campaign
//! makes goes through `CallService::create`, the path a single API call takes, so the destination
//! policy and the do-not-call lists apply to it as to any other call.
//!
//! The parts, one job each: [`window`] (may this recipient be called now, in its zones),
//! [`retry`] (what follows an ended call), [`template`] (filling placeholders), [`plan`] (the
//! sans-IO scheduler: given the instant and the stored rows, which recipients to dial and which
//! have run out of time), [`create`] (checking a request into stored rows) and [`driver`] (the
//! tokio task that reads the rows, asks `plan`, places calls and records their ends). The store is
//! the only state: the driver keeps nothing a restart would lose.

pub mod create;
pub mod driver;
pub mod plan;
pub mod retry;
pub mod template;
pub mod window;

use serde::{Deserialize, Serialize};

/// A campaign's id, `cmp_<uuidv7>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub String);

impl CampaignId {
    /// A new id.
    pub fn generate() -> Self {
        Self(format!("cmp_{}", uuid::Uuid::now_v7().simple()))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CampaignId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What each call of a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    /// A prompt whose `{placeholders}` each recipient's variables fill.
    Prompt(String),
    /// A stored workflow, the same for everyone (variables go to the call's metadata).
    Workflow(String),
}

/// A campaign's settings as stored (checked at creation; the stored form is trusted).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Settings {
    /// What the calls run.
    pub script: Script,
    /// Every call's completion callback goes here.
    pub callback_url: Option<String>,
    /// Calls in progress at most.
    pub concurrency: u32,
    /// No call before this (ms since the epoch).
    pub starts_ms: Option<i64>,
    /// No call after this; recipients still waiting end as `expired`.
    pub ends_ms: Option<i64>,
    /// Local hours and days.
    pub window: window::WindowSpec,
    /// What is retried.
    pub retry: retry::RetryPolicy,
    /// The zone of recipients that name none.
    pub time_zone: Option<String>,
    /// Trunk name; the first trunk when absent.
    pub trunk: Option<String>,
}

/// A campaign's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Calls are being placed (or waiting for their window or start).
    Running,
    /// No new calls; calls in progress finish.
    Paused,
    /// Stopped for good; waiting recipients end as `canceled`.
    Canceled,
    /// Every recipient is done.
    Finished,
}

impl CampaignState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Canceled => "canceled",
            Self::Finished => "finished",
        }
    }

    /// The state of a stored word (`None` for a word this version does not know).
    pub fn parse(word: &str) -> Option<Self> {
        [Self::Running, Self::Paused, Self::Canceled, Self::Finished]
            .into_iter()
            .find(|s| s.as_str() == word)
    }
}

/// Where a recipient is, with what that state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// To be called, not before this instant (ms since the epoch; 0 for "as soon as allowed").
    Waiting {
        /// The earliest next call.
        not_before_ms: i64,
    },
    /// A call is in progress.
    Calling {
        /// Its id.
        call_id: String,
    },
    /// No more calls: the last outcome, or why none was made (`do_not_call`,
    /// `destination_not_allowed`, `expired`, `canceled`).
    Done {
        /// The result word.
        result: String,
    },
}

/// One recipient as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Its place in the request, from 1.
    pub position: u32,
    /// E.164.
    pub to: String,
    /// Its own zone, if it named one.
    pub time_zone: Option<String>,
    /// Calls made so far.
    pub attempts: u32,
    /// Where it is.
    pub progress: Progress,
}
