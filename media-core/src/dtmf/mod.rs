//! RFC 4733 telephone-events (DTMF digits sent as RTP packets): receiving here, sending in
//! [`send`].
//!
//! Receiving: parse the 4-byte event block so these packets never reach the audio decoder, and
//! report each digit once, with its duration and volume. Senders repeat the end packet (RFC
//! 4733 section 2.5.1.4, usually three times) with the same timestamp, so the timestamp of the
//! last reported end suppresses the repeats and any duplicate. If all end packets of a digit
//! are lost, the digit is still reported, with the last duration seen, when the next event
//! starts (a new timestamp) or when the stream goes quiet ([`DtmfReceiver::flush`]).

pub mod send;

use crate::rtp::RtpTimestamp;

/// Why a telephone-event payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// The payload is shorter than one 4-byte event block.
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    TooShort {
        /// Payload length.
        len: usize,
    },
}

/// One RFC 4733 event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 flash, others non-DTMF.
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event block of a payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The DTMF character of this event, if it is one.
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// A digit that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    /// The DTMF character.
    pub digit: char,
    /// How long it was held, in timestamp units.
    pub duration: u16,
    /// Its power level, in -dBm0.
    pub volume: u8,
    /// Whether its end packet arrived (else it was closed by what came after it).
    pub ended: bool,
}

/// Turns a stream of telephone-event packets into one report per digit.
#[derive(Debug, Clone, Copy, Default)]
pub struct DtmfReceiver {
    last_end: Option<RtpTimestamp>,
    /// The event in progress: its start timestamp and latest block.
    current: Option<(RtpTimestamp, TelephoneEvent)>,
}

impl DtmfReceiver {
    /// Feeds one packet. Returns up to two digits: an earlier one whose end packets were all
    /// lost (closed because this packet starts a new event), then this one if it is the first
    /// end packet of a DTMF event.
    pub fn on_packet(
        &mut self,
        timestamp: RtpTimestamp,
        payload: &[u8],
    ) -> Result<[Option<Digit>; 2], DtmfError> {
        let event = TelephoneEvent::parse(payload)?;
        if self.last_end == Some(timestamp) {
            // A repeated end packet, or a duplicate of a packet of an event already reported.
            return Ok([None, None]);
        }
        let unfinished = match self.current {
            Some((ts, _)) if ts == timestamp => None,
            _ => self.flush(),
        };
        if !event.end {
            // Keep the longest duration seen: reordered packets carry smaller ones.
            let event = match self.current {
                Some((_, seen)) if seen.duration > event.duration => seen,
                _ => event,
            };
            self.current = Some((timestamp, event));
            return Ok([unfinished, None]);
        }
        self.current = None;
        self.last_end = Some(timestamp);
        Ok([
            unfinished,
            event.digit().map(|digit| Digit {
                digit,
                duration: event.duration,
                volume: event.volume,
                ended: true,
            }),
        ])
    }

    /// Closes an event whose end never came (the sender stopped, or every end packet was
    /// lost), returning its digit with the last duration seen.
    pub fn flush(&mut self) -> Option<Digit> {
        let (timestamp, event) = self.current.take()?;
        self.last_end = Some(timestamp);
        event.digit().map(|digit| Digit {
            digit,
            duration: event.duration,
            volume: event.volume,
            ended: false,
        })
    }

    /// Whether an event is in progress.
    pub fn in_event(&self) -> bool {
        self.current.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    #[test]
    fn parses_the_event_block() {
        let ev = TelephoneEvent::parse(&block(11, true, 800)).expect("valid");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort { len: 3 })
        );
    }

    #[test]
    fn maps_events_to_characters() {
        let chars: String = (0..=16)
            .filter_map(|e| {
                TelephoneEvent {
                    event: e,
                    end: true,
                    volume: 0,
                    duration: 0,
                }
                .digit()
            })
            .collect();
        assert_eq!(chars, "0123456789*#ABCD");
    }

    fn feed(rx: &mut DtmfReceiver, ts: u32, payload: &[u8]) -> Vec<Digit> {
        rx.on_packet(RtpTimestamp(ts), payload)
            .expect("valid")
            .into_iter()
            .flatten()
            .collect()
    }

    fn digit(c: char, duration: u16, ended: bool) -> Digit {
        Digit {
            digit: c,
            duration,
            volume: 10,
            ended,
        }
    }

    #[test]
    fn reports_each_digit_once_despite_repeated_end_packets() {
        let mut rx = DtmfReceiver::default();
        let mut digits = Vec::new();
        // Digit 5 at timestamp 1000: three progress packets, three end packets, one duplicate.
        for (dur, end) in [
            (160, false),
            (320, false),
            (320, false),
            (480, false),
            (640, true),
            (640, true),
            (640, true),
        ] {
            digits.extend(feed(&mut rx, 1000, &block(5, end, dur)));
        }
        // Digit # at a new timestamp.
        for _ in 0..3 {
            digits.extend(feed(&mut rx, 3000, &block(11, true, 800)));
        }
        assert_eq!(digits, vec![digit('5', 640, true), digit('#', 800, true)]);
        assert!(!rx.in_event());
    }

    #[test]
    fn a_digit_whose_end_was_lost_is_closed_by_the_next_event() {
        let mut rx = DtmfReceiver::default();
        assert!(feed(&mut rx, 1000, &block(1, false, 160)).is_empty());
        // Reordered: a smaller duration after a larger one does not shrink it.
        assert!(feed(&mut rx, 1000, &block(1, false, 480)).is_empty());
        assert!(feed(&mut rx, 1000, &block(1, false, 320)).is_empty());
        // All end packets of 1 lost; 2 starts and ends.
        assert_eq!(
            feed(&mut rx, 2000, &block(2, true, 400)),
            vec![digit('1', 480, false), digit('2', 400, true)]
        );
        // A trailing event closed by the stream going quiet.
        assert!(feed(&mut rx, 3000, &block(3, false, 160)).is_empty());
        assert_eq!(rx.flush(), Some(digit('3', 160, false)));
        assert_eq!(rx.flush(), None);
        // Late packets of a closed event do not reopen it.
        assert!(feed(&mut rx, 3000, &block(3, false, 160)).is_empty());
    }

    #[test]
    fn non_dtmf_events_are_not_digits() {
        let mut rx = DtmfReceiver::default();
        assert!(feed(&mut rx, 1, &block(16, true, 100)).is_empty());
    }
}
