//! The outgoing packet queue between a session's ticks and `poll_transmit`.
//!
//! A fixed ring of packet buffers: a tick writes its packet straight into a slot, and the
//! driver copies it out. Normally the driver drains it after every tick, so it holds one
//! packet; the spare slots absorb a driver that woke late and ran several ticks at once. When
//! it is full the oldest packet goes, since sending stale audio late helps no one.

use crate::rtp::{RTP_HEADER_LEN, RtpError};

/// Packets the queue holds.
const SLOTS: usize = 8;
/// Largest payload we send: an Opus packet at our bit rate is far smaller, G.711 is 160.
pub(crate) const MAX_PAYLOAD: usize = 512;
/// Room after the payload for an SRTP authentication tag (10 bytes for HMAC-SHA1-80).
pub(crate) const MAX_TRAILER: usize = 16;
/// Largest packet: header, payload and SRTP tag.
pub(crate) const MAX_PACKET: usize = RTP_HEADER_LEN + MAX_PAYLOAD + MAX_TRAILER;

/// Fixed-capacity FIFO of outgoing packets.
#[derive(Debug)]
pub(crate) struct TxQueue {
    packets: Box<[[u8; MAX_PACKET]; SLOTS]>,
    lens: [usize; SLOTS],
    head: usize,
    len: usize,
    dropped: u64,
}

impl TxQueue {
    pub(crate) fn new() -> Self {
        TxQueue {
            packets: Box::new([[0; MAX_PACKET]; SLOTS]),
            lens: [0; SLOTS],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends the packet that `write` puts into the slot it is given (returning its length).
    /// Drops the oldest packet first when full.
    pub(crate) fn push_with(
        &mut self,
        write: impl FnOnce(&mut [u8]) -> Result<usize, RtpError>,
    ) -> Result<(), RtpError> {
        if self.len == SLOTS {
            self.head = (self.head + 1) % SLOTS;
            self.len -= 1;
            self.dropped += 1;
        }
        let index = (self.head + self.len) % SLOTS;
        self.lens[index] = write(&mut self.packets[index])?;
        self.len += 1;
        Ok(())
    }

    /// Copies the oldest packet into `buf` and returns its length. A `buf` too small for it
    /// drops the packet (counted) and moves on to the next one.
    pub(crate) fn pop_into(&mut self, buf: &mut [u8]) -> Option<usize> {
        while self.len > 0 {
            let index = self.head;
            self.head = (self.head + 1) % SLOTS;
            self.len -= 1;
            let n = self.lens[index];
            if let Some(dst) = buf.get_mut(..n) {
                dst.copy_from_slice(&self.packets[index][..n]);
                return Some(n);
            }
            self.dropped += 1;
        }
        None
    }

    /// Packets dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut TxQueue, byte: u8) {
        q.push_with(|buf| {
            buf[..3].fill(byte);
            Ok(3)
        })
        .expect("fits");
    }

    #[test]
    fn first_in_first_out() {
        let mut q = TxQueue::new();
        push(&mut q, 1);
        push(&mut q, 2);
        let mut buf = [0u8; 16];
        assert_eq!(q.pop_into(&mut buf), Some(3));
        assert_eq!(buf[..3], [1, 1, 1]);
        assert_eq!(q.pop_into(&mut buf), Some(3));
        assert_eq!(buf[..3], [2, 2, 2]);
        assert_eq!(q.pop_into(&mut buf), None);
    }

    #[test]
    fn full_queue_drops_the_oldest() {
        let mut q = TxQueue::new();
        for b in 0..(SLOTS as u8 + 2) {
            push(&mut q, b);
        }
        assert_eq!((q.len(), q.dropped()), (SLOTS, 2));
        let mut buf = [0u8; 16];
        q.pop_into(&mut buf);
        assert_eq!(buf[0], 2);
    }

    #[test]
    fn a_failed_write_queues_nothing() {
        let mut q = TxQueue::new();
        let err = q.push_with(|_| {
            Err(RtpError::BufferTooSmall {
                needed: 1,
                available: 0,
            })
        });
        assert!(err.is_err());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn too_small_output_buffer_drops_that_packet() {
        let mut q = TxQueue::new();
        push(&mut q, 1);
        let mut tiny = [0u8; 2];
        assert_eq!(q.pop_into(&mut tiny), None);
        assert_eq!(q.dropped(), 1);
    }
}
