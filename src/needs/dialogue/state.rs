//! The dialogue state kept in a discovery: the question pending an answer, the need the
//! conversation is on, and the question to ask after a turn.

use super::*;

impl Discovery {
    /// The question asked last, when it asked for a slot of an active need that is still
    /// empty: the next thing the person says is first read as its answer.
    pub fn pending_question(&self) -> Option<(NeedId, Slot, &str)> {
        let asked = self.asked.last()?;
        let (need_id, slot) = (asked.need_id?, asked.slot?);
        let need = self.need(need_id)?;
        (need.status != NeedStatus::Dropped && slot.value(need).is_none()).then_some((
            need_id,
            slot,
            asked.question.as_str(),
        ))
    }

    /// The need the conversation is on: the pending question's, else the active need
    /// mentioned last.
    pub fn current_need(&self) -> Option<NeedId> {
        if let Some((need_id, _, _)) = self.pending_question() {
            return Some(need_id);
        }
        self.mentioned
            .iter()
            .rev()
            .copied()
            .find(|id| {
                self.need(*id)
                    .is_some_and(|need| need.status != NeedStatus::Dropped)
            })
            .or_else(|| {
                self.needs
                    .iter()
                    .rev()
                    .find(|need| need.status != NeedStatus::Dropped)
                    .map(|need| need.id)
            })
    }

    /// The question after a turn. After a turn of only filler ("Hmm, okay.") the pending
    /// question is asked again in other words, as one would to a person who is thinking;
    /// otherwise it is the interviewer's next question.
    pub fn question_after(&self, notes: &[DialogueNote]) -> NextQuestion {
        if let Some((need_id, slot, _)) = self.pending_question() {
            // "Hmm, okay": the person is thinking. An answer to another slot of the same
            // need: they are on the topic and the question still stands. Either way it is
            // asked again, in other words; after a refusal or a digression the interviewer
            // moves on.
            let thinking = notes.contains(&DialogueNote::FillerOnly);
            let on_topic = notes.iter().any(|note| {
                matches!(note, DialogueNote::Volunteered { need_id: other, .. } if *other == need_id)
            });
            let declined = notes
                .iter()
                .any(|note| matches!(note, DialogueNote::Declined { .. }));
            let times_asked = self.times_asked(need_id, slot);
            if (thinking || on_topic) && !declined && times_asked < MAX_ASKS_PER_SLOT {
                return NextQuestion::Slot {
                    need_id,
                    slot,
                    question: slot_question(slot, times_asked).to_string(),
                    closes: None,
                };
            }
        }
        self.next_question()
    }

    pub(super) fn active_needs(&self) -> impl Iterator<Item = &crate::needs::model::Need> {
        self.needs
            .iter()
            .filter(|need| need.status != NeedStatus::Dropped)
    }
}
