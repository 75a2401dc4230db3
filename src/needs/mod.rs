//! The product-discovery domain: ideas, needs and their evidence, coverage, the
//! interviewer policy, the turn update a language model fills and its merge, the prompts
//! that ask for it, and the Markdown brief. Pure logic: no IO, no clock, no model calls.
//! Times come in as arguments so that every result is reproducible in a test.

pub mod brief;
pub mod coverage;
pub mod cues;
pub mod dialogue;
pub mod discovery;
pub mod interviewer;
pub mod merge;
pub mod model;
pub mod prompt;
mod text;
pub mod update;

pub use brief::{BriefInfo, render_brief};
pub use coverage::{Coverage, SessionCoverage, Slot};
pub use dialogue::{AnswerWords, ClauseLabel, DialogueNote, ModelRequest, PlanOutcome, TurnPlan};
pub use discovery::{AskedQuestion, Discovery};
pub use interviewer::{NextQuestion, reply_or_question};
pub use merge::{MergeNote, MergeReport};
pub use model::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, OpenQuestion,
    Severity, Sketch, SketchId, Utterance, UtteranceId,
};
pub use prompt::{
    Prompt, SKETCH_UNREAD_LINE, acknowledgement_is_grounded, acknowledgement_prompt, answer_prompt,
    has_content, need_list_prompt, need_slots_prompt, turn_prompt,
};
pub use update::{
    CorrectionUpdate, DecisionUpdate, EvidenceRef, HeardNeed, ModuleUpdate, NeedList, NeedSlots,
    NeedUpdate, OptionUpdate, TurnUpdate, need_list_schema, need_slots_schema, turn_update_schema,
    turn_update_schema_for,
};

/// Everything that can go wrong in the discovery domain. Each message says what to do next.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NeedsError {
    /// An utterance id was added twice.
    #[error(
        "utterance u{0} was already added; add each utterance once (the store's row id is unique)"
    )]
    DuplicateUtterance(i64),
    /// A sketch id was added twice.
    #[error("sketch s{0} was already added; add each sketch once (the store's row id is unique)")]
    DuplicateSketch(i64),
    /// An utterance ends before it starts.
    #[error(
        "utterance u{id} ends at {end_ms} ms, before it starts at {start_ms} ms; pass times in ms with end >= start"
    )]
    UtteranceTimes {
        /// The utterance.
        id: i64,
        /// Its start (ms).
        start_ms: u64,
        /// Its end (ms).
        end_ms: u64,
    },
    /// A need number that the discovery does not hold.
    #[error(
        "need N{0} does not exist; use a number listed in the current state, or create the need first"
    )]
    UnknownNeed(u32),
    /// A sketch id that the discovery does not hold.
    #[error("sketch s{0} is not in this discovery; add it with Discovery::add_sketch first")]
    UnknownSketch(i64),
    /// A turn update names needs but there is no utterance to rest their evidence on.
    #[error(
        "the update names needs but the discovery holds no utterance to rest their evidence on; add the turn's utterances with Discovery::add_utterance before Discovery::apply"
    )]
    NoUtterances,
}
