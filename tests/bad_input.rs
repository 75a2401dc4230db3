//! The bad-input corpus as a test: damaged, empty, truncated, mislabelled and hostile
//! files given to every command that reads them, as an unlucky or hostile user would.
//!
//! Each case builds its file, runs the binary (with the test models) and asserts the exit
//! code; for a failure, one `error:` line that names the file and what is wrong, no
//! "panicked" anywhere, and a store left exactly as it was (`export --all --format json`
//! before and after). Cases that must succeed (a file cut short, a pipe, MP3 and OGG) are
//! here too, so a fix that turns good input into an error fails as well.
//!
//! `RUST_BACKTRACE=1` is set for every run: a library that appends a backtrace to its
//! error message must not turn the person's one-line error into a stack dump.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ideadesk, run};

/// What a case expects.
enum Expect {
    /// Exit code 0.
    Success,
    /// Exit code 1 with one `error:` line that names `file` and contains every phrase.
    Failure {
        file: String,
        phrases: &'static [&'static str],
    },
}

/// One command run on one bad (or odd but good) input.
struct Case {
    name: &'static str,
    args: Vec<OsString>,
    expect: Expect,
}

fn fails(file: &Path, phrases: &'static [&'static str]) -> Expect {
    Expect::Failure {
        file: file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        phrases,
    }
}

fn args(items: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    items.iter().map(|item| item.as_ref().to_owned()).collect()
}

/// The binary with the test models, a private data dir and backtraces switched on.
fn command(data: &Path) -> Command {
    let mut command = ideadesk(data);
    command
        .arg("--models")
        .arg(common::test_models_dir())
        .env("RUST_BACKTRACE", "1");
    command
}

/// Everything stored, as JSON.
fn store_snapshot(data: &Path) -> String {
    let (output, stdout, stderr) = run(command(data).args(["export", "--all", "--format", "json"]));
    assert!(output.status.success(), "export --all: {stderr}");
    stdout
}

fn check(data: &Path, case: &Case) {
    let before = store_snapshot(data);
    let (output, stdout, stderr) = run(command(data).args(&case.args));
    let context = format!(
        "case {:?}: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        case.name, case.args
    );
    assert!(
        !stderr.contains("panicked") && !stdout.contains("panicked"),
        "no panic, {context}"
    );
    match &case.expect {
        Expect::Success => {
            assert!(output.status.success(), "success expected, {context}");
        }
        Expect::Failure { file, phrases } => {
            assert_eq!(output.status.code(), Some(1), "exit code 1, {context}");
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with("error:"))
                .collect();
            assert_eq!(errors.len(), 1, "one error line, {context}");
            let error = errors[0];
            assert!(
                !stderr.contains("   0: ") && !stderr.contains("      at "),
                "no backtrace, {context}"
            );
            assert!(error.contains(file.as_str()), "names {file}, {context}");
            for phrase in *phrases {
                assert!(error.contains(phrase), "says {phrase:?}, {context}");
            }
            assert_eq!(
                store_snapshot(data),
                before,
                "the store is untouched, {context}"
            );
        }
    }
}

/// A data dir whose store already holds one captured session.
fn store_with_a_session() -> tempfile::TempDir {
    let data = tempfile::tempdir().expect("a temp dir");
    let (output, _, stderr) = run(command(data.path()).args([
        "capture",
        "--text",
        "Freelance translators miss deadlines every week.",
    ]));
    assert!(output.status.success(), "seeding the store: {stderr}");
    data
}

/// A 16-bit PCM WAV of a 440 Hz sine whose header fields may be damaged.
fn write_wav(path: &Path, n_channels: u16, sample_rate_hz: u32, n_frames: usize) {
    let mut data = Vec::new();
    for frame_idx in 0..n_frames {
        let phase = frame_idx as f32 * 440.0 * std::f32::consts::TAU / 16_000.0;
        let sample = (phase.sin() * 8_000.0) as i16;
        for _ in 0..n_channels.max(1) {
            data.extend_from_slice(&sample.to_le_bytes());
        }
    }
    let block_align = 2 * n_channels;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&n_channels.to_le_bytes());
    fmt.extend_from_slice(&sample_rate_hz.to_le_bytes());
    fmt.extend_from_slice(&(sample_rate_hz * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    body.extend_from_slice(&fmt);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&data);
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    std::fs::write(path, bytes).expect("writing a test WAV");
}

/// Converts with sox (installed by `make deps`).
fn sox(from: &Path, to: &Path) {
    let status = Command::new("sox")
        .arg(from)
        .arg(to)
        .status()
        .expect("sox runs (`make deps` installs it)");
    assert!(
        status.success(),
        "sox {} -> {}",
        from.display(),
        to.display()
    );
}

/// A FLAC whose header is intact and whose every audio frame is damaged.
fn damaged_flac(dir: &Path) -> PathBuf {
    let speech = dir.join("speech.wav");
    common::synthesize_speech(&speech, "en-us", &["We lose a client every month."]);
    let flac = dir.join("speech.flac");
    sox(&speech, &flac);
    let mut bytes = std::fs::read(&flac).expect("reading the FLAC");
    // The metadata blocks take the first few hundred bytes; every 7th byte after them
    // is flipped, which breaks every frame's sync code or checksum.
    let audio_start = 400.min(bytes.len());
    for byte in bytes[audio_start..].iter_mut().step_by(7) {
        *byte ^= 0x5a;
    }
    let damaged = dir.join("damaged.flac");
    std::fs::write(&damaged, bytes).expect("writing the damaged FLAC");
    damaged
}

#[test]
fn damaged_audio_is_an_error_for_every_command_that_hears() {
    let data = store_with_a_session();
    let dir = tempfile::tempdir().expect("a temp dir");
    let rate_0 = dir.path().join("rate-0.wav");
    write_wav(&rate_0, 1, 0, 16_000);
    let damaged = damaged_flac(dir.path());
    let mut cases = Vec::new();
    for (file, phrases) in [(&rate_0, &["0 Hz"][..]), (&damaged, &["damaged"][..])] {
        let phrases: &'static [&'static str] = Box::leak(phrases.to_vec().into_boxed_slice());
        cases.extend([
            Case {
                name: "transcribe",
                args: args(&[&"transcribe", file]),
                expect: fails(file, phrases),
            },
            Case {
                name: "capture --audio",
                args: args(&[&"capture", &"--audio", file]),
                expect: fails(file, phrases),
            },
            Case {
                name: "listen --audio",
                args: args(&[&"listen", &"--audio", file, &"--no-tui", &"--no-speech"]),
                expect: fails(file, phrases),
            },
            Case {
                name: "bench --audio",
                args: args(&[&"bench", &"--runs", &"1", &"--audio", file]),
                expect: fails(file, phrases),
            },
        ]);
    }
    for case in &cases {
        check(data.path(), case);
    }
}

#[test]
fn odd_audio_files_get_a_clear_error_or_are_read() {
    let data = store_with_a_session();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = |name: &str| dir.path().join(name);

    let empty = path("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let no_channels = path("no-channels.wav");
    write_wav(&no_channels, 0, 16_000, 1_600);
    let one_hz = path("one-hz.wav");
    write_wav(&one_hz, 1, 1, 1_600);
    let no_samples = path("no-samples.wav");
    write_wav(&no_samples, 1, 16_000, 0);
    let text = path("notes.wav");
    std::fs::write(&text, "These are notes, not audio.\n".repeat(20)).unwrap();
    let huge_chunk = path("huge-chunk.wav");
    let mut bytes = b"RIFF\xff\xff\xff\xffWAVELIST\xf0\xff\xff\xff".to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    std::fs::write(&huge_chunk, bytes).unwrap();
    let folder = path("recordings");
    std::fs::create_dir(&folder).unwrap();
    let missing = path("missing.wav");

    let good = path("tone.wav");
    write_wav(&good, 2, 44_100, 44_100);
    let cut_short = path("cut-short.wav");
    let whole = std::fs::read(&good).unwrap();
    std::fs::write(&cut_short, &whole[..whole.len() / 3]).unwrap();
    let mp3 = path("tone.mp3");
    sox(&good, &mp3);
    let ogg = path("tone.ogg");
    sox(&good, &ogg);

    let transcribe = |file: &Path, expect: Expect, name: &'static str| Case {
        name,
        args: args(&[&"transcribe", &file]),
        expect,
    };
    let cases = [
        transcribe(&empty, fails(&empty, &["empty"]), "0 bytes"),
        transcribe(
            &no_channels,
            fails(&no_channels, &["0 channels"]),
            "0 channels",
        ),
        transcribe(&one_hz, fails(&one_hz, &["1 Hz"]), "1 Hz"),
        transcribe(
            &no_samples,
            fails(&no_samples, &["no audio could be decoded"]),
            "a header and no samples",
        ),
        transcribe(
            &text,
            fails(&text, &["not in a known audio format"]),
            "text named .wav",
        ),
        transcribe(&huge_chunk, fails(&huge_chunk, &[]), "a 4 GB chunk header"),
        transcribe(&folder, fails(&folder, &["is a folder"]), "a folder"),
        transcribe(
            &missing,
            fails(&missing, &["No such file"]),
            "a missing file",
        ),
        transcribe(&cut_short, Expect::Success, "a WAV cut short"),
        transcribe(&mp3, Expect::Success, "MP3"),
        transcribe(&ogg, Expect::Success, "OGG/Vorbis"),
    ];
    for case in &cases {
        check(data.path(), case);
    }

    // The OS error of a missing file is said once, not twice.
    let (_, _, stderr) = run(command(data.path()).arg("transcribe").arg(&missing));
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

/// A pipe with a writer behind it is read as a stream, not reported as an empty file.
#[test]
fn a_pipe_is_read_as_a_stream() {
    let data = tempfile::tempdir().expect("a temp dir");
    let dir = tempfile::tempdir().expect("a temp dir");
    let speech = dir.path().join("speech.wav");
    common::synthesize_speech(&speech, "en-us", &["We lose money on missed visits."]);
    let fifo = dir.path().join("pipe.wav");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let bytes = std::fs::read(&speech).expect("reading the speech");
            std::fs::write(&fifo, bytes).expect("writing into the pipe");
        })
    };
    let (output, stdout, stderr) = run(command(data.path()).arg("transcribe").arg(&fifo));
    writer.join().expect("the writer ends");
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.to_lowercase().contains("lose money"), "{stdout}");
}

#[test]
fn bad_images_text_and_model_files_get_a_clear_error() {
    let data = store_with_a_session();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = |name: &str| dir.path().join(name);

    let garbage_png = path("sketch.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&b"garbage".repeat(100));
    std::fs::write(&garbage_png, bytes).unwrap();
    let empty_png = path("empty.png");
    std::fs::write(&empty_png, b"").unwrap();
    let truncated_jpeg = path("photo.jpg");
    let mut jpeg = Vec::new();
    image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([
            (x * 7 % 251) as u8,
            (y * 13 % 241) as u8,
            ((x ^ y) % 256) as u8,
        ])
    })
    .write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    std::fs::write(&truncated_jpeg, &jpeg[..jpeg.len() / 2]).unwrap();
    let huge_png = path("huge.png");
    let mut png = Vec::new();
    image::GrayImage::new(8, 8)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // Claim 100,000 × 100,000 pixels in the header; the data stays 8 × 8.
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    std::fs::write(&huge_png, png).unwrap();

    let latin1 = path("idea.txt");
    std::fs::write(&latin1, b"Caf\xe9 owners lose track of orders every day.").unwrap();
    let garbage_gguf = path("model.gguf");
    let mut gguf = b"GGUF".to_vec();
    gguf.extend_from_slice(&[0xff; 200]);
    std::fs::write(&garbage_gguf, gguf).unwrap();
    let cut_gguf = path("cut.gguf");
    let real_gguf = common::test_models_dir().join("llm");
    let real_gguf = std::fs::read_dir(&real_gguf)
        .expect("models/test/llm (run `make test-models`)")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "gguf"))
        .expect("a GGUF in models/test/llm (run `make test-models`)");
    let mut head = vec![0u8; 64 * 1024];
    use std::io::Read;
    std::fs::File::open(&real_gguf)
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    std::fs::write(&cut_gguf, head).unwrap();
    let missing_folder = dir.path().join("missing").join("dir").join("brief.md");

    let cases = [
        Case {
            name: "look at garbage named .png",
            args: args(&[&"look", &garbage_png]),
            expect: fails(&garbage_png, &[]),
        },
        Case {
            name: "look at an empty file",
            args: args(&[&"look", &empty_png]),
            expect: fails(&empty_png, &[]),
        },
        Case {
            name: "look at a truncated JPEG",
            args: args(&[&"look", &truncated_jpeg]),
            expect: fails(&truncated_jpeg, &["truncated"]),
        },
        Case {
            name: "look at a PNG that claims 10 gigapixels",
            args: args(&[&"look", &huge_png]),
            expect: fails(&huge_png, &[]),
        },
        Case {
            name: "capture a garbage sketch",
            args: args(&[
                &"capture",
                &"--text",
                &"A sketch.",
                &"--image",
                &garbage_png,
            ]),
            expect: fails(&garbage_png, &[]),
        },
        Case {
            name: "capture Latin-1 text",
            args: args(&[&"capture", &"--text-file", &latin1]),
            expect: fails(&latin1, &["not UTF-8", "save it as UTF-8"]),
        },
        Case {
            name: "capture text from a folder",
            args: args(&[&"capture", &"--text-file", &dir.path()]),
            expect: fails(dir.path(), &["is a folder"]),
        },
        Case {
            name: "a GGUF whose header is garbage",
            args: args(&[&"capture", &"--text", &"Hello.", &"--llm", &garbage_gguf]),
            expect: fails(&garbage_gguf, &["GGUF"]),
        },
        Case {
            name: "a GGUF cut after 64 KiB",
            args: args(&[&"capture", &"--text", &"Hello.", &"--llm", &cut_gguf]),
            expect: fails(&cut_gguf, &[]),
        },
        Case {
            name: "needs of a session that does not exist",
            args: args(&[&"needs", &"list", &"--session", &"99999"]),
            expect: Expect::Failure {
                file: "99999".into(),
                phrases: &["no session"],
            },
        },
        Case {
            name: "a need that does not exist",
            args: args(&[&"needs", &"show", &"0"]),
            expect: Expect::Failure {
                file: "#0".into(),
                phrases: &["needs list"],
            },
        },
        Case {
            name: "export into a folder that does not exist",
            args: args(&[&"export", &"--out", &missing_folder]),
            expect: Expect::Failure {
                file: "missing/dir".into(),
                phrases: &["does not exist"],
            },
        },
    ];
    for case in &cases {
        check(data.path(), case);
    }

    // The message of a missing need is said once.
    let (_, _, stderr) = run(command(data.path()).args(["needs", "show", "0"]));
    assert_eq!(stderr.matches("#0").count(), 1, "{stderr}");
    // The export names the missing folder, not its own temporary file.
    let (_, _, stderr) = run(command(data.path())
        .arg("export")
        .arg("--out")
        .arg(&missing_folder));
    assert!(!stderr.contains(".partial"), "{stderr}");
}

/// 2,000 characters with no space or mark: cut at the hard sentence length and spoken by
/// the Piper test voice into the file, without a warning about playback events nobody
/// reads.
#[test]
fn say_speaks_unbroken_text_into_a_file() {
    let data = tempfile::tempdir().expect("a temp dir");
    let out = data.path().join("long.wav");
    let text = "a".repeat(2_000);
    let (output, _, stderr) = run(command(data.path())
        .args(["say", "--voice", "piper", "--out"])
        .arg(&out)
        .arg(&text));
    assert!(output.status.success(), "{stderr}");
    assert!(out.is_file(), "the WAV is written");
    assert!(!stderr.contains("nobody reads"), "{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
}
