//! `ideadesk export`: a session (or all of them) as a Markdown brief or as JSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::Cli;
use super::capture::{need_json, open_store};
use crate::needs::{BriefInfo, render_brief};
use crate::session::understand::discovery_from;
use crate::store::SessionId;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The Markdown brief.
    Md,
    /// Everything stored, as JSON.
    Json,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The session to export [default: the latest].
    #[arg(long, conflicts_with = "all")]
    session: Option<i64>,
    /// Every session, one after another.
    #[arg(long)]
    all: bool,
    /// Markdown brief or JSON.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `export`.
pub fn run(cli: &Cli, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(cli)?;
    let sessions: Vec<SessionId> = if args.all {
        store
            .list_sessions()?
            .into_iter()
            .map(|info| info.id)
            .collect()
    } else if let Some(id) = args.session {
        vec![SessionId(id)]
    } else {
        vec![
            store
                .latest_session()?
                .context("there is no session yet; capture one with `ideadesk capture`")?
                .id,
        ]
    };
    let mut documents = Vec::new();
    let mut json_sessions = Vec::new();
    for session in sessions {
        let record = store.load_session(session)?;
        let discovery = discovery_from(&record);
        match args.format {
            Format::Md => documents.push(render_brief(
                &discovery,
                &BriefInfo {
                    title: record.info.title.clone(),
                    date: record.info.started_at.date_naive(),
                },
            )),
            Format::Json => json_sessions.push(json!({
                "session": record.info.id.0,
                "title": record.info.title,
                "started_at": record.info.started_at.to_rfc3339(),
                "idea": record.info.idea,
                "utterances": discovery.utterances,
                "sketches": discovery.sketches,
                "needs": record.needs.iter().map(need_json).collect::<Vec<_>>(),
                "modules": discovery.modules,
                "options": discovery.options,
                "decisions": discovery.decisions,
            })),
        }
    }
    let text = match args.format {
        Format::Md => documents.join("\n---\n\n"),
        Format::Json => {
            let value = if args.all {
                json!(json_sessions)
            } else {
                json_sessions.pop().unwrap_or_default()
            };
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
    };
    match &args.out {
        Some(path) => {
            crate::files::write_bytes_atomically(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}
