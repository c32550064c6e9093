//! Server-sent events as chat-completion streams send them: `data: {...}` lines, `data: [DONE]` at
//! the end; tool calls arrive in fragments keyed by index and are assembled here.
//!
//! What real servers do that the OpenAI reference does not promise, and is handled here:
//! - llama.cpp's `llama-server` sends a role-only chunk (`"content": null`) before the first token
//!   and SSE comment pings (`:`) while the model is still reading the prompt: neither is a token, so
//!   neither ends the wait for the first token ([`EventParser::has_started`]).
//! - It sends a tool call's id and name once, then argument fragments without them, and ends with
//!   `finish_reason: "tool_calls"`; other servers repeat the id (and the whole name) on every fragment,
//!   or send no id at all. Ids are kept, not concatenated, a repeated name is not appended twice, and a
//!   call without an id gets `call_<index>`.
//! - `finish_reason: "length"` (the token limit) can cut a tool call's arguments short: such a call
//!   is dropped rather than carried out with half its arguments, and [`Delta::Truncated`] says the
//!   text's last sentence is unfinished.
//! - It can send the same tool call twice under two ids (seen with an assistant prefill and
//!   `tool_choice: "required"`): the repeat is dropped.
//! - When the model's output does not parse as the template's tool-call format, it ends the stream
//!   with `data: {"error": {"code": 500, ...}}` after the role chunk: a [`StreamError::Server`].

use super::{Delta, FunctionCall, ToolCall};
use serde_json::Value;

/// Parses an event stream incrementally.
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    calls: Vec<PartialCall>,
    done: bool,
    started: bool,
    truncated: bool,
}

/// A tool call being assembled from its fragments.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// The most tool calls one answer may make (the tools offered are fewer).
const MAX_TOOL_CALLS: usize = 16;
/// The longest line kept while waiting for its end. One event is one chunk of a phone answer (a few
/// tokens, or a tool call's fragment); a server that never sends a newline must not make us buffer
/// until the answer's timeout.
const MAX_LINE: usize = 1 << 20;

/// Why a stream is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// An event's JSON did not parse.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The server reported an error inside the stream.
    #[error("server error in stream: {0}")]
    Server(String),
}

impl EventParser {
    /// Feeds bytes; returns the deltas they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Delta>, StreamError> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, &mut out)?;
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                return Err(StreamError::Malformed(format!(
                    "a line longer than {MAX_LINE} bytes"
                )));
            }
        }
        Ok(out)
    }

    /// Whether `[DONE]` (or a finish reason) was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the model has produced anything yet: text or a tool-call fragment. Role-only chunks,
    /// keep-alive comments and empty deltas do not count: they arrive before the first token.
    pub fn has_started(&self) -> bool {
        self.started
    }

    /// Ends the stream: tool calls not yet emitted, then `Done`.
    pub fn finish(&mut self) -> Vec<Delta> {
        let mut out: Vec<Delta> = self.take_calls().into_iter().map(Delta::ToolCall).collect();
        out.push(Delta::Done);
        out
    }

    fn take_calls(&mut self) -> Vec<ToolCall> {
        let truncated = self.truncated;
        let mut seen: Vec<(String, Value)> = Vec::new();
        std::mem::take(&mut self.calls)
            .into_iter()
            .enumerate()
            .filter(|(_, call)| !call.name.is_empty())
            .filter(|(_, call)| {
                // llama.cpp can send one call twice under two ids: a repeated `send_dtmf` would
                // press its keys twice, so an identical call in the same answer is dropped.
                let args = serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments.clone()));
                let key = (call.name.clone(), args);
                let repeat = seen.contains(&key);
                seen.push(key);
                !repeat
            })
            .filter_map(|(index, call)| {
                let arguments = if call.arguments.trim().is_empty() {
                    "{}".to_owned()
                } else {
                    call.arguments
                };
                if truncated && serde_json::from_str::<Value>(&arguments).is_err() {
                    tracing::warn!(tool = %call.name, "a tool call was cut short by the token limit; dropped");
                    return None;
                }
                Some(ToolCall {
                    id: if call.id.is_empty() {
                        format!("call_{index}")
                    } else {
                        call.id
                    },
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: call.name,
                        arguments,
                    },
                })
            })
            .collect()
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Delta>) -> Result<(), StreamError> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(());
        };
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let event: Value = serde_json::from_str(data).map_err(|e| StreamError::Malformed(e.to_string()))?;
        if let Some(error) = event.get("error") {
            return Err(StreamError::Server(error.to_string()));
        }
        let Some(choice) = event.get("choices").and_then(|c| c.get(0)) else {
            return Ok(());
        };
        let delta = choice.get("delta").or_else(|| choice.get("message"));
        if let Some(delta) = delta {
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                self.started = true;
                out.push(Delta::Text(text.to_owned()));
            }
            for (position, call) in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.started = true;
                // A server that leaves `index` out sends each call whole, in order.
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|i| usize::try_from(i).ok())
                    .unwrap_or(position);
                // A bound on what a stream can make us allocate.
                if index >= MAX_TOOL_CALLS {
                    return Err(StreamError::Malformed(format!("tool call index {index}")));
                }
                while self.calls.len() <= index {
                    self.calls.push(PartialCall::default());
                }
                let slot = &mut self.calls[index];
                if let Some(id) = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
                    // Some servers repeat the id on every fragment: it names the call, it is not a part.
                    id.clone_into(&mut slot.id);
                }
                if let Some(f) = call.get("function") {
                    if let Some(name) = f.get("name").and_then(Value::as_str)
                        && name != slot.name
                    {
                        slot.name.push_str(name);
                    }
                    if let Some(args) = f.get("arguments") {
                        match args {
                            Value::String(fragment) => slot.arguments.push_str(fragment),
                            // Some servers send the arguments as an object rather than its JSON text.
                            Value::Object(_) => slot.arguments = args.to_string(),
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.truncated = reason == "length";
            out.extend(self.take_calls().into_iter().map(Delta::ToolCall));
            if self.truncated {
                out.push(Delta::Truncated);
            }
            self.done = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_fragmented_tool_calls() {
        let mut p = EventParser::default();
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo.\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"collect_field\",\"arguments\":\"{\\\"name\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"email\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        // Fed in awkward pieces, as a network would.
        let mut deltas = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            deltas.extend(p.push(chunk).expect("parses"));
        }
        assert_eq!(deltas[0], Delta::Text("Hel".into()));
        assert_eq!(deltas[1], Delta::Text("lo.".into()));
        let Delta::ToolCall(call) = &deltas[2] else {
            panic!("{deltas:?}")
        };
        assert_eq!(
            (call.id.as_str(), call.function.name.as_str()),
            ("c1", "collect_field")
        );
        assert_eq!(call.args()["name"], "email");
        assert!(p.is_done());
    }

    /// Feeds a recorded stream in 100-byte pieces (a network cuts anywhere), until the parser is
    /// done as the client would stop reading, then the end of the stream.
    fn replay(stream: &str) -> (Vec<Delta>, Result<(), StreamError>, EventParser) {
        let mut p = EventParser::default();
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(100) {
            match p.push(chunk) {
                Ok(d) => out.extend(d),
                Err(e) => return (out, Err(e), p),
            }
            if p.is_done() {
                break;
            }
        }
        out.extend(p.finish());
        (out, Ok(()), p)
    }

    fn text_of(deltas: &[Delta]) -> String {
        deltas
            .iter()
            .filter_map(|d| match d {
                Delta::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn calls_of(deltas: &[Delta]) -> Vec<&ToolCall> {
        deltas
            .iter()
            .filter_map(|d| match d {
                Delta::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn llama_server_text_turn() {
        let (deltas, result, _) = replay(include_str!("testdata/llama-server-text.sse"));
        result.expect("parses");
        assert_eq!(text_of(&deltas), "Tuesday at three works for me.");
        assert!(calls_of(&deltas).is_empty());
        assert_eq!(deltas.last(), Some(&Delta::Done));
        assert!(!deltas.contains(&Delta::Truncated));
    }

    #[test]
    fn llama_server_tool_calls_are_assembled_once() {
        for (file, name, key) in [
            (
                include_str!("testdata/llama-server-collect-field.sse"),
                "collect_field",
                "value",
            ),
            (
                include_str!("testdata/llama-server-end-call.sse"),
                "end_call",
                "reason",
            ),
        ] {
            let (deltas, result, _) = replay(file);
            result.expect("parses");
            let calls = calls_of(&deltas);
            // The server sent the call twice, under two ids.
            assert_eq!(calls.len(), 1, "{calls:#?}");
            assert_eq!(calls[0].function.name, name);
            assert_eq!(calls[0].id.len(), 32, "the server's id: {:?}", calls[0].id);
            assert!(
                calls[0].args()[key].is_string(),
                "{:?}",
                calls[0].function.arguments
            );
            assert_eq!(text_of(&deltas), "", "no text in a forced call");
        }
        let (deltas, _, _) = replay(include_str!("testdata/llama-server-collect-field.sse"));
        assert_eq!(calls_of(&deltas)[0].args()["name"], "confirmed");
    }

    #[test]
    fn llama_server_token_limit_drops_the_cut_call() {
        let (deltas, result, _) = replay(include_str!("testdata/llama-server-length.sse"));
        result.expect("parses");
        assert!(calls_of(&deltas).is_empty(), "`{{` is no call: {deltas:?}");
        assert_eq!(deltas, vec![Delta::Truncated, Delta::Done]);
    }

    #[test]
    fn llama_server_unparsable_output_is_a_server_error() {
        let (deltas, result, p) = replay(include_str!("testdata/llama-server-unparsable.sse"));
        assert!(deltas.is_empty(), "{deltas:?}");
        let Err(StreamError::Server(message)) = result else {
            panic!("{result:?}")
        };
        assert!(message.contains("does not match"), "{message}");
        assert!(!p.has_started(), "a role-only chunk is not a token");
    }

    #[test]
    fn llama_server_empty_turn_is_just_done() {
        let (deltas, result, p) = replay(include_str!("testdata/llama-server-empty.sse"));
        result.expect("parses");
        assert_eq!(deltas, vec![Delta::Done]);
        assert!(!p.has_started());
    }

    #[test]
    fn pings_and_role_chunks_are_not_the_first_token() {
        let mut p = EventParser::default();
        let head = concat!(
            ":\n\n",
            "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
            ": keep-alive\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"}}]}\n\n",
        );
        assert!(p.push(head.as_bytes()).expect("parses").is_empty());
        assert!(!p.has_started());
        let fragment = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"end_call\",\"arguments\":\"\"}}]}}]}\n\n";
        assert!(p.push(fragment.as_bytes()).expect("parses").is_empty());
        assert!(p.has_started(), "a tool-call fragment is the model at work");
    }

    #[test]
    fn other_servers_repeat_ids_and_names_or_leave_them_out() {
        // The id and the whole name on every fragment (some vLLM and LM Studio versions).
        let mut p = EventParser::default();
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x1\",\"function\":{\"name\":\"send_dtmf\",\"arguments\":\"{\\\"digits\\\":\"}}]}}]}\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"x1\",\"function\":{\"name\":\"send_dtmf\",\"arguments\":\"\\\"2\\\"}\"}}]}}]}\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n",
        );
        let deltas = p.push(stream.as_bytes()).expect("parses");
        let calls = calls_of(&deltas);
        assert_eq!(calls.len(), 1, "{calls:#?}");
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("x1", "send_dtmf")
        );
        assert_eq!(calls[0].args()["digits"], "2");

        // Whole calls in one delta, without index or id, arguments as an object.
        let mut p = EventParser::default();
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"collect_field\",\"arguments\":\"{\\\"name\\\":\\\"confirmed\\\",\\\"value\\\":\\\"yes\\\"}\"}},{\"function\":{\"name\":\"end_call\",\"arguments\":{\"reason\":\"done\"}}}]}}]}\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n",
        );
        let deltas = p.push(stream.as_bytes()).expect("parses");
        let calls = calls_of(&deltas);
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert_eq!(
            (calls[0].id.as_str(), calls[0].function.name.as_str()),
            ("call_0", "collect_field")
        );
        assert_eq!(calls[0].args()["value"], "yes");
        assert_eq!(
            calls[1].id, "call_1",
            "a call without an id is named by its index"
        );
        assert_eq!(calls[1].args()["reason"], "done");
    }

    #[test]
    fn an_absurd_tool_call_index_is_refused() {
        let mut p = EventParser::default();
        let line = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":4000000000,\"function\":{\"name\":\"end_call\"}}]}}]}\n";
        assert!(matches!(p.push(line.as_bytes()), Err(StreamError::Malformed(_))));
    }

    #[test]
    fn a_line_without_end_is_refused_before_it_grows_without_bound() {
        let mut p = EventParser::default();
        let chunk = vec![b'x'; 64 * 1024];
        let mut pushed = 0;
        let err = loop {
            match p.push(&chunk) {
                Ok(_) => pushed += chunk.len(),
                Err(err) => break err,
            }
            assert!(pushed <= MAX_LINE, "still buffering after {pushed} bytes");
        };
        assert!(matches!(err, StreamError::Malformed(_)));
    }

    #[test]
    fn errors_in_the_stream_are_reported() {
        let mut p = EventParser::default();
        assert!(matches!(
            p.push(b"data: {not json}\n"),
            Err(StreamError::Malformed(_))
        ));
        let mut p = EventParser::default();
        assert!(matches!(
            p.push(b"data: {\"error\":{\"message\":\"overloaded\"}}\n"),
            Err(StreamError::Server(_))
        ));
    }
}
