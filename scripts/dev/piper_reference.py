#!/usr/bin/env python3
"""Checks ideadesk's Piper voice (VITS on candle) against the reference: the same voice's
ONNX graph run by onnxruntime on the same phoneme ids.

A dev script; no test runs it. From the repository root, after `make test-models` and
`cargo build --release`:

    python3 -m venv /tmp/piperref && /tmp/piperref/bin/pip install numpy onnxruntime
    /tmp/piperref/bin/python scripts/dev/piper_reference.py \
        --bin target/release/ideadesk --voice models/test/tts/en_US-joe-medium.onnx \
        --text "Hello world, this is a test of the voice. Who has the problem today?"

It runs `ideadesk say --json --out ours.wav` with both noise scales at 0 (so neither side
draws random numbers and the outputs are comparable sample by sample), reads back the
phoneme ids ideadesk gave each sentence, runs onnxruntime on the same ids with the same
scales, and prints, per sentence and overall: the sample counts (equal when the duration
predictors agree), the largest absolute difference and the signal-to-noise ratio of ours
against the reference (the WAV's 16-bit samples bound it at about 90 dB).
"""

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime


def read_wav(path):
    """Mono samples in [-1, 1] from a PCM16 or float32 WAV."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        sys.exit(f"{path} is not a WAV file")
    offset = 12
    fmt = None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif chunk_id == b"data":
            audio_format, channels, rate, _, _, bits = fmt
            if audio_format == 3 or (audio_format == 0xFFFE and bits == 32):
                samples = np.frombuffer(body, dtype="<f4")
            elif bits == 16:
                samples = np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0
            else:
                sys.exit(f"{path}: unsupported WAV format {audio_format} with {bits} bits")
            return samples.reshape(-1, channels)[:, 0], rate
        offset += 8 + size + (size & 1)
    sys.exit(f"{path} has no data chunk")


def compare(reference, ours):
    n = min(len(reference), len(ours))
    diff = reference[:n] - ours[:n]
    max_abs = float(np.abs(diff).max()) if n else 0.0
    noise = float((diff**2).sum())
    signal = float((reference[:n] ** 2).sum())
    snr_db = 10 * np.log10(signal / noise) if noise > 0 else float("inf")
    return n, max_abs, snr_db


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="target/release/ideadesk")
    parser.add_argument("--voice", default="models/test/tts/en_US-joe-medium.onnx")
    parser.add_argument("--models", default="models/test")
    parser.add_argument("--text", required=True)
    parser.add_argument("--length-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ours_wav = Path(tmp) / "ours.wav"
        command = [
            args.bin, "--models", args.models, "--quiet", "say", args.text,
            "--voice", "piper", "--noise-scale", "0", "--noise-w", "0",
            "--length-scale", str(args.length_scale), "--json", "--out", str(ours_wav),
        ]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"ideadesk failed ({run.returncode}): {run.stderr}")
        sentences = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        sentences = [s for s in sentences if s.get("kind") == "sentence"]
        ours, rate = read_wav(ours_wav)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(args.voice, options, providers=["CPUExecutionProvider"])
    scales = np.array([0.0, args.length_scale, 0.0], dtype=np.float32)

    reference_parts = []
    reference_seconds = 0.0
    for sentence in sentences:
        ids = np.array([sentence["phoneme_ids"]], dtype=np.int64)
        feed = {"input": ids, "input_lengths": np.array([ids.shape[1]], dtype=np.int64), "scales": scales}
        started = time.perf_counter()
        audio = session.run(None, feed)[0].reshape(-1).astype(np.float32)
        reference_seconds += time.perf_counter() - started
        reference_parts.append(audio)

    offset = 0
    for sentence, reference in zip(sentences, reference_parts):
        n_ours = sentence["n_samples"]
        n, max_abs, snr_db = compare(reference, ours[offset : offset + n_ours])
        print(
            f"sentence {sentence['sentence_idx']}: {len(reference)} reference samples, {n_ours} ours, "
            f"max |diff| {max_abs:.2e}, SNR {snr_db:.1f} dB  ({sentence['text']!r})"
        )
        offset += n_ours
    reference = np.concatenate(reference_parts) if reference_parts else np.zeros(0, np.float32)
    n, max_abs, snr_db = compare(reference, ours)
    audio_seconds = len(reference) / rate
    print(
        f"overall: {len(reference)} reference samples, {len(ours)} ours ({rate} Hz), "
        f"max |diff| {max_abs:.2e}, SNR {snr_db:.1f} dB"
    )
    print(
        f"onnxruntime: {reference_seconds:.3f} s for {audio_seconds:.2f} s of speech "
        f"(RTF {reference_seconds / max(audio_seconds, 1e-9):.3f}, {args.threads} threads)"
    )


if __name__ == "__main__":
    main()
