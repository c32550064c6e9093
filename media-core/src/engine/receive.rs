//! Reading a session's socket on its worker, with the kernel's arrival time of each datagram.
//!
//! The worker reads every socket once per 20 ms wake-up, non-blocking, instead of a tokio task
//! per call waking on every packet: with hundreds of calls those wake-ups, their scheduling and
//! the hand-over to the worker cost more than the media itself. A datagram may then wait up to
//! a frame in the kernel before it is read, so the time it is read is not its arrival time; the
//! jitter buffer and the RFC 3550 jitter need the real one. The kernel stamps each datagram on
//! arrival (`SO_TIMESTAMPNS`, on the wall clock); [`ArrivalClock`] maps that stamp onto the
//! monotonic clock the sessions run on.

use std::io;
use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;

use super::MAX_DATAGRAM;

/// Two clock reads this close are taken as simultaneous.
const CLOCK_PAIR_TOLERANCE: Duration = Duration::from_micros(20);

/// Turns on the kernel's receive timestamps of `socket`.
pub(crate) fn enable_timestamps(socket: &UdpSocket) -> io::Result<()> {
    setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// The monotonic and the wall clock read together at a wake-up, to map kernel stamps (wall
/// clock) onto `Instant`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArrivalClock {
    mono: Instant,
    wall: Duration,
}

impl ArrivalClock {
    /// Reads both clocks now. A thread preempted between the two reads would pair them
    /// wrongly and shift every arrival of the wake-up by the preemption, so the wall clock is
    /// read between two monotonic reads, again if they are far apart, and the tightest pair
    /// is kept (at the midpoint of its monotonic reads).
    #[allow(clippy::disallowed_methods)] // the worker is a driver: it reads the clocks
    pub(crate) fn now() -> Self {
        let read = || {
            let before = Instant::now();
            let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let gap = Instant::now() - before;
            let mono = before + gap / 2;
            (gap, ArrivalClock { mono, wall })
        };
        let mut best = read();
        for _ in 0..3 {
            if best.0 < CLOCK_PAIR_TOLERANCE {
                break;
            }
            let next = read();
            if next.0 < best.0 {
                best = next;
            }
        }
        best.1
    }

    /// The `Instant` of a kernel stamp: as long before the wake-up as the stamp is before the
    /// wall clock then. A stamp from the future (the wall clock was stepped back) counts as
    /// the wake-up itself; one more than a second old (stepped forward) as a second before.
    pub(crate) fn arrival(&self, stamp: Duration) -> Instant {
        let age = self.wall.saturating_sub(stamp).min(Duration::from_secs(1));
        self.mono.checked_sub(age).unwrap_or(self.mono)
    }
}

/// One read of a socket.
#[derive(Debug)]
pub(crate) enum Received<'a> {
    /// A datagram, when it arrived, from where.
    Datagram {
        arrival: Instant,
        src: SocketAddr,
        bytes: &'a [u8],
    },
    /// A datagram longer than [`MAX_DATAGRAM`], dropped.
    Truncated,
    /// Nothing more to read now.
    Empty,
    /// The read failed (an ICMP error, or worse).
    Failed(io::Error),
}

/// A worker's receive buffer and control-message space, reused for every read.
pub(crate) struct Inbox {
    buf: Box<[u8; MAX_DATAGRAM]>,
    control: Vec<u8>,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Inbox {
            buf: Box::new([0; MAX_DATAGRAM]),
            control: nix::cmsg_space!(TimeSpec),
        }
    }

    /// Reads one datagram from `socket` without waiting.
    pub(crate) fn receive(&mut self, socket: &UdpSocket, clock: &ArrivalClock) -> Received<'_> {
        let mut iov = [IoSliceMut::new(&mut self.buf[..])];
        let read = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut self.control),
            MsgFlags::MSG_DONTWAIT,
        );
        let msg = match read {
            Ok(msg) => msg,
            Err(Errno::EAGAIN) => return Received::Empty,
            Err(Errno::EINTR) => return Received::Empty,
            Err(errno) => return Received::Failed(errno.into()),
        };
        let (n, flags) = (msg.bytes, msg.flags);
        let stamp = msg.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(ts) => Some(Duration::from(ts)),
                _ => None,
            })
        });
        let src = msg.address.as_ref().and_then(socket_addr);
        if flags.contains(MsgFlags::MSG_TRUNC) {
            return Received::Truncated;
        }
        let Some(src) = src else {
            return Received::Failed(io::Error::other("datagram without a source address"));
        };
        Received::Datagram {
            // Without a stamp (it was turned off), the time of the read is the best known.
            arrival: stamp.map_or(clock.mono, |s| clock.arrival(s)),
            src,
            bytes: &self.buf[..n],
        }
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    match addr.family()? {
        nix::sys::socket::AddressFamily::Inet => addr.as_sockaddr_in().map(|a| SocketAddr::from(*a)),
        nix::sys::socket::AddressFamily::Inet6 => addr.as_sockaddr_in6().map(|a| SocketAddr::from(*a)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_maps_to_the_same_age_on_the_monotonic_clock() {
        let clock = ArrivalClock::now();
        let stamp = clock.wall - Duration::from_millis(7);
        assert_eq!(clock.mono - clock.arrival(stamp), Duration::from_millis(7));
        // Wall clock stepped: bounded either way.
        assert_eq!(clock.arrival(clock.wall + Duration::from_secs(5)), clock.mono);
        assert_eq!(
            clock.mono - clock.arrival(clock.wall - Duration::from_secs(60)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn reads_datagrams_with_their_kernel_arrival_time_then_nothing() {
        let ours = UdpSocket::bind("127.0.0.1:0").expect("bind");
        ours.set_nonblocking(true).expect("nonblocking");
        enable_timestamps(&ours).expect("timestamps");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = ours.local_addr().expect("addr");
        // The kernel turns receive timestamps on for the whole system lazily (a deferred static
        // key), so the first datagrams after the first socket asks may come unstamped (read
        // as "now"). Wait until a probe comes back stamped with its real age.
        let mut inbox = Inbox::new();
        let stamped = (0..50).any(|_| {
            peer.send_to(b"probe", to).expect("send");
            std::thread::sleep(Duration::from_millis(20));
            let clock = ArrivalClock::now();
            match inbox.receive(&ours, &clock) {
                Received::Datagram { arrival, .. } => {
                    clock.mono.saturating_duration_since(arrival) >= Duration::from_millis(10)
                }
                _ => false,
            }
        });
        assert!(stamped, "the kernel never stamped a datagram");
        peer.send_to(b"first", to).expect("send");
        peer.send_to(&[0u8; MAX_DATAGRAM + 10], to).expect("send");
        peer.send_to(b"third", to).expect("send");
        let sent = ArrivalClock::now();
        // Read long after they arrived. Loopback delivers at once, unless the machine is so
        // busy that the kernel defers its delivery (and its stamp) a little.
        std::thread::sleep(Duration::from_millis(200));
        let clock = ArrivalClock::now();
        match inbox.receive(&ours, &clock) {
            Received::Datagram { arrival, src, bytes } => {
                assert_eq!(bytes, b"first");
                assert_eq!(src, peer.local_addr().expect("addr"));
                // Stamped on arrival, near the send, not 200 ms later when read.
                let waited = clock.mono.saturating_duration_since(arrival);
                assert!(waited >= Duration::from_millis(100), "{waited:?}");
                assert!(arrival <= sent.mono + Duration::from_millis(100), "{arrival:?}");
            }
            other => panic!("expected a datagram, got {other:?}"),
        }
        assert!(matches!(inbox.receive(&ours, &clock), Received::Truncated));
        assert!(matches!(
            inbox.receive(&ours, &clock),
            Received::Datagram { bytes: b"third", .. }
        ));
        assert!(matches!(inbox.receive(&ours, &clock), Received::Empty));
    }
}
