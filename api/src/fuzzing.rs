//! The body of the `mcp` fuzz target in `fuzz/`, here so its saved corpus replays as a plain test
//! (`tests/fuzz_corpus.rs`) through exactly the code the fuzzer ran. `POST /mcp` takes JSON-RPC
//! from any holder of an API key; the part of its handling that needs no store (reading the
//! message, answering the stateless methods, reading a tool call's arguments) is driven here.

use crate::http::mcp::{self, Rpc, RpcMethod};
use serde_json::{Value, json};

/// One `POST /mcp` body: read as the handler reads it; a request is answered as far as no store
/// is needed (a `tools/call` has its arguments read as the tool would), and the JSON-RPC answer
/// must serialize to JSON that reads back with the request's id.
pub fn mcp(data: &[u8]) {
    let Ok(Rpc::Request { id, method }) = mcp::read(data) else {
        return;
    };
    if let RpcMethod::ToolsCall { name, args } = &method {
        let _ = mcp::tool_request(name, args);
    }
    let body = match mcp::answer(method) {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => {
            json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        }
    };
    let text = body.to_string();
    let back = match serde_json::from_str::<Value>(&text) {
        Ok(back) => back,
        Err(err) => panic!("our answer is not JSON: {err}: {text}"),
    };
    // serde_json without `float_roundtrip` reads a fraction or an integer past 64 bits to within
    // a unit in the last place, so such a number in an id may come back as a neighbouring double
    // (this target's find, left as is: see fuzz/README.md). All else must come back exactly.
    let echoed = back.get("id").map(blur_doubles);
    assert!(
        echoed == Some(blur_doubles(&id)),
        "the id does not survive: {text}"
    );
}

/// `value` with every double (a number neither `i64` nor `u64`) made null, wherever it is.
fn blur_doubles(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(blur_doubles).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), blur_doubles(v))).collect()),
        other => other.clone(),
    }
}
