//! The interview's dialogue state and the plan of one turn.
//!
//! A good interviewer hears the next thing the person says as the answer to the question
//! just asked. So does this plan: the question asked last (a need and a slot) is the
//! pending question, and the turn's sentences are first read as its answer. Only then are
//! the rest examined for new needs and for slots the person volunteered.
//!
//! The plan is pure. It asks the session for model calls (an answer, a need list, a need's
//! slots) through requests and takes their parsed answers back; every answer is checked
//! against the person's words before it counts. When the model declines or invents, the
//! person's own sentence stands in, so a weak model still captures what was answered. It
//! builds the turn's [`TurnUpdate`] on a scratch copy of the discovery, so each request
//! sees what the earlier steps captured, and the caller applies the same update to the
//! real discovery.
//!
//! Honesty rules: a need is created only from a sentence that describes a problem, a wish
//! or a person, never from filler, a cue phrase or a sketch; its statement is in the
//! person's words (rewritten from their sentence when the model's words are not theirs);
//! a slot value is words the person said this turn, and it must fit the slot asked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::NeedsError;
use super::coverage::{Coverage, Slot};
use super::cues::{self, Act};
use super::discovery::Discovery;
use super::interviewer::{MAX_ASKS_PER_SLOT, NextQuestion, slot_question};
use super::merge::repair_quote;
use super::model::{NeedId, NeedStatus, UtteranceId};
use super::prompt::{
    Prompt, answer_prompt, copies_example, need_list_prompt, need_slots_prompt, turn_prompt,
};
use super::text::{
    content_words, grounded_share, spoken_span, squash, statement_from, statement_similarity,
    word_spans,
};
mod labels;
mod slots;
mod state;
#[cfg(test)]
mod tests;
mod words;

pub use labels::{ClauseLabel, MAX_LABELLED_CLAUSES, clause_label_schema};
use words::*;

use super::update::{CorrectionUpdate, EvidenceRef, NeedList, NeedSlots, NeedUpdate, TurnUpdate};

/// Share of a value's content words that must be the person's words of this turn for
/// the value to count as heard.
pub const MIN_GROUNDED_SHARE: f64 = 0.6;
/// Share of a quote's words a sentence must hold to be the sentence quoted.
const MIN_QUOTE_OVERLAP: f64 = 0.5;
/// Content-word overlap with everything known about the existing needs below which a
/// need the model lists (with no "another problem" cue) counts as a new one.
const NEW_NEED_MAX_OVERLAP: f64 = 0.1;
/// The longest statement kept as the model wrote it (characters); a longer one was cut
/// by the schema's length bound.
const MAX_MODEL_STATEMENT_CHARS: usize = 110;
/// The most words a statement made from the person's sentence keeps: its first clause,
/// when the sentence is longer.
const MAX_STATEMENT_WORDS: usize = 18;

/// Phrases that say a new topic starts ("There's a second problem.").
const NEW_NEED_PHRASES: &[&[&str]] = &[
    &["another", "problem"],
    &["second", "problem"],
    &["other", "problem"],
    &["different", "problem"],
    &["another", "issue"],
    &["second", "issue"],
    &["another", "thing"],
    &["second", "thing"],
    &["something", "else"],
    &["one", "more", "problem"],
    &["also", "a", "problem"],
    &["another", "need"],
    &["second", "need"],
    &["separate", "problem"],
    &["unrelated", "problem"],
    &["other", "thing"],
    &["other", "issue"],
    &["next", "problem"],
    &["third", "problem"],
    &["third", "thing"],
    &["one", "more", "thing"],
    &["other", "headache"],
    &["another", "headache"],
    &["second", "headache"],
    &["other", "worry"],
    &["another", "worry"],
    &["other", "hassle"],
    &["another", "hassle"],
    &["other", "nightmare"],
    &["another", "nightmare"],
    &["other", "pain"],
    &["another", "pain"],
];

/// Phrases that open a digression: what follows is not an answer.
const DIGRESSION_PHRASES: &[&[&str]] = &[
    &["by", "the", "way"],
    &["off", "topic"],
    &["unrelated"],
    &["side", "note"],
    &["random", "thought"],
    &["funny", "story"],
    &["funny", "thing"],
    &["fun", "fact"],
    &["different", "note"],
    &["sorry", "my"],
    &["sorry", "i"],
    &["my", "morning"],
    &["my", "day", "was"],
    &["my", "weekend"],
    &["this", "morning", "i"],
    &["i", "had", "a", "great"],
    &["i", "had", "a", "nice"],
    &["i", "had", "a", "long"],
];

/// Family members whose past a person may recall aside ("My mother taught me on a treadle
/// machine"): with a verb in the past right after them, the sentence is a digression.
const KIN_NOUNS: &[&str] = &[
    "mother",
    "mum",
    "mom",
    "father",
    "dad",
    "grandfather",
    "grandmother",
    "grandad",
    "grandpa",
    "granny",
    "grandma",
    "gran",
    "uncle",
    "aunt",
    "auntie",
];

/// Verbs in the past that are not formed with "-ed".
const IRREGULAR_PAST_VERBS: &[&str] = &[
    "had", "was", "taught", "made", "said", "got", "gave", "grew", "ran", "built", "kept", "told",
    "took", "came", "went", "knew", "bought", "sold", "left", "met",
];

/// Phrases that say the sentence before was a digression ("Anyway, that's beside the
/// point").
const DIGRESSION_CLOSERS: &[&[&str]] = &[
    &["beside", "the", "point"],
    &["never", "mind"],
    &["where", "was", "i"],
    &["back", "to", "the", "point"],
];

/// Words that end a digression and return to the topic ("Anyway, they…").
const BACK_ON_TOPIC: &[&str] = &["anyway", "anyhow", "so", "back"];

/// One sentence of the turn, as the interview reads it.
#[derive(Debug, Clone, PartialEq)]
struct Heard {
    /// The utterance it is from.
    utterance_id: UtteranceId,
    /// Its words, squashed.
    text: String,
    /// What it does.
    act: Act,
    /// The need it is about, once the plan knows.
    need: Option<NeedId>,
    /// It says a new topic starts, or comes after such a sentence.
    after_new_topic: bool,
    /// It opens a digression.
    digression: bool,
    /// A need was created from it this turn (it is that need's statement).
    created_need: bool,
}

impl Heard {
    fn is_content(&self) -> bool {
        self.act == Act::Content
    }
}

/// A clause of one of the turn's sentences: the unit a slot value is taken from.
#[derive(Debug, Clone, PartialEq)]
struct Unit {
    /// The sentence it is part of.
    sentence_idx: usize,
    /// Its words.
    text: String,
}

/// A model's word for a slot: these words of this unit fill it.
#[derive(Debug, Clone, PartialEq)]
struct Vote {
    unit_idx: usize,
    slot: Slot,
    /// The model's words, checked to be the person's.
    value: String,
    /// The need the model was asked about; `None` for the pending question's.
    need: Option<NeedId>,
}

/// What a vote of the model adds to a unit's score for a slot: with a hint in the
/// person's words it fills the slot, alone it does not (a weak model votes at random).
const MODEL_VOTE: i32 = 2;
/// What being the answer to the pending question adds to a unit's score for its slot:
/// enough on its own, so the person's words answer the question asked when nothing in
/// them speaks to another slot.
const PENDING_PRIOR: i32 = 3;
/// What being said in answer to a question about the need adds to a unit's score for
/// every slot of that need.
const ON_TOPIC_PRIOR: i32 = 1;
/// What following the sentence that named a new problem adds to a unit's score for pain.
const ELABORATION_PRIOR: i32 = 1;
/// The score from which a unit fills a slot: one strong sign (the slot named outright, or
/// the question just asked) or two weaker ones that agree.
const MIN_SLOT_SCORE: i32 = 3;
/// What a unit that names another slot outright loses for this one.
const NAMED_ELSEWHERE_PENALTY: i32 = 3;

/// What the plan did with the turn, for the report, the events and the eval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DialogueNote {
    /// The pending question was answered.
    Answered {
        /// The need asked about.
        need_id: NeedId,
        /// The slot asked for.
        slot: Slot,
        /// The value taken.
        value: String,
        /// The model's words (`true`) or the person's sentence standing in (`false`).
        by_model: bool,
    },
    /// The person declined the pending question ("I don't know yet").
    Declined {
        /// The need asked about.
        need_id: NeedId,
        /// The slot asked for.
        slot: Slot,
    },
    /// The turn did not answer the pending question.
    NotAnswered {
        /// The need asked about.
        need_id: NeedId,
        /// The slot asked for.
        slot: Slot,
    },
    /// The turn held only filler, cue phrases or remarks about the conversation.
    FillerOnly,
    /// A slot the person filled without being asked.
    Volunteered {
        /// The need.
        need_id: NeedId,
        /// The slot.
        slot: Slot,
        /// The value.
        value: String,
        /// The model's words (`true`) or an explicit cue in the person's words (`false`).
        by_model: bool,
    },
    /// A need was heard in the person's words.
    NeedHeard {
        /// The statement stored.
        statement: String,
        /// Whether the model's statement was not the person's words and was rewritten
        /// from their sentence.
        rewritten: bool,
        /// Whether the model listed it (`true`) or the person's sentence did (`false`).
        by_model: bool,
    },
    /// The person named the need's people more precisely ("primary school teachers" for
    /// "teachers"); the actor and statement now say so.
    ActorRefined {
        /// The need.
        need_id: NeedId,
        /// The actor before.
        from: String,
        /// The actor now.
        to: String,
    },
    /// The person took something back.
    Corrected {
        /// The need.
        need_id: NeedId,
        /// The words taken back.
        wrong: String,
        /// The words meant.
        right: String,
    },
    /// Something the model wrote that the person did not say, or that does not fit: left out.
    Dropped {
        /// What it was meant to be ("answer", "statement", "pain", …).
        what: String,
        /// The model's words.
        text: String,
        /// Why.
        reason: String,
    },
}

/// A model call the plan wants made.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    /// What it asks for, for logs and latency reports.
    pub purpose: String,
    /// The prompt.
    pub prompt: Prompt,
    /// The JSON schema the answer is constrained to.
    pub schema: serde_json::Value,
}

/// The model's answer to the answer step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnswerWords {
    /// The words of the new lines that answer the question, or null.
    pub answer: Option<String>,
}

/// The schema of [`AnswerWords`].
pub fn answer_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "answer": { "type": ["string", "null"], "maxLength": super::update::MAX_SHORT_CHARS },
        },
        "required": ["answer"],
        "additionalProperties": false,
    })
}

/// The plan of one turn.
#[derive(Debug, Clone)]
pub struct TurnPlan {
    new_utterance_ids: Vec<UtteranceId>,
    sentences: Vec<Heard>,
    units: Vec<Unit>,
    votes: Vec<Vote>,
    /// The model's label per unit, when it was asked: `Some(None)` says the unit tells no
    /// slot; `None` that it was not labelled.
    labels: Vec<Option<Option<Slot>>>,
    pending: Option<(NeedId, Slot)>,
    pending_question: String,
    scratch: Discovery,
    update: TurnUpdate,
    notes: Vec<DialogueNote>,
    /// Needs the turn spoke about, in order: their slots are asked of the model.
    heard: Vec<NeedId>,
    /// Needs created this turn, in order.
    created: Vec<NeedId>,
    at: DateTime<Utc>,
}

/// What a finished plan hands back.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOutcome {
    /// The update to apply to the discovery the plan was made from.
    pub update: TurnUpdate,
    /// What the plan did, in order.
    pub notes: Vec<DialogueNote>,
}

impl TurnPlan {
    /// Reads the turn's utterances (already added to `discovery`) sentence by sentence and
    /// takes the person's corrections.
    pub fn new(
        discovery: &Discovery,
        new_utterance_ids: &[UtteranceId],
        at: DateTime<Utc>,
    ) -> Self {
        let mut sentences = Vec::new();
        let mut after_new_topic = false;
        // A digression runs on to the end of the turn, unless the person comes back
        // ("Anyway, …").
        let mut in_digression = false;
        for id in new_utterance_ids {
            let Some(utterance) = discovery.utterance(*id) else {
                continue;
            };
            for text in cues::sentences(&utterance.text) {
                let act = cues::act(&text);
                let words = lower_words(&text);
                // "The second thing is pickup" announces the next need without telling it.
                after_new_topic |= matches!(act, Act::Content | Act::Remark)
                    && contains_any(&words, NEW_NEED_PHRASES);
                // "That's beside the point" sets aside the sentence before and itself.
                let closes = contains_any(&words, DIGRESSION_CLOSERS);
                if closes && let Some(before) = sentences.last_mut() {
                    let before: &mut Heard = before;
                    before.digression = true;
                }
                if contains_any(&words, DIGRESSION_PHRASES) || recalls_family_past(&words) {
                    in_digression = true;
                } else if words
                    .first()
                    .is_some_and(|word| BACK_ON_TOPIC.contains(&word.as_str()))
                {
                    in_digression = false;
                }
                sentences.push(Heard {
                    utterance_id: *id,
                    digression: in_digression || closes,
                    text,
                    act,
                    need: None,
                    after_new_topic,
                    created_need: false,
                });
            }
        }
        let pending = discovery
            .pending_question()
            .map(|(need_id, slot, question)| ((need_id, slot), question.to_string()));
        let units = sentences
            .iter()
            .enumerate()
            .filter(|(_, heard)| heard.is_content() && !heard.digression)
            .flat_map(|(sentence_idx, heard)| {
                cues::clauses(&heard.text)
                    .into_iter()
                    .map(move |text| Unit { sentence_idx, text })
            })
            .collect::<Vec<Unit>>();
        let labels = vec![None; units.len()];
        let mut plan = Self {
            new_utterance_ids: new_utterance_ids.to_vec(),
            sentences,
            units,
            votes: Vec::new(),
            labels,
            pending: pending.as_ref().map(|(pending, _)| *pending),
            pending_question: pending.map(|(_, question)| question).unwrap_or_default(),
            scratch: discovery.clone(),
            update: TurnUpdate::default(),
            notes: Vec::new(),
            heard: Vec::new(),
            created: Vec::new(),
            at,
        };
        if !plan.sentences.is_empty()
            && plan
                .sentences
                .iter()
                .all(|heard| matches!(heard.act, Act::Filler | Act::Remark))
        {
            plan.notes.push(DialogueNote::FillerOnly);
        }
        plan.take_corrections();
        plan
    }

    /// Whether the turn says anything to capture (not only filler, non-answers and
    /// corrections).
    pub fn has_content(&self) -> bool {
        self.sentences.iter().any(Heard::is_content)
    }

    /// The scratch discovery: the session as the plan has captured it so far.
    pub fn scratch(&self) -> &Discovery {
        &self.scratch
    }

    /// Corrections apply to the need the conversation is on. A correction heard before any
    /// need exists waits for the need its turn creates ("It's for the sound operators.
    /// Actually no, I mean the stage managers"): the plan takes it again when it finishes.
    fn take_corrections(&mut self) {
        let Some(need_id) = self.scratch.current_need() else {
            return;
        };
        for sentence_idx in 0..self.sentences.len() {
            if self.sentences[sentence_idx].need.is_some() {
                continue;
            }
            let Act::Correction { wrong, right } = self.sentences[sentence_idx].act.clone() else {
                continue;
            };
            let heard = &mut self.sentences[sentence_idx];
            heard.need = Some(need_id);
            let correction = CorrectionUpdate {
                need: need_id.0,
                wrong: wrong.clone(),
                right: right.clone(),
                utterance: heard.utterance_id.0,
                quote: heard.text.clone(),
                only: None,
            };
            self.push(TurnUpdate {
                corrections: vec![correction],
                ..TurnUpdate::default()
            });
            self.notes.push(DialogueNote::Corrected {
                need_id,
                wrong,
                right,
            });
            self.mark_heard(need_id);
        }
    }

    // ------------------------------------------------------------------ the answer

    /// The model call that reads the turn as the answer to the pending question, when
    /// there is one and the turn says something.
    pub fn answer_request(&self) -> Result<Option<ModelRequest>, NeedsError> {
        let Some((need_id, slot)) = self.pending else {
            return Ok(None);
        };
        if self.answer_candidates().is_empty() {
            return Ok(None);
        }
        let prompt = answer_prompt(
            &self.scratch,
            need_id,
            slot,
            &self.pending_question,
            &self.new_utterance_ids,
        )?;
        Ok(Some(ModelRequest {
            purpose: format!("answer for {need_id} {}", slot.field_name()),
            prompt,
            schema: answer_schema(),
        }))
    }

    /// The units that may answer the pending question: content before any new topic and
    /// outside digressions; none without a pending question.
    fn answer_candidates(&self) -> Vec<usize> {
        if self.pending.is_none() {
            return Vec::new();
        }
        self.units
            .iter()
            .enumerate()
            .filter(|(_, unit)| !self.sentences[unit.sentence_idx].after_new_topic)
            .map(|(unit_idx, _)| unit_idx)
            .collect()
    }

    /// Takes the model's answer to the pending question as a vote for the pending slot,
    /// when its words are the person's. The slot itself is filled when the plan finishes,
    /// from all the evidence: a unit with no sign of another slot answers the question
    /// asked even when the model declined (`model_answer` is `None`).
    pub fn take_answer(&mut self, model_answer: Option<&str>) {
        let Some((_, slot)) = self.pending else {
            return;
        };
        let Some(answer) = model_answer.map(squash).filter(|answer| !answer.is_empty()) else {
            return;
        };
        let candidates = self.answer_candidates();
        match self.check_value(&answer, &candidates) {
            Ok(unit_idx) => {
                let spoken = self.spoken_value(unit_idx, &answer);
                self.votes.push(Vote {
                    unit_idx,
                    slot,
                    value: value_for(&spoken, slot),
                    need: None,
                });
            }
            Err(reason) => self.notes.push(DialogueNote::Dropped {
                what: "answer".into(),
                text: answer,
                reason,
            }),
        }
    }

    // ------------------------------------------------------------------ new needs

    /// The model call that lists the needs heard, when some sentence that was no answer
    /// describes a problem, a wish or a person.
    pub fn need_list_request(&self) -> Option<ModelRequest> {
        self.need_sources().next()?;
        Some(ModelRequest {
            purpose: "need list".into(),
            prompt: need_list_prompt(&self.scratch, &self.new_utterance_ids),
            schema: super::update::need_list_schema(&self.scratch),
        })
    }

    /// The sentences a need may come from: sentences that describe a need (by the cue
    /// rules, or by a trusted model's clause labels), when the turn answers no question
    /// (the first turn, or after the interviewer invited another problem) or after an
    /// "another problem" cue. A turn that follows a question is read as its answer, so it
    /// creates no need on its own.
    fn need_sources(&self) -> impl Iterator<Item = usize> + '_ {
        let invited = self.pending.is_none();
        self.sentences
            .iter()
            .enumerate()
            .filter(move |(_, heard)| {
                heard.is_content()
                    && (invited || heard.after_new_topic)
                    && !heard.digression
                    && !is_new_topic_cue_only(&heard.text)
            })
            .map(|(sentence_idx, _)| sentence_idx)
            .filter(|sentence_idx| {
                cues::describes_need(&self.sentences[*sentence_idx].text)
                    || self.labelled_need_source(*sentence_idx)
            })
    }

    /// Takes the model's need list: each need must quote a sentence of this turn that
    /// describes a need; its statement is kept when it is the person's words and is
    /// rewritten from the sentence otherwise. Without an "another problem" cue a listed
    /// need joins the need the conversation is on unless it shares almost no words with
    /// every need known.
    pub fn take_need_list(&mut self, list: NeedList) {
        for heard_need in list.needs {
            let sources: Vec<usize> = self.need_sources().collect();
            let Some(sentence_idx) =
                self.sentence_quoted(heard_need.utterance, &heard_need.quote, &sources)
            else {
                self.notes.push(DialogueNote::Dropped {
                    what: "need".into(),
                    text: heard_need.statement,
                    reason: "its quote is no sentence of this turn that describes a need".into(),
                });
                continue;
            };
            let sentence_idx = self
                .opening_problem_before(sentence_idx)
                .unwrap_or(sentence_idx);
            if self.sentences[sentence_idx].need.is_some() {
                continue;
            }
            let is_new = self.is_new_topic(sentence_idx, &heard_need.statement);
            match (is_new, self.scratch.current_need()) {
                (false, Some(current)) => {
                    self.sentences[sentence_idx].need = Some(current);
                    self.mark_heard(current);
                }
                _ => self.create_need(sentence_idx, Some(&heard_need.statement)),
            }
        }
    }

    /// The turn's first sentence before `sentence_idx` that names a problem or a wish and
    /// has no need yet, when this turn created no need and no "another problem" cue
    /// stands before `sentence_idx`: the model may quote a later sentence of the same
    /// problem ("…there's a squabble over the two hoses. It gets properly heated
    /// sometimes."), and the need is better told by the sentence that opened it.
    fn opening_problem_before(&self, sentence_idx: usize) -> Option<usize> {
        if !self.created.is_empty() || self.sentences[sentence_idx].after_new_topic {
            return None;
        }
        self.need_sources().find(|idx| {
            *idx < sentence_idx
                && self.sentences[*idx].need.is_none()
                && self.names_problem_or_wish(*idx)
        })
    }

    /// Whether a sentence names a problem or a wish, by the cue rules or a trusted
    /// model's clause labels.
    fn names_problem_or_wish(&self, sentence_idx: usize) -> bool {
        let text = &self.sentences[sentence_idx].text;
        cues::is_problem(text) || cues::is_wish(text) || self.labelled_problem_or_wish(sentence_idx)
    }

    /// Whether a sentence starts a need of its own: the first need, after an "another
    /// problem" cue, or (for a need the model listed) one that shares almost nothing
    /// with the needs known and does not open by pointing back to something of theirs.
    fn is_new_topic(&self, sentence_idx: usize, statement: &str) -> bool {
        let heard = &self.sentences[sentence_idx];
        if self.scratch.active_needs().next().is_none() || heard.after_new_topic {
            return true;
        }
        // Without a cue, only a problem of its own starts a need: a wish, a tool or a
        // number is more about the need the conversation is on.
        let names_other_slot = cues::explicit_slot(&heard.text)
            .is_some_and(|slot| slot != Slot::Pain && slot != Slot::Actor);
        if !cues::is_problem(&heard.text) || names_other_slot {
            return false;
        }
        // "The sheet has little drawings on it, but nobody looks at it" speaks of the
        // printed sheet already heard as how they cope: more about that need.
        let points_back = definite_subject(&heard.text).is_some_and(|subject| {
            self.scratch
                .active_needs()
                .any(|need| shares_stem(&subject, &need_text(need)))
        });
        if points_back {
            return false;
        }
        let near = self.scratch.active_needs().any(|need| {
            let known = need_text(need);
            statement_similarity(&known, &heard.text) > NEW_NEED_MAX_OVERLAP
                || statement_similarity(&known, statement) > NEW_NEED_MAX_OVERLAP
        });
        !near
    }

    /// The turn's sentence that `quote` (said in `utterance`) stands for, among `among`.
    fn sentence_quoted(&self, utterance: i64, quote: &str, among: &[usize]) -> Option<usize> {
        let quote_words = content_words(quote);
        if quote_words.is_empty() {
            return None;
        }
        let score = |sentence_idx: &usize| {
            let heard = &self.sentences[*sentence_idx];
            let repaired = content_words(&repair_quote(&heard.text, quote));
            let sentence_words = content_words(&heard.text);
            let shared = quote_words
                .iter()
                .filter(|word| sentence_words.contains(*word) && repaired.contains(*word))
                .count();
            let same_utterance = heard.utterance_id.0 == utterance;
            (shared as f64 / quote_words.len() as f64, same_utterance)
        };
        among
            .iter()
            .map(|sentence_idx| (*sentence_idx, score(sentence_idx)))
            .filter(|(_, (overlap, _))| *overlap >= MIN_QUOTE_OVERLAP)
            .max_by(|left, right| {
                left.1
                    .0
                    .total_cmp(&right.1.0)
                    .then(left.1.1.cmp(&right.1.1))
                    .then(right.0.cmp(&left.0))
            })
            .map(|(sentence_idx, _)| sentence_idx)
    }

    /// Creates a need from a sentence of the person's: the model's statement when it is
    /// their words and whole, else the sentence itself; the people it names (here or in an
    /// earlier sentence of the turn) become its actor.
    fn create_need(&mut self, sentence_idx: usize, model_statement: Option<&str>) {
        let actor = self.actor_near(sentence_idx);
        // A statement must be the words of the sentence it rests on (and of the people
        // named), not merely words said somewhere in the session.
        let said: std::collections::BTreeSet<String> = content_words(&format!(
            "{} {}",
            self.sentences[sentence_idx].text,
            actor.as_deref().unwrap_or_default()
        ));
        let own = own_statement(&self.sentences[sentence_idx].text, actor.as_deref());
        let (statement, rewritten) = match model_statement.map(squash) {
            Some(statement) => match statement_problem(&statement, &said, &self.scratch) {
                None => (statement, false),
                Some(reason) => {
                    self.notes.push(DialogueNote::Dropped {
                        what: "statement".into(),
                        text: statement,
                        reason,
                    });
                    (own, true)
                }
            },
            None => (own, false),
        };
        let heard = &self.sentences[sentence_idx];
        let evidence = evidence_of(heard, None);
        let need_id = self.scratch.next_need_id();
        let mut need = NeedUpdate {
            statement: Some(statement.clone()),
            evidence: vec![evidence],
            ..NeedUpdate::default()
        };
        if let Some(actor) = &actor {
            need.actor = Some(actor.clone());
            need.evidence.push(EvidenceRef {
                slot: Some(Slot::Actor),
                ..self.actor_evidence(sentence_idx, actor)
            });
        }
        let before = self.scratch.needs.len();
        self.push(TurnUpdate {
            needs: vec![need],
            ..TurnUpdate::default()
        });
        // The merge may have matched an existing need by statement instead; either way the
        // need it stored is the one mentioned last.
        let stored_id = self.scratch.mentioned.last().copied().unwrap_or(need_id);
        if self.scratch.needs.len() > before {
            self.created.push(stored_id);
            self.sentences[sentence_idx].created_need = true;
        }
        self.sentences[sentence_idx].need = Some(stored_id);
        self.notes.push(DialogueNote::NeedHeard {
            statement,
            rewritten,
            by_model: model_statement.is_some(),
        });
        self.mark_heard(stored_id);
    }

    /// The people a sentence names, or an earlier sentence of the turn before it.
    fn actor_near(&self, sentence_idx: usize) -> Option<String> {
        let named = (0..=sentence_idx)
            .rev()
            .filter(|idx| self.sentences[*idx].is_content())
            .find_map(|idx| cues::actor_of(&self.sentences[idx].text));
        named.or_else(|| self.known_actor_mentioned(sentence_idx))
    }

    /// The actor of an earlier need whose people this sentence or the rest of its turn
    /// mentions anywhere ("so the producers chase them" → "independent podcast
    /// producers"): a second need of the same people.
    fn known_actor_mentioned(&self, sentence_idx: usize) -> Option<String> {
        let turn_words: Vec<String> = self.sentences[sentence_idx..]
            .iter()
            .filter(|heard| heard.is_content())
            .flat_map(|heard| lower_words(&heard.text))
            .map(|word| super::text::normalise_word(&word))
            .collect();
        self.scratch.active_needs().find_map(|need| {
            let actor = Slot::Actor.value(need)?;
            let head = cues::head_noun(actor)?;
            turn_words.contains(&head).then(|| actor.to_string())
        })
    }

    /// The evidence for an actor found near a sentence: the sentence that names it.
    fn actor_evidence(&self, sentence_idx: usize, actor: &str) -> EvidenceRef {
        let naming = (0..=sentence_idx)
            .rev()
            .find(|idx| cues::actor_of(&self.sentences[*idx].text).as_deref() == Some(actor))
            .unwrap_or(sentence_idx);
        evidence_of(&self.sentences[naming], None)
    }

    /// Needs the person described without the model listing them: the first need of a
    /// session, and a need after an "another problem" cue.
    fn create_unlisted_needs(&mut self) {
        let sources: Vec<usize> = self.need_sources().collect();
        for &sentence_idx in &sources {
            let heard = &self.sentences[sentence_idx];
            if heard.need.is_some() {
                continue;
            }
            let opens = if heard.after_new_topic {
                !self.new_topic_has_need(sentence_idx)
            } else {
                !self.created_this_turn_before(sentence_idx)
            };
            // A sentence that only names people ("It is for small clinics") starts a need
            // when nothing better in the turn does.
            let better_later = !self.names_problem_or_wish(sentence_idx)
                && sources
                    .iter()
                    .any(|later| *later > sentence_idx && self.names_problem_or_wish(*later));
            let text = self.sentences[sentence_idx].text.clone();
            if opens && !better_later && self.is_new_topic(sentence_idx, &text) {
                self.create_need(sentence_idx, None);
            }
        }
    }

    /// Whether a need was already created this turn from a sentence before this one (one
    /// turn without an "another problem" cue describes one need).
    fn created_this_turn_before(&self, sentence_idx: usize) -> bool {
        (0..sentence_idx).any(|idx| {
            self.sentences[idx]
                .need
                .is_some_and(|id| self.created.contains(&id))
        })
    }

    /// Whether a need was already created this turn from a sentence at or after the last
    /// "another problem" cue before this sentence.
    fn new_topic_has_need(&self, sentence_idx: usize) -> bool {
        let cue_idx = (0..=sentence_idx).rev().find(|idx| {
            let words = lower_words(&self.sentences[*idx].text);
            contains_any(&words, NEW_NEED_PHRASES)
        });
        cue_idx.is_some_and(|cue_idx| {
            (cue_idx..sentence_idx).any(|idx| {
                self.sentences[idx]
                    .need
                    .is_some_and(|id| self.created.contains(&id))
            })
        })
    }

    /// Takes a whole-turn update from the model: its needs go through the same checks as
    /// a need list and slot values; its modules, options and decisions are kept as given.
    pub fn take_whole(&mut self, whole: TurnUpdate) {
        for need in &whole.needs {
            let target = match need.need.map(NeedId) {
                Some(id) if self.scratch.need(id).is_some() => Some(id),
                _ => {
                    let before = self.heard.clone();
                    let quote = need.evidence.first();
                    let list = NeedList {
                        needs: vec![super::update::HeardNeed {
                            statement: need.statement.clone().unwrap_or_default(),
                            utterance: quote.map_or(0, |quote| quote.utterance),
                            quote: quote.map(|quote| quote.quote.clone()).unwrap_or_default(),
                        }],
                    };
                    self.take_need_list(list);
                    self.heard
                        .iter()
                        .find(|id| !before.contains(id))
                        .copied()
                        .or_else(|| self.heard.last().copied())
                }
            };
            if let Some(need_id) = target {
                self.take_slots(
                    need_id,
                    NeedSlots {
                        actor: need.actor.clone(),
                        pain: need.pain.clone(),
                        workaround: need.workaround.clone(),
                        frequency: need.frequency.clone(),
                        desired_outcome: need.desired_outcome.clone(),
                        success_metric: need.success_metric.clone(),
                        utterance: None,
                        quote: None,
                    },
                );
            }
        }
        self.push(TurnUpdate {
            modules: whole.modules,
            options: whole.options,
            decisions: whole.decisions,
            reply: whole.reply,
            ..TurnUpdate::default()
        });
    }

    /// Ends the plan: needs the person described that no model listed, the slots they
    /// named explicitly, and statements made whole once the pain is known.
    pub fn finish(mut self) -> PlanOutcome {
        self.create_unlisted_needs();
        self.take_corrections();
        if self.has_content() {
            self.assign_slots();
        } else if let Some((need_id, slot)) = self.pending {
            self.notes.push(self.unanswered_note(need_id, slot));
        }
        self.refine_actors();
        self.sharpen_statements();
        PlanOutcome {
            update: self.update,
            notes: self.notes,
        }
    }

    /// A need's actor named more precisely this turn ("Primary school teachers spend…"
    /// after "teachers") becomes the longer phrase, in the statement too.
    fn refine_actors(&mut self) {
        for need_id in self.heard.clone() {
            let Some(actor) = self
                .scratch
                .need(need_id)
                .and_then(|need| Slot::Actor.value(need))
                .map(str::to_string)
            else {
                continue;
            };
            let n_words = lower_words(&actor).len();
            let refined = self
                .sentences
                .iter()
                .filter(|heard| heard.is_content() && heard.need.is_none_or(|id| id == need_id))
                .find_map(|heard| {
                    let phrase = cues::actor_phrase(&heard.text)?;
                    (lower_words(&phrase).len() > n_words
                        && cues::head_noun(&phrase) == cues::head_noun(&actor)
                        && phrase.to_lowercase() != actor.to_lowercase())
                    .then(|| (phrase, heard.utterance_id, heard.text.clone()))
                });
            let Some((phrase, utterance_id, quote)) = refined else {
                continue;
            };
            self.push(TurnUpdate {
                corrections: vec![CorrectionUpdate {
                    need: need_id.0,
                    wrong: actor.clone(),
                    right: phrase.clone(),
                    utterance: utterance_id.0,
                    quote,
                    only: None,
                }],
                ..TurnUpdate::default()
            });
            self.notes.push(DialogueNote::ActorRefined {
                need_id,
                from: actor,
                to: phrase,
            });
        }
    }

    /// A need heard only as the people it is for ("Something for small dental clinics")
    /// gets a statement naming its pain once the pain is known: "Small dental clinics:
    /// patients forget their appointments". A statement that names a problem or a wish,
    /// by the cue rules or a trusted model's label, stays.
    fn sharpen_statements(&mut self) {
        for need_id in self.heard.clone() {
            let Some(need) = self.scratch.need(need_id) else {
                continue;
            };
            let (Some(pain), statement) = (Slot::Pain.value(need), need.statement.as_str()) else {
                continue;
            };
            // A statement from a sentence a trusted model labels the problem or a wish
            // says the need already.
            let told_by_label = self.sentences.iter().enumerate().any(|(idx, heard)| {
                heard.created_need
                    && heard.need == Some(need_id)
                    && self.labelled_problem_or_wish(idx)
            });
            if cues::is_problem(statement) || cues::is_wish(statement) || told_by_label {
                continue;
            }
            let sharpened = match Slot::Actor.value(need) {
                Some(actor) => format!(
                    "{}: {}",
                    super::text::capitalise_first(actor),
                    crate::needs::text::lowercase_first_unless_name(pain)
                ),
                None => super::text::capitalise_first(pain),
            };
            self.push(TurnUpdate {
                needs: vec![NeedUpdate {
                    need: Some(need_id.0),
                    statement: Some(sharpened),
                    ..NeedUpdate::default()
                }],
                ..TurnUpdate::default()
            });
        }
    }

    // ------------------------------------------------------------------ helpers

    /// Checks a model's value against the turn: it must be the person's words in one of
    /// the `candidates` units and carry no prompt text. Returns the unit it is from.
    fn check_value(&self, value: &str, candidates: &[usize]) -> Result<usize, String> {
        if let Some(reason) = artifact(value, &self.scratch) {
            return Err(reason);
        }
        let said: std::collections::BTreeSet<String> = candidates
            .iter()
            .flat_map(|idx| content_words(&self.units[*idx].text))
            .collect();
        if grounded_share(value, &said) < MIN_GROUNDED_SHARE {
            return Err("the person did not say these words this turn".into());
        }
        let value_words = content_words(value);
        candidates
            .iter()
            .map(|idx| {
                let unit_words = content_words(&self.units[*idx].text);
                let shared = value_words
                    .iter()
                    .filter(|word| unit_words.contains(*word))
                    .count();
                (*idx, shared)
            })
            .filter(|(_, shared)| *shared as f64 >= MIN_QUOTE_OVERLAP * value_words.len() as f64)
            .max_by(|left, right| left.1.cmp(&right.1).then(right.0.cmp(&left.0)))
            .map(|(idx, _)| idx)
            .ok_or_else(|| "no single clause of this turn holds these words".into())
    }

    /// A checked model value in the person's words: the span of unit `unit_idx` it
    /// quotes, so that words the model added or changed are not stored.
    fn spoken_value(&self, unit_idx: usize, value: &str) -> String {
        spoken_span(&self.units[unit_idx].text, value).unwrap_or_else(|| value.to_string())
    }

    fn push_slot(&mut self, need_id: NeedId, slot: Slot, value: &str, evidence: EvidenceRef) {
        let mut need = NeedUpdate {
            need: Some(need_id.0),
            evidence: vec![evidence],
            ..NeedUpdate::default()
        };
        let field = match slot {
            Slot::Actor => &mut need.actor,
            Slot::Pain => &mut need.pain,
            Slot::Workaround => &mut need.workaround,
            Slot::Frequency => &mut need.frequency,
            Slot::DesiredOutcome => &mut need.desired_outcome,
            Slot::SuccessMetric => &mut need.success_metric,
        };
        *field = Some(value.to_string());
        self.push(TurnUpdate {
            needs: vec![need],
            ..TurnUpdate::default()
        });
    }

    /// Adds a partial update to the turn's and applies it to the scratch discovery.
    fn push(&mut self, partial: TurnUpdate) {
        // The scratch holds the turn's utterances, so the merge cannot refuse for want of
        // them; a refusal would only mean an empty update.
        let _ = self.scratch.apply(&partial, self.at);
        self.update.needs.extend(partial.needs);
        self.update.modules.extend(partial.modules);
        self.update.options.extend(partial.options);
        self.update.decisions.extend(partial.decisions);
        self.update.corrections.extend(partial.corrections);
        if !partial.reply.is_empty() {
            self.update.reply = partial.reply;
        }
    }

    fn mark_heard(&mut self, need_id: NeedId) {
        if !self.heard.contains(&need_id) {
            self.heard.push(need_id);
        }
    }
}

/// The whole-turn request, for `Extraction::Whole`.
pub fn whole_request(plan: &TurnPlan) -> ModelRequest {
    let question = plan.scratch.next_question();
    ModelRequest {
        purpose: "turn update".into(),
        prompt: turn_prompt(&plan.scratch, &plan.new_utterance_ids, &question),
        schema: super::update::turn_update_schema_for(&plan.scratch),
    }
}
