//! The plan's clause labels: a realistic model says, for each clause of the turn, which
//! slot it tells (or none), in a short constrained call per clause whose answer can only
//! be a label word. (One call for the whole turn was tried first: a 1.5 B model then
//! labelled the clauses in the order the labels are listed.) A label cannot invent
//! content, since the value is still the person's clause; it only says what the clause
//! is. So a model that reads well gets authority over the cue rules: its label fills a
//! slot on its own, and a clause it labels as something else fills a pain, workaround,
//! outcome or metric only when the person named that slot outright. A small model is
//! not asked (its labels are close to random), and the plan then scores as it always did.

use serde::{Deserialize, Serialize};

use super::*;
use crate::needs::prompt::{CLAUSE_LABELS, clause_label_prompt};

/// The most clauses of one turn that are labelled (one call each); later clauses are
/// scored without labels.
pub const MAX_LABELLED_CLAUSES: usize = 12;

/// Words that open a sentence pointing back at what was said ("That ought to drop…").
const POINTING_BACK_WORDS: &[&str] = &["that", "that's", "it", "it's", "this", "which", "those"];

/// The fewest content words of a sentence a label alone may open a need from ("the
/// watering cans too" has two).
const MIN_LABELLED_SOURCE_CONTENT_WORDS: usize = 4;

/// What a trusted label adds to a clause's score for its slot: enough on its own.
pub(super) const LABEL_VOTE: i32 = 3;
/// What a clause loses for a slot when a trusted label says it tells something else.
pub(super) const LABEL_AGAINST: i32 = 2;

/// The model's label for one clause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClauseLabel {
    /// One of [`CLAUSE_LABELS`].
    pub label: String,
}

/// The schema of [`ClauseLabel`]: the label is one of [`CLAUSE_LABELS`].
pub fn clause_label_schema() -> serde_json::Value {
    let labels: Vec<&str> = CLAUSE_LABELS.iter().map(|(label, _)| *label).collect();
    serde_json::json!({
        "type": "object",
        "properties": { "label": { "enum": labels } },
        "required": ["label"],
        "additionalProperties": false,
    })
}

impl TurnPlan {
    /// The model calls that label the turn's clauses, one per clause (up to
    /// [`MAX_LABELLED_CLAUSES`]), each with the index of the clause it labels.
    pub fn clause_label_requests(&self) -> Vec<(usize, ModelRequest)> {
        let question = self
            .pending
            .is_some()
            .then_some(self.pending_question.as_str());
        self.units
            .iter()
            .take(MAX_LABELLED_CLAUSES)
            .enumerate()
            .map(|(unit_idx, unit)| {
                let prompt = clause_label_prompt(
                    &self.scratch,
                    question,
                    &self.sentences[unit.sentence_idx].text,
                    &unit.text,
                    &self.new_utterance_ids,
                );
                let request = ModelRequest {
                    purpose: format!("label of clause {}", unit_idx + 1),
                    prompt,
                    schema: clause_label_schema(),
                };
                (unit_idx, request)
            })
            .collect()
    }

    /// Takes the model's label for clause `unit_idx`. From here on a label is the model's
    /// word on what its clause tells; a clause it did not label (or labelled with an
    /// unknown word) is scored as before.
    pub fn take_clause_label(&mut self, unit_idx: usize, label: &ClauseLabel) {
        if let Some(labelled) = self.labels.get_mut(unit_idx) {
            *labelled = CLAUSE_LABELS
                .iter()
                .find(|(word, _)| *word == label.label)
                .map(|(_, slot)| *slot);
        }
    }

    /// What a unit's label adds to its score for `slot`: [`LABEL_VOTE`] when it names the
    /// slot; less [`LABEL_AGAINST`] when it names something else, unless the person named
    /// this slot outright (`named_here`); nothing without a label. People and a frequency
    /// stand beside what else a clause tells ("Florists throw away roses every Monday"
    /// is a problem, of florists, weekly), so another slot's label says nothing against
    /// them; the label "other" does, against a frequency.
    pub(super) fn label_score(&self, unit_idx: usize, slot: Slot, named_here: bool) -> i32 {
        match self.labels.get(unit_idx) {
            Some(Some(labelled)) if *labelled == Some(slot) => LABEL_VOTE,
            Some(Some(labelled)) => {
                // A clause labelled as telling nothing a slot wants ("Mind you, he nearly
                // lost a fingertip once") gives a frequency only when it names one.
                let stands_beside =
                    slot == Slot::Actor || (slot == Slot::Frequency && labelled.is_some());
                if named_here || stands_beside {
                    0
                } else {
                    -LABEL_AGAINST
                }
            }
            _ => 0,
        }
    }

    /// What one vote of the model adds for `slot`: a model trusted with labels names the
    /// people on its own ([`LABEL_VOTE`]), since a label cannot say who they are when the
    /// clause tells the problem too; otherwise [`MODEL_VOTE`].
    pub(super) fn vote_weight(&self, slot: Slot) -> i32 {
        if slot == Slot::Actor && self.labels.iter().any(Option::is_some) {
            LABEL_VOTE
        } else {
            MODEL_VOTE
        }
    }

    /// Whether a trusted model labelled a clause of a sentence as the problem, a wish or
    /// the people: the sentence describes a need even when no cue rule knows its words
    /// ("Every Saturday there's a squabble over the two hoses"). A sentence that points
    /// back ("That ought to drop to almost nobody") or is a fragment ("Oh, and the watering
    /// cans too") adds to what was said and opens none.
    pub(super) fn labelled_need_source(&self, sentence_idx: usize) -> bool {
        let words = lower_words(&self.sentences[sentence_idx].text);
        let points_back = words
            .first()
            .is_some_and(|word| POINTING_BACK_WORDS.contains(&word.as_str()));
        let n_content_words = content_words(&self.sentences[sentence_idx].text).len();
        !points_back
            && n_content_words >= MIN_LABELLED_SOURCE_CONTENT_WORDS
            && (self.labelled_problem_or_wish(sentence_idx)
                || self.sentence_labelled(sentence_idx, &[Slot::Actor]))
    }

    /// Whether a trusted model labelled a clause of a sentence as the problem or a wish.
    pub(super) fn labelled_problem_or_wish(&self, sentence_idx: usize) -> bool {
        self.sentence_labelled(sentence_idx, &[Slot::Pain, Slot::DesiredOutcome])
    }

    /// Whether some clause of a sentence is labelled as one of `slots` and its words show
    /// a sign of some slot: a model also labels remarks the problem ("Where do I even
    /// begin", "I've drawn what I'm imagining"), and a remark opens no need.
    fn sentence_labelled(&self, sentence_idx: usize, slots: &[Slot]) -> bool {
        self.units.iter().enumerate().any(|(unit_idx, unit)| {
            unit.sentence_idx == sentence_idx
                && slots.iter().any(|slot| self.labelled_as(unit_idx, *slot))
                && cues::slot_evidence(&unit.text)
                    .iter()
                    .any(|strength| *strength > 0)
        })
    }

    /// Whether the model labelled a unit as telling `slot`.
    pub(super) fn labelled_as(&self, unit_idx: usize, slot: Slot) -> bool {
        matches!(self.labels.get(unit_idx), Some(Some(Some(labelled))) if *labelled == slot)
    }
}
