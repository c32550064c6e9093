//! An MCP server over the streamable HTTP transport (`POST /mcp`, JSON responses), so AI agents can
//! place and follow calls directly with the tools `call_phone`, `get_call_status`, `get_recording`
//! and `list_calls`. It is written here rather than with an SDK because it is small (JSON-RPC with
//! five methods, stateless, no server-initiated messages) and must sit behind the API's own key
//! and rate-limit layers like every other route.

use super::v1::{ListQuery, list};
use super::{AppState, Caller, ClientSource, owned_call};
use crate::model::Call;
use crate::service::{CallSpec, Face, WorkflowSource};
use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The protocol revision answered when the client asks for one we do not know.
const PROTOCOL: &str = "2025-06-18";
const KNOWN_PROTOCOLS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// `GET /mcp`: this server opens no server-to-client stream.
pub(super) async fn no_stream() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(axum::http::header::ALLOW, "POST")],
    )
        .into_response()
}

/// `POST /mcp`: one JSON-RPC message.
pub(super) async fn handle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(ClientSource(source)): Extension<ClientSource>,
    body: Bytes,
) -> Response {
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return rpc_error(Value::Null, -32700, "parse error"),
    };
    let Some(obj) = message.as_object() else {
        return rpc_error(Value::Null, -32600, "expected one JSON-RPC message object");
    };
    let id = obj.get("id").cloned();
    let method = obj.get("method").and_then(Value::as_str);
    let (Some(id), Some(method)) = (id, method) else {
        // A notification (or a response to us): accepted, nothing to say.
        return StatusCode::ACCEPTED.into_response();
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked.filter(|v| KNOWN_PROTOCOLS.contains(v)).unwrap_or(PROTOCOL);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": { "tools": { "listChanged": false } },
                "serverInfo": { "name": "ringback", "version": env!("CARGO_PKG_VERSION") },
                "instructions": "Place phone calls with an AI agent (call_phone), then follow them with \
                    get_call_status until lifecycle is finalized. Every call starts with the agent saying it is an AI."
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
            match call_tool(&state, &caller, source, name, &args).await {
                ToolResult::Ok(value) => Ok(tool_result(value, false)),
                ToolResult::Failed(message) => Ok(tool_result(json!({ "error": message }), true)),
                ToolResult::Unknown => Err((-32602, format!("unknown tool {name:?}"))),
            }
        }
        other => Err((-32601, format!("method {other:?} not found"))),
    };
    match result {
        Ok(result) => Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response(),
        Err((code, message)) => rpc_error(id, code, &message),
    }
}

fn rpc_error(id: Value, code: i64, message: &str) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    let status = if code == -32700 || code == -32600 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

fn tool_result(value: Value, is_error: bool) -> Value {
    json!({
        "content": [{ "type": "text", "text": value.to_string() }],
        "structuredContent": value,
        "isError": is_error,
    })
}

fn tools() -> Value {
    json!([
        {
            "name": "call_phone",
            "title": "Call a phone number",
            "description": "Place a phone call with an AI agent that follows `task`. Returns at once with call_id; \
                follow it with get_call_status. The agent discloses that it is an AI. Emergency numbers are refused.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "to": { "type": "string", "description": "E.164 number, e.g. +15551234567" },
                    "task": { "type": "string", "description": "What the agent should find out or do" },
                    "callback_url": { "type": "string", "description": "Optional https URL for the signed completion callback" },
                    "from": { "type": "string", "description": "Optional caller ID to present, E.164 (one of the trunk's numbers)" },
                    "idempotency_key": { "type": "string", "description": "Repeat-safe key: the same key returns the same call" }
                },
                "required": ["to", "task"]
            }
        },
        {
            "name": "get_call_status",
            "title": "Get a call's status",
            "description": "The call: lifecycle (queued, dialing, ringing, answered, finalized), and once finalized \
                its outcome, summary, transcript, collected fields and recording_url.",
            "inputSchema": {
                "type": "object",
                "properties": { "call_id": { "type": "string" } },
                "required": ["call_id"]
            }
        },
        {
            "name": "get_recording",
            "title": "Get a call's recording",
            "description": "Where to download the call's stereo WAV recording (authenticated URL) and its size.",
            "inputSchema": {
                "type": "object",
                "properties": { "call_id": { "type": "string" } },
                "required": ["call_id"]
            }
        },
        {
            "name": "list_calls",
            "title": "List calls",
            "description": "Calls placed with this API key, newest first.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "lifecycle": { "type": "string", "enum": ["queued", "dialing", "ringing", "answered", "finalized"] },
                    "outcome": { "type": "string", "enum": ["completed", "voicemail", "no_answer", "busy", "declined", "failed", "canceled"] },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                    "cursor": { "type": "string" }
                }
            }
        }
    ])
}

enum ToolResult {
    Ok(Value),
    Failed(String),
    Unknown,
}

fn arg(args: &Value, name: &str) -> Option<String> {
    args.get(name).and_then(Value::as_str).map(str::to_owned)
}

async fn call_tool(
    state: &AppState,
    caller: &Caller,
    source: Option<std::net::IpAddr>,
    name: &str,
    args: &Value,
) -> ToolResult {
    let render = |row: &crate::store::CallRow| {
        Call::from_row(row, state.service.public_url())
            .map_err(|e| super::ApiError::internal(&e).message().to_owned())
            .and_then(|c| {
                serde_json::to_value(c).map_err(|e| super::ApiError::internal(&e).message().to_owned())
            })
    };
    let result: Result<Value, String> = match name {
        "call_phone" => {
            let (Some(to), Some(task)) = (arg(args, "to"), arg(args, "task")) else {
                return ToolResult::Failed("`to` and `task` are required".to_owned());
            };
            let spec = CallSpec {
                face: Face::V1,
                to,
                workflow: WorkflowSource::Prompt(task),
                callback_url: arg(args, "callback_url"),
                metadata: None,
                trunk: None,
                bridge_number: None,
                from: arg(args, "from"),
                model: None,
                idempotency_key: arg(args, "idempotency_key"),
                source,
            };
            match state.service.create(&caller.0.id, spec).await {
                Ok(created) => Ok(json!({
                    "call_id": created.row.id,
                    "lifecycle": created.row.lifecycle,
                    "replayed": created.replayed,
                })),
                // Through the API's error mapping: a store failure is logged, not shown.
                Err(err) => Err(super::ApiError::from(err).message().to_owned()),
            }
        }
        "get_call_status" | "get_recording" => {
            let Some(id) = arg(args, "call_id") else {
                return ToolResult::Failed("`call_id` is required".to_owned());
            };
            match owned_call(state, caller, &id).await {
                Err(_) => Err(format!("no call {id}")),
                Ok(row) if name == "get_call_status" => render(&row),
                Ok(row) => match &row.recording_path {
                    None => Err("this call has no recording".to_owned()),
                    Some(path) => {
                        let bytes = tokio::fs::metadata(path).await.map(|m| m.len()).ok();
                        Ok(json!({
                            "call_id": row.id,
                            "recording_url": format!("{}/v1/calls/{}/recording", state.service.public_url(), row.id),
                            "content_type": "audio/wav",
                            "bytes": bytes,
                        }))
                    }
                },
            }
        }
        "list_calls" => {
            let query = ListQuery {
                lifecycle: arg(args, "lifecycle"),
                outcome: arg(args, "outcome"),
                to: None,
                created_after: None,
                created_before: None,
                limit: args
                    .get("limit")
                    .and_then(Value::as_u64)
                    .map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
                cursor: arg(args, "cursor"),
            };
            match list(state, caller, query).await {
                Ok((rows, next_cursor)) => rows
                    .iter()
                    .map(render)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|data| json!({ "data": data, "next_cursor": next_cursor })),
                Err(err) => Err(err.message().to_owned()),
            }
        }
        _ => return ToolResult::Unknown,
    };
    match result {
        Ok(v) => ToolResult::Ok(v),
        Err(e) => ToolResult::Failed(e),
    }
}
