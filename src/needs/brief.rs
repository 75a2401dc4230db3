//! The Markdown brief: what was learnt in a session, for the person to read and share.
//! Sections appear in a fixed order and an empty one says "None yet." rather than
//! vanishing, so two briefs can be compared side by side. The output depends only on the
//! discovery and the title and date passed in, so it is golden-tested.

use std::fmt::Write;

use chrono::NaiveDate;

use super::coverage::{Coverage, Slot};
use super::discovery::Discovery;
use super::model::{Evidence, Need, NeedStatus};
use super::text::{mm_ss, squash, topic};

/// What an empty section says.
const NONE_YET: &str = "None yet.";

/// How many people each suggested validation step asks, in words.
const VALIDATION_SAMPLE: &str = "three";

/// What the brief shows beside the discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BriefInfo {
    /// The heading.
    pub title: String,
    /// The day the brief is for.
    pub date: NaiveDate,
}

/// The Markdown brief of a discovery.
pub fn render_brief(discovery: &Discovery, info: &BriefInfo) -> String {
    let mut out = String::new();
    let coverage = discovery.coverage();
    let _ = writeln!(out, "# {}\n", squash(&info.title));
    let _ = writeln!(
        out,
        "_Brief of {}. {} of {} interview slots covered ({:.0} %) across {} active need{}._\n",
        info.date.format("%Y-%m-%d"),
        coverage.filled_slots(),
        coverage.total_slots(),
        coverage.fraction() * 100.0,
        coverage.needs.len(),
        if coverage.needs.len() == 1 { "" } else { "s" },
    );

    section(&mut out, "Problem statement", problem(discovery));
    section(&mut out, "Who", who(discovery));
    section(&mut out, "Needs", needs(discovery));
    section(&mut out, "Sketches", sketches(discovery));
    section(&mut out, "Modules", modules(discovery));
    section(&mut out, "Options", options(discovery));
    section(&mut out, "Decisions", decisions(discovery));
    section(&mut out, "Open questions", open_questions(discovery));
    section(
        &mut out,
        "Next validation steps",
        validation_steps(discovery),
    );
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Appends a section, or "None yet." when its body is empty.
fn section(out: &mut String, heading: &str, body: String) {
    let _ = writeln!(out, "## {heading}\n");
    if body.trim().is_empty() {
        let _ = writeln!(out, "{NONE_YET}\n");
    } else {
        out.push_str(body.trim_end());
        out.push_str("\n\n");
    }
}

fn problem(discovery: &Discovery) -> String {
    let title = squash(&discovery.idea.title);
    let summary = squash(&discovery.idea.summary);
    match (title.is_empty(), summary.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("**{title}**"),
        (true, false) => summary,
        (false, false) => format!("**{title}**: {summary}"),
    }
}

/// The actors, each once (ignoring case), with the needs they have.
fn who(discovery: &Discovery) -> String {
    let mut actors: Vec<(String, Vec<String>)> = Vec::new();
    for need in active(discovery) {
        let Some(actor) = Slot::Actor.value(need) else {
            continue;
        };
        let actor = squash(actor);
        match actors
            .iter_mut()
            .find(|(known, _)| known.to_lowercase() == actor.to_lowercase())
        {
            Some((_, needs)) => needs.push(need.id.to_string()),
            None => actors.push((actor, vec![need.id.to_string()])),
        }
    }
    actors
        .iter()
        .map(|(actor, needs)| format!("- {actor} ({})\n", needs.join(", ")))
        .collect()
}

fn needs(discovery: &Discovery) -> String {
    let mut out = String::new();
    for need in &discovery.needs {
        let coverage = Coverage::of(need);
        let _ = writeln!(out, "### {}: {}\n", need.id, squash(&need.statement));
        let status = match need.status {
            NeedStatus::Captured => "captured",
            NeedStatus::Validated => "validated",
            NeedStatus::Dropped => "dropped",
        };
        let _ = writeln!(out, "- Status: {status}");
        let field = |label: &str, value: Option<&str>| match value {
            Some(value) => format!("- {label}: {}\n", squash(value)),
            None => format!("- {label}: _unknown_\n"),
        };
        out.push_str(&field("Who", Slot::Actor.value(need)));
        if let Some(context) = need.context.as_deref().filter(|c| !c.trim().is_empty()) {
            out.push_str(&field("Context", Some(context)));
        }
        out.push_str(&field("What hurts", Slot::Pain.value(need)));
        out.push_str(&field("How they cope today", Slot::Workaround.value(need)));
        out.push_str(&field("How often", Slot::Frequency.value(need)));
        let severity = need.severity.map(|severity| match severity {
            super::model::Severity::Low => "low",
            super::model::Severity::Medium => "medium",
            super::model::Severity::High => "high",
        });
        out.push_str(&field("Severity", severity));
        out.push_str(&field("Desired outcome", Slot::DesiredOutcome.value(need)));
        out.push_str(&field("Success metric", Slot::SuccessMetric.value(need)));
        if !need.constraints.is_empty() {
            let constraints: Vec<String> = need.constraints.iter().map(|c| squash(c)).collect();
            let _ = writeln!(out, "- Constraints: {}", constraints.join("; "));
        }
        let missing: Vec<&str> = coverage.missing.iter().map(|slot| slot.label()).collect();
        let _ = writeln!(
            out,
            "- Coverage: {}/{} ({:.0} %){}",
            coverage.filled.len(),
            Slot::ALL.len(),
            coverage.fraction() * 100.0,
            if missing.is_empty() {
                String::new()
            } else {
                format!("; missing: {}", missing.join(", "))
            }
        );
        if need.evidence.is_empty() {
            let _ = writeln!(out, "- Evidence: {NONE_YET}");
        } else {
            let _ = writeln!(out, "- Evidence:");
            for evidence in &need.evidence {
                let _ = writeln!(out, "  - {}", evidence_line(discovery, evidence));
            }
        }
        out.push('\n');
    }
    out
}

fn evidence_line(discovery: &Discovery, evidence: &Evidence) -> String {
    match evidence {
        Evidence::Utterance {
            utterance_id,
            start_ms,
            end_ms,
            quote,
            slot,
        } => format!(
            "\"{}\" (u{} {}–{}){}",
            squash(quote),
            utterance_id.0,
            mm_ss(*start_ms),
            mm_ss(*end_ms),
            slot.map(|slot| format!(", {}", slot.label()))
                .unwrap_or_default()
        ),
        Evidence::Sketch { sketch_id, detail } => {
            let path = discovery
                .sketch(*sketch_id)
                .map(|sketch| format!(", `{}`", sketch.image_path))
                .unwrap_or_default();
            format!("Sketch s{}: {}{path}", sketch_id.0, squash(detail))
        }
    }
}

fn sketches(discovery: &Discovery) -> String {
    let mut out = String::new();
    for sketch in &discovery.sketches {
        let description = sketch
            .description
            .as_deref()
            .map(squash)
            .filter(|description| !description.is_empty())
            .map(|description| {
                if description.ends_with(['.', '!', '?']) {
                    description
                } else {
                    format!("{description}.")
                }
            })
            .unwrap_or_else(|| "_not described_".to_string());
        let labels = if sketch.labels.is_empty() {
            String::new()
        } else {
            format!(" Labels: {}.", sketch.labels.join(", "))
        };
        let _ = writeln!(
            out,
            "- s{} (`{}`): {description}{labels}",
            sketch.id.0, sketch.image_path
        );
    }
    out
}

fn modules(discovery: &Discovery) -> String {
    let mut out = String::new();
    for module in &discovery.modules {
        let serves = if module.need_ids.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = module.need_ids.iter().map(ToString::to_string).collect();
            format!(" (serves {})", ids.join(", "))
        };
        let purpose = if module.purpose.trim().is_empty() {
            "_purpose unknown_".to_string()
        } else {
            squash(&module.purpose)
        };
        let _ = writeln!(out, "- **{}**: {purpose}{serves}", squash(&module.name));
    }
    out
}

fn options(discovery: &Discovery) -> String {
    let mut out = String::new();
    let list = |items: &[String]| {
        if items.is_empty() {
            NONE_YET.to_string()
        } else {
            items
                .iter()
                .map(|item| squash(item))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    for option in &discovery.options {
        let _ = writeln!(out, "- **{}**", squash(&option.summary));
        let _ = writeln!(out, "  - Pros: {}", list(&option.pros));
        let _ = writeln!(out, "  - Cons: {}", list(&option.cons));
        let cost = option
            .cost
            .as_deref()
            .map(squash)
            .filter(|cost| !cost.is_empty())
            .unwrap_or_else(|| "_unknown_".to_string());
        let _ = writeln!(out, "  - Cost: {cost}");
    }
    out
}

fn decisions(discovery: &Discovery) -> String {
    let mut out = String::new();
    for decision in &discovery.decisions {
        let rationale = squash(&decision.rationale);
        let _ = writeln!(
            out,
            "- {}: {}{}",
            decision.at.format("%Y-%m-%d"),
            squash(&decision.option),
            if rationale.is_empty() {
                String::new()
            } else {
                format!(". Why: {rationale}")
            }
        );
    }
    out
}

fn open_questions(discovery: &Discovery) -> String {
    let mut out = String::new();
    for question in &discovery.open_questions {
        let about = question
            .need_id
            .map(|id| format!(" ({id})"))
            .unwrap_or_default();
        let _ = writeln!(out, "- {}{about}", squash(&question.question));
    }
    for (need_id, question) in discovery.remaining_questions() {
        let _ = writeln!(out, "- {need_id}: {question}");
    }
    out
}

/// Steps to check each need with real people, from its uncovered slots; a fully covered
/// need that is still only captured gets a step to confirm it. Each step is a fixed
/// sentence with the need's topic and its actor put in quoted, as the person said them, so
/// it reads right whatever words those are (no plural or verb form is made up).
fn validation_steps(discovery: &Discovery) -> String {
    let mut out = String::new();
    for need in active(discovery) {
        let about = topic(&need.statement);
        let group = people(Slot::Actor.value(need));
        let coverage = Coverage::of(need);
        for slot in &coverage.missing {
            let step = match slot {
                Slot::Actor => format!(
                    "Find {VALIDATION_SAMPLE} people who run into \"{about}\" and note who they are."
                ),
                Slot::Pain => format!("Ask {group} what hurts most about \"{about}\"."),
                Slot::Workaround => {
                    format!("Watch {group} deal with \"{about}\" and note how they cope today.")
                }
                Slot::Frequency => format!("Ask {group} how often they run into \"{about}\"."),
                Slot::DesiredOutcome => {
                    format!("Ask {group} what they would want instead of \"{about}\".")
                }
                Slot::SuccessMetric => {
                    format!("Agree with {group} on a number that shows \"{about}\" is solved.")
                }
            };
            let _ = writeln!(out, "- {}: {step}", need.id);
        }
        if coverage.is_complete() && need.status == NeedStatus::Captured {
            let _ = writeln!(
                out,
                "- {}: Confirm \"{about}\" with {group}, then mark it validated.",
                need.id
            );
        }
    }
    out
}

/// Who to ask: "three people who fit "freelance translators"", or "three people who have
/// this problem" while nobody is named.
fn people(actor: Option<&str>) -> String {
    match actor.map(squash) {
        Some(actor) => format!("{VALIDATION_SAMPLE} people who fit \"{actor}\""),
        None => format!("{VALIDATION_SAMPLE} people who have this problem"),
    }
}

/// The needs still in play.
fn active(discovery: &Discovery) -> impl Iterator<Item = &Need> {
    discovery
        .needs
        .iter()
        .filter(|need| need.status != NeedStatus::Dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::model::{
        Decision, DesignOption, Idea, Module, NeedId, OpenQuestion, Severity, Sketch, SketchId,
        Utterance, UtteranceId,
    };
    use crate::needs::update::{EvidenceRef, NeedUpdate, TurnUpdate};
    use chrono::{TimeZone, Utc};

    /// A fixed discovery touching every section.
    fn fixed_discovery() -> Discovery {
        let mut discovery = Discovery::new(Idea {
            title: "Invoice nudge".to_string(),
            summary: "Reminders so that small studios send invoices on time.".to_string(),
        });
        let lines = [
            (
                12,
                41_000,
                47_500,
                "I run a small design studio and we always send invoices late.",
            ),
            (
                13,
                48_000,
                55_000,
                "Right now I keep a spreadsheet, and I check it every Friday.",
            ),
            (
                14,
                61_000,
                66_000,
                "I'd love a reminder the day before a client deadline.",
            ),
            (
                15,
                70_000,
                79_000,
                "Success would be every invoice out within a day of delivery.",
            ),
        ];
        for (id, start_ms, end_ms, text) in lines {
            let added = discovery.add_utterance(Utterance {
                id: UtteranceId(id),
                start_ms,
                end_ms,
                text: text.to_string(),
            });
            assert_eq!(added, Ok(()));
        }
        let added = discovery.add_sketch(Sketch {
            id: SketchId(3),
            image_path: "sketches/0003.png".to_string(),
            description: Some("A week calendar with red dots on deadline days.".to_string()),
            labels: vec!["Mon".to_string(), "due!".to_string()],
        });
        assert_eq!(added, Ok(()));
        let at = Utc
            .with_ymd_and_hms(2026, 11, 26, 14, 30, 0)
            .single()
            .unwrap_or_default();
        let evidence = |utterance: i64, quote: &str| EvidenceRef {
            utterance,
            quote: quote.to_string(),
            slot: None,
        };
        let update = TurnUpdate {
            needs: vec![
                NeedUpdate {
                    statement: Some("Small studios need to send invoices on time".to_string()),
                    actor: Some("small design studio owner".to_string()),
                    pain: Some("invoices go out late, so cash comes in late".to_string()),
                    workaround: Some("a spreadsheet checked every Friday".to_string()),
                    frequency: Some("every week".to_string()),
                    severity: Some(Severity::High),
                    desired_outcome: Some("a reminder the day before a deadline".to_string()),
                    success_metric: Some("every invoice out within a day of delivery".to_string()),
                    evidence: vec![
                        evidence(12, "we always send invoices late"),
                        evidence(15, "every invoice out within a day"),
                    ],
                    ..NeedUpdate::default()
                },
                NeedUpdate {
                    statement: Some("See every client deadline at a glance".to_string()),
                    actor: Some("Small design studio owner".to_string()),
                    desired_outcome: Some("one calendar of deadlines".to_string()),
                    evidence: vec![evidence(14, "a reminder the day before a client deadline")],
                    ..NeedUpdate::default()
                },
            ],
            ..TurnUpdate::default()
        };
        assert!(discovery.apply(&update, at).is_ok());
        assert_eq!(
            discovery.add_sketch_evidence(NeedId(2), SketchId(3), "the red deadline dots"),
            Ok(())
        );
        discovery.modules.push(Module {
            name: "Reminder engine".to_string(),
            purpose: "Sends a nudge the day before each deadline.".to_string(),
            need_ids: vec![NeedId(1), NeedId(2)],
        });
        discovery.options.push(DesignOption {
            summary: "Email reminders".to_string(),
            pros: vec!["cheap".to_string(), "no app to install".to_string()],
            cons: vec!["easy to ignore".to_string()],
            cost: Some("two days".to_string()),
        });
        discovery.options.push(DesignOption {
            summary: "A phone app".to_string(),
            pros: vec![],
            cons: vec![],
            cost: None,
        });
        discovery.decisions.push(Decision {
            option: "Start with email reminders".to_string(),
            rationale: "Cheapest way to learn whether nudges work".to_string(),
            at,
        });
        discovery.add_open_question(OpenQuestion {
            question: "Do clients mind early invoices?".to_string(),
            need_id: Some(NeedId(1)),
        });
        discovery
    }

    fn info() -> BriefInfo {
        BriefInfo {
            title: "Invoice nudge: discovery brief".to_string(),
            date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default(),
        }
    }

    #[test]
    fn brief_matches_golden_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/brief.md");
        let rendered = render_brief(&fixed_discovery(), &info());
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            assert!(
                std::fs::write(&path, &rendered).is_ok(),
                "cannot write {}",
                path.display()
            );
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "{}: {error}; regenerate it with UPDATE_GOLDEN=1",
                path.display()
            )
        });
        assert_eq!(
            rendered, golden,
            "the brief changed; if intended, regenerate with UPDATE_GOLDEN=1"
        );
    }

    #[test]
    fn empty_brief_says_none_yet() {
        let rendered = render_brief(&Discovery::default(), &info());
        for heading in [
            "Problem statement",
            "Who",
            "Needs",
            "Sketches",
            "Modules",
            "Options",
            "Decisions",
            "Open questions",
            "Next validation steps",
        ] {
            assert!(
                rendered.contains(&format!("## {heading}\n\nNone yet.\n")),
                "{heading}\n{rendered}"
            );
        }
        assert_eq!(render_brief(&Discovery::default(), &info()), rendered);
    }

    #[test]
    fn validation_steps_stay_grammatical_for_any_statement() {
        use crate::needs::interviewer::tests::{ODD_STATEMENTS, check_generated};
        let template_words = "Find three people who run into and note who they are Ask what \
            hurts most about Watch deal with how cope today often they run into would want \
            instead of Agree with on a number that shows is solved Confirm then mark it \
            validated fit have this problem";
        for (statement_idx, statement) in ODD_STATEMENTS.iter().enumerate() {
            let actor = ODD_STATEMENTS[(statement_idx + 7) % ODD_STATEMENTS.len()];
            for with_actor in [false, true] {
                let mut discovery = Discovery::new(Idea::default());
                let update = TurnUpdate {
                    needs: vec![NeedUpdate {
                        statement: Some(statement.to_string()),
                        actor: with_actor.then(|| actor.to_string()),
                        ..NeedUpdate::default()
                    }],
                    ..TurnUpdate::default()
                };
                assert!(
                    discovery
                        .add_utterance(Utterance {
                            id: UtteranceId(1),
                            start_ms: 0,
                            end_ms: 1,
                            text: statement.to_string(),
                        })
                        .is_ok()
                );
                assert!(
                    discovery
                        .apply(&update, chrono::DateTime::<Utc>::default())
                        .is_ok()
                );
                let steps = validation_steps(&discovery);
                assert_eq!(steps.lines().count(), if with_actor { 5 } else { 6 });
                for line in steps.lines() {
                    let step = line.trim_start_matches("- N1: ");
                    check_generated(step, template_words, &[statement, actor]);
                }
            }
        }
    }
}
