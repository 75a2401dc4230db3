//! `ideadesk doctor`: one line per check of this machine, each ok / warn / fail with the
//! command that fixes it. Fails (exit 1) only on what would break ideadesk — a corrupt
//! model, an unwritable data directory, a binary built for features this CPU lacks;
//! missing devices and models not yet downloaded are warnings.

use std::process::{Command, ExitCode};

use clap::Args;
use serde::Serialize;

use super::{Cli, human_bytes};
use crate::audio::devices::{self as audio_devices, Direction};
use crate::compute::{GpuBackend, cpu_report, missing_compiled_features};
use crate::models::{FileState, Resolver, Role, Variant};
use crate::session::understand::ClauseLabelling;
use crate::vision::camera;

/// Arguments of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    verdict: Verdict,
    name: String,
    detail: String,
    fix: Option<String>,
}

impl Check {
    fn new(verdict: Verdict, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            verdict,
            name: name.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Runs every check and prints one line each.
pub fn run(cli: &Cli, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut checks = vec![check_cpu(), check_gpu(cli.cpu), check_data_dir(cli)];
    checks.extend(check_models(cli));
    checks.push(check_llm(cli));
    checks.push(check_espeak());
    checks.extend(check_audio());
    checks.push(check_camera());
    let failed = checks.iter().any(|check| check.verdict == Verdict::Fail);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for check in &checks {
            let word = match check.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            let fix = check
                .fix
                .as_ref()
                .map(|fix| format!(" → {fix}"))
                .unwrap_or_default();
            println!("{word}  {:<12} {}{fix}", check.name, check.detail);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn check_cpu() -> Check {
    let report = cpu_report();
    let missing = missing_compiled_features(&report);
    if !missing.is_empty() {
        return Check::new(
            Verdict::Fail,
            "cpu",
            format!("built for {} which this CPU lacks", missing.join(", ")),
        )
        .fix("rebuild with RUSTFLAGS=\"-C target-cpu=native\" cargo build --release");
    }
    let detail = format!(
        "{} threads; {}",
        report.n_threads,
        if report.features.is_empty() {
            "no SIMD features detected".to_string()
        } else {
            report.features.join(" ")
        }
    );
    if report.n_threads < 2 {
        Check::new(Verdict::Warn, "cpu", detail).fix("use --preset fast on a single core")
    } else {
        Check::new(Verdict::Ok, "cpu", detail)
    }
}

fn check_gpu(force_cpu: bool) -> Check {
    let compiled = GpuBackend::compiled();
    if compiled.is_empty() {
        return Check::new(Verdict::Ok, "gpu", "CPU build (no GPU backend compiled)").fix(
            "for an NVIDIA GPU: cargo build --release --features cuda; Apple: --features metal",
        );
    }
    let names: Vec<_> = compiled.iter().map(|backend| backend.as_str()).collect();
    if force_cpu {
        return Check::new(
            Verdict::Ok,
            "gpu",
            format!("{} compiled, not used (--cpu)", names.join(", ")),
        );
    }
    match compiled.iter().find(|backend| backend.is_usable()) {
        Some(backend) => Check::new(Verdict::Ok, "gpu", format!("{} usable", backend.as_str())),
        None => Check::new(
            Verdict::Warn,
            "gpu",
            format!(
                "{} compiled but no device answers; running on CPU",
                names.join(", ")
            ),
        )
        .fix("check the driver (nvidia-smi), or pass --cpu to silence this"),
    }
}

fn check_data_dir(cli: &Cli) -> Check {
    let dir = cli.data_dir();
    let probe = dir.join(".doctor-write-test");
    let result = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    match result {
        Ok(()) => Check::new(
            Verdict::Ok,
            "data",
            format!("{} is writable", dir.display()),
        ),
        Err(err) => Check::new(
            Verdict::Fail,
            "data",
            format!("{} is not writable: {err}", dir.display()),
        )
        .fix("pass --data DIR (or set IDEADESK_DATA) to a writable folder"),
    }
}

fn check_models(cli: &Cli) -> Vec<Check> {
    let mut resolver = match Resolver::new(cli.resolver_options()) {
        Ok(resolver) => resolver,
        Err(err) => {
            return vec![
                Check::new(Verdict::Fail, "models", err.to_string())
                    .fix("fix --models / IDEADESK_MODELS"),
            ];
        }
    };
    let mut checks = Vec::new();
    for role in Role::ALL {
        let name = format!("model {role}");
        let status = match resolver.status(role, false) {
            Ok(status) => status,
            Err(err) => {
                checks.push(Check::new(Verdict::Warn, name, err.to_string()));
                continue;
            }
        };
        let fetch = resolver.fetch_command(role, status.variant);
        let n_bytes: u64 = status
            .files
            .iter()
            .filter_map(|file| file.size_on_disk)
            .sum();
        let first_bad = status.files.iter().find(|file| {
            matches!(
                file.state,
                FileState::Corrupt { .. } | FileState::WrongSize { .. }
            )
        });
        let n_missing = status
            .files
            .iter()
            .filter(|file| file.state == FileState::Missing)
            .count();
        let what = format!("{} ({})", status.variant, role.purpose());
        let check = if let Some(bad) = first_bad {
            Check::new(
                Verdict::Fail,
                name,
                format!(
                    "{what}: {} is corrupt",
                    bad.path
                        .as_ref()
                        .map(|path| path.display().to_string())
                        .unwrap_or_default()
                ),
            )
            .fix(fetch)
        } else if n_missing > 0 {
            let detail = if cli.models.is_some()
                && resolver.manifest().entry(role, Variant::Test).is_none()
            {
                format!("{what}: not in this folder (no test weights exist for {role})")
            } else {
                format!("{what}: {n_missing} file(s) not downloaded yet")
            };
            Check::new(Verdict::Warn, name, detail).fix(fetch)
        } else {
            Check::new(
                Verdict::Ok,
                name,
                format!("{what}: {} present and verified", human_bytes(n_bytes)),
            )
        };
        checks.push(check);
    }
    checks
}

/// Tokens the language model's speed probe decodes.
const SPEED_PROBE_TOKENS: usize = 24;

/// The language model in use (`--llm`, else the preset's) and its speed here: a short
/// prompt prefilled and `SPEED_PROBE_TOKENS` decoded.
fn check_llm(cli: &Cli) -> Check {
    const NAME: &str = "llm in use";
    let (path, tokenizer) = match &cli.llm {
        Some(path) => (path.clone(), None),
        None => {
            let preset_files =
                Resolver::new(cli.resolver_options())
                    .ok()
                    .and_then(|mut resolver| {
                        let status = resolver.status(Role::Llm, false).ok()?;
                        if status
                            .files
                            .iter()
                            .any(|file| file.state == FileState::Missing)
                        {
                            return None;
                        }
                        resolver.resolve(Role::Llm).ok()
                    });
            let Some(model) = preset_files else {
                return Check::new(
                    Verdict::Warn,
                    NAME,
                    "no language model yet: the preset's is not downloaded and no --llm was given",
                )
                .fix("ideadesk models fetch --role llm, or pass --llm FILE.gguf");
            };
            let gguf = model
                .paths
                .iter()
                .find(|path| path.extension().is_some_and(|ext| ext == "gguf"))
                .cloned();
            let tokenizer = model
                .paths
                .iter()
                .find(|path| {
                    path.file_name()
                        .is_some_and(|name| name == "tokenizer.json")
                })
                .cloned();
            match gguf {
                Some(gguf) => (gguf, tokenizer),
                None => return Check::new(Verdict::Fail, NAME, "the llm entry has no .gguf file"),
            }
        }
    };
    let summary = match crate::llm::inspect_gguf(&path) {
        Ok(summary) => summary,
        Err(err) => {
            return Check::new(Verdict::Fail, NAME, err.to_string())
                .fix("pass --llm a llama, qwen2 or qwen3 GGUF, or drop --llm to use the preset's");
        }
    };
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let device = crate::compute::select_device(cli.cpu);
    let engine = crate::llm::LlmEngine::spawn(
        &path,
        tokenizer.as_deref(),
        device,
        crate::llm::EngineOptions::default(),
    );
    let speed = engine.and_then(|llm| {
        let labels = ClauseLabelling::Auto.asks(&llm.info().config);
        let request = crate::llm::GenerateRequest::chat(vec![crate::llm::ChatMessage::user(
            "Name the days of the week and the months of the year.",
        )])
        .with_max_new_tokens(SPEED_PROBE_TOKENS)
        .with_sampling(crate::llm::Sampling::Greedy);
        llm.generate(request).map(|generation| (generation, labels))
    });
    match speed {
        Ok((generation, labels)) => {
            let stats = &generation.stats;
            let decode_per_s = generation.n_tokens.saturating_sub(1) as f64
                / (stats.decode_ms / 1000.0).max(f64::EPSILON);
            let labels = if labels {
                "it labels each clause of a turn (--clause-labels auto)"
            } else {
                "too small to label clauses, the cue words decide (--clause-labels on forces it)"
            };
            Check::new(
                Verdict::Ok,
                NAME,
                format!(
                    "{name} ({}): prefill {:.0} tokens/s, decode {:.0} tokens/s here; {labels}",
                    summary.describe(),
                    stats.prefill_tokens_per_s(),
                    decode_per_s
                ),
            )
        }
        Err(err) => Check::new(Verdict::Fail, NAME, format!("{name}: {err}"))
            .fix("re-download the model, or pass --llm another GGUF"),
    }
}

fn check_espeak() -> Check {
    match Command::new("espeak-ng").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            Check::new(
                Verdict::Ok,
                "espeak-ng",
                version
                    .lines()
                    .next()
                    .unwrap_or("present")
                    .trim()
                    .to_string(),
            )
        }
        _ => Check::new(
            Verdict::Warn,
            "espeak-ng",
            "not on PATH: no phonemes for the Piper voice and no fallback voice",
        )
        .fix("sudo apt-get install espeak-ng (macOS: brew install espeak-ng)"),
    }
}

fn check_audio() -> Vec<Check> {
    let devices = match audio_devices::list() {
        Ok(devices) => devices,
        Err(err) => {
            return vec![
                Check::new(Verdict::Warn, "audio", err.to_string())
                    .fix("use --audio FILE and --reply-wav FILE instead of devices"),
            ];
        }
    };
    let mut checks = Vec::new();
    for (direction, name, fix) in [
        (
            Direction::Input,
            "microphone",
            "plug in a microphone, or use --audio FILE",
        ),
        (
            Direction::Output,
            "speaker",
            "plug in a speaker, or use --reply-wav FILE",
        ),
    ] {
        let mut devices = devices
            .iter()
            .filter(|device| device.direction == direction);
        let default = devices.clone().find(|device| device.is_default);
        let check = match default.or_else(|| devices.next()) {
            Some(device) => Check::new(
                Verdict::Ok,
                name,
                format!(
                    "{}{}",
                    device.name,
                    device
                        .default_format
                        .as_ref()
                        .map(|format| format!(" ({format})"))
                        .unwrap_or_default()
                ),
            ),
            None => Check::new(Verdict::Warn, name, "none found").fix(fix),
        };
        checks.push(check);
    }
    checks
}

fn check_camera() -> Check {
    match camera::list() {
        Ok(cameras) => match cameras.first() {
            Some(camera) => Check::new(
                Verdict::Ok,
                "camera",
                format!("{} (index {})", camera.name, camera.index),
            ),
            None => Check::new(Verdict::Warn, "camera", "none found")
                .fix("plug in a webcam, or give sketches as image files"),
        },
        Err(err) => Check::new(Verdict::Warn, "camera", err.to_string())
            .fix("give sketches as image files instead"),
    }
}
