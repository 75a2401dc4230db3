#!/usr/bin/env python3
"""Writes Silero VAD's per-chunk speech probabilities for tests/data/jfk.wav, computed by
onnxruntime, for the Rust port's reference tests (src/vad/silero.rs).

A dev script; no test runs it. Run it from the repository root with the files of the
silero-vad 6.2.3 wheel (~/.cache/ideadesk/wheels, unzipped to $WHEEL):

    python3 -m venv /tmp/vadref && /tmp/vadref/bin/pip install numpy onnxruntime onnx
    /tmp/vadref/bin/python scripts/dev/silero_reference.py \
        --model $WHEEL/silero_vad/data/silero_vad.onnx \
        --wav tests/data/jfk.wav --out tests/data/silero_jfk_reference.json
    /tmp/vadref/bin/python scripts/dev/silero_reference.py \
        --model $WHEEL/silero_vad/data/silero_vad_16k_op15.onnx \
        --weights $WHEEL/silero_vad/data/silero_vad_16k.safetensors \
        --wav tests/data/jfk.wav --out tests/data/silero_jfk_reference_safetensors.json

The second run is needed because the wheel's silero_vad_16k.safetensors holds different
weights from its ONNX files (a different checkpoint of the same network): with
--weights, the 16 kHz initializers of silero_vad_16k_op15.onnx are replaced by the
safetensors tensors before onnxruntime runs it, so each weights file has a reference.

It streams the audio exactly as silero_vad's OnnxWrapper.audio_forward does: zero-pad the
audio to a whole number of 512-sample chunks, then feed each chunk with the previous 64
samples of context prepended (zeros before the first) and the LSTM state carried over.
"""

import argparse
import json
import wave

import numpy as np
import onnxruntime

# ONNX initializer of silero_vad_16k_op15.onnx → tensor of silero_vad_16k.safetensors.
SAFETENSORS_NAMES = {
    "model.stft.forward_basis_buffer": "stft_conv.weight",
    "model.encoder.0.reparam_conv.weight": "conv1.weight",
    "model.encoder.0.reparam_conv.bias": "conv1.bias",
    "model.encoder.1.reparam_conv.weight": "conv2.weight",
    "model.encoder.1.reparam_conv.bias": "conv2.bias",
    "model.encoder.2.reparam_conv.weight": "conv3.weight",
    "model.encoder.2.reparam_conv.bias": "conv3.bias",
    "model.encoder.3.reparam_conv.weight": "conv4.weight",
    "model.encoder.3.reparam_conv.bias": "conv4.bias",
    "model.decoder.rnn.weight_ih": "lstm_cell.weight_ih",
    "model.decoder.rnn.weight_hh": "lstm_cell.weight_hh",
    "model.decoder.rnn.bias_ih": "lstm_cell.bias_ih",
    "model.decoder.rnn.bias_hh": "lstm_cell.bias_hh",
    "model.decoder.decoder.2.weight": "final_conv.weight",
    "model.decoder.decoder.2.bias": "final_conv.bias",
}

CHUNK_SAMPLES = 512
CONTEXT_SAMPLES = 64
SAMPLE_RATE_HZ = 16000


def read_wav(path):
    """Reads a 16 kHz mono 16-bit PCM WAV as float32 in [-1, 1)."""
    with wave.open(path, "rb") as wav:
        assert wav.getframerate() == SAMPLE_RATE_HZ, "expected 16 kHz audio"
        assert wav.getnchannels() == 1, "expected mono audio"
        assert wav.getsampwidth() == 2, "expected 16-bit samples"
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def read_safetensors(path):
    """Reads an all-f32 safetensors file into numpy arrays."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name} is {info['dtype']}, expected F32"
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
    return tensors


def model_with_weights(model_path, weights_path):
    """The ONNX model's bytes with its 16 kHz initializers replaced by the safetensors."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(model_path)
    weights = read_safetensors(weights_path)
    replaced = 0
    for initializer in model.graph.initializer:
        name = SAFETENSORS_NAMES.get(initializer.name)
        if name is None:
            continue
        array = weights[name]
        assert tuple(initializer.dims) == array.shape, f"{initializer.name}: shape differs"
        initializer.CopyFrom(numpy_helper.from_array(array.astype(np.float32), initializer.name))
        replaced += 1
    assert replaced == len(SAFETENSORS_NAMES), f"replaced {replaced} initializers"
    return model.SerializeToString()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="silero_vad.onnx or silero_vad_16k_op15.onnx")
    parser.add_argument("--wav", required=True, help="16 kHz mono 16-bit WAV")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument(
        "--weights",
        help="silero_vad_16k.safetensors whose tensors replace the model's (needs onnx)",
    )
    parser.add_argument("--source", default="jfk.wav", help="name recorded as the source")
    args = parser.parse_args()

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    model = model_with_weights(args.model, args.weights) if args.weights else args.model
    session = onnxruntime.InferenceSession(
        model, providers=["CPUExecutionProvider"], sess_options=opts
    )

    audio = read_wav(args.wav)
    remainder = len(audio) % CHUNK_SAMPLES
    if remainder:
        audio = np.concatenate([audio, np.zeros(CHUNK_SAMPLES - remainder, dtype=np.float32)])

    state = np.zeros((2, 1, 128), dtype=np.float32)
    context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)
    sr = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
    probabilities = []
    for start in range(0, len(audio), CHUNK_SAMPLES):
        chunk = audio[start : start + CHUNK_SAMPLES][np.newaxis, :]
        x = np.concatenate([context, chunk], axis=1)
        out, state = session.run(None, {"input": x, "state": state, "sr": sr})
        context = x[:, -CONTEXT_SAMPLES:]
        probabilities.append(float(out[0, 0]))

    with open(args.out, "w") as f:
        json.dump(
            {
                "source": args.source,
                "model": args.model.rsplit("/", 1)[-1],
                "weights": args.weights.rsplit("/", 1)[-1] if args.weights else None,
                "generator": f"onnxruntime {onnxruntime.__version__}",
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "chunk_samples": CHUNK_SAMPLES,
                "context_samples": CONTEXT_SAMPLES,
                "probabilities": [round(p, 7) for p in probabilities],
            },
            f,
            indent=1,
        )
        f.write("\n")
    print(f"wrote {len(probabilities)} probabilities to {args.out}")


if __name__ == "__main__":
    main()
