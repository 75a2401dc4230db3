//! The entities of product discovery: the idea, the needs it answers with the evidence
//! behind each, the modules it breaks into, the options weighed and the decisions made.
//! Ids of utterances and sketches come from the store; need, module and option ids are
//! numbers within a session (N1, N2, …) so that a prompt and a brief can name them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::coverage::Slot;

/// A stored utterance's id (the store's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UtteranceId(pub i64);

/// A stored sketch's id (the store's row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SketchId(pub i64);

/// A need's number within its session, 1-based; shown as `N3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NeedId(pub u32);

impl std::fmt::Display for NeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "N{}", self.0)
    }
}

/// What the person is building, in their words.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Idea {
    /// A few words naming it.
    pub title: String,
    /// One or two sentences.
    pub summary: String,
}

/// One thing the person said, as transcribed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// The store's id.
    pub id: UtteranceId,
    /// Start within the session's audio (ms).
    pub start_ms: u64,
    /// End within the session's audio (ms).
    pub end_ms: u64,
    /// The transcript.
    pub text: String,
}

/// A sketch held up to the camera (or given as a file) and what the vision model saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    /// The store's id.
    pub id: SketchId,
    /// Where the PNG is.
    pub image_path: String,
    /// The vision model's summary, if a model was present.
    pub description: Option<String>,
    /// Labels read off the sketch.
    pub labels: Vec<String>,
}

/// What a need rests on: words the person said, or a sketch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A quote from an utterance, with its time span.
    Utterance {
        /// The utterance quoted.
        utterance_id: UtteranceId,
        /// Start of the utterance (ms into the session).
        start_ms: u64,
        /// End of the utterance (ms into the session).
        end_ms: u64,
        /// The words that support the need.
        quote: String,
        /// The interview slot these words filled, when they filled one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slot: Option<Slot>,
    },
    /// A sketch, and what on it supports the need.
    Sketch {
        /// The sketch.
        sketch_id: SketchId,
        /// The part of the sketch meant ("the deadline panel").
        detail: String,
    },
}

/// How much the pain hurts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// An annoyance.
    Low,
    /// Costs real time or money.
    Medium,
    /// Blocks the person or loses them customers.
    High,
}

/// Where a need stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeedStatus {
    /// Heard, not yet checked with real users.
    #[default]
    Captured,
    /// Confirmed with real users.
    Validated,
    /// Set aside.
    Dropped,
}

/// A captured need: who has which problem, how they cope today, and what would be better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Need {
    /// Its number in the session.
    pub id: NeedId,
    /// The need in one sentence.
    pub statement: String,
    /// Who has the problem.
    pub actor: Option<String>,
    /// When or where it arises.
    pub context: Option<String>,
    /// What hurts.
    pub pain: Option<String>,
    /// How they cope today.
    pub workaround: Option<String>,
    /// How often it happens.
    pub frequency: Option<String>,
    /// How much it hurts.
    pub severity: Option<Severity>,
    /// What they want instead.
    pub desired_outcome: Option<String>,
    /// How success would be measured.
    pub success_metric: Option<String>,
    /// Limits any solution must respect.
    pub constraints: Vec<String>,
    /// Where it stands.
    pub status: NeedStatus,
    /// What it rests on, oldest first; never shrinks.
    pub evidence: Vec<Evidence>,
}

/// A part of the product the idea breaks into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    /// Short name ("Reminder engine").
    pub name: String,
    /// What it does.
    pub purpose: String,
    /// The needs it serves.
    pub need_ids: Vec<NeedId>,
}

/// One way to do something, weighed. (Named so as not to shadow `std::option::Option`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignOption {
    /// The option in a sentence.
    pub summary: String,
    /// What speaks for it.
    pub pros: Vec<String>,
    /// What speaks against it.
    pub cons: Vec<String>,
    /// Rough cost (time, money), in words.
    pub cost: Option<String>,
}

/// A choice that was made, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The option chosen, in a sentence.
    pub option: String,
    /// Why.
    pub rationale: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// Something still to find out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenQuestion {
    /// The question.
    pub question: String,
    /// The need it is about, if any.
    pub need_id: Option<NeedId>,
}
