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
    /// The need as `needs list` shows it: `N1` (its number in the session; the latest
    /// session unless --session is given), or `#12` / `12` (its row id, as `row_id` in
    /// `needs list --json`).
    #[arg(value_name = "N1|#ID")]
    id: String,
    /// The session an `N1` is in [default: the latest].
    #[arg(long)]
    session: Option<i64>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// How a person names a need on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NeedRef {
    /// `#12` or `12`: the row id.
    Row(i64),
    /// `N1`: the number within a session.
    Number(u32),
}

/// Reads `N1`, `n1`, `#12` or `12`.
fn parse_need_ref(text: &str) -> anyhow::Result<NeedRef> {
    let text = text.trim();
    let bad = || {
        anyhow::anyhow!(
            "{text:?} names no need; give it as `needs list` shows it: `N1` (number in the session) or `#12` (row id)"
        )
    };
    if let Some(number) = text.strip_prefix(['N', 'n']) {
        let number: u32 = number.parse().map_err(|_| bad())?;
        return Ok(NeedRef::Number(number));
    }
    let row = text.strip_prefix('#').unwrap_or(text);
    row.parse().map(NeedRef::Row).map_err(|_| bad())
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
            if let Some(session) = args.session {
                // An unknown session is an error here as in `export` and `capture`.
                store.load_session(SessionId(session))?;
            }
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
            let stored = match parse_need_ref(&args.id)? {
                NeedRef::Row(row_id) => store.need(NeedRowId(row_id))?,
                NeedRef::Number(number) => {
                    let session = match args.session {
                        Some(id) => {
                            store.load_session(SessionId(id))?;
                            SessionId(id)
                        }
                        None => {
                            store
                                .latest_session()?
                                .context("there is no session yet; capture one first")?
                                .id
                        }
                    };
                    store
                        .list_needs(Some(session))?
                        .into_iter()
                        .find(|stored| stored.need.id.0 == number)
                        .with_context(|| {
                            format!(
                                "session {session} has no need N{number}; see `ideadesk needs list --session {session}`"
                            )
                        })?
                }
            };
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
            let semantic_hits = match load_embedder(cli, &mut super::Warnings::printing())? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_named_as_they_are_shown() {
        let check = |text: &str, expected: Option<NeedRef>| {
            assert_eq!(parse_need_ref(text).ok(), expected, "{text:?}");
        };
        check("N1", Some(NeedRef::Number(1)));
        check("n12", Some(NeedRef::Number(12)));
        check("#7", Some(NeedRef::Row(7)));
        check(" 7 ", Some(NeedRef::Row(7)));
        check("N", None);
        check("N-1", None);
        check("seven", None);
        check("", None);
    }
}
