#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets (tests/fuzz.rs) to fuzz/corpus/<target>/.

Each target's seeds are small, valid files of the formats it reads, plus a few edge cases
(empty, truncated, oversized headers). The fuzz test mutates them, so a seed only has to
reach the parser's deeper code; it does not have to be realistic. Everything is made
here with the Python 3 standard library (PNG, baseline and progressive JPEG, WAV, ONNX
protobuf, GGUF, CTranslate2), except FLAC, Ogg Vorbis and MP3, which sox writes.

Run it from anywhere; it rewrites fuzz/corpus/ in the repository, byte for byte the same
on every run (sox runs in its repeatable mode; another sox version may encode the tone a
little differently). The files are committed, so the fuzz test needs neither sox nor
Python. A new seed changes which input each fuzz seed number makes, so replay old
findings by their saved files rather than by their seeds.

Seeds named `slow_*` are run as they are but not mutated (see tests/fuzz.rs). The
JSON-schema and constraint seeds are a schema, a NUL byte, then a document (json_schema)
or the bytes that choose the tokens (constrain).
"""

import math
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "fuzz" / "corpus"

# The largest seed a target should have, in bytes; the fuzz loop's speed depends on it.
MAX_SEED_BYTES = 48 * 1024


def write(target, name, data):
    """Writes one seed and checks its size."""
    assert len(data) <= MAX_SEED_BYTES, f"{target}/{name} is {len(data)} bytes"
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# ------------------------------------------------------------------ audio


def wav_bytes(sample_rate_hz, n_channels, sample_width, frames):
    """A PCM WAV via the wave module; `frames` is the raw little-endian sample data."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        with wave.open(tmp.name, "wb") as out:
            out.setnchannels(n_channels)
            out.setsampwidth(sample_width)
            out.setframerate(sample_rate_hz)
            out.writeframes(frames)
        return Path(tmp.name).read_bytes()


def sine(n_samples, sample_rate_hz, frequency_hz=440.0, amplitude=0.5):
    return [
        amplitude * math.sin(2 * math.pi * frequency_hz * i / sample_rate_hz)
        for i in range(n_samples)
    ]


def float_wav(sample_rate_hz, samples, extensible=False):
    """An IEEE-float WAV (format 3), optionally as WAVE_FORMAT_EXTENSIBLE."""
    data = b"".join(struct.pack("<f", s) for s in samples)
    if extensible:
        # cbSize 22: valid bits, channel mask, then the KSDATAFORMAT_SUBTYPE_IEEE_FLOAT GUID.
        guid = struct.pack("<IHH", 3, 0x0000, 0x0010) + bytes(
            [0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
        )
        fmt = struct.pack(
            "<HHIIHHHHI", 0xFFFE, 1, sample_rate_hz, sample_rate_hz * 4, 4, 32, 22, 32, 4
        ) + guid
    else:
        fmt = struct.pack("<HHIIHH", 3, 1, sample_rate_hz, sample_rate_hz * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sox_seed(extension, extra_args):
    """A short tone written by sox, or None when sox cannot write this format."""
    if shutil.which("sox") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"tone.{extension}"
        # -R: repeatable (fixed seeds for dither and the Ogg serial number, no timestamps).
        command = ["sox", "-R", "-n", *extra_args, str(out), "synth", "0.1", "sine", "440",
                   "vol", "0.5"]
        result = subprocess.run(command, capture_output=True)
        if result.returncode != 0 or not out.exists():
            return None
        return out.read_bytes()


def audio_decode():
    target = "audio_decode"
    rate = 16_000
    pcm16 = b"".join(struct.pack("<h", int(s * 32767)) for s in sine(800, rate))
    write(target, "mono_16bit_16khz.wav", wav_bytes(rate, 1, 2, pcm16))
    pcm8 = bytes(int(128 + s * 127) for s in sine(800, 8000))
    write(target, "mono_8bit_8khz.wav", wav_bytes(8000, 1, 1, pcm8))
    stereo = b"".join(
        struct.pack("<hh", int(s * 32767), int(-s * 32767)) for s in sine(441, 44_100)
    )
    write(target, "stereo_16bit_44khz.wav", wav_bytes(44_100, 2, 2, stereo))
    pcm24 = b"".join(struct.pack("<i", int(s * 8_388_607))[:3] for s in sine(400, 48_000))
    write(target, "mono_24bit_48khz.wav", wav_bytes(48_000, 1, 3, pcm24))
    write(target, "mono_float_16khz.wav", float_wav(rate, sine(600, rate)))
    write(target, "mono_float_extensible.wav", float_wav(22_050, sine(300, 22_050), True))
    write(target, "header_only.wav", wav_bytes(rate, 1, 2, b""))
    for extension, args in [
        ("flac", ["-r", "16000", "-c", "1", "-b", "16"]),
        ("ogg", ["-r", "16000", "-c", "1"]),
        ("mp3", ["-r", "16000", "-c", "1"]),
    ]:
        data = sox_seed(extension, args)
        if data is None:
            print(f"sox cannot write .{extension} here; no {extension} seed", file=sys.stderr)
        else:
            write(target, f"tone.{extension}", data)


# ------------------------------------------------------------------ ONNX


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((number << 3) | 2) + varint(len(data)) + data


def field_f32(number, value):
    return varint((number << 3) | 5) + struct.pack("<f", value)


def packed_varints(number, values):
    return field_bytes(number, b"".join(varint(v) for v in values))


def tensor(name, dims, data_type, raw=None, floats=None, int32s=None, int64s=None,
           doubles=None, packed=True):
    """A TensorProto."""
    out = bytearray()
    if packed:
        out += packed_varints(1, dims)
    else:
        for dim in dims:
            out += field_varint(1, dim)
    out += field_varint(2, data_type)
    if floats is not None:
        if packed:
            out += field_bytes(4, b"".join(struct.pack("<f", v) for v in floats))
        else:
            for value in floats:
                out += field_f32(4, value)
    if int32s is not None:
        out += packed_varints(5, int32s)
    if int64s is not None:
        out += packed_varints(7, int64s)
    out += field_bytes(8, name)
    if raw is not None:
        out += field_bytes(9, raw)
    if doubles is not None:
        out += field_bytes(10, b"".join(struct.pack("<d", v) for v in doubles))
    return bytes(out)


def attribute(name, kind, payload):
    """An AttributeProto; `payload` is the already-encoded value field."""
    return field_bytes(1, name) + payload + field_varint(20, kind)


def node(op_type, inputs, outputs, name="", attributes=()):
    out = bytearray()
    for value in inputs:
        out += field_bytes(1, value)
    for value in outputs:
        out += field_bytes(2, value)
    if name:
        out += field_bytes(3, name)
    out += field_bytes(4, op_type)
    for attr in attributes:
        out += field_bytes(5, attr)
    return bytes(out)


def value_info(name):
    return field_bytes(1, name)


def graph(name, nodes=(), initializers=(), inputs=(), outputs=()):
    out = bytearray()
    for item in nodes:
        out += field_bytes(1, item)
    out += field_bytes(2, name)
    for item in initializers:
        out += field_bytes(5, item)
    for item in inputs:
        out += field_bytes(11, value_info(item))
    for item in outputs:
        out += field_bytes(12, value_info(item))
    return bytes(out)


def model(graph_bytes, opset=17):
    opset_import = field_bytes(1, "") + field_varint(2, opset)
    return (
        field_varint(1, 8)
        + field_bytes(2, "fuzz-corpus")
        + field_bytes(7, graph_bytes)
        + field_bytes(8, opset_import)
    )


def onnx():
    target = "onnx"
    f16 = lambda v: struct.pack("<e", v)  # noqa: E731
    weights = [
        tensor("conv.weight", [2, 1, 3], 1,
               raw=b"".join(struct.pack("<f", v / 4) for v in range(6))),
        tensor("conv.bias", [2], 1, floats=[0.5, -0.5]),
        tensor("onnx::Conv_7", [2, 2], 10, raw=b"".join(f16(v) for v in [1.0, 0.5, -2.0, 0.25])),
        tensor("shape", [3], 7, int64s=[1, -1, 2]),
        tensor("ids", [2, 2], 6, int32s=[1, 2, 3, 4]),
        tensor("scale", [], 11, doubles=[0.125]),
        tensor("mask", [4], 9, raw=bytes([1, 0, 1, 1])),
        tensor("bf", [2], 16, int32s=[0x3F80, 0xC000]),
        tensor("u8", [3], 2, raw=bytes([0, 128, 255])),
        tensor("i8", [3], 3, int32s=[-1, 0, 1], packed=False),
    ]
    constant = node(
        "Constant", [], ["const_out"], "/block/Constant",
        [attribute("value", 4, field_bytes(5, tensor("", [2], 1, floats=[1.0, 2.0])))],
    )
    then_branch = graph(
        "then", [node("Constant", [], ["then_out"], "/if/then/Constant",
                      [attribute("value", 4, field_bytes(5, tensor("", [1], 7, int64s=[3])))])],
        outputs=["then_out"],
    )
    else_branch = graph("else", [node("Identity", ["shape"], ["else_out"])], outputs=["else_out"])
    conv = node(
        "Conv", ["x", "conv.weight", "conv.bias"], ["y"], "/enc/conv/Conv",
        [
            attribute("kernel_shape", 7, packed_varints(8, [3])),
            attribute("pads", 7, b"".join(field_varint(8, v) for v in [1, 1])),
            attribute("alpha", 1, field_f32(2, 0.2)),
            attribute("auto_pad", 3, field_bytes(4, "NOTSET")),
            attribute("group", 2, field_varint(3, 1)),
            attribute("names", 8, field_bytes(9, "a") + field_bytes(9, "b")),
            attribute("scales", 6, field_f32(7, 1.5) + field_f32(7, 2.5)),
        ],
    )
    if_node = node(
        "If", ["cond"], ["if_out"], "/if/If",
        [attribute("then_branch", 5, field_bytes(6, then_branch)),
         attribute("else_branch", 5, field_bytes(6, else_branch))],
    )
    matmul = node("MatMul", ["y", "onnx::Conv_7"], ["z"], "/dec/MatMul")
    main = graph("main", [constant, conv, if_node, matmul], weights, ["x", "cond"], ["z", "if_out"])
    write(target, "conv_if_constants.onnx", model(main))
    loop_constant = tensor("", [2], 1, raw=struct.pack("<ff", 1.0, -1.0))
    loop_body = graph("body", [node("Constant", [], ["c"], "", [
        attribute("value", 0, field_bytes(5, loop_constant))])])
    loop = node("Loop", ["n", "cond"], ["out"], "/loop/Loop",
                [attribute("body", 0, field_bytes(6, loop_body)),
                 attribute("bodies", 10, field_bytes(11, loop_body) + field_bytes(11, loop_body)),
                 attribute("tensors", 9, field_bytes(10, tensor("t", [1], 1, floats=[3.0])))])
    write(target, "loop_subgraphs.onnx", model(graph("loop", [loop], outputs=["out"])))
    location = field_bytes(1, "location") + field_bytes(2, "w.bin")
    external = tensor("external", [4], 1) + field_bytes(13, location) + field_varint(14, 1)
    write(target, "external_data.onnx", model(graph("ext", initializers=[external])))
    write(target, "empty_graph.onnx", model(b""))
    # No elements, but dimensions whose strides overflow: the element count is 0, so the
    # data (none) fits, and only the conversion to a tensor multiplies them out.
    empty = tensor("empty", [0, 1 << 40, 1 << 40], 1, floats=[])
    write(target, "empty_tensor_huge_dims.onnx", model(graph("empty", initializers=[empty])))
    write(target, "no_graph.onnx", field_varint(1, 8) + field_bytes(2, "x"))
    nested = graph("leaf")
    for depth in range(6):
        branch = attribute("then_branch", 5, field_bytes(6, nested))
        nested = graph(f"g{depth}", [node("If", ["c"], ["o"], "", [branch])])
    write(target, "nested_ifs.onnx", model(nested))


# ------------------------------------------------------------------ GGUF

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL = range(8)
GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64 = range(8, 13)
GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8


def gguf_string(text, version=3):
    data = text.encode()
    return (struct.pack("<Q", len(data)) if version >= 2 else struct.pack("<I", len(data))) + data


def gguf_value(kind, value, version=3):
    scalar = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I",
              GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<B", GGUF_U64: "<Q", GGUF_I64: "<q",
              GGUF_F64: "<d"}
    if kind in scalar:
        return struct.pack(scalar[kind], value)
    if kind == GGUF_STRING:
        return gguf_string(value, version)
    element_kind, elements = value
    count = struct.pack("<Q", len(elements)) if version >= 2 else struct.pack("<I", len(elements))
    return struct.pack("<I", element_kind) + count + b"".join(
        gguf_value(element_kind, element, version) for element in elements
    )


def gguf(metadata, tensors, version=3, alignment=32):
    """A GGUF file: metadata as (key, kind, value), tensors as (name, dims, ggml type, data)."""
    out = bytearray(b"GGUF" + struct.pack("<I", version))
    count = "<Q" if version >= 2 else "<I"
    out += struct.pack(count, len(tensors)) + struct.pack(count, len(metadata))
    for key, kind, value in metadata:
        out += gguf_string(key, version) + struct.pack("<I", kind)
        out += gguf_value(kind, value, version)
    offset = 0
    blobs = []
    for name, dims, ggml_type, data in tensors:
        out += gguf_string(name, version) + struct.pack("<I", len(dims))
        for dim in dims:
            out += struct.pack("<Q", dim) if version >= 2 else struct.pack("<I", dim)
        out += struct.pack("<I", ggml_type) + struct.pack("<Q", offset)
        blobs.append(data)
        offset += len(data)
        offset += (-offset) % alignment
        blobs.append(bytes((-len(data)) % alignment))
    out += bytes((-len(out)) % alignment)
    out += b"".join(blobs)
    return bytes(out)


def f32_data(n):
    return b"".join(struct.pack("<f", (i % 7) / 7.0) for i in range(n))


def q8_0_data(n_blocks):
    return b"".join(struct.pack("<e", 0.01) + bytes(range(32)) for _ in range(n_blocks))


def gguf_tokenizer_metadata():
    tokens = ["<s>", "</s>", "a", "b", "c", "Ġ", "ab", "Ġa", "<|im_start|>", "<|im_end|>"]
    return [
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STRING, "qwen2"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, [3, 3, 1, 1, 1, 1, 1, 1, 3, 3])),
        ("tokenizer.ggml.merges", GGUF_ARRAY, (GGUF_STRING, ["a b", "Ġ a"])),
        ("tokenizer.ggml.bos_token_id", GGUF_U32, 0),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, 1),
    ]


def llama_metadata(architecture="llama", hidden=8):
    return [
        ("general.architecture", GGUF_STRING, architecture),
        ("general.name", GGUF_STRING, "fuzz seed"),
        ("general.alignment", GGUF_U32, 32),
        (f"{architecture}.embedding_length", GGUF_U32, hidden),
        (f"{architecture}.feed_forward_length", GGUF_U32, 16),
        (f"{architecture}.block_count", GGUF_U32, 1),
        (f"{architecture}.attention.head_count", GGUF_U32, 2),
        (f"{architecture}.attention.head_count_kv", GGUF_U32, 1),
        (f"{architecture}.context_length", GGUF_U32, 64),
        (f"{architecture}.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-5),
        (f"{architecture}.rope.freq_base", GGUF_F32, 10000.0),
    ]


def gguf_seeds():
    target = "gguf"
    tensors = [
        ("token_embd.weight", [8, 10], GGML_F32, f32_data(80)),
        ("output_norm.weight", [8], GGML_F32, f32_data(8)),
        ("blk.0.attn_q.weight", [8, 8], GGML_F16, struct.pack("<e", 0.5) * 64),
    ]
    write(target, "llama_f32_tokenizer.gguf",
          gguf(llama_metadata() + gguf_tokenizer_metadata(), tensors))
    qwen_tensors = [
        ("token_embd.weight", [32, 4], GGML_Q8_0, q8_0_data(4)),
        ("output.weight", [32, 4], GGML_Q8_0, q8_0_data(4)),
    ]
    extra = [
        ("qwen2.misc.u8", GGUF_U8, 7), ("qwen2.misc.i8", GGUF_I8, -7),
        ("qwen2.misc.u16", GGUF_U16, 700), ("qwen2.misc.i16", GGUF_I16, -700),
        ("qwen2.misc.i32", GGUF_I32, -70000), ("qwen2.misc.u64", GGUF_U64, 1 << 40),
        ("qwen2.misc.i64", GGUF_I64, -(1 << 40)), ("qwen2.misc.f64", GGUF_F64, 0.5),
        ("qwen2.misc.bool", GGUF_BOOL, 1),
        ("qwen2.misc.nested", GGUF_ARRAY, (GGUF_ARRAY, [(GGUF_U8, [1, 2]), (GGUF_U8, [3])])),
    ]
    write(target, "qwen2_q8_0.gguf", gguf(llama_metadata("qwen2", 32) + extra, qwen_tensors))
    write(target, "llama_v2_align64.gguf",
          gguf([(k, t, 64 if k == "general.alignment" else v) for k, t, v in llama_metadata()],
               tensors[:2], version=2, alignment=64))
    write(target, "llama_v1.gguf", gguf(llama_metadata()[:1], tensors[:1], version=1))
    write(target, "unknown_architecture.gguf",
          gguf([("general.architecture", GGUF_STRING, "mamba")], []))
    write(target, "empty.gguf", gguf([], []))
    # Damaged headers that candle's reader or our use of it once panicked on: an alignment
    # of 0 (divided by), a tensor without dimensions (its first dimension is the vocabulary
    # size) and dimensions whose product overflows.
    zero_alignment = [(k, t, 0 if k == "general.alignment" else v) for k, t, v in llama_metadata()]
    write(target, "alignment_zero.gguf", gguf(zero_alignment, tensors[:2]))
    write(target, "token_embd_without_dims.gguf",
          gguf(llama_metadata(), [("token_embd.weight", [], GGML_F32, f32_data(1))]))
    overflowing = ("token_embd.weight", [1 << 32, 1 << 32, 1 << 32], GGML_F32, f32_data(4))
    write(target, "overflowing_shape.gguf", gguf(llama_metadata(), [overflowing]))


# ------------------------------------------------------------------ CTranslate2

CT2_F32, CT2_I8, CT2_I16, CT2_I32, CT2_F16, CT2_BF16 = range(6)


def ct2_string(text):
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def ct2_model(variables, aliases, spec="WhisperSpec"):
    """A model.bin (binary version 6): variables as (name, shape, dtype, data)."""
    out = bytearray(struct.pack("<I", 6) + ct2_string(spec) + struct.pack("<I", 3))
    out += struct.pack("<I", len(variables))
    for name, shape, dtype, data in variables:
        out += ct2_string(name) + bytes([len(shape)])
        for dim in shape:
            out += struct.pack("<I", dim)
        out += bytes([dtype]) + struct.pack("<I", len(data)) + data
    out += struct.pack("<I", len(aliases))
    for alias, name in aliases:
        out += ct2_string(alias) + ct2_string(name)
    return bytes(out)


def ct2_values(shape, dtype, rng):
    n = 1
    for dim in shape:
        n *= dim
    if dtype == CT2_F16:
        return b"".join(struct.pack("<e", rng.uniform(-1, 1)) for _ in range(n))
    if dtype == CT2_F32:
        return b"".join(struct.pack("<f", rng.uniform(-1, 1)) for _ in range(n))
    if dtype == CT2_BF16:
        return b"".join(struct.pack("<f", rng.uniform(-1, 1))[2:] for _ in range(n))
    raise ValueError(dtype)


def whisper_ct2(d, n_mels, n_vocab, ctx, ffn, rng, bias_dtype=CT2_F32, heads_dtype=CT2_I32):
    """A tiny CTranslate2 Whisper export: one encoder and one decoder layer of width `d`."""
    weights = []

    def add(name, shape, dtype=CT2_F16):
        weights.append((name, shape, dtype, ct2_values(shape, dtype, rng)))

    def heads(name, value):
        fmt = {CT2_I8: "<b", CT2_I16: "<h", CT2_I32: "<i"}[heads_dtype]
        weights.append((name, [], heads_dtype, struct.pack(fmt, value)))

    def norm(prefix):
        add(f"{prefix}/gamma", [d], CT2_F32)
        add(f"{prefix}/beta", [d], CT2_F32)

    def linear(prefix, rows, cols):
        add(f"{prefix}/weight", [rows, cols])
        add(f"{prefix}/bias", [rows], bias_dtype)

    add("encoder/conv1/weight", [d, n_mels, 3])
    add("encoder/conv1/bias", [d], bias_dtype)
    add("encoder/conv2/weight", [d, d, 3])
    add("encoder/conv2/bias", [d], bias_dtype)
    add("encoder/position_encodings/encodings", [ctx, d], CT2_F32)
    heads("encoder/num_heads", 2)
    for stack, cross in [("encoder", False), ("decoder", True)]:
        layer = f"{stack}/layer_0"
        norm(f"{layer}/self_attention/layer_norm")
        linear(f"{layer}/self_attention/linear_0", 3 * d, d)
        linear(f"{layer}/self_attention/linear_1", d, d)
        if cross:
            norm(f"{layer}/attention/layer_norm")
            linear(f"{layer}/attention/linear_0", d, d)
            linear(f"{layer}/attention/linear_1", 2 * d, d)
            linear(f"{layer}/attention/linear_2", d, d)
        norm(f"{layer}/ffn/layer_norm")
        linear(f"{layer}/ffn/linear_0", ffn, d)
        linear(f"{layer}/ffn/linear_1", d, ffn)
        norm(f"{stack}/layer_norm")
    add("decoder/embeddings/weight", [n_vocab, d])
    add("decoder/position_encodings/encodings", [ctx, d], CT2_F32)
    heads("decoder/num_heads", 2)
    return weights


def ct2_seeds():
    rng = random.Random(6)
    tiny = whisper_ct2(2, 2, 4, 2, 2, rng)
    projection = ("decoder/projection/weight", "decoder/embeddings/weight")
    write("ct2", "tiny_whisper.bin", ct2_model(tiny, [projection]))
    mixed = [
        ("a/weight", [2, 3], CT2_F32, ct2_values([2, 3], CT2_F32, rng)),
        ("a/half", [4], CT2_F16, ct2_values([4], CT2_F16, rng)),
        ("a/brain", [2, 2], CT2_BF16, ct2_values([2, 2], CT2_BF16, rng)),
        ("a/int8", [3], CT2_I8, bytes([1, 255, 3])),
        ("a/int16", [], CT2_I16, struct.pack("<h", -6)),
        ("a/int32", [], CT2_I32, struct.pack("<i", 6)),
        ("a/empty", [0, 4], CT2_F32, b""),
    ]
    write("ct2", "mixed_dtypes.bin",
          ct2_model(mixed, [("b", "a/weight"), ("c", "missing")], spec="TransformerSpec"))
    no_aliases = ct2_model(mixed[:2], [])
    write("ct2", "no_alias_table.bin", no_aliases[:-4])
    write("ct2", "version_only.bin", struct.pack("<I", 6))

    write("whisper_ggml", "tiny_d2.bin", ct2_model(tiny, []))
    small = whisper_ct2(32, 2, 4, 2, 32, random.Random(32), bias_dtype=CT2_F16, heads_dtype=CT2_I16)
    write("whisper_ggml", "quantisable_d32.bin", ct2_model(small, []))
    # A damaged header: conv1 claims 2^32 - 1 mel bands over a width of 0, so it holds no
    # data and passes the size check, and the converter would build a filterbank that
    # size. The converter must refuse it.
    huge_mels = [
        (name, [0, 0xFFFFFFFF, 3], dtype, b"") if name == "encoder/conv1/weight"
        else (name, shape, dtype, data)
        for name, shape, dtype, data in tiny
    ]
    write("whisper_ggml", "huge_n_mels_d2.bin", ct2_model(huge_mels, []))
    bf16 = whisper_ct2(2, 3, 3, 1, 4, random.Random(2), bias_dtype=CT2_BF16, heads_dtype=CT2_I8)
    alias = ("decoder/alias", "decoder/embeddings/weight")
    write("whisper_ggml", "bf16_biases_d2.bin", ct2_model(bf16, [alias]))


# ------------------------------------------------------------------ PNG


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_filter(rows, bytes_per_pixel, filter_type):
    """Filters raw scanlines with one PNG filter type (0 none, 1 sub, 2 up, 4 Paeth)."""
    out = bytearray()
    previous = bytes(len(rows[0])) if rows else b""
    for row in rows:
        out.append(filter_type)
        for i, value in enumerate(row):
            left = row[i - bytes_per_pixel] if i >= bytes_per_pixel else 0
            up = previous[i]
            upper_left = previous[i - bytes_per_pixel] if i >= bytes_per_pixel else 0
            if filter_type == 0:
                predictor = 0
            elif filter_type == 1:
                predictor = left
            elif filter_type == 2:
                predictor = up
            else:
                estimate = left + up - upper_left
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - upper_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
            out.append((value - predictor) & 0xFF)
        previous = row
    return bytes(out)


# Adam7's passes as (first x, first y, x step, y step).
ADAM7 = [
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)
]


def png(width, height, color_type, bit_depth, pixel, filter_type=0, interlaced=False,
        extra_chunks=(), rows_to_write=None):
    """A PNG whose sample values are `pixel(x, y)` (a tuple of channel values)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bits_per_pixel = channels * bit_depth
    bytes_per_pixel = max(1, bits_per_pixel // 8)

    def scanline(xs, y):
        bits = []
        for x in xs:
            for value in pixel(x, y):
                bits.append((value, bit_depth))
        out = bytearray()
        accumulator, n_bits = 0, 0
        for value, depth in bits:
            accumulator = (accumulator << depth) | (value & ((1 << depth) - 1))
            n_bits += depth
            while n_bits >= 8:
                n_bits -= 8
                out.append((accumulator >> n_bits) & 0xFF)
        if n_bits:
            out.append((accumulator << (8 - n_bits)) & 0xFF)
        return bytes(out)

    raw = bytearray()
    if rows_to_write is not None:
        # Only the first rows, laid out as if not interlaced: a header-only seed.
        rows = [scanline(range(width), y) for y in range(rows_to_write)]
        raw += png_filter(rows, bytes_per_pixel, filter_type)
    elif interlaced:
        for x0, y0, dx, dy in ADAM7:
            xs = list(range(x0, width, dx))
            rows = [scanline(xs, y) for y in range(y0, height, dy)] if xs else []
            raw += png_filter(rows, bytes_per_pixel, filter_type)
    else:
        rows = [scanline(range(width), y) for y in range(height)]
        raw += png_filter(rows, bytes_per_pixel, filter_type)
    interlace_method = 1 if interlaced else 0
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace_method)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
    for kind, data in extra_chunks:
        out += png_chunk(kind, data)
    compressed = zlib.compress(bytes(raw), 9)
    # Two IDAT chunks, so a decoder has to join them.
    half = len(compressed) // 2
    out += png_chunk(b"IDAT", compressed[:half]) + png_chunk(b"IDAT", compressed[half:])
    return out + png_chunk(b"IEND", b"")


# ------------------------------------------------------------------ JPEG

ZIGZAG = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]
# Every DC size category, and every AC (run, size) symbol with ZRL and EOB: one table
# each, all codes 4 (DC) or 8 (AC) bits long, so no code is all ones.
DC_SYMBOLS = list(range(12))
AC_SYMBOLS = [0x00, 0xF0] + [(run << 4) | size for run in range(16) for size in range(1, 11)]


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.accumulator = 0
        self.n_bits = 0

    def write(self, value, n_bits):
        for shift in range(n_bits - 1, -1, -1):
            self.accumulator = (self.accumulator << 1) | ((value >> shift) & 1)
            self.n_bits += 1
            if self.n_bits == 8:
                self.out.append(self.accumulator)
                if self.accumulator == 0xFF:
                    self.out.append(0)
                self.accumulator, self.n_bits = 0, 0

    def flush(self):
        while self.n_bits:
            self.write(1, 1)
        data = bytes(self.out)
        self.out = bytearray()
        return data


def jpeg_segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def dht(table_class, table_id, symbols, code_bits):
    bits = [0] * 16
    bits[code_bits - 1] = len(symbols)
    return jpeg_segment(0xC4, bytes([(table_class << 4) | table_id]) + bytes(bits) + bytes(symbols))


def fdct_quantised(block, quant):
    """The quantised DCT coefficients of an 8×8 block (row-major), in zigzag order."""
    coefficients = [0] * 64
    for v in range(8):
        for u in range(8):
            total = 0.0
            for y in range(8):
                for x in range(8):
                    basis = math.cos((2 * x + 1) * u * math.pi / 16)
                    basis *= math.cos((2 * y + 1) * v * math.pi / 16)
                    total += (block[y * 8 + x] - 128) * basis
            cu = 1 / math.sqrt(2) if u == 0 else 1.0
            cv = 1 / math.sqrt(2) if v == 0 else 1.0
            coefficients[v * 8 + u] = round(0.25 * cu * cv * total / quant[v * 8 + u])
    return [coefficients[index] for index in ZIGZAG]


def magnitude(value):
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


def encode_dc(writer, diff):
    size, bits = magnitude(diff)
    writer.write(DC_SYMBOLS.index(size), 4)
    writer.write(bits, size)


def encode_ac(writer, zigzag):
    run = 0
    for value in zigzag[1:]:
        if value == 0:
            run += 1
            continue
        while run > 15:
            writer.write(AC_SYMBOLS.index(0xF0), 8)
            run -= 16
        size, bits = magnitude(value)
        writer.write(AC_SYMBOLS.index((run << 4) | size), 8)
        writer.write(bits, size)
        run = 0
    if run:
        writer.write(AC_SYMBOLS.index(0x00), 8)


def jpeg(width, height, components, pixel, progressive=False, subsampled=False, restart_mcus=0):
    """A JPEG of `components` (1 grey, 3 YCbCr) with values `pixel(x, y)` per component."""
    quant = [max(1, min(255, 4 + (i % 8) + (i // 8))) for i in range(64)]
    sampling = [(2, 2) if subsampled and c == 0 else (1, 1) for c in range(components)]
    max_h = max(h for h, _ in sampling)
    max_v = max(v for _, v in sampling)
    mcu_width, mcu_height = 8 * max_h, 8 * max_v
    mcus_x = -(-width // mcu_width)
    mcus_y = -(-height // mcu_height)

    def block_of(component, block_x, block_y):
        h, v = sampling[component]
        scale_x, scale_y = max_h // h, max_v // v
        values = []
        for y in range(8):
            for x in range(8):
                samples = []
                for dy in range(scale_y):
                    for dx in range(scale_x):
                        px = min(width - 1, (block_x * 8 + x) * scale_x + dx)
                        py = min(height - 1, (block_y * 8 + y) * scale_y + dy)
                        samples.append(pixel(px, py)[component])
                values.append(sum(samples) // len(samples))
        return fdct_quantised(values, quant)

    # Blocks per component, in MCU order (for interleaved scans) and raster order.
    mcu_blocks = []
    for mcu_y in range(mcus_y):
        for mcu_x in range(mcus_x):
            blocks = []
            for component, (h, v) in enumerate(sampling):
                for by in range(v):
                    for bx in range(h):
                        block = block_of(component, mcu_x * h + bx, mcu_y * v + by)
                        blocks.append((component, block))
            mcu_blocks.append(blocks)

    out = bytearray(b"\xff\xd8")
    out += jpeg_segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    out += jpeg_segment(0xDB, bytes([0]) + bytes(quant[i] for i in ZIGZAG))
    frame = struct.pack(">BHHB", 8, height, width, components)
    for component, (h, v) in enumerate(sampling):
        frame += bytes([component + 1, (h << 4) | v, 0])
    out += jpeg_segment(0xC2 if progressive else 0xC0, frame)
    out += dht(0, 0, DC_SYMBOLS, 4) + dht(1, 0, AC_SYMBOLS, 8)
    if restart_mcus:
        out += jpeg_segment(0xDD, struct.pack(">H", restart_mcus))

    def scan_header(component_ids, start, end):
        payload = bytes([len(component_ids)])
        for component in component_ids:
            payload += bytes([component + 1, 0x00])
        return jpeg_segment(0xDA, payload + bytes([start, end, 0]))

    writer = BitWriter()
    if not progressive:
        out += scan_header(range(components), 0, 63)
        previous = [0] * components
        for mcu_index, blocks in enumerate(mcu_blocks):
            if restart_mcus and mcu_index and mcu_index % restart_mcus == 0:
                out += writer.flush() + bytes([0xFF, 0xD0 + (mcu_index // restart_mcus - 1) % 8])
                previous = [0] * components
            for component, zigzag in blocks:
                encode_dc(writer, zigzag[0] - previous[component])
                previous[component] = zigzag[0]
                encode_ac(writer, zigzag)
        out += writer.flush()
    else:
        # A DC scan of all components, then one AC scan per component (no successive
        # approximation: each AC scan codes its blocks as a baseline scan would).
        out += scan_header(range(components), 0, 0)
        previous = [0] * components
        for blocks in mcu_blocks:
            for component, zigzag in blocks:
                encode_dc(writer, zigzag[0] - previous[component])
                previous[component] = zigzag[0]
        out += writer.flush()
        for component in range(components):
            out += scan_header([component], 1, 63)
            for blocks in mcu_blocks:
                for block_component, zigzag in blocks:
                    if block_component == component:
                        encode_ac(writer, zigzag)
            out += writer.flush()
    return bytes(out + b"\xff\xd9")


def image():
    target = "image"

    def gradient(x, y):
        return (x * 16 % 256, y * 16 % 256, (x + y) * 8 % 256, 255 - x * 8)

    write(target, "gray8_16x16.png", png(16, 16, 0, 8, lambda x, y: gradient(x, y)[:1]))
    write(target, "gray16_8x8_up.png",
          png(8, 8, 0, 16, lambda x, y: (x * 8000 + y,), filter_type=2))
    write(target, "gray1_16x8.png", png(16, 8, 0, 1, lambda x, y: ((x + y) % 2,)))
    write(target, "rgb8_16x16_sub.png",
          png(16, 16, 2, 8, lambda x, y: gradient(x, y)[:3], filter_type=1))
    write(target, "rgba8_8x8_paeth.png", png(8, 8, 6, 8, gradient, filter_type=4))
    write(target, "gray_alpha8_8x8.png", png(8, 8, 4, 8, lambda x, y: (x * 30, y * 30)))
    write(target, "rgb16_4x4.png", png(4, 4, 2, 16, lambda x, y: (x * 9000, y * 9000, 40000)))
    palette = bytes(v for i in range(16) for v in (i * 16, 255 - i * 16, 128))
    palette_chunks = [(b"PLTE", palette), (b"tRNS", bytes([0, 128]))]
    write(target, "palette4_8x8_trns.png",
          png(8, 8, 3, 4, lambda x, y: ((x + y) % 16,), extra_chunks=palette_chunks))
    # A palette one byte short of whole RGB entries: the png crate 0.18.1 panicked on it.
    write(target, "palette_partial_entry.png",
          png(8, 8, 3, 4, lambda x, y: ((x + y) % 15,), extra_chunks=[(b"PLTE", palette[:-1])]))
    write(target, "rgb8_9x9_interlaced.png",
          png(9, 9, 2, 8, lambda x, y: gradient(x, y)[:3], interlaced=True))
    # Over the 40 MP limit, so PNG streams it through the downscaler; only 64 rows of
    # data follow, so the decode ends early as truncated.
    write(target, "huge_8000x6000_truncated.png",
          png(8000, 6000, 0, 1, lambda x, y: ((x // 7 + y) % 2,), rows_to_write=64))
    write(target, "huge_7000x7000_interlaced.png",
          png(7000, 7000, 0, 1, lambda x, y: (x % 2,), interlaced=True, rows_to_write=4))
    # A very wide PNG, one row high and without data: past 40 MP, so it goes to the
    # streaming downscaler, which must not size anything by the width alone. Decoding its
    # 60 MB row takes a while, so the fuzz test runs it as it is but does not mutate it
    # (the `slow_` prefix).
    write(target, "slow_wide_60000000x1.png",
          png(60_000_000, 1, 0, 1, lambda x, y: (0,), rows_to_write=0))
    ycbcr = lambda x, y: (x * 12 % 256, 128 + (y - 8) * 4, 128 - (x - 8) * 4)  # noqa: E731
    write(target, "gray_baseline_16x16.jpg", jpeg(16, 16, 1, lambda x, y: (x * 12 + y * 3,)))
    write(target, "ycbcr444_baseline_16x16.jpg", jpeg(16, 16, 3, ycbcr))
    write(target, "ycbcr420_baseline_20x12.jpg", jpeg(20, 12, 3, ycbcr, subsampled=True))
    write(target, "ycbcr444_restarts_24x16.jpg", jpeg(24, 16, 3, ycbcr, restart_mcus=1))
    write(target, "ycbcr444_progressive_16x16.jpg", jpeg(16, 16, 3, ycbcr, progressive=True))
    baseline = jpeg(16, 16, 1, lambda x, y: (x * 12,))
    # Cut inside the entropy-coded data: the header reads, the end-of-image marker is gone.
    write(target, "truncated.jpg", baseline[:-40])


# ------------------------------------------------------------------ schemas and constraints

PRODUCT_NEEDS_SCHEMA = """{
  "type": "object",
  "properties": {
    "needs": {
      "type": "array",
      "maxItems": 3,
      "items": {
        "type": "object",
        "properties": {
          "who": {"type": "string", "maxLength": 40},
          "pain": {"type": "string", "maxLength": 80},
          "severity": {"enum": ["low", "medium", "high"]},
          "workaround": {"type": ["string", "null"], "maxLength": 60},
          "times_per_week": {"type": "integer", "minimum": 0, "maximum": 1000},
          "metric": {"anyOf": [{"type": "string", "maxLength": 30}, {"type": "null"}]}
        },
        "required": ["who", "pain", "severity"]
      }
    },
    "confidence": {"type": "number"},
    "done": {"type": "boolean"},
    "reply": {"type": "string", "maxLength": 200}
  },
  "required": ["needs", "reply"]
}"""

EDGE_SCHEMAS = {
    "string_min_max": '{"type": "string", "minLength": 2, "maxLength": 5}',
    "nullable_integer": '{"type": ["integer", "null"], "minimum": -5, "maximum": 12}',
    "const_and_enum": '{"type": "object", "properties": {"kind": {"const": "note"}, '
                      '"n": {"enum": [1, 2.5, "x", null, true]}}, '
                      '"required": ["kind"], "additionalProperties": false}',
    "array_min_items": '{"type": "array", "items": {"type": "boolean"}, '
                       '"minItems": 2, "maxItems": 4}',
    "nested_arrays": '{"type": "array", "maxItems": 2, "items": {"type": "array", "maxItems": 2, '
                     '"items": {"type": "array", "maxItems": 2, "items": {"type": "number"}}}}',
    "escaped_keys": '{"type": "object", "properties": '
                    '{"a\\"b": {"type": "string", "maxLength": 3}, '
                    '"\\u00e9\\n": {"type": "null"}, "": {"type": "integer"}}}',
    "unsupported_keyword": '{"type": "string", "pattern": "^a+$"}',
    "empty_schema": "{}",
    "deep_nesting": "".join('{"type": "array", "maxItems": 1, "items": ' for _ in range(30))
    + '{"type": "integer"}' + "}" * 30,
}

ANSWER_SCHEMA = ('{"type": "object", "properties": {"answer": {"type": ["string", "null"], '
                 '"maxLength": 120}}, "required": ["answer"], "additionalProperties": false}')

DOCUMENTS = {
    "product_needs": '{"needs":[{"who":"nurses","pain":"double charting","severity":"high",'
                     '"workaround":null,"times_per_week":12,"metric":"minutes"}],"confidence":0.75,'
                     '"done":false,"reply":"Who else charts twice?"}',
    "answer": '{"answer":"every night, about an hour"}',
    "string_min_max": '"abc"',
    "nullable_integer": "null",
    "const_and_enum": '{"kind":"note","n":2.5}',
    "array_min_items": "[true,false,true]",
    "nested_arrays": "[[[1.5,-2]],[]]",
    "escaped_keys": '{"a\\"b":"x","\\u00e9\\n":null,"":7}',
    "unsupported_keyword": '"aaa"',
    "empty_schema": "{}",
    "deep_nesting": "[" * 30 + "1" + "]" * 30,
}


def schema_seeds():
    schemas = dict(EDGE_SCHEMAS)
    schemas["product_needs"] = PRODUCT_NEEDS_SCHEMA
    schemas["answer"] = ANSWER_SCHEMA
    rng = random.Random(7)
    for name, schema in sorted(schemas.items()):
        document = DOCUMENTS[name].encode()
        write("json_schema", f"{name}.txt", schema.encode() + b"\0" + document)
        # The constraint is driven by bytes after the schema: mostly picks among the
        # allowed tokens, so documents get far.
        drive = bytes(rng.randrange(256) for _ in range(160))
        write("constrain", f"{name}.txt", schema.encode() + b"\0" + drive)


# ------------------------------------------------------------------ sentences

TEXTS = {
    "reply_with_abbreviations.txt": (
        "Thanks, Dr. Smith! So the nurses chart twice, e.g. on paper and in the U.S. system? "
        "That costs 3.5 hours a week… Fig. 2 shows it. Call me at 9 a.m. on Jan. 5 — or not."
    ),
    "markdown_list.txt": (
        "Here is what I heard:\n\n- Nurses re-enter vitals.\n* The night shift has no scanner.\n"
        "1. Fix the handover.\n2) Measure time saved\n# Next steps\n"
        "`code` and **bold** → done ©."
    ),
    "wrapped_lines.txt": (
        "This line wraps\nin the middle, and this one\nends here.\nNext line starts a sentence."
    ),
    "interview_transcript.txt": (
        "um so basically the people stuck with it are the night nurses. "
        "they chart everything twice, "
        "sorry, not twice, I mean three times a week. what would fix it is one screen. "
        "I'd be thrilled if it took five minutes. most weeks it's worse? yeah."
    ),
    "long_sentence.txt": (
        "word, " * 80 + "and then more words without any clause marks " * 10
    ).strip(),
    "unicode_scripts.txt": (
        "日本語の文です。これは二つ目！ Ελληνικά κείμενο. Привет, мир? 😀 🎉 “Quoted” ‘text’."
    ),
    "only_symbols.txt": "... !!! ??? — – → ★ ☺ ~~~ ***",
    "crlf_and_tabs.txt": "First line.\r\nSecond\tline!\r\n\r\n\tThird line?\u2028Fourth\u00a0line.",
    "numbers_and_money.txt": (
        "It costs $3.50, or €4, about 12% of £30. No. 5 is at p. 12. Version 1.2.3 ships."
    ),
}


def sentence_seeds():
    for name, text in TEXTS.items():
        write("sentences", name, text.encode())
    write("sentences", "invalid_utf8.txt", b"Valid start. \xff\xfe broken \xc3 bytes.\xe2\x82 end")
    write("sentences", "empty.txt", b"")


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    audio_decode()
    onnx()
    gguf_seeds()
    ct2_seeds()
    image()
    schema_seeds()
    sentence_seeds()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
