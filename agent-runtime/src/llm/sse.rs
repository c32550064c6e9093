//! Server-sent events as chat-completion streams send them: `data: {...}` lines, `data: [DONE]` at
//! the end; tool calls arrive in fragments keyed by index and are assembled here.

use super::{Delta, FunctionCall, ToolCall};
use serde_json::Value;

/// Parses an event stream incrementally.
#[derive(Debug, Default)]
pub struct EventParser {
    line: Vec<u8>,
    calls: Vec<(String, String, String)>,
    done: bool,
}

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
            } else {
                self.line.push(b);
            }
        }
        Ok(out)
    }

    /// Whether `[DONE]` (or a finish reason) was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Ends the stream: tool calls not yet emitted, then `Done`.
    pub fn finish(&mut self) -> Vec<Delta> {
        let mut out: Vec<Delta> = self.take_calls().into_iter().map(Delta::ToolCall).collect();
        out.push(Delta::Done);
        out
    }

    fn take_calls(&mut self) -> Vec<ToolCall> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .filter(|(_, name, _)| !name.is_empty())
            .map(|(id, name, arguments)| ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: if arguments.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        arguments
                    },
                },
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
                out.push(Delta::Text(text.to_owned()));
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                while self.calls.len() <= index {
                    self.calls.push(Default::default());
                }
                let slot = &mut self.calls[index];
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    slot.0.push_str(id);
                }
                if let Some(f) = call.get("function") {
                    if let Some(name) = f.get("name").and_then(Value::as_str) {
                        slot.1.push_str(name);
                    }
                    if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                        slot.2.push_str(args);
                    }
                }
            }
        }
        if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
            out.extend(self.take_calls().into_iter().map(Delta::ToolCall));
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
