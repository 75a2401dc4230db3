//! `ideadesk models …`: list, fetch, verify and convert model weights.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Cli, human_bytes, parse_role};
use crate::models::convert::{WhisperWeightType, convert_ct2_whisper_as};
use crate::models::{FileState, Preset, Resolver, Role, RoleStatus, Variant};

/// The `models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show each role's model files: size, whether present, whether verified.
    List(ListArgs),
    /// Download the preset's models from the Hugging Face hub (all roles unless --role).
    Fetch(FetchArgs),
    /// Hash every present model file again and compare with the pinned sha256.
    Verify(VerifyArgs),
    /// Convert a CTranslate2 (faster-whisper) Whisper export to whisper.cpp's ggml format.
    ConvertWhisper(ConvertArgs),
}

/// Arguments of `models list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only these roles (stt, vad, llm, vision, tts, embed); repeatable.
    #[arg(long, value_parser = parse_role)]
    role: Vec<Role>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Arguments of `models fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Only these roles (stt, vad, llm, vision, tts, embed); repeatable.
    #[arg(long, value_parser = parse_role)]
    role: Vec<Role>,
}

/// Arguments of `models verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Only these roles; a named role whose files are missing fails the check.
    #[arg(long, value_parser = parse_role)]
    role: Vec<Role>,
}

/// Arguments of `models convert-whisper`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Folder of the CTranslate2 export (model.bin, vocabulary.txt, config.json).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The ggml file to write; written under a temporary name, then renamed.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// How the weight matrices are stored: f16 (as CTranslate2 ships them), or quantised
    /// as whisper.cpp's `quantize` does it: q8_0 (smaller and faster on CPU) or q5_0.
    #[arg(long = "type", value_name = "TYPE", default_value = "f16", value_parser = parse_weight_type)]
    weight_type: WhisperWeightType,
}

fn parse_weight_type(name: &str) -> Result<WhisperWeightType, String> {
    WhisperWeightType::parse(name).ok_or_else(|| format!("`{name}` is not one of f16, q8_0, q5_0"))
}

/// Runs a `models` subcommand.
pub fn run(cli: &Cli, command: &ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::List(args) => list(cli, args),
        ModelsCommand::Fetch(args) => fetch(cli, args),
        ModelsCommand::Verify(args) => verify(cli, args),
        ModelsCommand::ConvertWhisper(args) => convert(cli, args),
    }
}

fn roles_or_all(roles: &[Role]) -> Vec<Role> {
    if roles.is_empty() {
        Role::ALL.to_vec()
    } else {
        roles.to_vec()
    }
}

/// One row of `models list --json`.
#[derive(Debug, Serialize)]
struct FileRow {
    role: String,
    preset: String,
    repo: Option<String>,
    revision: Option<String>,
    file: String,
    size: Option<u64>,
    path: Option<PathBuf>,
    present: bool,
    verified: bool,
    state: String,
}

fn state_word(state: &FileState) -> &'static str {
    match state {
        FileState::Missing => "missing",
        FileState::Verified => "verified",
        FileState::Unpinned => "unpinned",
        FileState::WrongSize { .. } => "WRONG SIZE",
        FileState::Corrupt { .. } => "CORRUPT",
    }
}

fn rows(status: &RoleStatus) -> Vec<FileRow> {
    status
        .files
        .iter()
        .map(|file| FileRow {
            role: status.role.to_string(),
            preset: status.variant.to_string(),
            repo: status.entry.repo.clone(),
            revision: status.entry.revision.clone(),
            file: file.spec.local_name().to_string(),
            size: file.spec.size.or(file.size_on_disk),
            path: file.path.clone(),
            present: file.state != FileState::Missing,
            verified: file.state == FileState::Verified,
            state: state_word(&file.state).to_string(),
        })
        .collect()
}

fn print_table(rows: &[FileRow]) {
    println!(
        "{:<7} {:<9} {:<40} {:>9}  {:<7} VERIFIED",
        "ROLE", "PRESET", "FILE", "SIZE", "PRESENT"
    );
    for row in rows {
        println!(
            "{:<7} {:<9} {:<40} {:>9}  {:<7} {}",
            row.role,
            row.preset,
            row.file,
            row.size.map(human_bytes).unwrap_or_else(|| "?".into()),
            if row.present { "yes" } else { "no" },
            match row.state.as_str() {
                "verified" => "yes",
                "missing" => "-",
                "unpinned" => "no hash pinned yet",
                other => other,
            }
        );
    }
}

fn list(cli: &Cli, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let mut all_rows = Vec::new();
    let mut notes = Vec::new();
    for role in roles_or_all(&args.role) {
        let status = resolver.status(role, false)?;
        if cli.models.is_some()
            && matches!(status.variant, Variant::Preset(_))
            && !status.is_usable()
            && resolver.manifest().entry(role, Variant::Test).is_none()
        {
            notes.push(format!(
                "{role}: no real {role} weights can be had as a test model; tests build tiny random-initialised models"
            ));
        }
        all_rows.extend(rows(&status));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all_rows)?);
    } else {
        print_table(&all_rows);
        for note in notes {
            println!("note: {note}");
        }
        if all_rows.iter().any(|row| !row.present) {
            let command = match &cli.models {
                Some(dir) => format!("ideadesk --models {} models fetch", dir.display()),
                None => "ideadesk models fetch".to_string(),
            };
            println!(
                "missing files are fetched on first use, or now with `{command} --preset {}`",
                cli.preset
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(cli: &Cli, args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let preset: Preset = cli.preset;
    for role in roles_or_all(&args.role) {
        let status = resolver
            .fetch(role, Variant::Preset(preset))
            .with_context(|| format!("fetching the {role} model ({preset})"))?;
        let n_bytes: u64 = status
            .files
            .iter()
            .filter_map(|file| file.size_on_disk)
            .sum();
        if cli.quiet == 0 {
            println!(
                "{role:<7} {preset:<9} {} file(s), {} — {}",
                status.files.len(),
                human_bytes(n_bytes),
                if status.is_usable() {
                    "ok"
                } else {
                    "NOT usable"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(cli: &Cli, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut resolver = Resolver::new(cli.resolver_options())?;
    let required = !args.role.is_empty();
    let mut n_bad = 0usize;
    for role in roles_or_all(&args.role) {
        let status = resolver.status(role, true)?;
        let fetch_command = resolver.fetch_command(role, status.variant);
        for file in &status.files {
            let name = file.spec.local_name();
            let path = file
                .path
                .as_ref()
                .map(|path| path.display().to_string())
                .unwrap_or_else(|| name.to_string());
            match &file.state {
                FileState::Verified => println!("ok       {role:<7} {path}"),
                FileState::Unpinned => {
                    println!("ok       {role:<7} {path} (no sha256 pinned to compare)")
                }
                FileState::Missing if required => {
                    n_bad += 1;
                    println!("MISSING  {role:<7} {path}; fetch with `{fetch_command}`");
                }
                FileState::Missing => println!("missing  {role:<7} {name}"),
                FileState::Corrupt { .. } => {
                    n_bad += 1;
                    println!(
                        "CORRUPT  {role:<7} file {path} is corrupt (sha256 mismatch); re-fetch with `{fetch_command}`"
                    );
                }
                FileState::WrongSize { expected, actual } => {
                    n_bad += 1;
                    println!(
                        "CORRUPT  {role:<7} file {path} is corrupt (size {actual} bytes, expected {expected}); re-fetch with `{fetch_command}`"
                    );
                }
            }
        }
    }
    if n_bad > 0 {
        eprintln!("error: {n_bad} model file(s) failed verification");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn convert(cli: &Cli, args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let summary =
        convert_ct2_whisper_as(&args.from, &args.out, args.weight_type, cli.show_progress())
            .with_context(|| format!("converting {}", args.from.display()))?;
    if cli.quiet == 0 {
        println!(
            "wrote {} ({}, {}): {} tensors, {} encoder + {} decoder layers, {} of {} vocabulary entries are ordinary tokens",
            summary.path.display(),
            args.weight_type.as_str(),
            human_bytes(summary.n_bytes),
            summary.n_tensors,
            summary.n_audio_layer,
            summary.n_text_layer,
            summary.n_ordinary_tokens,
            summary.n_vocab
        );
    }
    Ok(ExitCode::SUCCESS)
}
