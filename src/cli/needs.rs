//! `ideadesk needs`: list, show and search the captured needs of every session.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;

use super::Cli;
use super::capture::{load_embedder, need_json, open_store, print_need};
use crate::store::{NeedRowId, SessionId, TextHit};

/// Results a search shows unless told otherwise.
const DEFAULT_SEARCH_LIMIT: usize = 10;

/// The `needs` subcommands.
#[derive(Debug, Subcommand)]
pub enum NeedsCommand {
    /// Every captured need (of one session with --session), with its coverage.
    List(ListArgs),
    /// One need in full: fields, evidence and possible duplicates.
    Show(ShowArgs),
    /// Find needs and utterances by words (full text) and by meaning (embeddings).
    Search(SearchArgs),
}

/// Arguments of `needs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this session's needs.
    #[arg(long)]
    session: Option<i64>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Arguments of `needs show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The need's row id (the `row_id` of `needs list --json`, or `#ID` in `needs list`).
    id: i64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Arguments of `needs search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for, in your own words.
    query: String,
    /// At most this many results of each kind.
    #[arg(long, default_value_t = DEFAULT_SEARCH_LIMIT)]
    limit: usize,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Runs a `needs` subcommand.
pub fn run(cli: &Cli, command: &NeedsCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(cli)?;
    match command {
        NeedsCommand::List(args) => {
            let needs = store.list_needs(args.session.map(SessionId))?;
            if args.json {
                let rows: Vec<_> = needs.iter().map(need_json).collect();
                println!("{}", json!(rows));
            } else if needs.is_empty() {
                println!("No needs yet; capture some with `ideadesk capture --text \"…\"`.");
            } else {
                for stored in &needs {
                    print!("#{} session {}  ", stored.row_id, stored.session_id);
                    print_need(stored);
                }
            }
        }
        NeedsCommand::Show(args) => {
            let stored = store
                .need(NeedRowId(args.id))
                .with_context(|| format!("no need #{}; see `ideadesk needs list`", args.id))?;
            if args.json {
                println!("{}", need_json(&stored));
            } else {
                println!(
                    "#{} in session {}, captured {}",
                    stored.row_id,
                    stored.session_id,
                    stored.created_at.format("%Y-%m-%d %H:%M")
                );
                print_need(&stored);
            }
        }
        NeedsCommand::Search(args) => {
            let text_hits = store.search_text(&args.query, args.limit)?;
            let semantic_hits = match load_embedder(cli)? {
                Some(embedder) => {
                    let query = embedder.embed_one(&args.query)?;
                    store.search_semantic(&query, args.limit)?
                }
                None => Vec::new(),
            };
            if args.json {
                let text: Vec<_> = text_hits.iter().map(text_hit_json).collect();
                let semantic: Vec<_> = semantic_hits
                    .iter()
                    .map(|hit| json!({"score": hit.score, "need": need_json(&hit.need)}))
                    .collect();
                println!("{}", json!({"text": text, "semantic": semantic}));
            } else {
                println!("Words:");
                if text_hits.is_empty() {
                    println!("  nothing");
                }
                for hit in &text_hits {
                    match hit {
                        TextHit::Need {
                            row_id,
                            number,
                            statement,
                            ..
                        } => println!("  need #{row_id} ({number}): {statement}"),
                        TextHit::Utterance {
                            session_id,
                            start_ms,
                            text,
                            ..
                        } => println!(
                            "  session {session_id} [{:02}:{:02}]: {text}",
                            start_ms / 60_000,
                            start_ms / 1000 % 60
                        ),
                    }
                }
                println!("Meaning:");
                if semantic_hits.is_empty() {
                    println!("  nothing");
                }
                for hit in &semantic_hits {
                    println!(
                        "  need #{} ({}), similarity {:.2}: {}",
                        hit.need.row_id, hit.need.need.id, hit.score, hit.need.need.statement
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text_hit_json(hit: &TextHit) -> serde_json::Value {
    match hit {
        TextHit::Need {
            row_id,
            session_id,
            number,
            statement,
            score,
        } => {
            json!({"kind": "need", "row_id": row_id.0, "session": session_id.0, "need": number.to_string(), "statement": statement, "score": score})
        }
        TextHit::Utterance {
            id,
            session_id,
            start_ms,
            end_ms,
            text,
            score,
        } => {
            json!({"kind": "utterance", "id": id.0, "session": session_id.0, "start_ms": start_ms, "end_ms": end_ms, "text": text, "score": score})
        }
    }
}
