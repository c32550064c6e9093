//! Speech for tests: the human side of a call (Piper), transcription (Whisper), and WAV helpers.
//!
//! Piper and Whisper run in the Python virtualenv that `deploy/setup` makes at
//! `$RINGBACK_CACHE/venv` (default `$HOME/.cache/ringback/venv`), independently of Ringback's own speech
//! stack. The scripts are `deploy/testbed/py/*.py`, embedded in this crate.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{Result, TestbedError};

const RENDER_SCRIPT: &str = include_str!("../py/render_speech.py");
const TRANSCRIBE_SCRIPT: &str = include_str!("../py/transcribe.py");

/// The phone's audio format, part of the cache key.
const PHONE_FORMAT: &str = "wav 8000 Hz mono s16";

/// The testbed's cache: `$RINGBACK_CACHE`, or `$HOME/.cache/ringback` (as in `deploy/setup`).
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RINGBACK_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(TestbedError::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("ringback"))
}

/// Renders what the human on the phone says: for each `(silence_before_s, text)` that much silence, then
/// `text` spoken by Piper (joe-us voice); then `trailing_silence_s` of silence. The result is an 8 kHz
/// mono 16-bit WAV (the phone's microphone), cached by a hash of the inputs and the script under
/// `<cache>/testaudio/<sha256>.wav`; the first render of a line takes about a second plus 0.1 s per
/// second of speech.
///
/// Leave leading silence long enough for the agent's greeting (the phone plays from the moment it
/// answers) and ~30 s of trailing silence (baresip 1.0 hangs up when its WAV ends).
pub async fn render_phone_audio(lines: &[(f32, &str)], trailing_silence_s: f32) -> Result<PathBuf> {
    for silence in lines.iter().map(|(s, _)| *s).chain([trailing_silence_s]) {
        if !silence.is_finite() || silence < 0.0 {
            return Err(TestbedError::BadSilence(silence));
        }
    }
    let request_lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|(silence, text)| serde_json::json!([silence, text]))
        .collect();
    let key = {
        let mut hash = Sha256::new();
        hash.update(RENDER_SCRIPT.as_bytes());
        hash.update(PHONE_FORMAT.as_bytes());
        hash.update(
            serde_json::json!([request_lines, trailing_silence_s])
                .to_string()
                .as_bytes(),
        );
        hex::encode(hash.finalize())
    };
    let audio_dir = cache_dir()?.join("testaudio");
    let out = audio_dir.join(format!("{key}.wav"));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&audio_dir).map_err(|source| TestbedError::CreateDir {
        path: audio_dir.clone(),
        source,
    })?;
    // Work in a scratch dir next to the cache entry, so the final rename is atomic.
    let scratch = tempfile::Builder::new()
        .prefix(".render-")
        .tempdir_in(&audio_dir)
        .map_err(|source| TestbedError::CreateDir {
            path: audio_dir.clone(),
            source,
        })?;
    let native = scratch.path().join("native.wav");
    let resampled = scratch.path().join("phone.wav");

    let request = serde_json::json!({
        "lines": request_lines,
        "trailing_silence_s": trailing_silence_s,
        "out": native,
    });
    let output = run_python("render_speech.py", RENDER_SCRIPT, &[], Some(request.to_string())).await?;
    tracing::debug!(output = %output.trim(), "piper rendered");

    let sox = Command::new("sox")
        .arg("-D") // no dither: the same input gives the same bytes
        .arg(&native)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&resampled)
        .output()
        .await
        .map_err(|source| TestbedError::Spawn {
            program: "sox",
            source,
        })?;
    if !sox.status.success() {
        return Err(TestbedError::ToolFailed {
            tool: "sox",
            status: sox.status,
            stderr: stderr_tail(&sox.stderr),
        });
    }
    std::fs::rename(&resampled, &out).map_err(|source| TestbedError::WriteFile {
        path: out.clone(),
        source,
    })?;
    Ok(out)
}

/// A WAV of `seconds` of digital silence in the phone's format (8 kHz mono 16-bit), cached under
/// `<cache>/testaudio/silence-<ms>ms.wav`: the microphone of a phone that only listens.
pub fn silence(seconds: f32) -> Result<PathBuf> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(TestbedError::BadSilence(seconds));
    }
    let frames = (f64::from(seconds) * 8000.0).round() as u32;
    let audio_dir = cache_dir()?.join("testaudio");
    let out = audio_dir.join(format!("silence-{}ms.wav", frames / 8));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&audio_dir).map_err(|source| TestbedError::CreateDir {
        path: audio_dir.clone(),
        source,
    })?;
    let scratch = tempfile::Builder::new()
        .prefix(".silence-")
        .tempfile_in(&audio_dir)
        .map_err(|source| TestbedError::WriteFile {
            path: audio_dir.clone(),
            source,
        })?;
    let wav_err = |source| TestbedError::Wav {
        path: scratch.path().to_owned(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer =
        hound::WavWriter::new(std::io::BufWriter::new(scratch.as_file()), spec).map_err(wav_err)?;
    for _ in 0..frames {
        writer.write_sample(0i16).map_err(wav_err)?;
    }
    writer.finalize().map_err(wav_err)?;
    scratch.persist(&out).map_err(|err| TestbedError::WriteFile {
        path: out.clone(),
        source: err.error,
    })?;
    Ok(out)
}

/// An answering machine's side of a call: after `silence_s`, `greeting` spoken by Piper, then a
/// beep of `beep_hz` lasting `beep_ms` (at -6 dBFS), then 30 s of silence (the machine records).
/// Returns the WAV (8 kHz mono 16-bit, cached like [`render_phone_audio`]) and where the beep
/// starts and ends, in seconds from the start of the audio (the answer).
pub async fn machine_greeting(
    silence_s: f32,
    greeting: &str,
    beep_hz: f32,
    beep_ms: u32,
) -> Result<(PathBuf, f32, f32)> {
    let speech = render_phone_audio(&[(silence_s, greeting)], 0.3).await?;
    let wav_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TestbedError::Wav { path, source }
    };
    let mut reader = hound::WavReader::open(&speech).map_err(wav_err(&speech))?;
    let mut samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<std::result::Result<_, _>>()
        .map_err(wav_err(&speech))?;
    let beep_start = samples.len() as f32 / 8000.0;
    let beep_samples = (beep_ms as usize) * 8;
    samples.extend((0..beep_samples).map(|i| {
        let t = i as f32 / 8000.0;
        (0.5 * 32767.0 * (2.0 * std::f32::consts::PI * beep_hz * t).sin()) as i16
    }));
    let beep_end = samples.len() as f32 / 8000.0;
    samples.extend(std::iter::repeat_n(0i16, 30 * 8000));
    let name = speech
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("greeting")
        .to_owned();
    let out = cache_dir()?
        .join("testaudio")
        .join(format!("{name}-beep{}hz{beep_ms}ms.wav", beep_hz.round()));
    if !out.is_file() {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let scratch = out.with_extension("wav.part");
        let mut writer = hound::WavWriter::create(&scratch, spec).map_err(wav_err(&scratch))?;
        for s in &samples {
            writer.write_sample(*s).map_err(wav_err(&scratch))?;
        }
        writer.finalize().map_err(wav_err(&scratch))?;
        std::fs::rename(&scratch, &out).map_err(|source| TestbedError::WriteFile {
            path: out.clone(),
            source,
        })?;
    }
    Ok((out, beep_start, beep_end))
}

/// Transcribes a WAV with faster-whisper and the Whisper tiny.en weights (CPU, int8, 2 threads); about
/// 1.5 s for a few seconds of speech. Compare with [`normalize`]d text.
pub async fn transcribe(wav: impl AsRef<Path>) -> Result<String> {
    let wav = wav.as_ref();
    let text = run_python("transcribe.py", TRANSCRIBE_SCRIPT, &[wav.as_os_str()], None).await?;
    Ok(text.trim().to_owned())
}

/// Text for assertions: lowercase; `.` and apostrophes dropped (`A.I.` becomes `ai`, `don't` becomes
/// `dont`); any other non-alphanumeric character is a space; runs of spaces collapsed; trimmed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !matches!(c, '.' | '\'' | '\u{2019}') {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The RMS level (full scale = 1.0) of one channel (0-based) of a PCM or float WAV; 0.0 if it is empty.
/// Speech from Piper is around 0.1; digital silence is 0.0.
pub fn channel_rms(path: impl AsRef<Path>, channel: u16) -> Result<f32> {
    let path = path.as_ref();
    let wav_err = |source| TestbedError::Wav {
        path: path.to_owned(),
        source,
    };
    let mut reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    if channel >= spec.channels {
        return Err(TestbedError::NoSuchChannel {
            path: path.to_owned(),
            channels: spec.channels,
            channel,
        });
    }
    let channels = usize::from(spec.channels);
    let wanted = usize::from(channel);
    let (mut sum, mut count) = (0f64, 0u64);
    let mut add = |index: usize, value: f64| {
        if index % channels == wanted {
            sum += value * value;
            count += 1;
        }
    };
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for (i, sample) in reader.samples::<f32>().enumerate() {
                add(i, f64::from(sample.map_err(wav_err)?));
            }
        }
        hound::SampleFormat::Int => {
            let full_scale = f64::from(1u32 << (spec.bits_per_sample.clamp(1, 32) - 1));
            for (i, sample) in reader.samples::<i32>().enumerate() {
                add(i, f64::from(sample.map_err(wav_err)?) / full_scale);
            }
        }
    }
    if count == 0 {
        return Ok(0.0);
    }
    Ok((sum / count as f64).sqrt() as f32)
}

/// The duration of a WAV file.
pub fn wav_duration(path: impl AsRef<Path>) -> Result<Duration> {
    let path = path.as_ref();
    let reader = hound::WavReader::open(path).map_err(|source| TestbedError::Wav {
        path: path.to_owned(),
        source,
    })?;
    let rate = reader.spec().sample_rate.max(1);
    Ok(Duration::from_secs_f64(
        f64::from(reader.duration()) / f64::from(rate),
    ))
}

/// Runs an embedded script with the venv's Python (`python -c <script> args...`), feeding `stdin`;
/// returns its standard output.
pub(crate) async fn run_python(
    name: &'static str,
    script: &str,
    args: &[&std::ffi::OsStr],
    stdin: Option<String>,
) -> Result<String> {
    let venv = cache_dir()?.join("venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        return Err(TestbedError::VenvMissing(venv));
    }
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TestbedError::Spawn {
            program: "python",
            source,
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|source| TestbedError::Spawn {
                program: "python",
                source,
            })?;
        // Dropping the pipe closes it: the script sees end of input.
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|source| TestbedError::Spawn {
            program: "python",
            source,
        })?;
    if !output.status.success() {
        return Err(TestbedError::ToolFailed {
            tool: name,
            status: output.status,
            stderr: stderr_tail(&output.stderr),
        });
    }
    String::from_utf8(output.stdout).map_err(|err| TestbedError::ToolOutput {
        tool: name,
        output: String::from_utf8_lossy(err.as_bytes()).into_owned(),
    })
}

/// The end of a tool's standard error, for error messages.
fn stderr_tail(stderr: &[u8]) -> String {
    const MAX: usize = 2000;
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text.len().saturating_sub(MAX);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalize_lowercases_and_drops_punctuation() {
        assert_eq!(
            normalize("Hello, I'm the A.I. assistant!"),
            "hello im the ai assistant"
        );
        assert_eq!(
            normalize("  Self-hosted   voice\tagents. "),
            "self hosted voice agents"
        );
        assert_eq!(normalize("Don’t"), "dont");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn channel_rms_measures_each_channel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..8000 {
            // left: a full-scale square wave; right: silence
            writer
                .write_sample(if i % 2 == 0 { i16::MAX } else { -i16::MAX })
                .unwrap();
            writer.write_sample(0i16).unwrap();
        }
        writer.finalize().unwrap();
        assert!((channel_rms(&path, 0).unwrap() - 1.0).abs() < 1e-3);
        assert_eq!(channel_rms(&path, 1).unwrap(), 0.0);
        assert!(matches!(
            channel_rms(&path, 2),
            Err(TestbedError::NoSuchChannel { channels: 2, .. })
        ));
        assert_eq!(wav_duration(&path).unwrap(), Duration::from_secs(1));
    }
}
