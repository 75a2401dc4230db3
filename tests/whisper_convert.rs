//! The CTranslate2 → ggml converter is right when whisper.cpp (through whisper-rs) loads
//! its output and transcribes real speech: jfk.wav with a word error rate of at most 10 %.

mod common;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

const JFK_TEXT: &str = "And so my fellow Americans, ask not what your country can do for you, \
                        ask what you can do for your country.";
const MAX_WER: f64 = 0.10;
const WHISPER_SAMPLE_RATE_HZ: u32 = 16_000;

fn transcribe(model: &std::path::Path, samples: &[f32]) -> String {
    whisper_rs::install_logging_hooks();
    let context = WhisperContext::new_with_params(
        model.to_str().expect("a UTF-8 path"),
        WhisperContextParameters::default(),
    )
    .expect("whisper.cpp loads the converted model");
    let mut state = context.create_state().expect("a decoding state");
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_n_threads(2);
    params.set_language(Some("en"));
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    state.full(params, samples).expect("transcription runs");
    state
        .as_iter()
        .map(|segment| segment.to_str_lossy().expect("segment text").into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn converted_tiny_en_transcribes_jfk() {
    let model = common::test_model("stt", "ggml-tiny.en.bin");
    let (samples, sample_rate_hz) = common::read_wav_mono(&common::test_data("jfk.wav"));
    assert_eq!(sample_rate_hz, WHISPER_SAMPLE_RATE_HZ, "jfk.wav is 16 kHz");
    let text = transcribe(&model, &samples);
    let wer = common::wer(JFK_TEXT, &text);
    println!("transcript: {text:?}, WER {:.1} %", wer * 100.0);
    assert!(wer <= MAX_WER, "WER {wer:.3} > {MAX_WER} for {text:?}");
}

/// The q8_0 conversion (2-D weights quantised as whisper.cpp's `quantize` does it) loads
/// and hears jfk.wav word for word as the f16 file does.
#[test]
fn quantised_q8_0_tiny_en_transcribes_jfk_like_f16() {
    let q8_0 = common::test_model("stt", "ggml-tiny.en-q8_0.bin");
    let f16 = common::test_model("stt", "ggml-tiny.en.bin");
    let (samples, _) = common::read_wav_mono(&common::test_data("jfk.wav"));
    let text = transcribe(&q8_0, &samples);
    println!("q8_0 transcript: {text:?}");
    assert_eq!(
        common::normalise_words(&text),
        common::normalise_words(&transcribe(&f16, &samples))
    );
    assert!(common::wer(JFK_TEXT, &text) <= MAX_WER, "{text:?}");
    let size = std::fs::metadata(&q8_0).unwrap().len();
    assert!(
        size < std::fs::metadata(&f16).unwrap().len() * 6 / 10,
        "q8_0 is {size} bytes"
    );
}

#[test]
fn converted_model_reports_tiny_en_hyperparameters() {
    whisper_rs::install_logging_hooks();
    let model = common::test_model("stt", "ggml-tiny.en.bin");
    let context = WhisperContext::new_with_params(
        model.to_str().expect("a UTF-8 path"),
        WhisperContextParameters::default(),
    )
    .expect("whisper.cpp loads the converted model");
    let check = |what: &str, got: i32, expected: i32| assert_eq!(got, expected, "{what}");
    check("n_vocab", context.model_n_vocab(), 51864);
    check("n_audio_ctx", context.model_n_audio_ctx(), 1500);
    check("n_audio_state", context.model_n_audio_state(), 384);
    check("n_audio_layer", context.model_n_audio_layer(), 4);
    check("n_text_layer", context.model_n_text_layer(), 4);
    check("n_mels", context.model_n_mels(), 80);
    assert!(!context.is_multilingual(), "tiny.en is English only");
}
