//! Extending 16-bit sequence numbers and 32-bit timestamps to 64 bits, so wrap-around is
//! invisible to the playout logic (RFC 3550 appendix A.1), with the probation that keeps one
//! stray packet from restarting a stream.

use crate::rtp::{RtpTimestamp, SeqNo};

/// A sequence jump up to this far ahead is treated as loss (RFC 3550 `MAX_DROPOUT`).
const MAX_DROPOUT: i64 = 3000;
/// A packet up to this far behind the highest is treated as reordered or late (`MAX_MISORDER`).
const MAX_MISORDER: i64 = 100;
/// Offset added to the first sequence number so reordering at stream start never goes below 0.
pub(super) const EXT_ORIGIN: u64 = 1 << 32;

/// How a sequence number relates to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// Within reach of the current stream, at this extended sequence number.
    InStream(u64),
    /// First packet, or a confirmed restart: the stream begins at this extended number.
    Restart(u64),
    /// A large jump seen once; dropped until a second packet confirms it.
    Far,
}

/// Extends sequence numbers and keeps the RFC 3550 `expected` count across restarts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SeqTracker {
    /// Highest and lowest extended sequence numbers since the stream (re)started.
    range: Option<(u64, u64)>,
    /// Candidate next sequence number after a large jump, awaiting confirmation.
    probation: Option<u16>,
    /// Expected counts of earlier incarnations of the stream.
    expected_before: u64,
}

impl SeqTracker {
    pub(super) fn place(&mut self, seq: SeqNo) -> Placement {
        let Some((highest, _)) = self.range else {
            return Placement::Restart(EXT_ORIGIN + u64::from(seq.0));
        };
        let delta = i64::from(seq.0.wrapping_sub(highest as u16) as i16);
        if (-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) {
            self.probation = None;
            // `highest >= EXT_ORIGIN > MAX_MISORDER`, so this cannot go below zero.
            return Placement::InStream(highest.saturating_add_signed(delta));
        }
        if self.probation == Some(seq.0) {
            self.probation = None;
            return Placement::Restart(EXT_ORIGIN + u64::from(seq.0));
        }
        self.probation = Some(seq.0.wrapping_add(1));
        Placement::Far
    }

    /// Starts a new incarnation of the stream at `ext`.
    pub(super) fn restart(&mut self, ext: u64) {
        self.expected_before = self.expected();
        self.range = Some((ext, ext));
    }

    /// Forgets the stream (new source); the next packet starts a new one.
    pub(super) fn forget(&mut self) {
        *self = SeqTracker {
            expected_before: self.expected(),
            ..SeqTracker::default()
        };
    }

    pub(super) fn saw(&mut self, ext: u64) {
        self.range = Some(match self.range {
            Some((hi, lo)) => (hi.max(ext), lo.min(ext)),
            None => (ext, ext),
        });
    }

    pub(super) fn highest(&self) -> Option<u64> {
        self.range.map(|(hi, _)| hi)
    }

    pub(super) fn has_stream(&self) -> bool {
        self.range.is_some()
    }

    pub(super) fn expected(&self) -> u64 {
        self.expected_before + self.range.map_or(0, |(hi, lo)| hi - lo + 1)
    }
}

/// Extends RTP timestamps to `i64`, relative to the stream's first packet, wrap-aware.
///
/// Each timestamp is placed by its signed 32-bit distance from the last one seen, which is
/// right for any reordering shorter than half the timestamp space (12 hours at 48 kHz).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TsExtender {
    last: Option<(u32, i64)>,
}

impl TsExtender {
    pub(super) fn extend(&mut self, ts: RtpTimestamp) -> i64 {
        let ext = match self.last {
            None => 0,
            Some((raw, ext)) => ext + i64::from(ts.0.wrapping_sub(raw) as i32),
        };
        // Keep the newest as the reference, so long streams keep extending.
        if self.last.is_none_or(|(_, last_ext)| ext >= last_ext) {
            self.last = Some((ts.0, ext));
        }
        ext
    }

    pub(super) fn forget(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_extend_across_the_wrap_and_backwards() {
        let mut t = TsExtender::default();
        assert_eq!(t.extend(RtpTimestamp(u32::MAX - 159)), 0);
        assert_eq!(t.extend(RtpTimestamp(0)), 160);
        assert_eq!(t.extend(RtpTimestamp(160)), 320);
        // Reordered: an older one keeps its place and does not move the reference.
        assert_eq!(t.extend(RtpTimestamp(u32::MAX - 159)), 0);
        assert_eq!(t.extend(RtpTimestamp(320)), 480);
        t.forget();
        assert_eq!(t.extend(RtpTimestamp(5)), 0);
    }

    #[test]
    fn sequence_placement() {
        let mut s = SeqTracker::default();
        assert_eq!(s.place(SeqNo(65535)), Placement::Restart(EXT_ORIGIN + 65535));
        s.restart(EXT_ORIGIN + 65535);
        assert_eq!(s.place(SeqNo(0)), Placement::InStream(EXT_ORIGIN + 65536));
        s.saw(EXT_ORIGIN + 65536);
        assert_eq!(s.place(SeqNo(65530)), Placement::InStream(EXT_ORIGIN + 65530));
        assert_eq!(s.place(SeqNo(30000)), Placement::Far);
        assert_eq!(s.place(SeqNo(30001)), Placement::Restart(EXT_ORIGIN + 30001));
        assert_eq!(s.expected(), 2);
    }
}
