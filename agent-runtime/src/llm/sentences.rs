//! Cuts streamed text into sentences as they complete, so each can be spoken while the model is still
//! writing the next.

/// Accumulates text deltas and hands out complete sentences.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    buffer: String,
}

impl SentenceSplitter {
    /// Adds text; returns the sentences it completed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buffer.push_str(delta);
        let mut out = Vec::new();
        while let Some(end) = self.sentence_end() {
            let sentence: String = self.buffer.drain(..end).collect();
            let sentence = clean(&sentence);
            if !sentence.is_empty() {
                out.push(sentence);
            }
        }
        out
    }

    /// The rest, when the stream ends.
    pub fn finish(&mut self) -> Option<String> {
        let rest = clean(&std::mem::take(&mut self.buffer));
        (!rest.is_empty()).then_some(rest)
    }

    /// Byte index just past a sentence end followed by whitespace (the whitespace proves it is not
    /// "3.5" or "p.m" mid-token); abbreviations like "Dr." do not end sentences.
    fn sentence_end(&self) -> Option<usize> {
        let bytes = self.buffer.as_bytes();
        for i in 0..bytes.len().saturating_sub(1) {
            if matches!(bytes[i], b'.' | b'?' | b'!') && bytes[i + 1].is_ascii_whitespace() {
                let before = &self.buffer[..i];
                let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
                let abbreviation = bytes[i] == b'.'
                    && (matches!(word, "Dr" | "Mr" | "Mrs" | "Ms" | "St" | "vs")
                        || word.len() == 1
                        || word.contains('.'));
                if !abbreviation && i >= 1 {
                    return Some(i + 1);
                }
            }
        }
        None
    }
}

/// Strips markdown the model should not have written and that must not be spoken.
fn clean(text: &str) -> String {
    text.replace(['*', '#', '`', '_'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_come_out_as_they_complete() {
        let mut s = SentenceSplitter::default();
        assert!(s.push("Great, thanks").is_empty());
        assert_eq!(
            s.push(" for confirming. What is"),
            vec!["Great, thanks for confirming."]
        );
        assert!(s.push(" your email? ").len() == 1);
        assert!(s.push("See Dr. Smith at 3.5 ").is_empty());
        assert_eq!(s.push("p.m. today. "), vec!["See Dr. Smith at 3.5 p.m. today."]);
        assert_eq!(s.push("**Bye**"), Vec::<String>::new());
        assert_eq!(s.finish(), Some("Bye".into()));
        assert_eq!(s.finish(), None);
    }
}
