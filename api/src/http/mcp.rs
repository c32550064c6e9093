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
    let (id, method) = match read(&body) {
        Err(RpcError { code, message }) => return rpc_error(Value::Null, code, message),
        // A notification (or a response to us): accepted, nothing to say.
        Ok(Rpc::Notification) => return StatusCode::ACCEPTED.into_response(),
        Ok(Rpc::Request { id, method }) => (id, method),
    };
    let result = match method {
        RpcMethod::ToolsCall { name, args } => match call_tool(&state, &caller, source, &name, &args).await {
            ToolResult::Ok(value) => Ok(tool_result(value, false)),
            ToolResult::Failed(message) => Ok(tool_result(json!({ "error": message }), true)),
            ToolResult::Unknown => Err((-32602, format!("unknown tool {name:?}"))),
        },
        other => answer(other),
    };
    match result {
        Ok(result) => Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response(),
        Err((code, message)) => rpc_error(id, code, &message),
    }
}

/// One JSON-RPC message as read from a body, before anything is looked up.
#[derive(Debug)]
pub(crate) enum Rpc {
    /// A notification, or a response to us (no id or no method).
    Notification,
    /// A request to answer under `id`.
    Request {
        /// The request's id, echoed in the answer.
        id: Value,
        /// What it asks.
        method: RpcMethod,
    },
}

/// The methods of a request.
#[derive(Debug)]
pub(crate) enum RpcMethod {
    /// `initialize`, with the protocol revision the client asked for, if any.
    Initialize(Option<String>),
    /// `ping`.
    Ping,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`: a tool's name and its arguments (an empty object when absent).
    ToolsCall {
        /// The tool.
        name: String,
        /// Its arguments.
        args: Value,
    },
    /// Anything else.
    Other(String),
}

/// A body that is not one JSON-RPC message: answered with this code, and no id.
#[derive(Debug)]
pub(crate) struct RpcError {
    code: i64,
    message: &'static str,
}

/// Reads a body as one JSON-RPC message. Pure, so the fuzzer reaches it without a store.
pub(crate) fn read(body: &[u8]) -> Result<Rpc, RpcError> {
    let message: Value = serde_json::from_slice(body).map_err(|_| RpcError {
        code: -32700,
        message: "parse error",
    })?;
    let Some(obj) = message.as_object() else {
        return Err(RpcError {
            code: -32600,
            message: "expected one JSON-RPC message object",
        });
    };
    let id = obj.get("id").cloned();
    let method = obj.get("method").and_then(Value::as_str);
    let (Some(id), Some(method)) = (id, method) else {
        return Ok(Rpc::Notification);
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let method = match method {
        "initialize" => RpcMethod::Initialize(
            params
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        "ping" => RpcMethod::Ping,
        "tools/list" => RpcMethod::ToolsList,
        "tools/call" => RpcMethod::ToolsCall {
            name: params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            args: params.get("arguments").cloned().unwrap_or_else(|| json!({})),
        },
        other => RpcMethod::Other(other.to_owned()),
    };
    Ok(Rpc::Request { id, method })
}

/// The answer to a method that needs no state (all but `tools/call`, which is answered as an
/// unknown tool here): the result, or an error code and message.
pub(crate) fn answer(method: RpcMethod) -> Result<Value, (i64, String)> {
    match method {
        RpcMethod::Initialize(asked) => {
            let version = asked
                .as_deref()
                .and_then(|v| KNOWN_PROTOCOLS.iter().find(|k| **k == v))
                .copied()
                .unwrap_or(PROTOCOL);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": { "tools": { "listChanged": false } },
                "serverInfo": { "name": "ringback", "version": env!("CARGO_PKG_VERSION") },
                "instructions": "Place phone calls with an AI agent (call_phone), then follow them with \
                    get_call_status until lifecycle is finalized. Every call starts with the agent saying it is an AI."
            }))
        }
        RpcMethod::Ping => Ok(json!({})),
        RpcMethod::ToolsList => Ok(json!({ "tools": tools() })),
        RpcMethod::ToolsCall { name, .. } => Err((-32602, format!("unknown tool {name:?}"))),
        RpcMethod::Other(other) => Err((-32601, format!("method {other:?} not found"))),
    }
}

/// A tool call's arguments as the tools read them, before the store is asked anything.
#[derive(Debug)]
pub(crate) enum ToolRequest {
    /// `call_phone`: `to` and `task` present.
    CallPhone {
        /// The number to call, as given.
        to: String,
        /// The agent's task.
        task: String,
        /// Where to deliver the completion callback.
        callback_url: Option<String>,
        /// The caller id asked for.
        from: Option<String>,
        /// The repeat-safe key.
        idempotency_key: Option<String>,
    },
    /// `get_call_status` or `get_recording` (`recording`) of a call id.
    Call {
        /// The call id, as given.
        id: String,
        /// Whether the recording is asked for rather than the status.
        recording: bool,
    },
    /// `list_calls` with its filters.
    List(ListQuery),
    /// A known tool without its required arguments: the message to answer with.
    Missing(&'static str),
    /// No such tool.
    Unknown,
}

/// Reads a tool call's arguments. Pure, so the fuzzer reaches it without a store.
pub(crate) fn tool_request(name: &str, args: &Value) -> ToolRequest {
    match name {
        "call_phone" => match (arg(args, "to"), arg(args, "task")) {
            (Some(to), Some(task)) => ToolRequest::CallPhone {
                to,
                task,
                callback_url: arg(args, "callback_url"),
                from: arg(args, "from"),
                idempotency_key: arg(args, "idempotency_key"),
            },
            _ => ToolRequest::Missing("`to` and `task` are required"),
        },
        "get_call_status" | "get_recording" => match arg(args, "call_id") {
            Some(id) => ToolRequest::Call {
                id,
                recording: name == "get_recording",
            },
            None => ToolRequest::Missing("`call_id` is required"),
        },
        "list_calls" => ToolRequest::List(ListQuery {
            lifecycle: arg(args, "lifecycle"),
            outcome: arg(args, "outcome"),
            to: None,
            direction: None,
            number_suffix: None,
            q: None,
            created_after: None,
            created_before: None,
            limit: args
                .get("limit")
                .and_then(Value::as_u64)
                .map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
            cursor: arg(args, "cursor"),
        }),
        _ => ToolRequest::Unknown,
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
    let result: Result<Value, String> = match tool_request(name, args) {
        ToolRequest::CallPhone {
            to,
            task,
            callback_url,
            from,
            idempotency_key,
        } => {
            let spec = CallSpec {
                face: Face::V1,
                to,
                workflow: WorkflowSource::Prompt(task),
                callback_url,
                metadata: None,
                trunk: None,
                bridge_number: None,
                from,
                model: None,
                idempotency_key,
                campaign: None,
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
        ToolRequest::Call { id, recording } => match owned_call(state, caller, &id).await {
            Err(_) => Err(format!("no call {id}")),
            Ok(row) if !recording => render(&row),
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
        },
        ToolRequest::List(query) => match list(state, caller, query).await {
            Ok((rows, next_cursor)) => rows
                .iter()
                .map(render)
                .collect::<Result<Vec<_>, _>>()
                .map(|data| json!({ "data": data, "next_cursor": next_cursor })),
            Err(err) => Err(err.message().to_owned()),
        },
        ToolRequest::Missing(message) => return ToolResult::Failed(message.to_owned()),
        ToolRequest::Unknown => return ToolResult::Unknown,
    };
    match result {
        Ok(v) => ToolResult::Ok(v),
        Err(e) => ToolResult::Failed(e),
    }
}
