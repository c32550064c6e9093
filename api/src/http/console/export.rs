//! `GET /console/calls.csv`: the call list as a spreadsheet, with the list page's filters. A console
//! route rather than `GET /v1/calls?format=csv`: the API's list is paged JSON (at most 100 a page,
//! with a cursor) that programs read, while a person exporting wants every matching call in one
//! file; keeping the CSV out of the API also keeps one response type per API route in the OpenAPI
//! document. The rows come from the same store query as `GET /v1/calls`.

use crate::http::error::ApiError;
use crate::http::v1::{ListQuery, list};
use crate::http::{AppState, Caller};
use crate::model::Call;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The most rows one export holds (a bigger one is cut here and says so in its last line).
const MAX_ROWS: usize = 10_000;

const COLUMNS: [&str; 14] = [
    "call_id",
    "created_at",
    "direction",
    "to",
    "from",
    "lifecycle",
    "outcome",
    "talk_seconds",
    "sip_status",
    "hangup_by",
    "end_reason",
    "summary",
    "form_fills",
    "transcript",
];

/// A spreadsheet would run a cell that starts like a formula; free text (a transcript, a summary)
/// is what a caller's words reach, so such a cell is prefixed with `'` (OWASP's advice).
fn inert(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn record(call: &Call) -> [String; 14] {
    let transcript = call
        .transcript
        .iter()
        .map(|t| {
            let mark = if t.interrupted { " (interrupted)" } else { "" };
            format!("{}{mark}: {}", t.role, t.text)
        })
        .collect::<Vec<_>>()
        .join("\n");
    [
        call.call_id.clone(),
        call.created_at.clone(),
        call.direction.clone(),
        call.to.clone(),
        call.from.clone().unwrap_or_default(),
        call.lifecycle.clone(),
        call.outcome.clone().unwrap_or_default(),
        call.talk_seconds.map(|s| s.to_string()).unwrap_or_default(),
        call.sip.status.map(|s| s.to_string()).unwrap_or_default(),
        call.sip.hangup_by.clone().unwrap_or_default(),
        call.end_reason.clone().unwrap_or_default(),
        inert(call.summary.as_deref().unwrap_or_default()),
        if call.form_fills.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(call.form_fills.clone()).to_string()
        },
        inert(&transcript),
    ]
}

/// `GET /console/calls.csv`.
pub(super) async fn calls_csv(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(first) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS).map_err(|e| ApiError::internal(&e))?;
    let mut written = 0;
    let mut cursor = None;
    let mut cut = false;
    loop {
        let page = ListQuery {
            limit: Some(100),
            cursor,
            ..first.clone()
        };
        let (rows, next) = list(&state, &caller, page).await?;
        for row in &rows {
            if written == MAX_ROWS {
                cut = true;
                break;
            }
            let call = Call::from_row(row, state.service.public_url())?;
            writer
                .write_record(record(&call))
                .map_err(|e| ApiError::internal(&e))?;
            written += 1;
        }
        match next {
            Some(next) if !cut => cursor = Some(next),
            _ => break,
        }
    }
    if cut {
        let note = format!("(cut at {MAX_ROWS} calls: narrow the filters)");
        let mut last = vec![String::new(); COLUMNS.len()];
        last[0] = note;
        writer.write_record(&last).map_err(|e| ApiError::internal(&e))?;
    }
    let body = writer.into_inner().map_err(|e| ApiError::internal(&e))?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"ringback-calls.csv\""),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn formula_like_text_is_made_inert() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("Booked for Tuesday."), "Booked for Tuesday.");
    }
}
