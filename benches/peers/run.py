#!/usr/bin/env python3
"""ideadesk against its peers, side by side, on the same inputs and weights.

Run through `make bench-peers` (benches/peers/bench-peers.sh), which sets up the peers'
venv, builds ideadesk's side (`benches/peers.rs`) and calls this with the venv's Python.

Stages, each measured as ours (A) and the peer's (B), interleaved A B A B with the same
thread count, a short pause between runs so neither side's idle spinning threads eat into
the other's time, after one untimed warm-up run of each:

  STT  jfk.wav (11 s) and a synthesised ~5 s utterance (espeak-ng → 16 kHz): time to
       transcribe the whole file as one utterance, greedy, English, no previous-text
       context. Ours: whisper.cpp through `stt::Transcriber` on the ggml conversion of
       the very CTranslate2 tiny.en weights that faster-whisper runs. WER for both.
  LLM  SmolLM2-135M Q4_1 GGUF: prefill of a ~300-token ChatML prompt, then 128 greedy
       tokens with the end tokens banned. Ours: `llm::LlmEngine`; peer: llama.cpp
       (llama-cpp-python) on the same file. Tokens per second.
  TTS  the Piper joe voice on a 20-word sentence: real-time factor (synthesis time over
       the speech's length). Both sides speak the same phoneme ids (piper-tts's
       phonemizer); ours through `tts::piper::PiperVoice`, the peer through onnxruntime.

The table ends with the ratios ours/peer and the targets of the speed issue:
STT time ≤ 1.0, TTS RTF ≤ 1.0, LLM decode tok/s ≥ 0.9, prefill tok/s ≥ 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import wave
from pathlib import Path

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
UTTERANCE_TEXT = "Every morning I spend an hour answering the same questions from customers."
TTS_TEXT = (
    "Who has this problem most often, and what do they do today when it happens "
    "at home or at work?"
)
PROMPT_SENTENCE = (
    "The user describes a product idea for people who repair bicycles at home, "
    "and explains what hurts today and how they cope. "
)
DECODE_TOKENS = 128
PROMPT_TOKENS = 300
# The constrained-decoding mask is measured on ours alone: a decode step with the JSON
# schema mask against one without it.
MASK_SCHEMA = {
    "type": "object",
    "properties": {
        "needs": {
            "type": "array",
            "maxItems": 8,
            "items": {
                "type": "object",
                "properties": {
                    "who": {"type": "string", "maxLength": 60},
                    "pain": {"type": "string", "maxLength": 200},
                    "severity": {"enum": ["low", "medium", "high"]},
                },
                "required": ["who", "pain", "severity"],
            },
        },
        "reply": {"type": "string", "maxLength": 400},
    },
    "required": ["needs", "reply"],
}


def normalise_words(text: str) -> list[str]:
    """Lower-case words, punctuation stripped (as tests/common/mod.rs does)."""
    words = []
    for word in text.split():
        kept = "".join(c for c in word if c.isalnum() or c == "'").lower().strip("'")
        if kept:
            words.append(kept)
    return words


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref):
        current = [i + 1] * (len(hyp) + 1)
        for j, hyp_word in enumerate(hyp):
            current[j + 1] = min(
                previous[j] + (ref_word != hyp_word), previous[j + 1] + 1, current[j] + 1
            )
        previous = current
    return previous[len(hyp)] / len(ref)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        return wav.getnframes() / wav.getframerate()


def read_wav_f32(path: Path):
    import numpy as np

    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 16_000 and wav.getsampwidth() == 2, path
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels = wav.getnchannels()
    audio = data.astype(np.float32) / 32768.0
    return audio.reshape(-1, channels).mean(axis=1) if channels > 1 else audio


class Ours:
    """ideadesk's side: the `peers` bench binary, one JSON line per request."""

    def __init__(self, command: list[str]):
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def ask(self, request: dict) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"ideadesk's bench process died (exit {self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            sys.exit(f"ideadesk: {reply['error']}")
        return reply

    def close(self):
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


class PeerStt:
    def __init__(self, ct2_dir: Path, n_threads: int, compute_type: str):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(
            str(ct2_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=n_threads,
            num_workers=1,
        )
        self.audio = {}

    def run(self, wav: Path) -> dict:
        audio = self.audio.setdefault(wav, read_wav_f32(wav))
        started = time.perf_counter()
        segments, _info = self.model.transcribe(
            audio,
            language="en",
            beam_size=1,
            best_of=1,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        text = " ".join(segment.text.strip() for segment in segments)
        return {"s": time.perf_counter() - started, "text": text}


class PeerLlm:
    def __init__(self, gguf: Path, n_threads: int):
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=str(gguf),
            n_ctx=1024,
            n_batch=512,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            logits_all=False,
            verbose=False,
        )
        self.n_vocab = self.llm.n_vocab()
        self.end_ids = {self.llm.token_eos()}
        for special in ("<|im_end|>", "<|endoftext|>"):
            ids = self.llm.tokenize(special.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.end_ids.add(ids[0])

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    def run(self, prompt: str, n_decode: int) -> dict:
        import numpy as np

        tokens = self.tokenize(prompt)
        self.llm.reset()
        started = time.perf_counter()
        self.llm.eval(tokens)
        prefill_s = time.perf_counter() - started
        end_ids = list(self.end_ids)
        # Greedy with the end tokens banned, like ours; the first token comes from the
        # prefill's logits, and each later one costs one forward step.
        generated = []
        decode_started = None
        for step in range(n_decode):
            # The last evaluated token's logits, straight from llama.cpp (the Python
            # wrapper keeps none without logits_all).
            logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.n_vocab,)).copy()
            logits[end_ids] = -np.inf
            token = int(np.argmax(logits))
            generated.append(token)
            if step == 0:
                decode_started = time.perf_counter()
            if step + 1 < n_decode:
                self.llm.eval([token])
        decode_s = time.perf_counter() - decode_started
        return {
            "prefill_s": prefill_s,
            "n_prompt": len(tokens),
            "decode_s": decode_s,
            "n_decode_steps": n_decode - 1,
            "text": self.llm.detokenize(generated).decode(errors="replace"),
        }


class PeerTts:
    def __init__(self, onnx: Path, n_threads: int):
        import onnxruntime
        from piper import PiperVoice

        self.voice = PiperVoice.load(str(onnx))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = n_threads
        options.inter_op_num_threads = 1
        self.voice.session = onnxruntime.InferenceSession(
            str(onnx), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def phoneme_ids(self, text: str) -> list[int]:
        sentences = self.voice.phonemize(text)
        if len(sentences) != 1:
            sys.exit(f"the TTS text should be one sentence, piper made {len(sentences)}")
        return self.voice.phonemes_to_ids(sentences[0])

    def run(self, ids: list[int]) -> dict:
        started = time.perf_counter()
        audio = self.voice.phoneme_ids_to_audio(ids)
        return {
            "s": time.perf_counter() - started,
            "n_samples": int(audio.shape[-1]),
            "sample_rate_hz": self.voice.config.sample_rate,
        }


def synthesise_utterance(path: Path, text: str) -> None:
    """espeak-ng → 16 kHz mono 16-bit WAV (sox resamples)."""
    raw = path.with_suffix(".22k.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ours", required=True, help="the built `peers` bench executable")
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--ct2", type=Path, required=True, help="CTranslate2 tiny.en folder")
    parser.add_argument(
        "--whisper", type=Path,
        help="our ggml file (default: models/test/stt/ggml-tiny.en-q8_0.bin, the q8_0 "
        "conversion; faster-whisper quantises the same weights to int8 at load)",
    )
    parser.add_argument("--stt-window", default="fit", help="fit | full | FRAMES (ours)")
    parser.add_argument("--peer-stt-compute-type", default="int8")
    parser.add_argument("--jfk", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between runs")
    parser.add_argument("--stages", default="stt,llm,tts")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    repo = args.repo
    models = repo / "models/test"
    whisper = args.whisper or models / "stt/ggml-tiny.en-q8_0.bin"
    gguf = models / "llm/SmolLM2-135M-Instruct.Q4_1.gguf"
    voice = models / "tts/en_US-joe-medium.onnx"
    jfk = args.jfk or repo / "tests/data/jfk.wav"
    stages = set(args.stages.split(","))
    for path in [whisper, gguf, voice, jfk]:
        if not path.is_file():
            sys.exit(f"{path} is missing (run `make test-models`; jfk.wav lives in tests/data)")
    args.work.mkdir(parents=True, exist_ok=True)
    utterance = args.work / "utterance.wav"
    synthesise_utterance(utterance, UTTERANCE_TEXT)

    load_before = os.getloadavg()[0]
    if load_before > 0.8:
        print(
            f"warning: the 1-minute load average is {load_before:.1f}: other processes use the "
            "CPU, and 2-thread timings (whisper.cpp's spinning barriers most) will be noisy",
            file=sys.stderr,
        )
    ours = Ours([
        args.ours, "--threads", str(args.threads), "--whisper", str(whisper),
        "--stt-window", args.stt_window, "--gguf", str(gguf), "--voice", str(voice),
    ])

    # name → (ours' runs, peer's runs, a function of one run that gives the figure)
    results: dict[str, dict] = {}

    def interleave(name: str, run_ours, run_peer, warmup: bool = True):
        if warmup:
            run_ours()
            time.sleep(args.pause)
            run_peer()
        runs = {"ours": [], "peer": []}
        for _ in range(args.rounds):
            for side, run in (("ours", run_ours), ("peer", run_peer)):
                time.sleep(args.pause)
                runs[side].append(run())
        results[name] = runs
        return runs

    rows = []
    if "stt" in stages:
        peer_stt = PeerStt(args.ct2, args.threads, args.peer_stt_compute_type)
        for label, wav, reference in [
            ("jfk.wav", jfk, JFK_TEXT),
            ("espeak utterance", utterance, UTTERANCE_TEXT),
        ]:
            runs = interleave(
                f"stt {label}",
                lambda wav=wav: ours.ask({"op": "stt", "wav": str(wav)}),
                lambda wav=wav: peer_stt.run(wav),
            )
            seconds = wav_seconds(wav)
            wers = {side: wer(reference, runs[side][-1]["text"]) for side in runs}
            rows.append({
                "what": f"STT {label} ({seconds:.1f} s), s",
                "ours": median([r["s"] for r in runs["ours"]]),
                "peer": median([r["s"] for r in runs["peer"]]),
                "target": ("<=", 1.0),
                "note": f"WER ours {wers['ours']:.1%} peer {wers['peer']:.1%}",
            })
            for side in runs:
                print(f"  {label} {side}: {runs[side][-1]['text']!r}", file=sys.stderr)
        del peer_stt

    if "llm" in stages:
        peer_llm = PeerLlm(gguf, args.threads)
        body = ""
        while len(peer_llm.tokenize(body)) < PROMPT_TOKENS:
            body += PROMPT_SENTENCE
        prompt = f"<|im_start|>user\n{body.strip()}<|im_end|>\n<|im_start|>assistant\n"
        runs = interleave(
            "llm",
            lambda: ours.ask({"op": "llm", "prompt": prompt, "n_decode": DECODE_TOKENS}),
            lambda: peer_llm.run(prompt, DECODE_TOKENS),
        )

        def rate(side: str, time_key: str, count_key: str) -> float:
            return median([r[count_key] / r[time_key] for r in runs[side]])

        n_prompt = {side: runs[side][0]["n_prompt"] for side in runs}
        rows.append({
            "what": f"LLM prefill {n_prompt['ours']} tokens, tok/s",
            "ours": rate("ours", "prefill_s", "n_prompt"),
            "peer": rate("peer", "prefill_s", "n_prompt"),
            "target": (">=", 1.0),
            "note": f"peer's prompt: {n_prompt['peer']} tokens",
        })
        rows.append({
            "what": f"LLM decode {DECODE_TOKENS} tokens, tok/s",
            "ours": rate("ours", "decode_s", "n_decode_steps"),
            "peer": rate("peer", "decode_s", "n_decode_steps"),
            "target": (">=", 0.9),
            "note": "greedy, end tokens banned",
        })
        # The constrained-decoding mask, ours alone: constrained step vs plain step.
        masked = []
        for _ in range(max(3, args.rounds // 2)):
            time.sleep(args.pause)
            masked.append(ours.ask({
                "op": "llm", "prompt": prompt, "n_decode": DECODE_TOKENS, "schema": MASK_SCHEMA,
            }))
        results["llm schema-constrained"] = {"ours": masked}
        plain_step = median([r["decode_s"] / r["n_decode_steps"] for r in runs["ours"]])
        masked_step = median([r["decode_s"] / max(1, r["n_decode_steps"]) for r in masked])
        rows.append({
            "what": "LLM decode step with schema mask, ms",
            "ours": masked_step * 1000,
            "peer": plain_step * 1000,
            "target": ("<=", 1.1),
            "note": f"'peer' = our own unmasked step; {masked[-1]['n_decode_steps'] + 1} tokens",
            "done_criterion": False,
        })
        del peer_llm

    if "tts" in stages:
        peer_tts = PeerTts(voice, args.threads)
        ids = peer_tts.phoneme_ids(TTS_TEXT)
        runs = interleave(
            "tts",
            lambda: ours.ask({"op": "tts", "ids": ids}),
            lambda: peer_tts.run(ids),
        )

        def rtf(run: dict) -> float:
            return run["s"] / (run["n_samples"] / run["sample_rate_hz"])

        speech_s = median([r["n_samples"] / r["sample_rate_hz"] for r in runs["peer"]])
        rows.append({
            "what": f"TTS joe, {len(TTS_TEXT.split())} words (~{speech_s:.1f} s), RTF",
            "ours": median([rtf(r) for r in runs["ours"]]),
            "peer": median([rtf(r) for r in runs["peer"]]),
            "target": ("<=", 1.0),
            "note": f"{len(ids)} phoneme ids",
        })
        del peer_tts
    ours.close()

    print()
    print(
        f"ideadesk vs peers — {args.threads} threads, median of {args.rounds} interleaved runs "
        f"(STT window: {args.stt_window}, whisper model: {whisper.name}, "
        f"faster-whisper compute type: {args.peer_stt_compute_type})"
    )
    header = f"{'what':<42} {'ours':>10} {'peer':>10} {'ours/peer':>10}  {'target':<8} {'':<4} note"
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs")
    print(header)
    print("-" * len(header))
    all_met = True
    for row in rows:
        ratio = row["ours"] / row["peer"]
        op, bound = row["target"]
        met = ratio <= bound if op == "<=" else ratio >= bound
        if row.get("done_criterion", True):
            all_met &= met
        print(
            f"{row['what']:<42} {row['ours']:>10.3f} {row['peer']:>10.3f} {ratio:>10.2f}  "
            f"{op} {bound:<5.1f} {'ok' if met else 'MISS':<4} {row['note']}"
        )
        row["ratio"], row["met"] = ratio, met
    print(f"\nthe speed issue's targets (STT, LLM prefill/decode, TTS) met: {'yes' if all_met else 'no'}")
    print("peers: faster-whisper (CTranslate2), llama.cpp (llama-cpp-python), piper-tts (onnxruntime)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "runs": results}, indent=1))
    return 1 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
