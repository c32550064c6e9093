//! G.711 mu-law (PCMU) and A-law (PCMA) companding, per ITU-T G.711.
//!
//! Written by hand rather than pulled from a crate: the whole codec is two bit-twiddling
//! functions and two 256-entry tables, it sits on the per-packet path, and the exact bit
//! patterns matter for interop (telephone networks are full of equipment that checks them).
//! Encoding follows the reference algorithm (Sun's public-domain `g711.c`, which matches the
//! ITU-T tables): the 16-bit sample is reduced to 14 bits (mu-law) or 13 bits (A-law), biased,
//! and split into a 3-bit segment and 4-bit mantissa. Decoding is a table lookup; the tables
//! are computed at compile time from the same formula, so there is no hand-typed data to rot.

/// Mu-law bias added to the magnitude before segmenting (in 16-bit units: 0x84 = 132).
const ULAW_BIAS: i32 = 0x84;
/// Largest 14-bit magnitude mu-law can represent before clipping.
const ULAW_CLIP: i32 = 8159;
/// Upper bound of each mu-law segment, in the biased 14-bit domain.
const ULAW_SEG_END: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Upper bound of each A-law segment, in the 13-bit domain.
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Decoded value of every mu-law byte, built at compile time.
static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
/// Decoded value of every A-law byte, built at compile time.
static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

/// Index of the first segment whose upper bound is `>= value`, or 8 when it is above all.
#[inline]
const fn segment(value: i32, ends: &[i32; 8]) -> i32 {
    let mut seg = 0;
    while seg < 8 {
        if value <= ends[seg] {
            return seg as i32;
        }
        seg += 1;
    }
    8
}

/// Encodes one linear 16-bit sample as a mu-law byte.
#[inline]
pub const fn ulaw_encode(sample: i16) -> u8 {
    // Reduce to the 14-bit range G.711 mu-law is defined on (arithmetic shift floors).
    let mut pcm = (sample as i32) >> 2;
    let mask: i32 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS >> 2;
    let seg = segment(pcm, &ULAW_SEG_END);
    let code = if seg >= 8 {
        0x7F
    } else {
        (seg << 4) | ((pcm >> (seg + 1)) & 0x0F)
    };
    (code ^ mask) as u8
}

/// Decodes one mu-law byte to a linear 16-bit sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[code as usize]
}

/// Encodes one linear 16-bit sample as an A-law byte (even bits already inverted, as sent).
#[inline]
pub const fn alaw_encode(sample: i16) -> u8 {
    // Reduce to the 13-bit range G.711 A-law is defined on.
    let mut pcm = (sample as i32) >> 3;
    let mask: i32 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &ALAW_SEG_END);
    let code = if seg >= 8 {
        0x7F
    } else if seg < 2 {
        (seg << 4) | ((pcm >> 1) & 0x0F)
    } else {
        (seg << 4) | ((pcm >> seg) & 0x0F)
    };
    (code ^ mask) as u8
}

/// Decodes one A-law byte to a linear 16-bit sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[code as usize]
}

/// The reference mu-law expansion, used only to build [`ULAW_TO_LINEAR`].
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code as i32;
    let mut t = ((u & 0x0F) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

/// The reference A-law expansion, used only to build [`ALAW_TO_LINEAR`].
const fn alaw_expand(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut t = (a & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ulaw_expand(i as u8);
        i += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = alaw_expand(i as u8);
        i += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(-32124), 0x00);
        assert_eq!(ulaw_encode(32124), 0x80);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_ulaw_code_round_trips() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            // 0x7F is "negative zero": it decodes to 0, which encodes as positive zero.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, expected, "code {code:#04x}");
        }
    }

    #[test]
    fn every_alaw_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "code {code:#04x}");
        }
    }

    #[test]
    fn decoding_is_monotonic_in_magnitude() {
        // Positive mu-law codes run 0xFF (smallest) down to 0x80 (largest).
        for code in 0x81..=0xFFu8 {
            assert!(ulaw_decode(code) < ulaw_decode(code - 1));
        }
        // A-law positive codes, once the even-bit inversion is undone, increase with magnitude.
        for raw in 0x80..0xFFu8 {
            assert!(alaw_decode(raw ^ 0x55) < alaw_decode((raw + 1) ^ 0x55));
        }
    }

    #[test]
    fn quantization_error_is_within_half_a_step() {
        for x in i16::MIN..=i16::MAX {
            let mag = i32::from(x).abs();
            // Steps double per segment; half a step is at most 1/32 of the magnitude plus the
            // smallest step, and clipping above the top code is allowed.
            let bound = mag / 32 + 16;
            let u = i32::from(ulaw_decode(ulaw_encode(x)));
            if mag <= 32124 {
                assert!((u - i32::from(x)).abs() <= bound, "mu-law {x} -> {u}");
            }
            let a = i32::from(alaw_decode(alaw_encode(x)));
            if mag <= 32256 {
                assert!((a - i32::from(x)).abs() <= bound, "A-law {x} -> {a}");
            }
        }
    }

    #[test]
    fn sign_is_preserved() {
        for x in [-30000i16, -1000, -100, 100, 1000, 30000] {
            assert_eq!(ulaw_decode(ulaw_encode(x)).signum(), x.signum());
            assert_eq!(alaw_decode(alaw_encode(x)).signum(), x.signum());
        }
    }
}
