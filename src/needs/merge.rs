//! The merge of a turn update into a discovery. It keeps evidence honest: a cited utterance
//! must exist, a quote must be words the person really said (otherwise the best matching
//! span or the whole utterance is stored), evidence is only ever appended and is kept once,
//! and every need rests on at least one utterance. A new need whose statement nearly
//! matches an existing one updates that one instead. A slot keeps the first value heard
//! for it (an interviewer asks for a slot only while it is empty, so a later value is a
//! model repeating itself); only a correction by the person rewrites what was heard.
//! `MergeReport` says what was created, updated, repaired and dropped, and why.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::NeedsError;
use super::discovery::Discovery;
use super::model::{
    Decision, DesignOption, Evidence, Module, Need, NeedId, NeedStatus, Utterance, UtteranceId,
};
use super::text::replace_words;
use super::text::{non_empty, normalise_word, squash, statement_similarity, word_spans};
use super::update::{CorrectionUpdate, EvidenceRef, NeedUpdate, TurnUpdate};

/// The statement overlap (Jaccard over content words) from which a new need counts as an
/// existing one said again.
pub const NEAR_DUPLICATE_SIMILARITY: f64 = 0.6;

/// Something the merge did besides plain creating and updating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeNote {
    /// An update named a need number that does not exist; its statement decided instead.
    UnknownNeed {
        /// The number given.
        number: u32,
    },
    /// A new need's statement nearly matched an existing need, which was updated instead.
    MatchedByStatement {
        /// The need updated.
        need_id: NeedId,
        /// The statement given.
        statement: String,
    },
    /// A new need without a statement was dropped.
    NeedWithoutStatement,
    /// Evidence citing an utterance the discovery does not hold was dropped.
    UnknownUtterance {
        /// The need it was for.
        need_id: NeedId,
        /// The id given.
        utterance: i64,
    },
    /// A quote that is not in the utterance was replaced by words that are.
    QuoteRepaired {
        /// The need it is for.
        need_id: NeedId,
        /// The utterance quoted.
        utterance: UtteranceId,
        /// The quote given.
        given: String,
        /// The quote stored.
        stored: String,
    },
    /// A need with no valid evidence was rested on the latest utterance.
    EvidenceDefaulted {
        /// The need.
        need_id: NeedId,
        /// The utterance used.
        utterance: UtteranceId,
    },
    /// A module without a name was dropped.
    ModuleWithoutName,
    /// A module named a need number that does not exist; the number was dropped.
    UnknownModuleNeed {
        /// The module.
        module: String,
        /// The number given.
        number: u32,
    },
    /// An option without a summary was dropped.
    OptionWithoutSummary,
    /// A decision without an option was dropped.
    DecisionWithoutOption,
    /// The person corrected a need: `wrong` became `right`.
    Corrected {
        /// The need corrected.
        need_id: NeedId,
        /// The words taken back.
        wrong: String,
        /// The words meant instead.
        right: String,
    },
    /// A correction named a need that does not exist; it was dropped.
    CorrectionOfUnknownNeed {
        /// The number given.
        number: u32,
    },
}

impl MergeNote {
    /// Whether the note reports something left out of the discovery.
    pub fn is_drop(&self) -> bool {
        matches!(
            self,
            MergeNote::NeedWithoutStatement
                | MergeNote::UnknownUtterance { .. }
                | MergeNote::ModuleWithoutName
                | MergeNote::UnknownModuleNeed { .. }
                | MergeNote::OptionWithoutSummary
                | MergeNote::DecisionWithoutOption
                | MergeNote::CorrectionOfUnknownNeed { .. }
        )
    }
}

impl fmt::Display for MergeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeNote::UnknownNeed { number } => {
                write!(
                    f,
                    "need N{number} does not exist; matched by statement or created"
                )
            }
            MergeNote::MatchedByStatement { need_id, statement } => {
                write!(
                    f,
                    "\"{statement}\" nearly matches {need_id}; merged into {need_id}"
                )
            }
            MergeNote::NeedWithoutStatement => {
                write!(f, "dropped a new need without a statement")
            }
            MergeNote::UnknownUtterance { need_id, utterance } => write!(
                f,
                "dropped evidence for {need_id}: utterance u{utterance} is not in the transcript"
            ),
            MergeNote::QuoteRepaired {
                need_id,
                utterance,
                given,
                stored,
            } => write!(
                f,
                "{need_id}: \"{given}\" is not in u{}; stored \"{stored}\"",
                utterance.0
            ),
            MergeNote::EvidenceDefaulted { need_id, utterance } => write!(
                f,
                "{need_id} had no valid evidence; rested it on the latest utterance u{}",
                utterance.0
            ),
            MergeNote::ModuleWithoutName => write!(f, "dropped a module without a name"),
            MergeNote::UnknownModuleNeed { module, number } => write!(
                f,
                "module \"{module}\": need N{number} does not exist; left it out"
            ),
            MergeNote::OptionWithoutSummary => write!(f, "dropped an option without a summary"),
            MergeNote::DecisionWithoutOption => write!(f, "dropped a decision without an option"),
            MergeNote::Corrected {
                need_id,
                wrong,
                right,
            } => write!(f, "{need_id}: \"{wrong}\" corrected to \"{right}\""),
            MergeNote::CorrectionOfUnknownNeed { number } => {
                write!(f, "dropped a correction of N{number}, which does not exist")
            }
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeReport {
    /// Needs created, in order.
    pub created: Vec<NeedId>,
    /// Existing needs updated, in order, each once.
    pub updated: Vec<NeedId>,
    /// Everything else worth knowing, in order.
    pub notes: Vec<MergeNote>,
}

impl MergeReport {
    /// The notes that report something left out.
    pub fn dropped(&self) -> impl Iterator<Item = &MergeNote> {
        self.notes.iter().filter(|note| note.is_drop())
    }

    /// Records a need as updated unless it was created or recorded already.
    fn mark_updated(&mut self, id: NeedId) {
        if !self.created.contains(&id) && !self.updated.contains(&id) {
            self.updated.push(id);
        }
    }
}

/// Where an update goes.
enum Target {
    /// An existing need; `by_number` when the update named it.
    Existing { id: NeedId, by_number: bool },
    /// A new need with this statement.
    New(String),
}

impl Discovery {
    /// Merges a turn update recorded at `at`. Refuses an update that names needs while the
    /// discovery holds no utterance (add the turn's utterances first); everything else that
    /// cannot be stored honestly is left out and reported.
    pub fn apply(
        &mut self,
        update: &TurnUpdate,
        at: DateTime<Utc>,
    ) -> Result<MergeReport, NeedsError> {
        if !update.needs.is_empty() && self.utterances.is_empty() {
            return Err(NeedsError::NoUtterances);
        }
        let mut report = MergeReport::default();
        // A correction of a need the same update creates ("It's for the sound operators.
        // Actually no, I mean the stage managers" in one turn) waits until the need exists.
        let (now, once_created): (Vec<&CorrectionUpdate>, Vec<&CorrectionUpdate>) = update
            .corrections
            .iter()
            .partition(|correction| self.need(NeedId(correction.need)).is_some());
        for correction in now {
            self.merge_correction(correction, &mut report);
        }
        for need_update in &update.needs {
            self.merge_need(need_update, &mut report);
        }
        for correction in once_created {
            self.merge_correction(correction, &mut report);
        }
        for module in &update.modules {
            self.merge_module(&module.name, &module.purpose, &module.needs, &mut report);
        }
        for option in &update.options {
            self.merge_option(option, &mut report);
        }
        for decision in &update.decisions {
            let option = squash(&decision.option);
            if option.is_empty() {
                report.notes.push(MergeNote::DecisionWithoutOption);
                continue;
            }
            let rationale = squash(&decision.rationale);
            let known = self.decisions.iter().any(|existing| {
                existing.option.eq_ignore_ascii_case(&option)
                    && existing.rationale.eq_ignore_ascii_case(&rationale)
            });
            if !known {
                self.decisions.push(Decision {
                    option,
                    rationale,
                    at,
                });
            }
        }
        Ok(report)
    }

    /// Decides which need an update goes to.
    fn target(&self, update: &NeedUpdate, report: &mut MergeReport) -> Option<Target> {
        if let Some(number) = update.need {
            if self.need(NeedId(number)).is_some() {
                return Some(Target::Existing {
                    id: NeedId(number),
                    by_number: true,
                });
            }
            report.notes.push(MergeNote::UnknownNeed { number });
        }
        let Some(statement) = non_empty(update.statement.as_deref()) else {
            report.notes.push(MergeNote::NeedWithoutStatement);
            return None;
        };
        let best = self
            .needs
            .iter()
            .filter(|need| need.status != NeedStatus::Dropped)
            .map(|need| (need.id, statement_similarity(&need.statement, statement)))
            .filter(|(_, similarity)| *similarity >= NEAR_DUPLICATE_SIMILARITY)
            .max_by(|left, right| left.1.total_cmp(&right.1).then(right.0.cmp(&left.0)));
        match best {
            Some((id, _)) => {
                report.notes.push(MergeNote::MatchedByStatement {
                    need_id: id,
                    statement: squash(statement),
                });
                Some(Target::Existing {
                    id,
                    by_number: false,
                })
            }
            None => Some(Target::New(squash(statement))),
        }
    }

    /// Merges one need update.
    fn merge_need(&mut self, update: &NeedUpdate, report: &mut MergeReport) {
        let Some(target) = self.target(update, report) else {
            return;
        };
        let (id, overwrite_statement) = match target {
            Target::Existing { id, by_number } => (id, by_number),
            Target::New(statement) => {
                let id = self.next_need_id();
                self.needs.push(blank_need(id, statement));
                report.created.push(id);
                (id, false)
            }
        };
        // Evidence is checked against the transcript before the need is borrowed.
        let mut evidence = Vec::new();
        for cited in &update.evidence {
            match self.utterance(UtteranceId(cited.utterance)) {
                Some(utterance) => evidence.push(quoted(id, utterance, cited, report)),
                None => report.notes.push(MergeNote::UnknownUtterance {
                    need_id: id,
                    utterance: cited.utterance,
                }),
            }
        }
        let fallback = self
            .latest_utterance()
            .map(|utterance| Evidence::Utterance {
                utterance_id: utterance.id,
                start_ms: utterance.start_ms,
                end_ms: utterance.end_ms,
                quote: squash(&utterance.text),
                slot: None,
            });
        let before = self.need(id).cloned();
        let Some(need) = self.need_mut(id) else {
            return;
        };
        if overwrite_statement && let Some(statement) = non_empty(update.statement.as_deref()) {
            need.statement = squash(statement);
        }
        fill(&mut need.actor, update.actor.as_deref());
        fill(&mut need.context, update.context.as_deref());
        fill(&mut need.pain, update.pain.as_deref());
        fill(&mut need.workaround, update.workaround.as_deref());
        fill(&mut need.frequency, update.frequency.as_deref());
        fill(&mut need.desired_outcome, update.desired_outcome.as_deref());
        fill(&mut need.success_metric, update.success_metric.as_deref());
        if need.severity.is_none() {
            need.severity = update.severity;
        }
        for item in evidence {
            append_evidence(&mut need.evidence, item);
        }
        if need.evidence.is_empty()
            && let Some(fallback) = fallback
        {
            if let Evidence::Utterance { utterance_id, .. } = &fallback {
                report.notes.push(MergeNote::EvidenceDefaulted {
                    need_id: id,
                    utterance: *utterance_id,
                });
            }
            need.evidence.push(fallback);
        }
        // An existing need counts as updated only when the update changed it.
        if before.as_ref() != Some(&*need) {
            report.mark_updated(id);
        }
        self.mention(id);
    }

    /// Applies one correction: `wrong` becomes `right` wherever the need says it; when it
    /// says it nowhere and `right` names people, they become the need's actor. The
    /// correction's words are appended as evidence, so both what was said first and what
    /// corrected it stay on record.
    fn merge_correction(&mut self, correction: &CorrectionUpdate, report: &mut MergeReport) {
        let id = NeedId(correction.need);
        let evidence = self
            .utterance(UtteranceId(correction.utterance))
            .map(|utterance| Evidence::Utterance {
                utterance_id: utterance.id,
                start_ms: utterance.start_ms,
                end_ms: utterance.end_ms,
                quote: repair_quote(&utterance.text, &correction.quote),
                slot: None,
            });
        let Some(need) = self.need_mut(id) else {
            report.notes.push(MergeNote::CorrectionOfUnknownNeed {
                number: correction.need,
            });
            return;
        };
        if let Some(slot) = correction.only {
            let field = match slot {
                super::coverage::Slot::Actor => &mut need.actor,
                super::coverage::Slot::Pain => &mut need.pain,
                super::coverage::Slot::Workaround => &mut need.workaround,
                super::coverage::Slot::Frequency => &mut need.frequency,
                super::coverage::Slot::DesiredOutcome => &mut need.desired_outcome,
                super::coverage::Slot::SuccessMetric => &mut need.success_metric,
            };
            overwrite(field, Some(&correction.right));
        } else {
            // "No, sorry, I mean the porters" takes back whom the need was for: its actor,
            // wherever those words stand (the statement too).
            let wrong = match &need.actor {
                Some(actor)
                    if correction.wrong.trim().is_empty()
                        && super::cues::actor_phrase(&correction.right).is_some() =>
                {
                    actor.clone()
                }
                _ => correction.wrong.clone(),
            };
            let mut replaced = false;
            let fields = [
                Some(&mut need.statement),
                need.actor.as_mut(),
                need.context.as_mut(),
                need.pain.as_mut(),
                need.workaround.as_mut(),
                need.frequency.as_mut(),
                need.desired_outcome.as_mut(),
                need.success_metric.as_mut(),
            ];
            for field in fields.into_iter().flatten() {
                if let Some(corrected) = replace_words(field, &wrong, &correction.right) {
                    *field = corrected;
                    replaced = true;
                }
            }
            // Right words that name people become the actor when the wrong ones were
            // nowhere ("No, sorry, I mean the porters") or when no actor was known yet.
            if (!replaced || need.actor.is_none())
                && super::cues::actor_phrase(&correction.right).is_some()
            {
                need.actor = Some(squash(&correction.right));
            }
        }
        if let Some(evidence) = evidence {
            append_evidence(&mut need.evidence, evidence);
        }
        report.notes.push(MergeNote::Corrected {
            need_id: id,
            wrong: squash(&correction.wrong),
            right: squash(&correction.right),
        });
        report.mark_updated(id);
        self.mention(id);
    }

    /// Merges one module: by name (ignoring case), purpose overwritten when given, needs added.
    fn merge_module(
        &mut self,
        name: &str,
        purpose: &str,
        numbers: &[u32],
        report: &mut MergeReport,
    ) {
        let name = squash(name);
        if name.is_empty() {
            report.notes.push(MergeNote::ModuleWithoutName);
            return;
        }
        let mut need_ids = Vec::new();
        for number in numbers {
            if self.need(NeedId(*number)).is_some() {
                need_ids.push(NeedId(*number));
            } else {
                report.notes.push(MergeNote::UnknownModuleNeed {
                    module: name.clone(),
                    number: *number,
                });
            }
        }
        let position = self
            .modules
            .iter()
            .position(|module| module.name.to_lowercase() == name.to_lowercase());
        let module = match position {
            Some(position) => &mut self.modules[position],
            None => {
                self.modules.push(Module {
                    name,
                    purpose: String::new(),
                    need_ids: Vec::new(),
                });
                let last = self.modules.len() - 1;
                &mut self.modules[last]
            }
        };
        let purpose = squash(purpose);
        if !purpose.is_empty() {
            module.purpose = purpose;
        }
        for id in need_ids {
            if !module.need_ids.contains(&id) {
                module.need_ids.push(id);
            }
        }
    }

    /// Merges one option: by nearly the same summary, pros and cons added, cost overwritten.
    fn merge_option(&mut self, option: &super::update::OptionUpdate, report: &mut MergeReport) {
        let summary = squash(&option.summary);
        if summary.is_empty() {
            report.notes.push(MergeNote::OptionWithoutSummary);
            return;
        }
        let position = self.options.iter().position(|existing| {
            existing.summary.to_lowercase() == summary.to_lowercase()
                || statement_similarity(&existing.summary, &summary) >= NEAR_DUPLICATE_SIMILARITY
        });
        let existing = match position {
            Some(position) => &mut self.options[position],
            None => {
                self.options.push(DesignOption {
                    summary,
                    pros: Vec::new(),
                    cons: Vec::new(),
                    cost: None,
                });
                let last = self.options.len() - 1;
                &mut self.options[last]
            }
        };
        add_distinct(&mut existing.pros, &option.pros);
        add_distinct(&mut existing.cons, &option.cons);
        overwrite(&mut existing.cost, option.cost.as_deref());
    }
}

/// A need with only a number and a statement.
fn blank_need(id: NeedId, statement: String) -> Need {
    Need {
        id,
        statement,
        actor: None,
        context: None,
        pain: None,
        workaround: None,
        frequency: None,
        severity: None,
        desired_outcome: None,
        success_metric: None,
        constraints: Vec::new(),
        status: NeedStatus::Captured,
        evidence: Vec::new(),
    }
}

/// Sets an empty field to a non-empty value; a field that holds a value keeps it.
fn fill(field: &mut Option<String>, value: Option<&str>) {
    if field
        .as_deref()
        .and_then(|old| non_empty(Some(old)))
        .is_none()
    {
        overwrite(field, value);
    }
}

/// Sets a field when the new value is non-empty; keeps it otherwise.
fn overwrite(field: &mut Option<String>, value: Option<&str>) {
    if let Some(value) = non_empty(value) {
        *field = Some(squash(value));
    }
}

/// Adds texts not yet present (ignoring case and spacing).
fn add_distinct(list: &mut Vec<String>, additions: &[String]) {
    for addition in additions {
        let addition = squash(addition);
        if !addition.is_empty() && !list.iter().any(|item| item.eq_ignore_ascii_case(&addition)) {
            list.push(addition);
        }
    }
}

/// Appends evidence unless it, or a longer quote of the same utterance holding it, is there.
/// A quote that filled a slot counts as known only where it is on record for that slot.
fn append_evidence(evidence: &mut Vec<Evidence>, item: Evidence) {
    let known = evidence.iter().any(|existing| match (existing, &item) {
        (
            Evidence::Utterance {
                utterance_id: old_id,
                quote: old_quote,
                slot: old_slot,
                ..
            },
            Evidence::Utterance {
                utterance_id: new_id,
                quote: new_quote,
                slot: new_slot,
                ..
            },
        ) => {
            old_id == new_id
                && old_quote.contains(new_quote.as_str())
                && (new_slot.is_none() || old_slot == new_slot)
        }
        (old, new) => old == new,
    });
    if !known {
        evidence.push(item);
    }
}

/// The evidence for a cited utterance, with the quote repaired to words really said.
fn quoted(
    need_id: NeedId,
    utterance: &Utterance,
    cited: &EvidenceRef,
    report: &mut MergeReport,
) -> Evidence {
    let given = squash(&cited.quote);
    let stored = repair_quote(&utterance.text, &given);
    if stored != given {
        report.notes.push(MergeNote::QuoteRepaired {
            need_id,
            utterance: utterance.id,
            given,
            stored: stored.clone(),
        });
    }
    Evidence::Utterance {
        utterance_id: utterance.id,
        start_ms: utterance.start_ms,
        end_ms: utterance.end_ms,
        quote: stored,
        slot: cited.slot,
    }
}

/// Words from `text` that stand for `quote`: the quote as said (original case and
/// punctuation) when its words appear in order; otherwise the span holding most of its words
/// when it holds at least half of them; otherwise the whole text.
pub(crate) fn repair_quote(text: &str, quote: &str) -> String {
    let whole = squash(text);
    let spans = word_spans(text);
    let wanted: Vec<String> = word_spans(quote)
        .into_iter()
        .map(|(_, _, word)| word)
        .collect();
    if wanted.is_empty() || spans.is_empty() {
        return whole;
    }
    let span_text = |first: usize, last: usize| squash(&text[spans[first].0..spans[last].1]);
    // The quote's words in order.
    if wanted.len() <= spans.len() {
        for first in 0..=spans.len() - wanted.len() {
            let matches = spans[first..first + wanted.len()]
                .iter()
                .zip(&wanted)
                .all(|(span, word)| span.2 == *word);
            if matches {
                return span_text(first, first + wanted.len() - 1);
            }
        }
    }
    // The window scoring best: three points per quoted word inside, one off per word.
    // Words are compared without a plural `s`, so "deadlines" finds "deadline".
    let wanted: Vec<String> = wanted.iter().map(|word| normalise_word(word)).collect();
    let mut best: Option<(i64, usize, usize, usize)> = None;
    for first in 0..spans.len() {
        let mut hits = 0usize;
        for (last, span) in spans.iter().enumerate().skip(first) {
            if wanted.contains(&normalise_word(&span.2)) {
                hits += 1;
            }
            let score = 3 * hits as i64 - (last - first + 1) as i64;
            if best.is_none_or(|(best_score, ..)| score > best_score) {
                best = Some((score, first, last, hits));
            }
        }
    }
    match best {
        Some((_, first, last, hits)) if hits * 2 >= wanted.len() && hits > 0 => {
            span_text(first, last)
        }
        _ => whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::model::{Idea, Severity};
    use crate::needs::update::{DecisionUpdate, ModuleUpdate, OptionUpdate};
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0)
            .single()
            .unwrap_or_default()
    }

    const TRANSCRIPT: &[(i64, &str)] = &[
        (
            1,
            "I run a small design studio and we always send invoices late.",
        ),
        (
            2,
            "Right now I keep a spreadsheet, and I check it every Friday.",
        ),
        (3, "I'd love a reminder the day before a client deadline."),
    ];

    fn discovery() -> Discovery {
        let mut discovery = Discovery::new(Idea {
            title: "Invoice nudge".to_string(),
            summary: "Reminders so freelancers invoice on time.".to_string(),
        });
        for (index, (id, text)) in TRANSCRIPT.iter().enumerate() {
            let start_ms = index as u64 * 10_000;
            let added = discovery.add_utterance(Utterance {
                id: UtteranceId(*id),
                start_ms,
                end_ms: start_ms + 6_000,
                text: text.to_string(),
            });
            assert_eq!(added, Ok(()));
        }
        discovery
    }

    fn new_need(statement: &str, evidence: &[(i64, &str)]) -> NeedUpdate {
        NeedUpdate {
            statement: Some(statement.to_string()),
            evidence: evidence
                .iter()
                .map(|(utterance, quote)| EvidenceRef {
                    utterance: *utterance,
                    quote: quote.to_string(),
                    slot: None,
                })
                .collect(),
            ..NeedUpdate::default()
        }
    }

    fn turn(needs: Vec<NeedUpdate>) -> TurnUpdate {
        TurnUpdate {
            needs,
            ..TurnUpdate::default()
        }
    }

    /// A need's number, statement, actor, frequency and quotes, for comparing.
    type Summary = (u32, String, Option<String>, Option<String>, Vec<String>);

    fn summarise(discovery: &Discovery) -> Vec<Summary> {
        discovery
            .needs
            .iter()
            .map(|need| {
                let quotes = need
                    .evidence
                    .iter()
                    .map(|evidence| match evidence {
                        Evidence::Utterance {
                            utterance_id,
                            quote,
                            ..
                        } => format!("u{}:{quote}", utterance_id.0),
                        Evidence::Sketch { sketch_id, detail } => {
                            format!("s{}:{detail}", sketch_id.0)
                        }
                    })
                    .collect();
                (
                    need.id.0,
                    need.statement.clone(),
                    need.actor.clone(),
                    need.frequency.clone(),
                    quotes,
                )
            })
            .collect()
    }

    fn summary(
        id: u32,
        statement: &str,
        actor: Option<&str>,
        frequency: Option<&str>,
        quotes: &[&str],
    ) -> Summary {
        (
            id,
            statement.to_string(),
            actor.map(str::to_string),
            frequency.map(str::to_string),
            quotes.iter().map(|quote| quote.to_string()).collect(),
        )
    }

    #[test]
    fn merge_cases() {
        // (updates applied in order, expected needs afterwards)
        let check = |name: &str, updates: Vec<TurnUpdate>, expected: Vec<Summary>| {
            let mut discovery = discovery();
            for update in &updates {
                assert!(discovery.apply(update, at()).is_ok(), "{name}");
            }
            assert_eq!(summarise(&discovery), expected, "{name}");
        };
        check(
            "a new need with an exact quote",
            vec![turn(vec![new_need(
                "Studios need to invoice on time",
                &[(1, "we always send invoices late")],
            )])],
            vec![summary(
                1,
                "Studios need to invoice on time",
                None,
                None,
                &["u1:we always send invoices late"],
            )],
        );
        check(
            "an update by number fills slots and appends evidence",
            vec![
                turn(vec![new_need(
                    "Studios need to invoice on time",
                    &[(1, "send invoices late")],
                )]),
                turn(vec![NeedUpdate {
                    need: Some(1),
                    actor: Some("small design studio".to_string()),
                    frequency: Some(" every Friday ".to_string()),
                    evidence: vec![EvidenceRef {
                        utterance: 2,
                        quote: "I check it every Friday".to_string(),
                        slot: None,
                    }],
                    ..NeedUpdate::default()
                }]),
            ],
            vec![summary(
                1,
                "Studios need to invoice on time",
                Some("small design studio"),
                Some("every Friday"),
                &["u1:send invoices late", "u2:I check it every Friday"],
            )],
        );
        check(
            "empty and null values never erase",
            vec![
                turn(vec![NeedUpdate {
                    actor: Some("studio owners".to_string()),
                    ..new_need("Studios need to invoice on time", &[(1, "invoices late")])
                }]),
                turn(vec![NeedUpdate {
                    need: Some(1),
                    statement: Some("  ".to_string()),
                    actor: Some(String::new()),
                    ..NeedUpdate::default()
                }]),
            ],
            vec![summary(
                1,
                "Studios need to invoice on time",
                Some("studio owners"),
                None,
                &["u1:invoices late"],
            )],
        );
        check(
            "a near-duplicate statement updates instead of creating",
            vec![
                turn(vec![new_need(
                    "Freelancers need reminders before client deadlines",
                    &[(3, "a reminder")],
                )]),
                turn(vec![new_need(
                    "A freelancer needs a reminder before the client deadline",
                    &[(3, "the day before a client deadline")],
                )]),
            ],
            vec![summary(
                1,
                "Freelancers need reminders before client deadlines",
                None,
                None,
                &["u3:a reminder", "u3:the day before a client deadline"],
            )],
        );
        check(
            "distinct statements create distinct needs with the next numbers",
            vec![turn(vec![
                new_need("Studios need to invoice on time", &[(1, "invoices late")]),
                new_need(
                    "Keep track of client deadlines without a spreadsheet",
                    &[(2, "I keep a spreadsheet")],
                ),
            ])],
            vec![
                summary(
                    1,
                    "Studios need to invoice on time",
                    None,
                    None,
                    &["u1:invoices late"],
                ),
                summary(
                    2,
                    "Keep track of client deadlines without a spreadsheet",
                    None,
                    None,
                    &["u2:I keep a spreadsheet"],
                ),
            ],
        );
        check(
            "the same evidence twice is kept once",
            vec![
                turn(vec![new_need(
                    "Studios need to invoice on time",
                    &[(1, "invoices late"), (1, "Invoices  LATE")],
                )]),
                turn(vec![NeedUpdate {
                    need: Some(1),
                    evidence: vec![EvidenceRef {
                        utterance: 1,
                        quote: "invoices late".to_string(),
                        slot: None,
                    }],
                    ..NeedUpdate::default()
                }]),
            ],
            vec![summary(
                1,
                "Studios need to invoice on time",
                None,
                None,
                &["u1:invoices late"],
            )],
        );
        check(
            "a need with only unknown evidence rests on the latest utterance",
            vec![turn(vec![new_need(
                "Studios need to invoice on time",
                &[(77, "invented words")],
            )])],
            vec![summary(
                1,
                "Studios need to invoice on time",
                None,
                None,
                &["u3:I'd love a reminder the day before a client deadline."],
            )],
        );
        check(
            "an unknown need number with a new statement creates a need",
            vec![turn(vec![NeedUpdate {
                need: Some(9),
                ..new_need("Studios need to invoice on time", &[(1, "invoices late")])
            }])],
            vec![summary(
                1,
                "Studios need to invoice on time",
                None,
                None,
                &["u1:invoices late"],
            )],
        );
        check(
            "a new need without a statement is dropped",
            vec![turn(vec![NeedUpdate {
                actor: Some("someone".to_string()),
                ..NeedUpdate::default()
            }])],
            vec![],
        );
    }

    #[test]
    fn merge_report_cases() {
        let check = |update: TurnUpdate, created: &[u32], updated: &[u32], notes: &[&str]| {
            let mut discovery = discovery();
            let first = new_need("Studios need to invoice on time", &[(1, "invoices late")]);
            assert!(discovery.apply(&turn(vec![first]), at()).is_ok());
            let report = discovery.apply(&update, at());
            let Ok(report) = report else {
                panic!("{report:?}");
            };
            let ids = |ids: &[u32]| ids.iter().map(|id| NeedId(*id)).collect::<Vec<_>>();
            assert_eq!(report.created, ids(created), "{update:?}");
            assert_eq!(report.updated, ids(updated), "{update:?}");
            let shown: Vec<String> = report.notes.iter().map(ToString::to_string).collect();
            assert_eq!(shown, notes, "{update:?}");
        };
        check(
            turn(vec![new_need("Track client deadlines", &[(42, "made up")])]),
            &[2],
            &[],
            &[
                "dropped evidence for N2: utterance u42 is not in the transcript",
                "N2 had no valid evidence; rested it on the latest utterance u3",
            ],
        );
        check(
            turn(vec![new_need(
                "Track client deadlines",
                &[(3, "a reminder a day before deadlines")],
            )]),
            &[2],
            &[],
            &[
                "N2: \"a reminder a day before deadlines\" is not in u3; stored \"a reminder the day before a client deadline\"",
            ],
        );
        check(
            turn(vec![new_need(
                "Studios need to invoice on time!",
                &[(2, "I keep a spreadsheet")],
            )]),
            &[],
            &[1],
            &["\"Studios need to invoice on time!\" nearly matches N1; merged into N1"],
        );
        // Said again with nothing new: matched, but not reported as updated.
        check(
            turn(vec![new_need(
                "Studios need to invoice on time!",
                &[(1, "late")],
            )]),
            &[],
            &[],
            &["\"Studios need to invoice on time!\" nearly matches N1; merged into N1"],
        );
        check(
            TurnUpdate {
                modules: vec![
                    ModuleUpdate {
                        name: "Reminders".to_string(),
                        purpose: "Nudges".to_string(),
                        needs: vec![1, 5],
                    },
                    ModuleUpdate::default(),
                ],
                options: vec![OptionUpdate::default()],
                decisions: vec![DecisionUpdate::default()],
                ..TurnUpdate::default()
            },
            &[],
            &[],
            &[
                "module \"Reminders\": need N5 does not exist; left it out",
                "dropped a module without a name",
                "dropped an option without a summary",
                "dropped a decision without an option",
            ],
        );
    }

    #[test]
    fn quote_repair_cases() {
        let text = "Right now I keep a spreadsheet, and I check it every Friday.";
        let check = |quote: &str, expected: &str| {
            assert_eq!(repair_quote(text, quote), expected, "{quote:?}");
        };
        check("I keep a spreadsheet", "I keep a spreadsheet");
        check(
            "i KEEP a spreadsheet and i check",
            "I keep a spreadsheet, and I check",
        );
        check(
            "I check a spreadsheet weekly",
            "I keep a spreadsheet, and I check",
        );
        check("nothing like this at all", text);
        check("", text);
        check("every friday", "every Friday");
    }

    #[test]
    fn evidence_is_never_dropped_across_many_merges() {
        // A deterministic stream of updates: new needs, updates by number, near-duplicates,
        // unknown ids and bad quotes. Every need's evidence may only grow.
        let mut discovery = discovery();
        let statements = [
            "Studios need to invoice on time",
            "Keep track of client deadlines",
            "Studios need to send invoices on time",
            "See all unpaid invoices at a glance",
        ];
        let mut seed: u64 = 7;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        for step in 0..200 {
            let before: Vec<(NeedId, Vec<Evidence>)> = discovery
                .needs
                .iter()
                .map(|need| (need.id, need.evidence.clone()))
                .collect();
            let utterance = [1, 2, 3, 99][next() % 4];
            let quote = ["invoices late", "every Friday", "made up words", ""][next() % 4];
            let need = match next() % 3 {
                0 => None,
                _ => Some((next() % 5) as u32 + 1),
            };
            let update = NeedUpdate {
                need,
                statement: Some(statements[next() % statements.len()].to_string()),
                frequency: (next() % 2 == 0).then(|| format!("step {step}")),
                severity: Some(Severity::Medium),
                evidence: vec![EvidenceRef {
                    utterance,
                    quote: quote.to_string(),
                    slot: None,
                }],
                ..NeedUpdate::default()
            };
            assert!(discovery.apply(&turn(vec![update]), at()).is_ok());
            for (id, old) in before {
                let Some(need) = discovery.need(id) else {
                    panic!("{id} vanished at step {step}");
                };
                assert!(
                    need.evidence.starts_with(&old),
                    "{id} lost evidence at step {step}"
                );
            }
            for need in &discovery.needs {
                assert!(!need.evidence.is_empty(), "{} has no evidence", need.id);
                for evidence in &need.evidence {
                    if let Evidence::Utterance {
                        utterance_id,
                        quote,
                        ..
                    } = evidence
                    {
                        let text = discovery
                            .utterance(*utterance_id)
                            .map(|utterance| utterance.text.clone())
                            .unwrap_or_default();
                        assert!(text.contains(quote.as_str()), "{quote:?} not in {text:?}");
                    }
                }
                let mut distinct = need.evidence.clone();
                distinct.dedup();
                assert_eq!(distinct.len(), need.evidence.len());
            }
        }
        assert!(discovery.needs.len() <= statements.len() + 5);
    }

    #[test]
    fn an_update_before_any_utterance_is_refused() {
        let mut discovery = Discovery::default();
        let update = turn(vec![new_need("Anything", &[])]);
        assert_eq!(
            discovery.apply(&update, at()),
            Err(NeedsError::NoUtterances)
        );
        assert!(discovery.needs.is_empty());
        assert_eq!(
            discovery.apply(&TurnUpdate::default(), at()),
            Ok(MergeReport::default())
        );
    }

    #[test]
    fn modules_options_and_decisions_merge() {
        let mut discovery = discovery();
        let first = TurnUpdate {
            needs: vec![new_need(
                "Studios need to invoice on time",
                &[(1, "invoices late")],
            )],
            modules: vec![ModuleUpdate {
                name: "Reminders".to_string(),
                purpose: "Nudges".to_string(),
                needs: vec![1],
            }],
            options: vec![OptionUpdate {
                summary: "Email reminders".to_string(),
                pros: vec!["cheap".to_string()],
                cons: vec![],
                cost: None,
            }],
            decisions: vec![DecisionUpdate {
                option: "Email first".to_string(),
                rationale: "Cheap".to_string(),
            }],
            reply: String::new(),
            corrections: Vec::new(),
        };
        let second = TurnUpdate {
            needs: vec![],
            modules: vec![ModuleUpdate {
                name: "reminders".to_string(),
                purpose: String::new(),
                needs: vec![1],
            }],
            options: vec![OptionUpdate {
                summary: "email reminders".to_string(),
                pros: vec!["Cheap".to_string(), "fast to build".to_string()],
                cons: vec!["often ignored".to_string()],
                cost: Some("two days".to_string()),
            }],
            decisions: vec![DecisionUpdate {
                option: "Email first".to_string(),
                rationale: "Cheap".to_string(),
            }],
            reply: String::new(),
            corrections: Vec::new(),
        };
        assert!(discovery.apply(&first, at()).is_ok());
        assert!(discovery.apply(&second, at()).is_ok());
        assert_eq!(discovery.modules.len(), 1);
        assert_eq!(discovery.modules[0].purpose, "Nudges");
        assert_eq!(discovery.modules[0].need_ids, vec![NeedId(1)]);
        assert_eq!(discovery.options.len(), 1);
        assert_eq!(discovery.options[0].pros, vec!["cheap", "fast to build"]);
        assert_eq!(discovery.options[0].cons, vec!["often ignored"]);
        assert_eq!(discovery.options[0].cost.as_deref(), Some("two days"));
        assert_eq!(discovery.decisions.len(), 1);
        assert_eq!(discovery.decisions[0].at, at());
    }
}
