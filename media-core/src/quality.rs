//! An estimated mean opinion score for a call, from the simplified ITU-T G.107 E-model.
//!
//! `R = 93.2 - Id - Ie_eff`, where the delay impairment `Id` grows with the one-way mouth-to-ear
//! delay (slowly up to 177 ms, then steeply: the Cole-Rosenbluth fit of G.107), and the
//! equipment impairment `Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)` grows with packet loss,
//! softened by the codec's robustness `Bpl` (with its concealment). R maps to MOS with the G.107
//! formula. G.711 with Appendix I concealment has `Ie = 0`, `Bpl = 25.1` (G.113 Appendix I).
//! G.113 lists no values for Opus; narrowband Opus at 24 kbit/s with FEC is taken as
//! `Ie = 10`, `Bpl = 20`, a conservative reading of published listening tests.

use crate::codec::Codec;

/// Packetization and codec delay added to the network and buffer delay, in ms.
const CODEC_DELAY_MS: f64 = 25.0;

/// The E-model's equipment impairment and loss robustness of a codec.
fn impairment(codec: Codec) -> (f64, f64) {
    match codec {
        Codec::Pcmu | Codec::Pcma => (0.0, 25.1),
        Codec::Opus => (10.0, 20.0),
    }
}

/// Estimated MOS (1.0 to 4.5) of a call on `codec` with `loss_pct` random packet loss (late
/// packets count as lost) and `one_way_delay_ms` of network plus jitter-buffer delay.
pub fn estimate_mos(codec: Codec, loss_pct: f64, one_way_delay_ms: f64) -> f64 {
    let delay = one_way_delay_ms.max(0.0) + CODEC_DELAY_MS;
    let id = 0.024 * delay
        + if delay > 177.3 {
            0.11 * (delay - 177.3)
        } else {
            0.0
        };
    let (ie, bpl) = impairment(codec);
    let ppl = loss_pct.clamp(0.0, 100.0);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = 93.2 - id - ie_eff;
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)).clamp(1.0, 4.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_g711_call_scores_like_toll_quality() {
        let mos = estimate_mos(Codec::Pcmu, 0.0, 40.0);
        assert!((4.3..=4.42).contains(&mos), "{mos}");
    }

    #[test]
    fn loss_and_delay_lower_the_score_monotonically() {
        let mut last = 5.0;
        for loss in [0.0, 1.0, 3.0, 5.0, 10.0, 20.0] {
            let mos = estimate_mos(Codec::Pcmu, loss, 40.0);
            assert!(mos < last, "{loss}% -> {mos}");
            last = mos;
        }
        assert!(estimate_mos(Codec::Pcmu, 0.0, 400.0) < estimate_mos(Codec::Pcmu, 0.0, 100.0));
        // 5% loss on G.711 with PLC is a noticeably degraded call (about 3.6).
        let five = estimate_mos(Codec::Pcmu, 5.0, 40.0);
        assert!((3.4..3.9).contains(&five), "{five}");
        assert_eq!(estimate_mos(Codec::Pcma, 100.0, 5000.0), 1.0);
        assert!(estimate_mos(Codec::Opus, 0.0, 40.0) < estimate_mos(Codec::Pcmu, 0.0, 40.0));
    }
}
