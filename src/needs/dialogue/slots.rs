//! The plan's slots: the model calls that fill a need's empty slots, and the scoring
//! that decides which of the turn's clauses fills which slot. Each clause is scored for
//! every empty slot of the need it is about: its own words' evidence (a slot named
//! outright, a clear sign, a hint), the pending question's prior, the model's votes, less a
//! penalty when it names another slot outright; the best are taken first.

use super::*;

impl TurnPlan {
    /// The model calls that fill the missing slots of each need the turn spoke about.
    pub fn slot_requests(&self) -> Result<Vec<(NeedId, ModelRequest)>, NeedsError> {
        if !self.has_content() {
            return Ok(Vec::new());
        }
        let mut requests = Vec::new();
        for need_id in self.needs_spoken_of() {
            let Some(need) = self.scratch.need(need_id) else {
                continue;
            };
            let missing = Coverage::of(need).missing;
            if missing.is_empty() {
                continue;
            }
            let prompt =
                need_slots_prompt(&self.scratch, need_id, &missing, &self.new_utterance_ids)?;
            requests.push((
                need_id,
                ModelRequest {
                    purpose: format!("slots of {need_id}"),
                    prompt,
                    schema: crate::needs::update::need_slots_schema(&self.scratch, &missing),
                },
            ));
        }
        Ok(requests)
    }

    /// The needs this turn spoke about: those heard, else the one the conversation is on.
    pub(super) fn needs_spoken_of(&self) -> Vec<NeedId> {
        if self.heard.is_empty() {
            self.scratch.current_need().into_iter().collect()
        } else {
            self.heard.clone()
        }
    }

    /// Takes the model's values for a need's slots as votes: each value must be words the
    /// person said in one unit of this turn, and carry no prompt text. Which slot a unit
    /// fills is decided when the plan finishes.
    pub fn take_slots(&mut self, need_id: NeedId, slots: NeedSlots) {
        let values = [
            (Slot::Actor, slots.actor),
            (Slot::Pain, slots.pain),
            (Slot::Workaround, slots.workaround),
            (Slot::Frequency, slots.frequency),
            (Slot::DesiredOutcome, slots.desired_outcome),
            (Slot::SuccessMetric, slots.success_metric),
        ];
        let candidates: Vec<usize> = (0..self.units.len()).collect();
        let mut taken: Vec<String> = Vec::new();
        for (slot, value) in values {
            let Some(value) = value
                .map(|value| squash(&value))
                .filter(|value| !value.is_empty())
            else {
                continue;
            };
            let normalised = value.to_lowercase();
            if taken.contains(&normalised) {
                self.notes.push(DialogueNote::Dropped {
                    what: slot.field_name().into(),
                    text: value,
                    reason: "it repeats another slot's value".into(),
                });
                continue;
            }
            match self.check_value(&value, &candidates) {
                Ok(unit_idx) => {
                    taken.push(normalised);
                    let spoken = self.spoken_value(unit_idx, &value);
                    self.votes.push(Vote {
                        unit_idx,
                        slot,
                        value: value_for(&spoken, slot),
                        need: Some(need_id),
                    });
                }
                Err(reason) => self.notes.push(DialogueNote::Dropped {
                    what: slot.field_name().into(),
                    text: value,
                    reason,
                }),
            }
        }
    }

    /// The need a unit is about: the one its sentence created or was listed for; after an
    /// "another problem" cue, the need created after the cue; else the one the
    /// conversation is on.
    pub(super) fn need_of_unit(&self, unit_idx: usize) -> Option<NeedId> {
        let sentence_idx = self.units[unit_idx].sentence_idx;
        // "For the cancellations, success would be…": the unit names the need it is about,
        // whichever need the conversation is on.
        if let Some(topic) = cues::topic_reference(&self.units[unit_idx].text) {
            let named: Vec<NeedId> = self
                .scratch
                .active_needs()
                .filter(|need| shares_stem(&topic, &need_text(need)))
                .map(|need| need.id)
                .collect();
            if let [need_id] = named[..] {
                return Some(need_id);
            }
        }
        if let Some(need_id) = self.sentences[sentence_idx].need {
            return Some(need_id);
        }
        if self.sentences[sentence_idx].after_new_topic {
            let since_cue = (0..sentence_idx).rev().find_map(|idx| {
                self.sentences[idx]
                    .need
                    .filter(|id| self.created.contains(id))
            });
            if since_cue.is_some() {
                return since_cue;
            }
        }
        self.pending
            .map(|(need_id, _)| need_id)
            .or_else(|| self.scratch.current_need())
    }

    /// How well a unit fills a slot of a need: its own words' evidence, the pending
    /// question's prior, the model's votes, less a penalty when it names another slot
    /// outright. Returns the score and the model's words, if it voted.
    pub(super) fn score(
        &self,
        unit_idx: usize,
        slot: Slot,
        need_id: NeedId,
    ) -> (i32, Option<String>) {
        let unit = &self.units[unit_idx];
        let evidence = cues::slot_evidence(&unit.text);
        // "How often?" is answered by words that say how often ("every Monday", "twice a
        // month", "a lot"): a clause without any gives no frequency, whatever the model
        // or a label says ("she either sends the lads back, or she borrows a truck").
        if slot == Slot::Frequency && evidence[slot as usize] == 0 {
            return (0, None);
        }
        // A clause that declines ("How I'd know it worked, I really haven't got a clue
        // yet") answers nothing, even beside words that name the slot.
        if cues::act(&unit.text) == Act::NonAnswer {
            return (0, None);
        }
        // "I have two separate headaches, one for my cleaners and one for me" announces
        // problems to come; what hurts is in what follows.
        if slot == Slot::Pain && cues::announces_problems(&unit.text) {
            return (0, None);
        }
        let mut score = i32::from(evidence[slot as usize]);
        // A frequency expression stands beside what else a clause says; only "it happens
        // every…" names frequency against the other slots.
        let explicit = cues::explicit_slot(&unit.text);
        let named_elsewhere = Slot::ALL.iter().any(|other| {
            *other != slot
                && evidence[*other as usize] >= cues::NAMED
                && (*other != Slot::Frequency || explicit == Some(Slot::Frequency))
        });
        if named_elsewhere && evidence[slot as usize] < cues::NAMED {
            score -= NAMED_ELSEWHERE_PENALTY;
        }
        let is_pending = self.pending == Some((need_id, slot));
        // The model's vote counts only where the words allow it: a clause that says
        // nothing of this slot but speaks clearly to another ("What would fix it is…",
        // "If we cancelled zero practicals, I'd be thrilled") is not the model's to move.
        let speaks_elsewhere = evidence[slot as usize] == 0
            && Slot::ALL.iter().any(|other| {
                *other != slot
                    && evidence[*other as usize] >= cues::CLEAR
                    && (*other != Slot::Frequency || explicit == Some(Slot::Frequency))
            });
        let mut value = None;
        // Nor is a clause that names another slot outright ("What would help is…" after
        // "How do they cope?"): the person's own naming outranks the model's reading.
        let votes: &[Vote] = if speaks_elsewhere || named_elsewhere {
            &[]
        } else {
            &self.votes
        };
        for vote in votes {
            let for_need = match vote.need {
                Some(voted_for) => voted_for == need_id,
                None => is_pending,
            };
            if vote.unit_idx == unit_idx && vote.slot == slot && for_need {
                score += self.vote_weight(slot);
                value.get_or_insert_with(|| vote.value.clone());
            }
        }
        // The model's words for a frequency give way to the person's time phrase when
        // they hold none of it ("thirty people one by one" for "three or four times a
        // winter").
        if slot == Slot::Frequency
            && value
                .as_deref()
                .is_some_and(|words| cues::frequency_phrase(words).is_none())
            && cues::frequency_phrase(&unit.text).is_some()
        {
            value = None;
        }
        // A trusted model's label says what the clause tells, unless the person named
        // another slot outright.
        if !named_elsewhere {
            score += self.label_score(unit_idx, slot, evidence[slot as usize] >= cues::NAMED);
        }
        // The question asked is answered first: the first unit that names no other slot
        // gets the full prior, later ones less. "Who?" is answered by naming someone (or
        // a label that says so), "how often?" by a time expression (checked above).
        let needs_evidence = matches!(slot, Slot::Actor | Slot::Frequency);
        if is_pending
            && (!needs_evidence
                || evidence[slot as usize] > 0
                || value.is_some()
                || self.labelled_as(unit_idx, slot))
            && let Some(rank) = self.answer_rank(unit_idx, slot)
        {
            score += (PENDING_PRIOR - rank as i32).max(0);
        }
        // What follows a question is about the need asked about: a clear sign suffices.
        if self
            .pending
            .is_some_and(|(pending_need, _)| pending_need == need_id)
            && self.answer_candidates().contains(&unit_idx)
        {
            score += ON_TOPIC_PRIOR;
        }
        // A bare phrase that starts with the people the need is about ("Landlords with two
        // or three flats who manage everything themselves") says who they are, exactly.
        if slot == Slot::Actor && self.describes_actor_of(unit_idx, need_id) {
            score += cues::NAMED as i32;
        }
        // Sentences right after the one that named a new problem describe that problem.
        if slot == Slot::Pain && self.elaborates_new_need(unit_idx, need_id) {
            score += ELABORATION_PRIOR;
        }
        (score, value)
    }

    /// Where a unit stands among those that may answer the pending `slot`: 0 for the
    /// first that names no other slot outright (those with some sign of the slot before
    /// those without), 1 for the next, and so on; `None` for a unit that may not answer.
    pub(super) fn answer_rank(&self, unit_idx: usize, slot: Slot) -> Option<usize> {
        let mut eligible: Vec<(bool, usize)> = self
            .answer_candidates()
            .into_iter()
            .filter_map(|idx| {
                let evidence = cues::slot_evidence(&self.units[idx].text);
                let explicit = cues::explicit_slot(&self.units[idx].text);
                let may_answer = explicit.is_none_or(|named| named == slot)
                    || evidence[slot as usize] >= cues::NAMED;
                may_answer.then_some((evidence[slot as usize] == 0, idx))
            })
            .collect();
        // Units whose words speak to the slot come first ("Every client has their own
        // formula, and nobody remembers it": the second clause answers "what hurts?").
        eligible.sort();
        eligible.iter().position(|(_, idx)| *idx == unit_idx)
    }

    /// Whether a unit is a bare description of the need's people: it opens with their
    /// head word and says nothing else a slot could take (no problem, wish, habit or cue).
    pub(super) fn describes_actor_of(&self, unit_idx: usize, need_id: NeedId) -> bool {
        let Some(actor) = self
            .scratch
            .need(need_id)
            .and_then(|need| Slot::Actor.value(need))
        else {
            return false;
        };
        let text = &self.units[unit_idx].text;
        let head = cues::head_noun(actor);
        let first = lower_words(text)
            .first()
            .map(|word| crate::needs::text::normalise_word(word));
        let evidence = cues::slot_evidence(text);
        head.is_some()
            && head == first
            && evidence
                .iter()
                .enumerate()
                .all(|(slot_idx, strength)| slot_idx == Slot::Actor as usize || *strength == 0)
            && lower_words(text).len() > lower_words(actor).len()
    }

    /// Whether a unit says how often outright ("It happens maybe three times a month")
    /// while the need's frequency was found in passing, inside the words of another of its
    /// slots ("I phone the clerk's office every morning" tells how they cope, and when),
    /// or was vague ("those tags fall off all the time", before "that's maybe once a
    /// fortnight").
    pub(super) fn restates_frequency(
        &self,
        unit_idx: usize,
        need: &crate::needs::model::Need,
    ) -> bool {
        let Some(frequency) = Slot::Frequency.value(need) else {
            return false;
        };
        let is_vague = cues::frequency_phrase(frequency).is_none();
        let frequency = frequency.to_lowercase();
        cues::explicit_slot(&self.units[unit_idx].text) == Some(Slot::Frequency)
            && (is_vague
                || Slot::ALL.iter().any(|other| {
                    *other != Slot::Frequency
                        && other
                            .value(need)
                            .is_some_and(|value| value.to_lowercase().contains(&frequency))
                }))
    }

    /// Whether a unit names a slot outright ("The problem is that families cancel an hour
    /// before") whose value has no sign of that slot in its words: it was taken on a
    /// model's label alone ("This one is for tutoring agencies" labelled the problem), and
    /// the person's own naming replaces it. Who and how often have their own rules.
    pub(super) fn names_unsigned_slot(
        &self,
        unit_idx: usize,
        slot: Slot,
        need: &crate::needs::model::Need,
    ) -> bool {
        if matches!(slot, Slot::Actor | Slot::Frequency)
            || cues::explicit_slot(&self.units[unit_idx].text) != Some(slot)
        {
            return false;
        }
        let Some(value) = slot.value(need) else {
            return false;
        };
        // The sentence the value was heard in, where it is known; else the value itself.
        let heard_in = need
            .evidence
            .iter()
            .find_map(|evidence| match evidence {
                crate::needs::model::Evidence::Utterance {
                    quote,
                    slot: Some(quoted_slot),
                    ..
                } if *quoted_slot == slot => Some(quote.as_str()),
                _ => None,
            })
            .unwrap_or(value);
        cues::slot_evidence(heard_in)[slot as usize] == 0
            && cues::slot_evidence(value)[slot as usize] == 0
    }

    /// The clauses that go on with a pain named outright, in the same sentence: "The trouble
    /// is the director changes cue timings, and on opening night somebody is working from
    /// an old version" is one pain, and its second clause gives no clear sign of another
    /// slot. Empty unless the pain's clause names it and `value` ends that clause.
    pub(super) fn pain_continuation(&self, unit_idx: usize, value: &str) -> Vec<usize> {
        let unit = &self.units[unit_idx];
        let ends_clause = unit
            .text
            .to_lowercase()
            .trim_end_matches(['.', '!', '?', ','])
            .ends_with(&value.to_lowercase());
        if cues::explicit_slot(&unit.text) != Some(Slot::Pain) || !ends_clause {
            return Vec::new();
        }
        (unit_idx + 1..self.units.len())
            .take_while(|next_idx| {
                let next = &self.units[*next_idx];
                let evidence = cues::slot_evidence(&next.text);
                next.sentence_idx == unit.sentence_idx
                    && Slot::ALL
                        .iter()
                        .all(|slot| *slot == Slot::Pain || evidence[*slot as usize] < cues::CLEAR)
            })
            .collect()
    }

    /// Whether a unit comes after, in the same turn, the sentence that created `need_id`.
    pub(super) fn elaborates_new_need(&self, unit_idx: usize, need_id: NeedId) -> bool {
        let sentence_idx = self.units[unit_idx].sentence_idx;
        self.created.contains(&need_id)
            && (0..sentence_idx).any(|idx| {
                self.sentences[idx].created_need && self.sentences[idx].need == Some(need_id)
            })
    }

    /// Fills the turn's slots: every (unit, empty slot) of the need the unit is about is
    /// scored, and the best are taken first, each unit filling at most one slot besides a
    /// frequency. A need's own statement sentence gives it no pain (it says what the need
    /// is), unless a trusted model labels it the problem. An actor named outright ("the
    /// people who have the problem are…") replaces one found in passing, and any slot
    /// named outright one whose words gave no sign of it.
    pub(super) fn assign_slots(&mut self) {
        let mut candidates: Vec<(i32, bool, usize, Slot, NeedId, Option<String>)> = Vec::new();
        for unit_idx in 0..self.units.len() {
            let Some(need_id) = self.need_of_unit(unit_idx) else {
                continue;
            };
            let Some(need) = self.scratch.need(need_id) else {
                continue;
            };
            let sentence_idx = self.units[unit_idx].sentence_idx;
            let sentence = &self.sentences[sentence_idx];
            // "The people stuck with it are the ward nurses. No, sorry, I mean the
            // porters": a later correction in the turn decides who they are.
            let corrected_later = self.sentences[sentence_idx + 1..]
                .iter()
                .any(|later| matches!(later.act, Act::Correction { .. }));
            for slot in Slot::ALL {
                // A need's statement sentence says what the need is; it is also its pain
                // only when a trusted model labels the clause as the problem ("Tattoo
                // artists lose money, because clients don't show up").
                if slot == Slot::Pain
                    && sentence.created_need
                    && !self.labelled_as(unit_idx, Slot::Pain)
                {
                    continue;
                }
                if slot == Slot::Actor && corrected_later {
                    continue;
                }
                let (score, value) = self.score(unit_idx, slot, need_id);
                let is_empty = slot.value(need).is_none();
                let renames_actor = slot == Slot::Actor
                    && (cues::slot_evidence(&self.units[unit_idx].text)[slot as usize]
                        >= cues::NAMED
                        || self.describes_actor_of(unit_idx, need_id));
                let restates_frequency =
                    slot == Slot::Frequency && self.restates_frequency(unit_idx, need);
                let names_unsigned = self.names_unsigned_slot(unit_idx, slot, need);
                if score >= MIN_SLOT_SCORE
                    && (is_empty || renames_actor || restates_frequency || names_unsigned)
                {
                    let is_pending = self.pending == Some((need_id, slot));
                    candidates.push((score, is_pending, unit_idx, slot, need_id, value));
                }
            }
        }
        candidates.sort_by(|left, right| {
            right
                .0
                .cmp(&left.0)
                .then(right.1.cmp(&left.1))
                .then(left.2.cmp(&right.2))
                .then(left.3.cmp(&right.3))
        });
        let mut used_unit: Vec<bool> = vec![false; self.units.len()];
        let mut used_for_frequency: Vec<bool> = vec![false; self.units.len()];
        let mut filled: Vec<(NeedId, Slot)> = Vec::new();
        for (_, is_pending, unit_idx, slot, need_id, model_value) in candidates {
            if filled.contains(&(need_id, slot)) {
                continue;
            }
            let used = if slot == Slot::Frequency {
                &mut used_for_frequency[unit_idx]
            } else {
                &mut used_unit[unit_idx]
            };
            if *used {
                continue;
            }
            *used = true;
            filled.push((need_id, slot));
            // The people named after "it's for" or "that lands on" are who it is, in the
            // person's own phrase: the model's pick of another noun inside it ("students"
            // from "my game masters, mostly students working part time") is not taken.
            let model_value = model_value.filter(|_| {
                slot != Slot::Actor
                    || cues::explicit_slot(&self.units[unit_idx].text) != Some(Slot::Actor)
            });
            let by_model = model_value.is_some();
            let mut value = model_value.unwrap_or_else(|| {
                if slot == Slot::Actor && self.describes_actor_of(unit_idx, need_id) {
                    cues::clause_value(&self.units[unit_idx].text)
                } else {
                    cues::slot_value(&self.units[unit_idx].text, slot)
                }
            });
            if slot == Slot::Pain {
                for next_idx in self.pain_continuation(unit_idx, &value) {
                    if used_unit[next_idx] {
                        break;
                    }
                    used_unit[next_idx] = true;
                    value = format!("{value}, {}", self.units[next_idx].text);
                }
            }
            let sentence_idx = self.units[unit_idx].sentence_idx;
            self.sentences[sentence_idx].need.get_or_insert(need_id);
            let evidence = evidence_of(&self.sentences[sentence_idx], Some(slot));
            let current = self
                .scratch
                .need(need_id)
                .and_then(|need| slot.value(need))
                .map(str::to_string);
            match current {
                Some(old) => {
                    if old.to_lowercase() == value.to_lowercase() {
                        continue;
                    }
                    // The same people named more precisely ("primary school teachers"
                    // for "teachers") are corrected everywhere; other people replace the
                    // actor alone, and a frequency said outright the one found in passing.
                    let only = if slot == Slot::Actor {
                        (cues::head_noun(&old) != cues::head_noun(&value)).then_some(slot)
                    } else {
                        Some(slot)
                    };
                    self.push(TurnUpdate {
                        corrections: vec![CorrectionUpdate {
                            need: need_id.0,
                            wrong: old.clone(),
                            right: value.clone(),
                            utterance: evidence.utterance,
                            quote: evidence.quote.clone(),
                            only,
                        }],
                        ..TurnUpdate::default()
                    });
                    if slot == Slot::Actor {
                        self.notes.push(DialogueNote::ActorRefined {
                            need_id,
                            from: old,
                            to: value.clone(),
                        });
                    }
                }
                None => self.push_slot(need_id, slot, &value, evidence),
            }
            self.notes.push(if is_pending {
                DialogueNote::Answered {
                    need_id,
                    slot,
                    value,
                    by_model,
                }
            } else {
                DialogueNote::Volunteered {
                    need_id,
                    slot,
                    value,
                    by_model,
                }
            });
            self.mark_heard(need_id);
        }
        if let Some((need_id, slot)) = self.pending
            && !filled.contains(&(need_id, slot))
        {
            self.notes.push(self.unanswered_note(need_id, slot));
        }
    }

    /// The note for a pending question the turn did not answer: declined when the person
    /// said so, not answered otherwise.
    pub(super) fn unanswered_note(&self, need_id: NeedId, slot: Slot) -> DialogueNote {
        let declined = self
            .sentences
            .iter()
            .any(|heard| heard.act == Act::NonAnswer);
        if declined {
            DialogueNote::Declined { need_id, slot }
        } else {
            DialogueNote::NotAnswered { need_id, slot }
        }
    }
}
