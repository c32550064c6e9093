//! Two `MediaSession`s talking over a simulated link in virtual time.
//!
//! Nothing here reads the wall clock or binds a socket: the harness advances a fake `Instant`
//! to the next thing that happens (a session's tick or a datagram's arrival), shuttles
//! datagrams through a seeded lossy, jittery link, and collects events. So every run is the
//! same run, and the assertions can be exact about pacing, loss and timing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use media_core::rtcp::RtcpMode;
use media_core::rtp::parse;
use media_core::srtp::{SdesKey, SrtpConfig};
use media_core::{Codec, MediaEvent, MediaSession, PayloadType, SessionConfig, Ssrc, UtteranceId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MS: Duration = Duration::from_millis(1);

/// Virtual time starts at an arbitrary real instant; only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn temp_wav(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-core-loopback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Left and right channels of a stereo recording.
fn read_stereo(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).expect("wav");
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    (
        samples.iter().step_by(2).copied().collect(),
        samples.iter().skip(1).step_by(2).copied().collect(),
    )
}

/// A datagram on the wire: source, destination, bytes, and whether it is the extra copy of a
/// duplicated packet.
type Datagram = (SocketAddr, SocketAddr, Vec<u8>, bool);

/// Two-state Gilbert-Elliott loss: in the good state nothing is lost, in the bad state
/// everything is; the state flips before each packet with the given probabilities, so losses
/// come in bursts of mean length `1 / to_good` packets.
#[derive(Clone, Copy)]
struct GilbertElliott {
    to_bad: f64,
    to_good: f64,
    bad: bool,
}

/// One direction of the network: fixed latency, uniform jitter, random or bursty loss and
/// duplication.
struct Link {
    rng: StdRng,
    latency: Duration,
    jitter_max_us: u64,
    loss: f64,
    duplicate: f64,
    bursts: Option<GilbertElliott>,
    /// Keyed by (arrival time, send order) so equal arrival times keep their send order.
    in_flight: BTreeMap<(Instant, u64), Datagram>,
    sent: u64,
    /// RTP sequence numbers the link dropped.
    dropped_seqs: Vec<u16>,
    duplicated: u64,
}

impl Link {
    fn new(seed: u64, latency_ms: u64, jitter_max_ms: u64, loss: f64, duplicate: f64) -> Self {
        Link {
            rng: StdRng::seed_from_u64(seed),
            latency: MS * latency_ms as u32,
            jitter_max_us: jitter_max_ms * 1000,
            loss,
            duplicate,
            bursts: None,
            in_flight: BTreeMap::new(),
            sent: 0,
            dropped_seqs: Vec::new(),
            duplicated: 0,
        }
    }

    fn perfect(latency_ms: u64) -> Self {
        Link::new(0, latency_ms, 0, 0.0, 0.0)
    }

    /// This link with Gilbert-Elliott burst losses instead of independent ones.
    fn with_bursts(mut self, to_bad: f64, to_good: f64) -> Self {
        self.bursts = Some(GilbertElliott {
            to_bad,
            to_good,
            bad: false,
        });
        self
    }

    fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.sent += 1;
        let lost = match &mut self.bursts {
            Some(ge) => {
                let flip = if ge.bad { ge.to_good } else { ge.to_bad };
                if self.rng.random_bool(flip) {
                    ge.bad = !ge.bad;
                }
                ge.bad
            }
            None => self.loss > 0.0 && self.rng.random_bool(self.loss),
        };
        if lost {
            self.dropped_seqs
                .push(parse(&bytes).expect("sessions send valid RTP").seq.0);
            return;
        }
        let jitter = if self.jitter_max_us > 0 {
            self.rng.random_range(0..=self.jitter_max_us)
        } else {
            0
        };
        let at = now + self.latency + Duration::from_micros(jitter);
        if self.duplicate > 0.0 && self.rng.random_bool(self.duplicate) {
            self.duplicated += 1;
            self.in_flight
                .insert((at + MS, self.sent + (1 << 40)), (from, to, bytes.clone(), true));
        }
        self.in_flight.insert((at, self.sent), (from, to, bytes, false));
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let (&key, _) = self.in_flight.iter().next().filter(|((at, _), _)| *at <= now)?;
        self.in_flight.remove(&key)
    }
}

/// Sessions A (the agent side, say) and B, wired through two links.
struct Harness {
    /// When both sessions started: media time zero.
    start: Instant,
    now: Instant,
    a: MediaSession,
    b: MediaSession,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    ab: Link,
    ba: Link,
    /// Every datagram A sent, with the virtual time it left.
    a_sent: Vec<(Instant, Vec<u8>)>,
    a_events: Vec<(Instant, MediaEvent)>,
    b_events: Vec<(Instant, MediaEvent)>,
    /// Datagrams addressed to nobody on the simulated network.
    misdirected: u64,
    /// Sequence numbers of the datagrams delivered to B, in arrival order.
    b_arrivals: Vec<u16>,
    /// Extra copies (from link duplication) among them.
    b_duplicate_arrivals: u64,
    /// RTCP datagrams A sent.
    a_rtcp: u64,
}

struct Setup {
    ab: Link,
    ba: Link,
    a_recording: Option<PathBuf>,
    b_recording: Option<PathBuf>,
    /// What B believes A's address is (SDP); A's real address is always `A_ADDR`.
    b_signalled_remote: SocketAddr,
    /// RTCP of both sessions.
    rtcp: RtcpMode,
    /// SRTP keys of A and B.
    srtp: Option<(SrtpConfig, SrtpConfig)>,
}

const A_ADDR: &str = "192.0.2.1:4000";
const B_ADDR: &str = "198.51.100.2:5000";

impl Default for Setup {
    fn default() -> Self {
        Setup {
            ab: Link::perfect(20),
            ba: Link::perfect(20),
            a_recording: None,
            b_recording: None,
            b_signalled_remote: addr(A_ADDR),
            rtcp: RtcpMode::Off,
            srtp: None,
        }
    }
}

impl Harness {
    fn new(setup: Setup) -> Self {
        let now = epoch();
        let (a_addr, b_addr) = (addr(A_ADDR), addr(B_ADDR));
        let mut a_config = SessionConfig::new(Codec::Pcmu, PayloadType::PCMU, b_addr, Ssrc(0xA));
        a_config.recording = setup.a_recording;
        a_config.rtcp = setup.rtcp;
        a_config.srtp = setup.srtp.as_ref().map(|(a, _)| a.clone());
        let mut b_config = SessionConfig::new(
            Codec::Pcmu,
            PayloadType::PCMU,
            setup.b_signalled_remote,
            Ssrc(0xB),
        );
        b_config.recording = setup.b_recording;
        b_config.rtcp = setup.rtcp;
        b_config.srtp = setup.srtp.map(|(_, b)| b);
        Harness {
            start: now,
            now,
            a: MediaSession::new(a_config, now).expect("session A"),
            b: MediaSession::new(b_config, now).expect("session B"),
            a_addr,
            b_addr,
            ab: setup.ab,
            ba: setup.ba,
            a_sent: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            misdirected: 0,
            b_arrivals: Vec::new(),
            b_duplicate_arrivals: 0,
            a_rtcp: 0,
        }
    }

    /// Milliseconds of media time at `t`.
    fn ms(&self, t: Instant) -> u64 {
        (t - self.start).as_millis() as u64
    }

    /// Runs everything that happens up to and including `until`, in time order.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = [
                Some(self.a.poll_timeout()),
                Some(self.b.poll_timeout()),
                self.ab.next_arrival(),
                self.ba.next_arrival(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("sessions always have a next tick");
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            // Arrivals first, then ticks, as a driver woken at this instant would see them.
            while let Some((from, to, bytes, copy)) = self.ab.pop_due(self.now) {
                if to == self.b_addr {
                    // (SRTP leaves the header in the clear.)
                    self.b_arrivals.push(parse(&bytes).expect("valid").seq.0);
                    self.b_duplicate_arrivals += u64::from(copy);
                }
                self.deliver(from, to, &bytes);
            }
            while let Some((from, to, bytes, _)) = self.ba.pop_due(self.now) {
                self.deliver(from, to, &bytes);
            }
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.drain();
        }
    }

    fn run_for_ms(&mut self, ms: u64) {
        let until = self.now + MS * ms as u32;
        self.run_until(until);
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == self.a_addr {
            self.a.handle_datagram(self.now, from, bytes);
        } else if to == self.b_addr {
            self.b.handle_datagram(self.now, from, bytes);
        } else {
            self.misdirected += 1;
        }
        self.drain();
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 1500];
        while let Some((to, n)) = self.a.poll_transmit(&mut buf) {
            self.a_sent.push((self.now, buf[..n].to_vec()));
            self.ab.send(self.now, self.a_addr, to, buf[..n].to_vec());
        }
        while let Some((to, n)) = self.b.poll_transmit(&mut buf) {
            self.ba.send(self.now, self.b_addr, to, buf[..n].to_vec());
        }
        while let Some((to, n)) = self.a.poll_transmit_rtcp(&mut buf) {
            self.a_rtcp += 1;
            self.ab.send(self.now, self.a_addr, to, buf[..n].to_vec());
        }
        while let Some((to, n)) = self.b.poll_transmit_rtcp(&mut buf) {
            self.ba.send(self.now, self.b_addr, to, buf[..n].to_vec());
        }
        while let Some(event) = self.a.poll_event() {
            self.a_events.push((self.now, event));
        }
        while let Some(event) = self.b.poll_event() {
            self.b_events.push((self.now, event));
        }
    }
}

/// A 200 Hz -> 3 kHz chirp: broadband and with a single sharp correlation peak.
fn chirp(samples: usize, amplitude: f64) -> Vec<i16> {
    let duration = samples as f64 / 8000.0;
    (0..samples)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let phase = 2.0 * std::f64::consts::PI * (200.0 * t + (2800.0 / (2.0 * duration)) * t * t);
            (amplitude * phase.sin()) as i16
        })
        .collect()
}

/// Seeded white noise of the given peak amplitude.
fn noise(samples: usize, amplitude: f64, seed: u64) -> Vec<i16> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..samples)
        .map(|_| (rng.random_range(-1.0..1.0) * amplitude) as i16)
        .collect()
}

/// Normalized correlation of `a` with `b` (same length).
fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// The lag (in samples) at which `needle` best matches `haystack` starting at `from`, and the
/// correlation there.
fn find(needle: &[i16], haystack: &[i16], from: usize, max_lag: usize) -> (usize, f64) {
    (0..=max_lag)
        .filter(|lag| from + lag + needle.len() <= haystack.len())
        .map(|lag| {
            (
                lag,
                correlation(needle, &haystack[from + lag..from + lag + needle.len()]),
            )
        })
        .fold((0, f64::MIN), |best, cur| if cur.1 > best.1 { cur } else { best })
}

#[test]
fn audio_played_by_a_reaches_bs_recording_nearly_intact() {
    let (a_wav, b_wav) = (temp_wav("intact-a.wav"), temp_wav("intact-b.wav"));
    let mut h = Harness::new(Setup {
        ab: Link::new(1, 20, 15, 0.0, 0.0),
        a_recording: Some(a_wav.clone()),
        b_recording: Some(b_wav.clone()),
        ..Setup::default()
    });
    h.run_for_ms(200);
    let signal = chirp(8000, 10000.0);
    h.a.play(UtteranceId(1), signal.clone());
    h.run_for_ms(1800);
    let a_summary = h.a.finish().expect("finish A");
    let b_summary = h.b.finish().expect("finish B");
    assert_eq!((b_summary.stats.packets_lost, b_summary.stats.late), (0, 0));
    // Ticks at 0, 20, ..., 2000 ms.
    assert_eq!(b_summary.duration_ms, 2020);

    // A's right channel is exactly what A queued, from the first tick after `play` (220 ms).
    let (_, a_right) = read_stereo(&a_summary.recording.expect("A recording").path);
    let first_tick = 220 * 8;
    assert!(a_right[..first_tick].iter().all(|&s| s == 0));
    assert_eq!(&a_right[first_tick..first_tick + signal.len()], &signal[..]);

    // B's left channel holds the same audio, G.711-quantized, after the network and the
    // jitter buffer: 20 ms latency + up to 15 ms jitter + 60 ms playout delay + tick phase.
    let (b_left, b_right) = read_stereo(&b_summary.recording.expect("B recording").path);
    assert_eq!(b_left.len(), 2020 * 8);
    assert!(b_right.iter().all(|&s| s == 0), "B never played anything");
    let (lag, corr) = find(&signal, &b_left, first_tick, 200 * 8);
    let lag_ms = lag / 8;
    assert!((80..=120).contains(&lag_ms), "lag {lag_ms} ms");
    assert_eq!(
        lag % 160,
        0,
        "whole frames: the channels of both recordings run on the same grid"
    );
    assert!(corr > 0.995, "correlation {corr}");
    // Sample-exact modulo mu-law quantization (at most 1/32 of the magnitude plus a step).
    for (i, (&sent, &heard)) in signal.iter().zip(&b_left[first_tick + lag..]).enumerate() {
        let bound = i32::from(sent).abs() / 32 + 16;
        assert!(
            (i32::from(sent) - i32::from(heard)).abs() <= bound,
            "sample {i}: {sent} vs {heard}"
        );
    }
    std::fs::remove_file(&a_wav).ok();
    std::fs::remove_file(&b_wav).ok();
}

#[test]
fn a_sends_exactly_one_packet_per_20_ms() {
    let mut h = Harness::new(Setup::default());
    h.run_for_ms(300);
    h.a.play(UtteranceId(1), chirp(4000, 8000.0));
    h.run_for_ms(1700);
    let times: Vec<u64> = h
        .a_sent
        .iter()
        .map(|(t, _)| (*t - h.start).as_micros() as u64)
        .collect();
    let expected: Vec<u64> = (0..=100).map(|k| k * 20_000).collect();
    assert_eq!(
        times, expected,
        "one packet at every 20 ms tick, no more, no fewer"
    );

    let packets: Vec<_> = h.a_sent.iter().map(|(_, p)| parse(p).expect("valid")).collect();
    for pair in packets.windows(2) {
        assert_eq!(pair[1].seq.0, pair[0].seq.0.wrapping_add(1));
        assert_eq!(pair[1].timestamp.0, pair[0].timestamp.0.wrapping_add(160));
        assert_eq!(pair[1].payload.len(), 160);
    }
    // Marker bits: the first packet, and the start of the utterance (the tick at 320 ms).
    let markers: Vec<usize> = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.marker)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(markers, vec![0, 16]);
    // The utterance is 25 packets of audio (500 ms) between silence.
    let audible: Vec<usize> = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.payload.iter().any(|&b| b != 0xFF))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(audible, (16..41).collect::<Vec<_>>());
    assert_eq!(h.a.stats().packets_sent, 101);
}

#[test]
fn a_burst_between_silences_is_one_utterance_at_the_right_time() {
    let b_wav = temp_wav("burst-b.wav");
    let mut h = Harness::new(Setup {
        ab: Link::new(7, 20, 10, 0.0, 0.0),
        b_recording: Some(b_wav.clone()),
        ..Setup::default()
    });
    h.run_for_ms(1000);
    // 800 ms of noise at about -20 dBFS, then silence. A sends it from the tick at 1020 ms.
    let burst = noise(6400, 5600.0, 42);
    h.a.play(UtteranceId(1), burst.clone());
    h.run_for_ms(2500);

    let b_events: Vec<_> = h.b_events.iter().map(|(t, e)| (h.ms(*t), e.clone())).collect();
    let started: Vec<u64> = b_events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::SpeechStarted { at_ms } => Some(*at_ms),
            _ => None,
        })
        .collect();
    let utterances: Vec<_> = b_events
        .iter()
        .filter_map(|(t, e)| match e {
            MediaEvent::Utterance {
                start_ms,
                end_ms,
                audio_start_ms,
                samples_16k,
            } => Some((*t, *start_ms, *end_ms, *audio_start_ms, samples_16k.len())),
            _ => None,
        })
        .collect();
    assert!(
        !b_events
            .iter()
            .any(|(_, e)| matches!(e, MediaEvent::SpeechDiscarded { .. }))
    );
    assert_eq!(started.len(), 1, "{b_events:?}");
    assert_eq!(utterances.len(), 1, "{b_events:?}");
    let (reported_at, start_ms, end_ms, audio_start_ms, len_16k) = utterances[0];

    // Truth in B's timeline: where the burst is in B's recording, found by correlation so that
    // it does not trust the endpointer's own clock.
    let summary = h.b.finish().expect("finish B");
    let (b_left, _) = read_stereo(&summary.recording.expect("recording").path);
    let (lag, corr) = find(&burst, &b_left, 1020 * 8, 200 * 8);
    assert!(corr > 0.99, "correlation {corr}");
    let truth_start = 1020 + lag as u64 / 8;
    let truth_end = truth_start + 800;
    assert!(
        started[0].abs_diff(truth_start) <= 100,
        "start {} vs truth {truth_start}",
        started[0]
    );
    assert_eq!(start_ms, started[0]);
    assert!(
        end_ms.abs_diff(truth_end) <= 100,
        "end {end_ms} vs truth {truth_end}"
    );
    // Reported once 700 ms of silence have been heard (the tick that starts the last 20 ms).
    assert!(
        (end_ms + 680..=end_ms + 700).contains(&reported_at),
        "reported at {reported_at}, end {end_ms}"
    );
    // 16 kHz audio from 200 ms before the start to 100 ms after the end.
    assert_eq!(audio_start_ms, start_ms - 200);
    assert_eq!(len_16k as u64, (end_ms + 100 - audio_start_ms) * 16);
    std::fs::remove_file(&b_wav).ok();
}

#[test]
fn flush_mid_utterance_reports_what_was_played() {
    let b_wav = temp_wav("flush-b.wav");
    let mut h = Harness::new(Setup {
        b_recording: Some(b_wav.clone()),
        ..Setup::default()
    });
    h.run_for_ms(200);
    let play_at = h.now;
    h.a.play(UtteranceId(7), chirp(16_000, 8000.0)); // 2 s
    h.run_for_ms(730);
    let truth_ms = (h.now - play_at).as_millis() as u64;
    h.a.flush();
    h.drain();
    h.run_for_ms(1000);

    let finished: Vec<_> = h
        .a_events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::PlaybackFinished {
                id,
                played_ms,
                interrupted,
            } => Some((*id, *played_ms, *interrupted)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    let (id, played_ms, interrupted) = finished[0];
    assert_eq!(id, UtteranceId(7));
    assert!(interrupted);
    assert!(
        played_ms.abs_diff(truth_ms) <= 20,
        "played {played_ms} ms, truth {truth_ms} ms"
    );

    // And that is what B heard: audio for `played_ms`, then silence.
    let summary = h.b.finish().expect("finish B");
    let (b_left, _) = read_stereo(&summary.recording.expect("recording").path);
    let loud: Vec<usize> = b_left
        .iter()
        .enumerate()
        .filter(|(_, s)| s.abs() > 100)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (loud[0], loud[loud.len() - 1]);
    let heard_ms = ((last - first) / 8) as u64;
    assert!(
        heard_ms.abs_diff(played_ms) <= 20,
        "heard {heard_ms} ms, played {played_ms} ms"
    );
    std::fs::remove_file(&b_wav).ok();
}

#[test]
fn loss_jitter_reordering_and_duplicates_are_accounted_exactly() {
    let mut h = Harness::new(Setup {
        // Jitter up to 40 ms reorders packets sent 20 ms apart; the 60 ms playout delay still
        // absorbs it, so nothing may be late.
        ab: Link::new(2024, 20, 40, 0.05, 0.03),
        ..Setup::default()
    });
    h.a.play(UtteranceId(1), noise(8000 * 10, 5000.0, 3));
    h.run_for_ms(10_000);
    let stats = h.b.stats();

    // The link really did all of it.
    let sent: Vec<u16> = h
        .a_sent
        .iter()
        .map(|(_, p)| parse(p).expect("valid").seq.0)
        .collect();
    let index_of = |seq: u16| sent.iter().position(|&s| s == seq).expect("sent");
    let arrival_order: Vec<usize> = h.b_arrivals.iter().map(|&s| index_of(s)).collect();
    let reordered = arrival_order.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(h.ab.dropped_seqs.len() > 10, "lost {}", h.ab.dropped_seqs.len());
    assert!(
        h.b_duplicate_arrivals > 5,
        "duplicated {}",
        h.b_duplicate_arrivals
    );
    assert!(reordered > 10, "reordered {reordered}");

    assert_eq!(stats.packets_received, h.b_arrivals.len() as u64);
    assert_eq!(stats.duplicates, h.b_duplicate_arrivals);
    assert_eq!(stats.late, 0);
    // B can only know about losses between the first and the last packet it received.
    let (lo, hi) = (
        *arrival_order.iter().min().expect("arrivals"),
        *arrival_order.iter().max().expect("arrivals"),
    );
    let knowable_losses =
        h.ab.dropped_seqs
            .iter()
            .map(|&s| index_of(s))
            .filter(|i| (lo..=hi).contains(i))
            .count() as u64;
    assert_eq!(stats.packets_lost, knowable_losses);
    // Each lost packet played as one concealed frame, bar the few not yet due.
    assert!(stats.frames_concealed <= stats.packets_lost);
    assert!(stats.frames_concealed + 3 >= stats.packets_lost, "{stats:?}");
    // Uniform 0..40 ms jitter: mean |difference| is 40/3 ms.
    assert!(
        (10.0..17.0).contains(&stats.jitter_ms),
        "jitter {} ms",
        stats.jitter_ms
    );
}

#[test]
fn b_latches_onto_as_real_address_behind_nat() {
    // B's SDP says A is somewhere it is not: its private address behind a NAT.
    let mut h = Harness::new(Setup {
        b_signalled_remote: addr("10.0.0.50:40000"),
        ..Setup::default()
    });
    h.run_for_ms(1000);
    let latched: Vec<_> = h
        .b_events
        .iter()
        .filter_map(|(t, e)| match e {
            MediaEvent::RemoteLatched(to) => Some((h.ms(*t), *to)),
            _ => None,
        })
        .collect();
    // A's first packet arrives after the 20 ms latency.
    assert_eq!(latched, vec![(20, addr(A_ADDR))]);
    assert_eq!(h.b.remote(), addr(A_ADDR));
    // B's packet of tick 0 went to the SDP address, into the void. At 20 ms the arrival is
    // handled before the tick, so from then on everything goes to A.
    assert_eq!(h.misdirected, 1);
    let a_stats = h.a.stats();
    // B's ticks 20..=980 ms have arrived at A by 1000 ms.
    assert_eq!(a_stats.packets_received, 49);
    assert_eq!(a_stats.packets_lost, 0);
}

#[test]
fn rtcp_reports_measure_the_round_trip_and_the_loss_each_side_sees() {
    let mut h = Harness::new(Setup {
        // 20 ms each way; A's packets to B lose 5%.
        ab: Link::new(11, 20, 0, 0.05, 0.0),
        ba: Link::perfect(20),
        rtcp: RtcpMode::Mux,
        ..Setup::default()
    });
    h.run_for_ms(16_000);
    // About one report per 5 s from each side (the first after half an interval).
    assert!((3..=5).contains(&h.a_rtcp), "A sent {} reports", h.a_rtcp);
    let (a, b) = (h.a.stats(), h.b.stats());
    assert!(a.rtcp_received >= 2 && b.rtcp_received >= 2, "{a:?} {b:?}");
    assert_eq!(
        (a.rtcp_ignored, b.rtcp_ignored, a.malformed, b.malformed),
        (0, 0, 0, 0)
    );
    // The round trip is 40 ms; DLSR and LSR are in 1/65536 s.
    for rtt in [a.rtt_ms, b.rtt_ms] {
        let rtt = rtt.expect("rtt measured");
        assert!((39.5..40.5).contains(&rtt), "rtt {rtt}");
    }
    // A hears about B's losses of its stream; B's own view of A's stream is lossless.
    assert!(b.packets_lost > 0);
    assert!(a.remote_loss_pct.is_some_and(|l| l > 0.0 && l < 15.0), "{a:?}");
    assert_eq!(b.remote_loss_pct, Some(0.0));
    // The MOS reflects it: B (5% loss) hears worse than A (none).
    assert!(a.mos > 4.2 && b.mos < a.mos, "A {} B {}", a.mos, b.mos);
    // Closing says goodbye.
    h.a.close(h.now);
    h.drain();
    h.run_for_ms(100);
    assert!(h.a_rtcp >= 4);
}

#[test]
fn srtp_carries_the_audio_and_drops_forgeries() {
    let key = |seed: u8| {
        SdesKey::from_random(std::array::from_fn(|i| {
            seed.wrapping_mul(31).wrapping_add(i as u8)
        }))
    };
    let (ka, kb) = (key(1), key(2));
    let b_wav = temp_wav("srtp-b.wav");
    let mut h = Harness::new(Setup {
        ab: Link::new(5, 20, 10, 0.0, 0.0),
        b_recording: Some(b_wav.clone()),
        rtcp: RtcpMode::Mux,
        srtp: Some((
            SrtpConfig {
                local: ka.clone(),
                remote: kb.clone(),
            },
            SrtpConfig {
                local: kb,
                remote: ka,
            },
        )),
        ..Setup::default()
    });
    h.run_for_ms(200);
    let signal = chirp(8000, 10_000.0);
    h.a.play(UtteranceId(1), signal.clone());
    h.run_for_ms(2000);
    // Nothing on the wire is plain audio: the chirp's mu-law bytes never appear.
    let (_, plain) = h
        .a_sent
        .iter()
        .map(|(_, p)| (p.len(), p))
        .max_by_key(|(n, _)| *n)
        .expect("packets");
    assert_eq!(plain.len(), 12 + 160 + 10, "header, payload, 80-bit tag");
    // An attacker at A's address injects RTP and RTCP: both are refused.
    let mut forged = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xA];
    forged.extend_from_slice(&[0x80; 170]);
    h.b.handle_datagram(h.now, addr(A_ADDR), &forged);
    h.b.handle_datagram(
        h.now,
        addr(A_ADDR),
        &[
            0x81, 201, 0, 7, 0, 0, 0, 0xA, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0,
        ],
    );
    let stats = h.b.stats();
    assert_eq!(stats.srtp_rejected, 2, "{stats:?}");
    assert_eq!((stats.packets_lost, stats.late, stats.malformed), (0, 0, 0));
    assert!(stats.rtcp_received >= 1, "SRTCP reports arrive: {stats:?}");
    let summary = h.b.finish().expect("finish B");
    let (b_left, _) = read_stereo(&summary.recording.expect("recording").path);
    let (_, corr) = find(&signal, &b_left, 220 * 8, 200 * 8);
    assert!(corr > 0.99, "correlation {corr}");
    std::fs::remove_file(&b_wav).ok();
}

/// Runs of consecutive sequence numbers in `seqs` (sorted), as their lengths.
fn bursts(seqs: &[u16]) -> Vec<usize> {
    let mut runs: Vec<usize> = Vec::new();
    for (i, &s) in seqs.iter().enumerate() {
        if i > 0 && seqs[i - 1].wrapping_add(1) == s {
            *runs.last_mut().expect("a run") += 1;
        } else {
            runs.push(1);
        }
    }
    runs
}

#[test]
fn bursty_loss_and_changing_jitter_keep_playout_continuous_and_the_delay_bounded() {
    const FRAME: usize = 160;
    let b_wav = temp_wav("bursty-b.wav");
    let mut h = Harness::new(Setup {
        // Bursts of 3 packets on average, about 5% lost; jitter changed by phase below.
        ab: Link::new(77, 20, 5, 0.0, 0.0).with_bursts(0.015, 0.33),
        b_recording: Some(b_wav.clone()),
        ..Setup::default()
    });
    h.run_for_ms(200);
    let seconds = 53;
    let signal = noise(8000 * seconds, 6000.0, 11);
    h.a.play(UtteranceId(1), signal.clone());
    // Phases: calm (5 ms jitter), rough (0..120 ms: reordering, late packets), calm again
    // (long: the estimator forgets the rough phase over some twenty seconds).
    let mut samples: Vec<(u64, u32, u32)> = Vec::new();
    for (phase_ms, jitter_ms) in [(12_000, 5), (12_000, 120), (30_000, 5)] {
        h.ab.jitter_max_us = jitter_ms * 1000;
        for _ in 0..phase_ms / 100 {
            h.run_for_ms(100);
            let s = h.b.stats();
            samples.push((h.ms(h.now), s.jitter_buffer_ms, s.jitter_target_ms));
        }
    }
    let summary = h.b.finish().expect("finish B");
    let stats = summary.stats;

    // The link really lost packets in bursts.
    let mut lost = h.ab.dropped_seqs.clone();
    lost.sort_unstable();
    let runs = bursts(&lost);
    assert!(runs.len() > 15, "bursts {}", runs.len());
    assert!(runs.iter().any(|&n| n >= 4), "longest burst {runs:?}");
    assert!(stats.packets_lost >= lost.len() as u64 - 3, "{stats:?}");

    // Delay bounds: the playout delay never leaves 20..=200 ms; it grows to ride out the rough
    // phase and comes back down once the network is calm again.
    for &(at, delay, target) in &samples {
        assert!((20..=200).contains(&delay), "delay {delay} ms at {at} ms");
        assert!((20..=200).contains(&target), "target {target} ms at {at} ms");
    }
    let in_phase = |from: u64, to: u64| {
        samples
            .iter()
            .filter(move |(at, _, _)| (from..to).contains(at))
            .map(|&(_, delay, _)| delay)
    };
    let calm_max = in_phase(4_000, 12_000).max().expect("samples");
    let rough_max = in_phase(13_000, 24_000).max().expect("samples");
    let calm_again = in_phase(50_000, 56_300).max().expect("samples");
    assert!(calm_max <= 80, "calm delay {calm_max} ms");
    assert!(rough_max >= 100, "rough delay only {rough_max} ms");
    assert!(calm_again <= 80, "delay after calm returned {calm_again} ms");

    // Continuity: one frame of audio per tick, no gaps, and every frame that arrived in time
    // is in the recording, intact and in order, at most 200 ms of playout delay after it
    // crossed the link.
    let (left, _) = read_stereo(&summary.recording.expect("recording").path);
    assert_eq!(left.len() as u64, summary.duration_ms * 8);
    let first_tick_ms = 220;
    let (mut found, mut last_at) = (0u64, 0usize);
    let (mut min_lag, mut max_lag) = (u64::MAX, 0u64);
    for k in 0..signal.len() / FRAME {
        let sent_at = (first_tick_ms + 20 * k) * 8;
        let frame = &signal[k * FRAME..(k + 1) * FRAME];
        // Candidate playout positions: whole frames, from the link's latency to 400 ms on.
        let hit = (1..=20)
            .map(|n| sent_at + n * FRAME)
            .filter(|&at| at + FRAME <= left.len())
            // 0.7: unrelated noise frames correlate around 0 +- 0.08; the first frame after a
            // concealment is partly cross-faded with the PLC's output (G.711 Appendix I).
            .find(|&at| correlation(frame, &left[at..at + FRAME]) > 0.7);
        if let Some(at) = hit {
            assert!(at > last_at, "frame {k} played out of order");
            last_at = at;
            found += 1;
            let lag_ms = ((at - sent_at) / 8) as u64;
            min_lag = min_lag.min(lag_ms);
            max_lag = max_lag.max(lag_ms);
        }
    }
    let frames_sent = (signal.len() / FRAME) as u64;
    let lost_in_utterance = lost.len() as u64;
    // Everything not lost on the link, dropped as late or dropped to shrink the delay was
    // played; nothing else.
    assert!(
        found + lost_in_utterance + stats.late + stats.frames_shrunk >= frames_sent
            && found + lost_in_utterance + stats.late <= frames_sent,
        "found {found} of {frames_sent}, lost {lost_in_utterance}, {stats:?}"
    );
    assert!(stats.late * 100 < frames_sent * 2, "late {}", stats.late);
    // 20 ms on the wire, up to 120 ms of jitter, at most 200 ms in the buffer, one tick.
    assert!(min_lag >= 40, "min lag {min_lag} ms");
    assert!(max_lag <= 20 + 200 + 20, "max lag {max_lag} ms");
    // Every lost or late packet was concealed by exactly one frame.
    assert!(stats.frames_concealed + 3 >= stats.packets_lost);
    std::fs::remove_file(&b_wav).ok();
}
