//! The product-discovery domain: ideas, needs and their evidence, coverage, the
//! interviewer policy and the Markdown brief. Pure logic: no IO, no model calls.

pub mod model;

pub use model::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, OpenQuestion,
    Severity, Sketch, SketchId, Utterance, UtteranceId,
};
