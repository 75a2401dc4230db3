//! ideadesk's side of `make bench-peers` (driven by `benches/peers/run.py`): a small
//! server that loads ideadesk's stages once and times one request at a time, so the driver
//! can interleave it with the peers (faster-whisper, llama.cpp, piper-tts/onnxruntime) on
//! the same inputs, A B A B.
//!
//! Not a criterion bench (`harness = false`): it reads one JSON request a line on stdin
//! and answers one JSON line on stdout. Requests:
//!
//! - `{"op":"stt","wav":PATH}`: transcribes the whole file as one utterance through
//!   `stt::Transcriber`; answers `{"s":seconds,"text":…}`.
//! - `{"op":"llm","prompt":TEXT,"n_decode":N}`: empties the KV cache, prefills the raw
//!   prompt and decodes N tokens greedily with the end tokens banned, through
//!   `llm::LlmEngine`; answers the prefill and decode times and token counts. With
//!   `"schema":JSON` the decode is schema-constrained instead (it may end early when the
//!   document is complete).
//! - `{"op":"tts","ids":[…]}`: speaks one sentence's phoneme ids with the Piper voice;
//!   answers `{"s":seconds,"n_samples":…,"sample_rate_hz":…}`.
//!
//! Arguments: `--threads N` (whisper.cpp threads, `CANDLE_NUM_THREADS`, `RAYON_NUM_THREADS`),
//! `--whisper FILE`, `--stt-window fit|full|FRAMES`, `--gguf FILE`, `--voice FILE.onnx`.
//! A model loads on the first request that needs it, before that request is timed.

mod common;

use common::NoEnd;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use ideadesk::llm::constrain::{JsonConstraint, TokenConstraint, TokenVocab};
use ideadesk::llm::schema::Schema;
use ideadesk::llm::{EngineOptions, GenerateRequest, LlmEngine};
use ideadesk::stt::{EncoderWindow, Transcriber, WhisperConfig};
use ideadesk::tts::piper::PiperVoice;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

struct Args {
    n_threads: usize,
    whisper: Option<PathBuf>,
    window: EncoderWindow,
    gguf: Option<PathBuf>,
    voice: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n_threads: 2,
        whisper: None,
        window: EncoderWindow::default(),
        gguf: None,
        voice: None,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--threads" => {
                args.n_threads = value()?
                    .parse()
                    .map_err(|err| format!("--threads: {err}"))?
            }
            "--whisper" => args.whisper = Some(value()?.into()),
            "--stt-window" => {
                args.window = match value()?.as_str() {
                    "fit" => EncoderWindow::FitUtterance,
                    "full" => EncoderWindow::Full,
                    frames => EncoderWindow::Frames(
                        frames
                            .parse()
                            .map_err(|err| format!("--stt-window {frames}: {err}"))?,
                    ),
                }
            }
            "--gguf" => args.gguf = Some(value()?.into()),
            "--voice" => args.voice = Some(value()?.into()),
            // `cargo bench` passes `--bench`; anything else is a mistake.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// The stages, loaded on first use.
struct Stages {
    args: Args,
    stt: Option<Transcriber>,
    wavs: HashMap<PathBuf, Arc<[f32]>>,
    llm: Option<LlmEngine>,
    vocab: Option<Arc<TokenVocab>>,
    voice: Option<PiperVoice>,
    tts_rng: ChaCha8Rng,
}

fn required<'a>(path: &'a Option<PathBuf>, flag: &str) -> Result<&'a Path, String> {
    path.as_deref()
        .ok_or_else(|| format!("this request needs {flag}"))
}

impl Stages {
    fn stt(&mut self, wav: &Path) -> Result<Value, String> {
        if self.stt.is_none() {
            let config = WhisperConfig {
                n_threads: self.args.n_threads,
                window: self.args.window,
                use_gpu: false,
                ..WhisperConfig::default()
            };
            let path = required(&self.args.whisper, "--whisper")?;
            self.stt = Some(Transcriber::spawn(path, config).map_err(|err| err.to_string())?);
        }
        if !self.wavs.contains_key(wav) {
            let samples = read_wav_16k_mono(wav)?;
            self.wavs.insert(wav.to_path_buf(), Arc::from(samples));
        }
        let (Some(transcriber), Some(samples)) = (&self.stt, self.wavs.get(wav)) else {
            unreachable!("both were just loaded");
        };
        let started = Instant::now();
        let transcript = transcriber
            .transcribe(1, 0, Arc::clone(samples))
            .map_err(|err| err.to_string())?;
        Ok(json!({"s": started.elapsed().as_secs_f64(), "text": transcript.text}))
    }

    fn llm(&mut self, request: &Value) -> Result<Value, String> {
        if self.llm.is_none() {
            let path = required(&self.args.gguf, "--gguf")?;
            self.llm = Some(
                LlmEngine::load(path, None, &Device::Cpu, EngineOptions::default())
                    .map_err(|err| err.to_string())?,
            );
        }
        let Some(engine) = self.llm.as_mut() else {
            unreachable!("just loaded");
        };
        let prompt = request["prompt"].as_str().ok_or("llm needs a prompt")?;
        let n_decode = request["n_decode"].as_u64().unwrap_or(128) as usize;
        let constraint: Box<dyn TokenConstraint> = match request.get("schema") {
            Some(schema) => {
                let vocab = self.vocab.get_or_insert_with(|| {
                    let tokenizer = engine.tokenizer();
                    Arc::new(TokenVocab::new(
                        tokenizer.token_bytes(),
                        tokenizer.end_token_ids(),
                    ))
                });
                let schema = Schema::from_json_str(&schema.to_string())
                    .map_err(|err| format!("schema: {err}"))?;
                Box::new(
                    JsonConstraint::new(Arc::new(schema), Arc::clone(vocab), 4096)
                        .map_err(|err| format!("constraint: {err}"))?,
                )
            }
            None => Box::new(NoEnd(engine.tokenizer().end_token_ids().to_vec())),
        };
        engine.reset_cache();
        let generation = engine
            .generate(
                GenerateRequest::raw(prompt)
                    .with_max_new_tokens(n_decode)
                    .with_constraint(constraint),
            )
            .map_err(|err| err.to_string())?;
        let stats = &generation.stats;
        // `decode_ms` runs from the first sampled token to the last: n - 1 forward steps.
        Ok(json!({
            "prefill_s": stats.prefill_ms / 1000.0,
            "n_prompt": stats.n_prompt_tokens,
            "decode_s": stats.decode_ms / 1000.0,
            "n_decode_steps": generation.n_tokens.saturating_sub(1),
            "text": generation.text,
        }))
    }

    fn tts(&mut self, request: &Value) -> Result<Value, String> {
        if self.voice.is_none() {
            let path = required(&self.args.voice, "--voice")?;
            self.voice = Some(PiperVoice::load(path, &Device::Cpu).map_err(|err| err.to_string())?);
        }
        let Some(voice) = &self.voice else {
            unreachable!("just loaded");
        };
        let ids: Vec<i64> = request["ids"]
            .as_array()
            .ok_or("tts needs ids")?
            .iter()
            .map(|id| id.as_i64().ok_or("ids are integers"))
            .collect::<Result<_, _>>()?;
        // Both sides speak the same phoneme ids (made by piper-tts's phonemizer), so this
        // times the network alone: espeak-ng's phonemes are a few ms of either side's total.
        let started = Instant::now();
        let samples = voice
            .speak_ids(&ids, &voice.default_scales(), &mut self.tts_rng)
            .map_err(|err| err.to_string())?;
        Ok(json!({
            "s": started.elapsed().as_secs_f64(),
            "n_samples": samples.len(),
            "sample_rate_hz": voice.sample_rate_hz(),
        }))
    }

    fn handle(&mut self, request: &Value) -> Result<Value, String> {
        match request["op"].as_str() {
            Some("stt") => {
                let wav = request["wav"].as_str().ok_or("stt needs a wav")?;
                self.stt(Path::new(wav))
            }
            Some("llm") => self.llm(request),
            Some("tts") => self.tts(request),
            other => Err(format!("unknown op {other:?}")),
        }
    }
}

/// A 16 kHz WAV (any channel count, 16-bit or float) as mono f32.
fn read_wav_16k_mono(path: &Path) -> Result<Vec<f32>, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != 16_000 {
        return Err(format!(
            "{} is {} Hz; the bench wants 16 kHz",
            path.display(),
            spec.sample_rate
        ));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1u32 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 / scale))
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
    }
    .map_err(|err| format!("{}: {err}", path.display()))?;
    let n_channels = usize::from(spec.channels.max(1));
    Ok(interleaved
        .chunks(n_channels)
        .map(|frame| frame.iter().sum::<f32>() / n_channels as f32)
        .collect())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("peers: {err}");
            std::process::exit(2);
        }
    };
    let n_threads = args.n_threads.to_string();
    // SAFETY: no other thread exists yet. The app's own defaults, so the bench measures
    // what the app runs.
    unsafe { ideadesk::compute::set_cpu_defaults() };
    for name in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        // SAFETY: no other thread exists yet; candle and rayon read these when their
        // pools start, which happens later.
        unsafe { std::env::set_var(name, &n_threads) };
    }
    let mut stages = Stages {
        args,
        stt: None,
        wavs: HashMap::new(),
        llm: None,
        vocab: None,
        voice: None,
        tts_rng: ChaCha8Rng::seed_from_u64(0x1dea_de5c),
    };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = serde_json::from_str::<Value>(&line)
            .map_err(|err| format!("bad request: {err}"))
            .and_then(|request| stages.handle(&request))
            .unwrap_or_else(|err| json!({ "error": err }));
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
