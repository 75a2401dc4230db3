//! `Discovery`: one session's domain state. It holds the idea, the utterances and sketches
//! seen so far, the needs with their evidence, the modules, options, decisions and open
//! questions, and the questions the interviewer has asked. It is plain data (serde) so the
//! store can save and restore it; the merge and the interviewer work on it.

use serde::{Deserialize, Serialize};

use super::NeedsError;
use super::coverage::{SessionCoverage, Slot};
use super::model::{
    Decision, DesignOption, Evidence, Idea, Module, Need, NeedId, NeedStatus, OpenQuestion, Sketch,
    SketchId, Utterance, UtteranceId,
};
use super::text::squash;

/// A question the interviewer put to the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedQuestion {
    /// The words asked.
    pub question: String,
    /// The need it was about, if any.
    pub need_id: Option<NeedId>,
    /// The slot it asked for, if any.
    pub slot: Option<Slot>,
}

/// One session's domain state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// What the person is building.
    pub idea: Idea,
    /// The utterances seen so far, in the order they were added.
    pub utterances: Vec<Utterance>,
    /// The sketches seen so far, in the order they were added.
    pub sketches: Vec<Sketch>,
    /// The captured needs, numbered from N1 in creation order.
    pub needs: Vec<Need>,
    /// The parts the product breaks into.
    pub modules: Vec<Module>,
    /// The options weighed.
    pub options: Vec<DesignOption>,
    /// The decisions made, oldest first.
    pub decisions: Vec<Decision>,
    /// Things still to find out, noted by the person or the integrator.
    pub open_questions: Vec<OpenQuestion>,
    /// The interviewer's questions, oldest first.
    pub asked: Vec<AskedQuestion>,
    /// Needs in the order they were last mentioned, most recent last.
    pub mentioned: Vec<NeedId>,
}

impl Discovery {
    /// An empty discovery for an idea.
    pub fn new(idea: Idea) -> Self {
        Self {
            idea,
            ..Self::default()
        }
    }

    /// Adds a transcribed utterance. Refuses a repeated id or an end before the start.
    pub fn add_utterance(&mut self, utterance: Utterance) -> Result<(), NeedsError> {
        if utterance.end_ms < utterance.start_ms {
            return Err(NeedsError::UtteranceTimes {
                id: utterance.id.0,
                start_ms: utterance.start_ms,
                end_ms: utterance.end_ms,
            });
        }
        if self.utterance(utterance.id).is_some() {
            return Err(NeedsError::DuplicateUtterance(utterance.id.0));
        }
        self.utterances.push(utterance);
        Ok(())
    }

    /// Adds a sketch. Refuses a repeated id.
    pub fn add_sketch(&mut self, sketch: Sketch) -> Result<(), NeedsError> {
        if self.sketch(sketch.id).is_some() {
            return Err(NeedsError::DuplicateSketch(sketch.id.0));
        }
        self.sketches.push(sketch);
        Ok(())
    }

    /// Notes something still to find out; an identical question is kept once.
    pub fn add_open_question(&mut self, question: OpenQuestion) {
        let question = OpenQuestion {
            question: squash(&question.question),
            need_id: question.need_id,
        };
        if !question.question.is_empty() && !self.open_questions.contains(&question) {
            self.open_questions.push(question);
        }
    }

    /// Rests a need on a sketch ("the deadline panel"); the same evidence is kept once.
    pub fn add_sketch_evidence(
        &mut self,
        need_id: NeedId,
        sketch_id: SketchId,
        detail: &str,
    ) -> Result<(), NeedsError> {
        if self.sketch(sketch_id).is_none() {
            return Err(NeedsError::UnknownSketch(sketch_id.0));
        }
        let need = self
            .need_mut(need_id)
            .ok_or(NeedsError::UnknownNeed(need_id.0))?;
        let evidence = Evidence::Sketch {
            sketch_id,
            detail: squash(detail),
        };
        if !need.evidence.contains(&evidence) {
            need.evidence.push(evidence);
        }
        self.mention(need_id);
        Ok(())
    }

    /// Sets a need's status (a need is validated with real users, or dropped).
    pub fn set_status(&mut self, need_id: NeedId, status: NeedStatus) -> Result<(), NeedsError> {
        let need = self
            .need_mut(need_id)
            .ok_or(NeedsError::UnknownNeed(need_id.0))?;
        need.status = status;
        Ok(())
    }

    /// The utterance with this id.
    pub fn utterance(&self, id: UtteranceId) -> Option<&Utterance> {
        self.utterances.iter().find(|utterance| utterance.id == id)
    }

    /// The sketch with this id.
    pub fn sketch(&self, id: SketchId) -> Option<&Sketch> {
        self.sketches.iter().find(|sketch| sketch.id == id)
    }

    /// The need with this number.
    pub fn need(&self, id: NeedId) -> Option<&Need> {
        self.needs.iter().find(|need| need.id == id)
    }

    /// The need with this number, to change.
    pub(crate) fn need_mut(&mut self, id: NeedId) -> Option<&mut Need> {
        self.needs.iter_mut().find(|need| need.id == id)
    }

    /// The number the next new need gets.
    pub fn next_need_id(&self) -> NeedId {
        NeedId(self.needs.iter().map(|need| need.id.0).max().unwrap_or(0) + 1)
    }

    /// Coverage over the needs still in play.
    pub fn coverage(&self) -> SessionCoverage {
        SessionCoverage::of(&self.needs)
    }

    /// Marks a need as the one mentioned most recently.
    pub(crate) fn mention(&mut self, id: NeedId) {
        self.mentioned.retain(|mentioned| *mentioned != id);
        self.mentioned.push(id);
    }

    /// How recently a need was mentioned: higher is more recent. Needs never mentioned
    /// (for example restored from an older store) rank below all mentioned ones, by number.
    pub(crate) fn recency(&self, id: NeedId) -> (usize, u32) {
        let position = self
            .mentioned
            .iter()
            .position(|mentioned| *mentioned == id)
            .map_or(0, |position| position + 1);
        (position, id.0)
    }

    /// The utterance added last, which a need without valid evidence falls back on.
    pub fn latest_utterance(&self) -> Option<&Utterance> {
        self.utterances.last()
    }
}
