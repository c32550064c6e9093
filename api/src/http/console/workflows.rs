//! The workflows page's data: the session key's compiled workflows, newest first, each with the
//! prompt it came from and what it was compiled into (goal, opening, questions, closing, model).

use crate::http::error::ApiError;
use crate::http::v1::{WorkflowObject, workflow_object};
use crate::http::{AppState, Caller};
use agent_runtime::workflow::Workflow;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;

/// The most workflows the page shows.
const LIMIT: i64 = 200;

/// `GET /console/api/workflows`.
#[derive(Debug, Serialize)]
pub(super) struct WorkflowList {
    data: Vec<WorkflowObject>,
}

/// `GET /console/api/workflows`.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<WorkflowList>, ApiError> {
    let rows = state.service.store().workflows_of(&caller.0.id, LIMIT).await?;
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        match serde_json::from_str::<Workflow>(&row.definition) {
            Ok(workflow) => data.push(workflow_object(row.id, row.created_at, workflow)),
            // A row some other writer left unreadable is named in the log, not shown half.
            Err(err) => tracing::warn!(workflow_id = %row.id, %err, "unreadable workflow definition"),
        }
    }
    Ok(Json(WorkflowList { data }))
}
