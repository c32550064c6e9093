//! Piper renders the phone's side of a call; Whisper transcribes it back.
//!
//! Needs the virtualenv made by `deploy/setup`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ringback_testbed::speech;
use tokio::time::Instant;

#[tokio::test]
async fn rendered_phone_audio_has_the_silences_and_transcribes_back() {
    let lines = [
        (1.5, "Yes, I can talk now."),
        (2.0, "I would like to book a table for two people."),
    ];
    let started = Instant::now();
    let wav = speech::render_phone_audio(&lines, 3.0).await.unwrap();
    eprintln!("rendered {} in {:?}", wav.display(), started.elapsed());

    let spec = hound::WavReader::open(&wav).unwrap().spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let duration = speech::wav_duration(&wav).unwrap();
    // 6.5 s of silence plus two short sentences (about 1.5 s and 2.5 s).
    assert!(duration > Duration::from_secs_f32(8.5), "{duration:?}");
    assert!(duration < Duration::from_secs_f32(14.0), "{duration:?}");

    // The leading silence is silent; the whole file is not.
    let samples: Vec<i16> = hound::WavReader::open(&wav)
        .unwrap()
        .samples()
        .map(Result::unwrap)
        .collect();
    assert!(
        samples[..11_000].iter().all(|&s| s == 0),
        "1.5 s of leading silence"
    );
    assert!(speech::channel_rms(&wav, 0).unwrap() > 0.01);

    // Cached by content: the second render is the same file, untouched.
    let modified = std::fs::metadata(&wav).unwrap().modified().unwrap();
    assert_eq!(speech::render_phone_audio(&lines, 3.0).await.unwrap(), wav);
    assert_eq!(std::fs::metadata(&wav).unwrap().modified().unwrap(), modified);

    let started = Instant::now();
    let text = speech::transcribe(&wav).await.unwrap();
    eprintln!("transcribed in {:?}: {text}", started.elapsed());
    assert_eq!(
        speech::normalize(&text),
        "yes i can talk now i would like to book a table for two people"
    );
}

#[tokio::test]
async fn silence_is_silent_and_bad_lengths_are_refused() {
    let wav = speech::silence(2.5).unwrap();
    assert_eq!(speech::wav_duration(&wav).unwrap(), Duration::from_millis(2500));
    assert_eq!(speech::channel_rms(&wav, 0).unwrap(), 0.0);
    assert!(speech::silence(-1.0).is_err());
    assert!(speech::render_phone_audio(&[(f32::NAN, "x")], 1.0).await.is_err());
}
