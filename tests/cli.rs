//! The `ideadesk` binary as a user meets it: models, devices, doctor, and clear errors on
//! bad input. Every run gets a private data dir and hub cache with HF_HUB_OFFLINE=1, so
//! nothing here can touch the network.

mod common;

use std::path::Path;

use common::{ideadesk, run};

/// The revision models.toml pins for the balanced Silero VAD.
const VAD_REPO_CACHE: &str =
    "hub/models--onnx-community--silero-vad/snapshots/ddc9a7e80d6758f6fc795a1e8a04b798eb929d3a";
/// The roles that have real test weights.
const TEST_ROLES: [&str; 5] = ["stt", "vad", "llm", "tts", "embed"];

/// One command-line case: arguments, whether it should succeed, and text that must
/// appear in stdout and in stderr.
struct Case<'a> {
    name: &'a str,
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    success: bool,
    stdout_has: &'a [&'a str],
    stderr_has: &'a [&'a str],
}

fn check(data_dir: &Path, case: &Case<'_>) {
    let mut command = ideadesk(data_dir);
    command.args(&case.args);
    for (key, value) in &case.env {
        command.env(key, value);
    }
    let (output, stdout, stderr) = run(&mut command);
    let context = format!("case {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", case.name);
    assert_eq!(
        output.status.success(),
        case.success,
        "exit status, {context}"
    );
    assert!(!stderr.contains("panicked"), "no panic, {context}");
    for needle in case.stdout_has {
        assert!(
            stdout.contains(needle),
            "stdout lacks {needle:?}, {context}"
        );
    }
    for needle in case.stderr_has {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}, {context}"
        );
    }
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn command_line_cases() {
    let data = tempfile::tempdir().unwrap();
    let models = common::test_models_dir();
    let models = models.to_str().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    let cases = [
        Case {
            name: "help explains the commands and the global options",
            args: args(&["--help"]),
            env: vec![],
            success: true,
            stdout_has: &[
                "models", "devices", "doctor", "--models", "--preset", "--data", "--cpu",
            ],
            stderr_has: &[],
        },
        Case {
            name: "unknown role lists the valid ones",
            args: args(&["models", "list", "--role", "ears"]),
            env: vec![],
            success: false,
            stdout_has: &[],
            stderr_has: &["valid roles are: stt, vad, llm, vision, tts, embed"],
        },
        Case {
            name: "unknown preset lists the valid ones",
            args: args(&["--preset", "huge", "models", "list"]),
            env: vec![],
            success: false,
            stdout_has: &[],
            stderr_has: &["valid presets are: fast, balanced, quality"],
        },
        Case {
            name: "a --models folder that does not exist",
            args: args(&["--models", "/nonexistent/ideadesk", "models", "list"]),
            env: vec![],
            success: false,
            stdout_has: &[],
            stderr_has: &["/nonexistent/ideadesk does not exist"],
        },
        Case {
            name: "IDEADESK_MODELS is the same as --models",
            args: args(&["models", "list", "--role", "stt"]),
            env: vec![("IDEADESK_MODELS", models.to_string())],
            success: true,
            stdout_has: &["ggml-tiny.en.bin", "yes     yes"],
            stderr_has: &[],
        },
        Case {
            name: "an empty hub cache lists everything as missing and says how to fetch",
            args: args(&["models", "list"]),
            env: vec![],
            success: true,
            stdout_has: &[
                "ggml-base.en-q8_0.bin",
                "ideadesk models fetch --preset balanced",
            ],
            stderr_has: &[],
        },
        Case {
            name: "offline fetch fails and says why",
            args: args(&["--preset", "fast", "models", "fetch", "--role", "stt"]),
            env: vec![],
            success: false,
            stdout_has: &[],
            stderr_has: &["ggml-tiny.en-q8_0.bin", "HF_HUB_OFFLINE is set"],
        },
        Case {
            name: "the test layout verifies",
            args: args(&[
                "--models", models, "models", "verify", "--role", "stt", "--role", "embed",
            ]),
            env: vec![],
            success: true,
            stdout_has: &["ok       stt     ", "ok       embed   "],
            stderr_has: &[],
        },
        Case {
            name: "a named role missing from the folder fails verification",
            args: args(&["--models", empty, "models", "verify", "--role", "llm"]),
            env: vec![],
            success: false,
            stdout_has: &["MISSING  llm", "models fetch --role llm"],
            stderr_has: &["failed verification"],
        },
        Case {
            name: "converting a folder without a model fails cleanly",
            args: args(&[
                "models",
                "convert-whisper",
                "--from",
                empty,
                "--out",
                &format!("{empty}/x.bin"),
            ]),
            env: vec![],
            success: false,
            stdout_has: &[],
            stderr_has: &["model.bin"],
        },
        Case {
            name: "devices exit 0 on a machine without sound card or camera",
            args: args(&["devices"]),
            env: vec![],
            success: true,
            stdout_has: &["Audio inputs:", "Audio outputs:", "Cameras:"],
            stderr_has: &[],
        },
        Case {
            name: "doctor exits 0 with the test models and no devices",
            args: args(&["--models", models, "doctor"]),
            env: vec![],
            success: true,
            stdout_has: &[
                "ok    cpu",
                "ok    model stt",
                "ok    model llm",
                "espeak-ng",
                "camera",
            ],
            stderr_has: &[],
        },
    ];
    for case in &cases {
        check(data.path(), case);
    }
}

#[test]
fn test_models_are_all_present_and_verified() {
    let data = tempfile::tempdir().unwrap();
    let models = common::test_models_dir();
    let mut command = ideadesk(data.path());
    command.args([
        "--models",
        models.to_str().unwrap(),
        "models",
        "list",
        "--json",
    ]);
    let (output, stdout, stderr) = run(&mut command);
    assert!(output.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON rows");
    for role in TEST_ROLES {
        let role_rows: Vec<_> = rows.iter().filter(|row| row["role"] == role).collect();
        assert!(!role_rows.is_empty(), "no rows for {role}");
        for row in role_rows {
            assert_eq!(row["present"], true, "{row}");
            assert_eq!(row["verified"], true, "{row}");
        }
    }
}

/// Damaged files in a local folder: each is named, with the command that re-fetches it.
#[test]
fn corrupt_and_truncated_files_are_caught() {
    let good = std::fs::read(common::test_model("vad", "silero_vad_16k.safetensors")).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    let truncated = good[..good.len() - 100].to_vec();
    for (name, bytes, expected) in [
        (
            "one byte flipped",
            flipped,
            "is corrupt (sha256 mismatch); re-fetch with `",
        ),
        (
            "truncated",
            truncated,
            "is corrupt (size 1239648 bytes, expected 1239748)",
        ),
    ] {
        let models = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(models.path().join("vad")).unwrap();
        std::fs::copy(
            common::test_model("vad", "silero_vad.onnx"),
            models.path().join("vad/silero_vad.onnx"),
        )
        .unwrap();
        std::fs::write(models.path().join("vad/silero_vad_16k.safetensors"), bytes).unwrap();
        let models_arg = models.path().to_str().unwrap();
        let mut command = ideadesk(data.path());
        command.args(["--models", models_arg, "models", "verify", "--role", "vad"]);
        let (output, stdout, stderr) = run(&mut command);
        assert!(!output.status.success(), "{name}: {stdout}");
        assert!(stdout.contains(expected), "{name}: {stdout}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");

        let mut command = ideadesk(data.path());
        command.args(["--models", models_arg, "doctor"]);
        let (output, stdout, _) = run(&mut command);
        assert!(
            !output.status.success(),
            "{name}: doctor fails on a corrupt model"
        );
        assert!(stdout.contains("FAIL  model vad"), "{name}: {stdout}");
    }
}

/// The hub-cache path, offline: a cached file at the pinned revision is found without
/// the network and checked like any other.
#[test]
fn hub_cache_is_read_offline_and_verified() {
    let data = tempfile::tempdir().unwrap();
    let cached = data
        .path()
        .join("hf-home")
        .join(VAD_REPO_CACHE)
        .join("onnx/model.onnx");
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::write(&cached, b"not the silero model").unwrap();
    let mut command = ideadesk(data.path());
    command.args(["models", "list", "--role", "vad", "--json"]);
    let (output, stdout, stderr) = run(&mut command);
    assert!(output.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["present"], true, "{stdout}");
    assert_eq!(rows[0]["state"], "WRONG SIZE", "{stdout}");
}

/// Real ALSA devices without a sound card (tests/alsa/asound.conf): cpal enumerates them
/// and both defaults are marked.
#[test]
fn devices_lists_alsa_file_devices_as_defaults() {
    let data = tempfile::tempdir().unwrap();
    let config = common::repo_root().join("tests/alsa/asound.conf");
    let mut command = ideadesk(data.path());
    command.args(["devices", "--json"]).env(
        "ALSA_CONFIG_PATH",
        format!("/usr/share/alsa/alsa.conf:{}", config.display()),
    );
    let (output, stdout, stderr) = run(&mut command);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    for direction in ["input", "output"] {
        let default = report["audio"]
            .as_array()
            .expect("an audio list")
            .iter()
            .find(|device| device["direction"] == direction && device["is_default"] == true);
        assert!(default.is_some(), "no default {direction} in {stdout}");
    }
}
