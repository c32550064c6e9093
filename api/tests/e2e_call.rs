//! The walking skeleton end to end, exactly as `ringback demo` runs it: kamailio as the trunk, baresip
//! as the phone answering with recorded human speech, on-box Piper and Whisper, the HTTP API and a
//! signed callback. Then every party is checked for what it saw.

use ringback::demo::{self, DemoOptions};
use ringback_testbed::speech;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_call_through_a_real_trunk_to_a_real_phone() {
    let data = tempfile::tempdir().expect("temp dir");
    let run = demo::run(DemoOptions::standard(data.path().to_owned()))
        .await
        .expect("demo runs");

    // The trunk challenged our REGISTER (401) and INVITE (407), and both then succeeded.
    for line in [
        "AUTH-CHALLENGE REGISTER from agent",
        "AUTH-OK REGISTER from agent",
        "AUTH-CHALLENGE INVITE from agent",
        "AUTH-OK INVITE from agent",
    ] {
        assert!(
            run.trunk_log.contains(line),
            "kamailio never logged {line:?}:\n{}",
            run.trunk_log
        );
    }
    let challenge = run
        .trunk_log
        .find("AUTH-CHALLENGE INVITE from agent")
        .unwrap_or(usize::MAX);
    let ok = run.trunk_log.find("AUTH-OK INVITE from agent").unwrap_or(0);
    assert!(challenge < ok, "the INVITE was challenged before it was accepted");

    // The callback arrived, signed, with outcome completed.
    assert!(run.callback.signature_valid, "callback signature must verify");
    assert_eq!(run.callback.body["type"], "call.finalized");
    let call = &run.call;
    assert_eq!(call["outcome"], "completed", "{call:#}");
    assert_eq!(call["lifecycle"], "finalized");
    assert_eq!(call["sip"]["hangup_by"], "agent");
    assert!(call["talk_seconds"].as_f64().unwrap_or(0.0) > 5.0);

    // The phone heard the AI disclosure (its own recording, transcribed by an independent Whisper).
    let heard = run.phone_heard.as_ref().expect("the phone recorded the call");
    let heard = speech::normalize(&speech::transcribe(heard).await.expect("transcribes"));
    assert!(heard.contains("ai assistant"), "the phone heard: {heard:?}");

    // The agent's transcript has what the phone said.
    let transcript = call["transcript"].as_array().expect("transcript");
    let caller: Vec<String> = transcript
        .iter()
        .filter(|t| t["role"] == "caller")
        .map(|t| speech::normalize(t["text"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        caller
            .iter()
            .any(|t| t.contains("tuesday") && t.contains("works for me")),
        "caller turns: {caller:?}"
    );
    assert_eq!(
        transcript.first().map(|t| t["role"].clone()),
        Some("agent".into()),
        "the agent speaks first"
    );
    assert_eq!(call["form_fills"]["confirmed"], true);

    // Turn times are when the audio was on the wire: the agent's turns follow each other without
    // overlapping (an utterance queued behind another starts when the first ends), and every
    // turn ends after it starts.
    let times: Vec<(String, u64, u64)> = transcript
        .iter()
        .map(|t| {
            (
                t["role"].as_str().unwrap_or_default().to_owned(),
                t["start_ms"].as_u64().expect("start_ms"),
                t["end_ms"].as_u64().expect("end_ms"),
            )
        })
        .collect();
    assert!(times.iter().all(|(_, s, e)| e >= s), "{times:?}");
    let agent: Vec<&(String, u64, u64)> = times.iter().filter(|t| t.0 == "agent").collect();
    assert!(agent.len() >= 2, "{times:?}");
    for pair in agent.windows(2) {
        // One 20 ms frame of slack: the next utterance starts on the frame after the last one.
        assert!(pair[1].1 + 20 >= pair[0].2, "agent turns overlap: {times:?}");
        assert!(pair[1].1 > pair[0].1, "agent turns share a start time: {times:?}");
    }

    // The recording has speech on both channels: left the phone, right the agent.
    let recording = run.recording_file.as_ref().expect("a recording");
    let left = speech::channel_rms(recording, 0).expect("left channel");
    let right = speech::channel_rms(recording, 1).expect("right channel");
    assert!(left > 0.01, "remote channel RMS {left}");
    assert!(right > 0.01, "agent channel RMS {right}");
    assert_eq!(call["media"]["codec"], "PCMU");
}
