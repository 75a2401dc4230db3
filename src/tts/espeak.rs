//! espeak-ng as a separate program: the fallback voice when no Piper voice is present, and
//! the process runner that the phonemizer (`phonemize.rs`) shares.
//!
//! espeak-ng is GPL, so it is only ever started with `std::process::Command`, never
//! linked. Text always goes in on stdin (`--stdin`), never in argv, so no input can become
//! an option; `[[`, which would switch espeak-ng to reading raw phoneme codes, is broken
//! up first. The voice reads its WAV from stdout. espeak-ng cannot seek a pipe, so the
//! header's lengths are placeholders (0x7ffff000); the samples are read from the start of
//! the `data` chunk to the end of the output instead.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::TtsError;

/// The program's name, looked up on PATH.
pub const ESPEAK_PROGRAM: &str = "espeak-ng";

/// The espeak-ng voice used when none is asked for (American English, like the default
/// Piper voices).
pub const DEFAULT_ESPEAK_VOICE: &str = "en-us";

/// espeak-ng's native output rate.
const ESPEAK_SAMPLE_RATE_HZ: u32 = 22_050;

/// Speaking rate of the fallback voice. espeak-ng's default is 175; a little slower is
/// easier to follow in its synthetic voice.
const WORDS_PER_MINUTE: u32 = 160;

/// How long one espeak-ng run may take before it is killed: a base for starting it, plus a
/// per-character allowance (espeak-ng synthesises about 100× faster than real time).
const TIMEOUT_BASE: Duration = Duration::from_secs(20);
const TIMEOUT_PER_CHAR: Duration = Duration::from_millis(10);

/// The espeak-ng voice: robotic, but always available where espeak-ng is installed.
#[derive(Debug, Clone)]
pub struct EspeakVoice {
    /// The espeak-ng program.
    program: PathBuf,
    /// The espeak-ng voice name (e.g. `en-us`).
    voice: String,
}

impl EspeakVoice {
    /// The voice `voice` (an espeak-ng voice name such as `en-us`) of the `espeak-ng` on
    /// PATH. Fails with `EspeakMissing` when there is none and `UnknownEspeakVoice` when
    /// espeak-ng does not know the voice.
    pub fn new(voice: &str) -> Result<Self, TtsError> {
        Self::with_program(ESPEAK_PROGRAM, voice)
    }

    /// Like `new`, with the espeak-ng program given: a path, or a name looked up on PATH.
    pub fn with_program(program: impl AsRef<Path>, voice: &str) -> Result<Self, TtsError> {
        let program = locate_program(program.as_ref())?;
        let voice = checked_voice_name(voice)?;
        run_espeak(&program, &["-q", "-v", &voice, "--stdin"], "")?;
        Ok(Self { program, voice })
    }

    /// The espeak-ng voice name.
    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// The rate of the samples `synthesize` returns.
    pub fn sample_rate_hz(&self) -> u32 {
        ESPEAK_SAMPLE_RATE_HZ
    }

    /// Speaks one sentence: mono samples in [-1, 1] at `sample_rate_hz()`, ending with
    /// espeak-ng's short sentence pause. Fails with `NothingToSay` when the sentence has no
    /// letter or digit.
    pub fn synthesize(&self, sentence: &str) -> Result<Vec<f32>, TtsError> {
        let text = sanitize_for_espeak(sentence);
        if !text.chars().any(char::is_alphanumeric) {
            return Err(TtsError::NothingToSay);
        }
        let rate = WORDS_PER_MINUTE.to_string();
        let wav = run_espeak(
            &self.program,
            &["--stdout", "-v", &self.voice, "-s", &rate, "--stdin"],
            &text,
        )?;
        let samples = decode_espeak_wav(&wav)?;
        if samples.is_empty() {
            return Err(TtsError::NothingToSay);
        }
        Ok(samples)
    }
}

/// Reads espeak-ng's WAV: 16-bit mono PCM at 22,050 Hz, whose header lengths may be
/// placeholders.
fn decode_espeak_wav(wav: &[u8]) -> Result<Vec<f32>, TtsError> {
    let reader = hound::WavReader::new(Cursor::new(wav))
        .map_err(|e| TtsError::Espeak(format!("its WAV output could not be read: {e}")))?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
        || spec.sample_rate != ESPEAK_SAMPLE_RATE_HZ
    {
        return Err(TtsError::Espeak(format!(
            "it wrote {} channel(s) of {}-bit {:?} at {} Hz, but 16-bit mono at {ESPEAK_SAMPLE_RATE_HZ} Hz was expected (an MBROLA voice?); choose a plain espeak-ng voice",
            spec.channels, spec.bits_per_sample, spec.sample_format, spec.sample_rate
        )));
    }
    // hound stops at the start of the data chunk; read from there to the real end.
    let data_start = usize::try_from(reader.into_inner().position()).unwrap_or(wav.len());
    let data = wav.get(data_start..).unwrap_or_default();
    Ok(data
        .chunks_exact(2)
        .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32_768.0)
        .collect())
}

/// Makes text safe to hand to espeak-ng on stdin: control characters (newlines, NUL,
/// espeak-ng's embedded-command byte 0x01) become spaces, `[[` and `]]` (phoneme input)
/// are split, and the ends are trimmed.
pub(crate) fn sanitize_for_espeak(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = ' ';
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if (c == '[' || c == ']') && previous == c {
            out.push(' ');
        }
        out.push(c);
        previous = c;
    }
    out.trim().to_string()
}

/// Checks that a voice name cannot be mistaken for an option or a path trick: letters,
/// digits and `-_+.`, not starting with `-`, at most 64 characters.
pub(crate) fn checked_voice_name(voice: &str) -> Result<String, TtsError> {
    let valid = !voice.is_empty()
        && voice.len() <= 64
        && !voice.starts_with('-')
        && voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.'));
    if valid {
        Ok(voice.to_string())
    } else {
        Err(TtsError::UnknownEspeakVoice(voice.to_string()))
    }
}

/// Finds the program: a path with a directory in it is taken as it is, a bare name is
/// looked up on PATH.
pub(crate) fn locate_program(program: &Path) -> Result<PathBuf, TtsError> {
    if program.components().count() > 1 || program.is_absolute() {
        return if program.is_file() {
            Ok(program.to_path_buf())
        } else {
            Err(TtsError::EspeakMissing)
        };
    }
    let path = std::env::var_os("PATH").ok_or(TtsError::EspeakMissing)?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or(TtsError::EspeakMissing)
}

/// Runs espeak-ng with `args`, feeds `input` on stdin and returns its stdout. Writing and
/// reading happen on their own threads, so a large output never blocks the input; a run
/// that takes too long is killed.
pub(crate) fn run_espeak(program: &Path, args: &[&str], input: &str) -> Result<Vec<u8>, TtsError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                TtsError::EspeakMissing
            }
            _ => TtsError::Espeak(format!("could not start {}: {e}", program.display())),
        })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        // Unreachable with piped stdio, but a missing pipe must not leave a process behind.
        let _ = child.kill();
        let _ = child.wait();
        return Err(TtsError::Espeak("its pipes could not be opened".into()));
    };
    let input_bytes = input.as_bytes().to_vec();
    // A write error means espeak-ng exited early (e.g. an unknown voice); its exit status
    // and stderr say why.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input_bytes);
    });
    let stderr_reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let result = stdout.read_to_end(&mut bytes).map(|_| bytes);
        let _ = sender.send(result);
    });
    let n_chars = u32::try_from(input.chars().count()).unwrap_or(u32::MAX);
    let timeout = TIMEOUT_BASE.saturating_add(TIMEOUT_PER_CHAR.saturating_mul(n_chars));
    let output = match receiver.recv_timeout(timeout) {
        Ok(output) => output,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TtsError::Espeak(format!(
                "it did not finish within {} s and was stopped",
                timeout.as_secs()
            )));
        }
    };
    let status = child
        .wait()
        .map_err(|e| TtsError::Espeak(format!("waiting for it failed: {e}")))?;
    let _ = writer.join();
    let stderr_text = stderr_reader.join().unwrap_or_default();
    let stdout_bytes =
        output.map_err(|e| TtsError::Espeak(format!("reading its output failed: {e}")))?;
    if stderr_text.contains("voice does not exist") {
        let voice = args
            .iter()
            .position(|&arg| arg == "-v")
            .and_then(|ix| args.get(ix + 1))
            .unwrap_or(&"");
        return Err(TtsError::UnknownEspeakVoice((*voice).to_string()));
    }
    if !status.success() {
        let detail: String = stderr_text.trim().chars().take(500).collect();
        return Err(TtsError::Espeak(format!(
            "it exited with {status}: {detail}"
        )));
    }
    Ok(stdout_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The espeak-ng voice every test uses; espeak-ng must be installed (`make deps`).
    fn voice() -> EspeakVoice {
        match EspeakVoice::new("en-us") {
            Ok(voice) => voice,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn sentences_give_plausible_audio() {
        let voice = voice();
        let check = |sentence: &str| {
            let samples = match voice.synthesize(sentence) {
                Ok(samples) => samples,
                Err(e) => panic!("{sentence:?}: {e}"),
            };
            assert!(samples.iter().all(|s| s.is_finite()), "{sentence:?}: NaN");
            let peak = samples.iter().fold(0.0_f32, |peak, s| peak.max(s.abs()));
            assert!(peak <= 1.0 && peak > 0.05, "{sentence:?}: peak {peak}");
            let seconds = samples.len() as f64 / f64::from(voice.sample_rate_hz());
            let n_words = sentence.split_whitespace().count() as f64;
            let expected = n_words / 2.5;
            assert!(
                seconds >= 0.5 * expected && seconds <= 2.0 * expected,
                "{sentence:?}: {seconds:.2} s for {n_words} words"
            );
        };
        check("We could add a reminder before every appointment, so nobody forgets.");
        check("How often does that happen to you each week?");
        check("The plan costs three point five million dollars in total.");
    }

    #[test]
    fn nothing_to_say() {
        let voice = voice();
        let check = |sentence: &str| {
            assert!(
                matches!(voice.synthesize(sentence), Err(TtsError::NothingToSay)),
                "{sentence:?}"
            );
        };
        check("");
        check("   \n\t ");
        check("... !? ,");
    }

    #[test]
    fn hostile_input_is_only_text() {
        let voice = voice();
        let check = |sentence: &str| {
            let samples = match voice.synthesize(sentence) {
                Ok(samples) => samples,
                Err(e) => panic!("{sentence:?}: {e}"),
            };
            assert!(!samples.is_empty(), "{sentence:?}");
        };
        check("; rm -rf / && echo pwned");
        check("--version -v xx \"quoted\" 'single' $(whoami) `id`");
        check("say [[h@l'oU]] now\nline two\0nul");
        check("<speak>not ssml</speak> &amp;");
    }

    #[test]
    fn missing_program_or_voice() {
        let check = |program: &str, voice: &str, missing: bool| {
            let result = EspeakVoice::with_program(program, voice);
            match result {
                Err(TtsError::EspeakMissing) => assert!(missing, "{program} {voice}"),
                Err(TtsError::UnknownEspeakVoice(name)) => {
                    assert!(!missing, "{program} {voice}");
                    assert_eq!(name, voice);
                }
                other => panic!("{program} {voice}: {other:?}"),
            }
        };
        check("/nonexistent/espeak-ng", "en-us", true);
        check("no-such-espeak-program", "en-us", true);
        check("/tmp", "en-us", true);
        check(ESPEAK_PROGRAM, "xx-nope", false);
        check(ESPEAK_PROGRAM, "--version", false);
        check(ESPEAK_PROGRAM, "", false);
    }

    #[test]
    fn wav_with_placeholder_lengths() {
        let check = |header_data_len: u32, samples: &[i16], expected: &[f32]| {
            let mut wav = Vec::new();
            wav.extend_from_slice(b"RIFF");
            wav.extend_from_slice(&header_data_len.wrapping_add(36).to_le_bytes());
            wav.extend_from_slice(b"WAVEfmt ");
            wav.extend_from_slice(&16_u32.to_le_bytes());
            wav.extend_from_slice(&1_u16.to_le_bytes());
            wav.extend_from_slice(&1_u16.to_le_bytes());
            wav.extend_from_slice(&ESPEAK_SAMPLE_RATE_HZ.to_le_bytes());
            wav.extend_from_slice(&(ESPEAK_SAMPLE_RATE_HZ * 2).to_le_bytes());
            wav.extend_from_slice(&2_u16.to_le_bytes());
            wav.extend_from_slice(&16_u16.to_le_bytes());
            wav.extend_from_slice(b"data");
            wav.extend_from_slice(&header_data_len.to_le_bytes());
            for sample in samples {
                wav.extend_from_slice(&sample.to_le_bytes());
            }
            match decode_espeak_wav(&wav) {
                Ok(decoded) => assert_eq!(decoded, expected),
                Err(e) => panic!("{e}"),
            }
        };
        check(0x7fff_f000, &[0, 16_384, -32_768], &[0.0, 0.5, -1.0]);
        check(6, &[0, 16_384, -32_768], &[0.0, 0.5, -1.0]);
        check(0, &[], &[]);
        assert!(decode_espeak_wav(b"not a wav").is_err());
        assert!(decode_espeak_wav(&[]).is_err());
    }
}
