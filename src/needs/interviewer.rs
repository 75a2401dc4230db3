//! The interviewer policy: the single most valuable next question.
//!
//! It stays on the need the conversation is on and asks for its empty slots in a fixed
//! order (who, what hurts, how they cope today, how often, what outcome, how success is
//! measured). It never asks for a slot already filled, asks one slot of one need at most
//! twice, and after a question went unanswered moves on to the next slot or need rather
//! than asking it again at once. Once the current need has four of six slots it says so
//! and turns to the next need that has fewer, or asks whether there is another problem or
//! the idea should be broken down. A need is named in a question only when there are
//! several, by a short topic in the person's own words.

use serde::{Deserialize, Serialize};

use super::coverage::{Coverage, Slot};
use super::discovery::{AskedQuestion, Discovery};
use super::model::{Need, NeedId, NeedStatus};
use super::text::topic;

/// Opening questions, asked while there are no needs; the second rephrases the first.
const OPENING_QUESTIONS: [&str; 2] = [
    "What problem does this solve, and for whom?",
    "Tell me about the last time someone ran into this problem. Who was it?",
];

/// Wrap-up lines, said when every need is covered; the second rephrases the first.
const WRAP_UP_LINES: [&str; 2] = [
    "Every need is covered. Shall we decide between the options, or move on to your next idea?",
    "That covers what I wanted to ask. Do you want to record a decision, or talk about the next idea?",
];

/// The longest reply (characters) spoken as is; a longer one is replaced by the question.
const MAX_REPLY_CHARS: usize = 300;

/// The most times the interviewer asks for one slot of one need.
pub const MAX_ASKS_PER_SLOT: usize = 2;

/// Filled slots from which a need is covered well enough to move on.
pub const ENOUGH_SLOTS: usize = 4;

/// Small counts as spoken words.
const COUNT_WORDS: [&str; 7] = ["no", "one", "two", "three", "four", "five", "six"];

/// What the interviewer would ask next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NextQuestion {
    /// No needs yet: find out what the problem is and who has it.
    Opening {
        /// The words to ask.
        question: String,
    },
    /// A missing slot of one need.
    Slot {
        /// The need asked about.
        need_id: NeedId,
        /// The slot asked for.
        slot: Slot,
        /// The words to ask.
        question: String,
        /// The need whose good coverage the question first announces, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closes: Option<NeedId>,
    },
    /// The current need is covered well and no other need lacks much: say so, and ask
    /// for another problem or a breakdown of the idea.
    Milestone {
        /// The need covered.
        need_id: NeedId,
        /// The words to say.
        text: String,
    },
    /// Every need has every slot, or nothing more may be asked: invite a decision or the
    /// next idea.
    Complete {
        /// The words to say.
        wrap_up: String,
    },
}

impl NextQuestion {
    /// The words to say.
    pub fn text(&self) -> &str {
        match self {
            NextQuestion::Opening { question } | NextQuestion::Slot { question, .. } => question,
            NextQuestion::Milestone { text, .. } => text,
            NextQuestion::Complete { wrap_up } => wrap_up,
        }
    }

    /// The need asked about, if any.
    pub fn need_id(&self) -> Option<NeedId> {
        match self {
            NextQuestion::Slot { need_id, .. } | NextQuestion::Milestone { need_id, .. } => {
                Some(*need_id)
            }
            _ => None,
        }
    }

    /// The slot asked for, if any.
    pub fn slot(&self) -> Option<Slot> {
        match self {
            NextQuestion::Slot { slot, .. } => Some(*slot),
            _ => None,
        }
    }
}

/// The question for a slot, in one of two phrasings (0 or 1).
pub fn slot_question(slot: Slot, phrasing: usize) -> &'static str {
    let phrasings: [&str; 2] = match slot {
        Slot::Actor => [
            "Who has this problem, exactly?",
            "Which kind of person or team feels this most?",
        ],
        Slot::Pain => [
            "What hurts most about it today?",
            "What goes wrong for them when this happens?",
        ],
        Slot::Workaround => [
            "How do they cope with it today?",
            "What do they do instead right now?",
        ],
        Slot::Frequency => [
            "How often does this happen?",
            "Roughly how many times a week or a month does this come up?",
        ],
        Slot::DesiredOutcome => [
            "What would they want to happen instead?",
            "If this were solved, what would be different for them?",
        ],
        Slot::SuccessMetric => [
            "How would you measure that it worked?",
            "What number would tell you this is solved?",
        ],
    };
    phrasings[phrasing % phrasings.len()]
}

/// A question about a named need: `Now about "topic": question`. The topic is quoted, so
/// the sentence stays grammatical whatever words the person used.
pub fn about(topic: &str, question: &str) -> String {
    if topic.is_empty() {
        question.to_string()
    } else {
        format!("Now about \"{topic}\": {question}")
    }
}

/// The line that says a need is covered well enough to move on.
pub fn covered_line(topic: &str) -> String {
    if topic.is_empty() {
        "That gives me a good picture of this problem.".to_string()
    } else {
        format!("That gives me a good picture of \"{topic}\".")
    }
}

impl Discovery {
    /// The single most valuable next question (see the module header for the policy).
    pub fn next_question(&self) -> NextQuestion {
        let previous = self.asked.last();
        let active: Vec<&Need> = self
            .needs
            .iter()
            .filter(|need| need.status != NeedStatus::Dropped)
            .collect();
        if active.is_empty() {
            return NextQuestion::Opening {
                question: pick_unrepeated(&OPENING_QUESTIONS, previous),
            };
        }
        let filled = |id: NeedId| {
            self.need(id)
                .map_or(0, |need| Coverage::of(need).filled.len())
        };
        let unanswered = previous
            .and_then(|asked| Some((asked.need_id?, asked.slot?)))
            .filter(|(need_id, slot)| {
                self.need(*need_id)
                    .is_some_and(|need| slot.value(need).is_none())
            });
        let current = self
            .mentioned
            .iter()
            .rev()
            .copied()
            .find(|id| active.iter().any(|need| need.id == *id))
            .unwrap_or(active[active.len() - 1].id);
        // Every slot that may still be asked, best first: the current need's, then other
        // needs with fewer than ENOUGH_SLOTS, each by slot order and recency.
        let mut candidates: Vec<(NeedId, Slot)> = active
            .iter()
            .flat_map(|need| {
                Coverage::of(need)
                    .missing
                    .into_iter()
                    .map(move |slot| (need.id, slot))
            })
            .filter(|(need_id, slot)| self.times_asked(*need_id, *slot) < MAX_ASKS_PER_SLOT)
            .filter(|candidate| Some(*candidate) != unanswered)
            .collect();
        candidates.sort_by(|left, right| {
            let key = |(need_id, slot): &(NeedId, Slot)| {
                (
                    filled(*need_id) >= ENOUGH_SLOTS,
                    *need_id != current,
                    *slot,
                    std::cmp::Reverse(self.recency(*need_id)),
                )
            };
            key(left).cmp(&key(right))
        });

        let said_covered = |id: NeedId| {
            self.asked
                .iter()
                .any(|asked| asked.need_id == Some(id) && asked.slot.is_none())
        };
        if filled(current) >= ENOUGH_SLOTS && !said_covered(current) {
            let current_topic = self.topic_of(current);
            let next_need = candidates
                .iter()
                .copied()
                .find(|(need_id, _)| *need_id != current && filled(*need_id) < ENOUGH_SLOTS);
            return match next_need {
                Some((need_id, slot)) => NextQuestion::Slot {
                    need_id,
                    slot,
                    question: format!(
                        "{} {}",
                        covered_line(&current_topic),
                        about(
                            &self.topic_of(need_id),
                            slot_question(slot, self.times_asked(need_id, slot))
                        )
                    ),
                    closes: Some(current),
                },
                None => NextQuestion::Milestone {
                    need_id: current,
                    text: format!(
                        "{} That is {} of six covered. Is there another problem you want to talk about, or shall we break the idea down into parts?",
                        covered_line(&current_topic),
                        COUNT_WORDS[filled(current).min(6)]
                    ),
                },
            };
        }
        let Some(&(need_id, slot)) = candidates.first() else {
            return NextQuestion::Complete {
                wrap_up: pick_unrepeated(&WRAP_UP_LINES, previous),
            };
        };
        let question = slot_question(slot, self.times_asked(need_id, slot));
        let names_need =
            active.len() > 1 && previous.and_then(|asked| asked.need_id) != Some(need_id);
        NextQuestion::Slot {
            need_id,
            slot,
            question: if names_need {
                about(&self.topic_of(need_id), question)
            } else {
                question.to_string()
            },
            closes: None,
        }
    }

    /// How many times the interviewer asked for this slot of this need.
    pub fn times_asked(&self, need_id: NeedId, slot: Slot) -> usize {
        self.asked
            .iter()
            .filter(|asked| asked.need_id == Some(need_id) && asked.slot == Some(slot))
            .count()
    }

    /// A need's short topic, in the person's words.
    fn topic_of(&self, need_id: NeedId) -> String {
        self.need(need_id)
            .map(|need| topic(&need.statement))
            .unwrap_or_default()
    }

    /// Records a question as asked, so the next one is not the same, and returns the rows
    /// to store: a question that first says a need is covered records that too.
    pub fn record_question(&mut self, question: &NextQuestion) -> Vec<AskedQuestion> {
        let mut rows = Vec::new();
        if let NextQuestion::Slot {
            closes: Some(covered),
            ..
        } = question
        {
            rows.push(AskedQuestion {
                question: covered_line(&self.topic_of(*covered)),
                need_id: Some(*covered),
                slot: None,
            });
        }
        rows.push(AskedQuestion {
            question: question.text().to_string(),
            need_id: question.need_id(),
            slot: question.slot(),
        });
        self.asked.extend(rows.iter().cloned());
        rows
    }

    /// The questions still open for the brief: each active need's missing slots.
    pub fn remaining_questions(&self) -> Vec<(NeedId, String)> {
        self.needs
            .iter()
            .filter(|need| need.status != NeedStatus::Dropped)
            .flat_map(|need| {
                Coverage::of(need)
                    .missing
                    .into_iter()
                    .map(|slot| (need.id, slot_question(slot, 0).to_string()))
            })
            .collect()
    }
}

/// The first line that differs from the previous question, or the first line.
fn pick_unrepeated(lines: &[&str; 2], previous: Option<&AskedQuestion>) -> String {
    let repeated = |line: &str| previous.is_some_and(|asked| asked.question == line);
    lines
        .iter()
        .copied()
        .find(|line| !repeated(line))
        .unwrap_or(lines[0])
        .to_string()
}

/// The words to speak this turn: the model's reply when it is a short question, otherwise
/// the interviewer's question (an empty reply, a statement or a ramble is replaced).
pub fn reply_or_question(reply: &str, question: &NextQuestion) -> String {
    let reply = reply.split_whitespace().collect::<Vec<_>>().join(" ");
    let is_question = reply
        .trim_end_matches(['"', '\'', ')', '”', '’'])
        .ends_with('?');
    if is_question && reply.chars().count() <= MAX_REPLY_CHARS {
        reply
    } else {
        question.text().to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::needs::model::{Idea, Need};

    fn need(id: u32, statement: &str, filled: &[Slot]) -> Need {
        let value = |slot: Slot| filled.contains(&slot).then(|| format!("{slot:?} value"));
        Need {
            id: NeedId(id),
            statement: statement.to_string(),
            actor: value(Slot::Actor),
            context: None,
            pain: value(Slot::Pain),
            workaround: value(Slot::Workaround),
            frequency: value(Slot::Frequency),
            severity: None,
            desired_outcome: value(Slot::DesiredOutcome),
            success_metric: value(Slot::SuccessMetric),
            constraints: Vec::new(),
            status: NeedStatus::Captured,
            evidence: Vec::new(),
        }
    }

    const ALL: &[Slot] = &Slot::ALL;
    const WHO: &[Slot] = &[Slot::Actor];
    const WHO_PAIN: &[Slot] = &[Slot::Actor, Slot::Pain];
    const FOUR: &[Slot] = &[Slot::Actor, Slot::Pain, Slot::Workaround, Slot::Frequency];
    const ALL_BUT_METRIC: &[Slot] = &[
        Slot::Actor,
        Slot::Pain,
        Slot::Workaround,
        Slot::Frequency,
        Slot::DesiredOutcome,
    ];

    /// What the interviewer should do: ask a need's slot, say a need is covered, or wrap up.
    #[derive(Debug, PartialEq)]
    enum Expected {
        Ask(u32, Slot),
        Covered(u32),
        Complete,
    }

    fn discovery_of(needs: &[(u32, &[Slot])], mentioned: &[u32]) -> Discovery {
        let mut discovery = Discovery::new(Idea::default());
        discovery.needs = needs
            .iter()
            .map(|(id, filled)| need(*id, &format!("need number {id}"), filled))
            .collect();
        discovery.mentioned = mentioned.iter().map(|id| NeedId(*id)).collect();
        discovery
    }

    fn asked(need: u32, slot: Option<Slot>) -> AskedQuestion {
        AskedQuestion {
            question: format!("question about N{need} {slot:?}"),
            need_id: Some(NeedId(need)),
            slot,
        }
    }

    #[test]
    fn interviewer_cases() {
        // (needs as (number, filled slots), mention order, questions asked before, expected)
        let check = |needs: &[(u32, &[Slot])],
                     mentioned: &[u32],
                     before: &[AskedQuestion],
                     expected: Expected| {
            let mut discovery = discovery_of(needs, mentioned);
            discovery.asked = before.to_vec();
            let next = discovery.next_question();
            let got = match &next {
                NextQuestion::Slot { need_id, slot, .. } => Expected::Ask(need_id.0, *slot),
                NextQuestion::Milestone { need_id, .. } => Expected::Covered(need_id.0),
                NextQuestion::Complete { .. } => Expected::Complete,
                NextQuestion::Opening { .. } => panic!("{needs:?}: opening {next:?}"),
            };
            assert_eq!(got, expected, "{needs:?} {before:?}: {next:?}");
        };
        check(&[(1, &[])], &[1], &[], Expected::Ask(1, Slot::Actor));
        check(&[(1, WHO)], &[1], &[], Expected::Ask(1, Slot::Pain));
        check(
            &[(1, WHO_PAIN)],
            &[1],
            &[],
            Expected::Ask(1, Slot::Workaround),
        );
        // The current need (mentioned last) is asked first, whatever the others lack.
        check(
            &[(1, &[]), (2, WHO)],
            &[1, 2],
            &[],
            Expected::Ask(2, Slot::Pain),
        );
        check(
            &[(1, &[]), (2, &[])],
            &[2, 1],
            &[],
            Expected::Ask(1, Slot::Actor),
        );
        // Never mentioned (restored): the higher number counts as more recent.
        check(
            &[(1, WHO), (2, WHO)],
            &[],
            &[],
            Expected::Ask(2, Slot::Pain),
        );
        // A complete need is skipped.
        check(
            &[(1, ALL), (2, WHO_PAIN)],
            &[2, 1],
            &[],
            Expected::Ask(2, Slot::Workaround),
        );
        check(&[(1, ALL)], &[1], &[], Expected::Covered(1));
        check(&[(1, ALL)], &[1], &[asked(1, None)], Expected::Complete);
        // An unanswered question is not asked again at once: the next slot is.
        check(
            &[(1, WHO)],
            &[1],
            &[asked(1, Some(Slot::Pain))],
            Expected::Ask(1, Slot::Workaround),
        );
        // Asked twice already: never again.
        check(
            &[(1, WHO)],
            &[1],
            &[
                asked(1, Some(Slot::Pain)),
                asked(1, Some(Slot::Workaround)),
                asked(1, Some(Slot::Pain)),
                asked(1, Some(Slot::Frequency)),
            ],
            Expected::Ask(1, Slot::Workaround),
        );
        // Four of six: say so (no other need lacks slots) …
        check(&[(1, FOUR)], &[1], &[], Expected::Covered(1));
        // … once; then the rest of its slots may still be asked.
        check(
            &[(1, FOUR)],
            &[1],
            &[asked(1, None)],
            Expected::Ask(1, Slot::DesiredOutcome),
        );
        // Four of six with another need lacking slots: move on to that need.
        check(
            &[(1, &[]), (2, FOUR)],
            &[1, 2],
            &[],
            Expected::Ask(1, Slot::Actor),
        );
        check(
            &[(1, ALL_BUT_METRIC), (2, ALL_BUT_METRIC)],
            &[1, 2],
            &[asked(1, None), asked(2, None)],
            Expected::Ask(2, Slot::SuccessMetric),
        );
    }

    #[test]
    fn moving_to_another_need_says_the_current_one_is_covered() {
        let mut discovery = discovery_of(&[(1, &[]), (2, FOUR)], &[1, 2]);
        discovery.needs[0].statement = "Bakeries throw away bread every evening".to_string();
        discovery.needs[1].statement = "Trainers lose income to cancellations".to_string();
        let next = discovery.next_question();
        assert_eq!(
            next.text(),
            "That gives me a good picture of \"Trainers lose income to cancellations\". Now about \"Bakeries throw away bread every evening\": Who has this problem, exactly?"
        );
        let rows = discovery.record_question(&next);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!((rows[0].need_id, rows[0].slot), (Some(NeedId(2)), None));
        assert_eq!(
            (rows[1].need_id, rows[1].slot),
            (Some(NeedId(1)), Some(Slot::Actor))
        );
        // The covered need is not announced again.
        discovery.needs[0].actor = Some("bakeries".into());
        assert_eq!(
            discovery.next_question().slot(),
            Some(Slot::Pain),
            "{:?}",
            discovery.next_question()
        );
    }

    #[test]
    fn a_filled_slot_is_never_asked_and_no_slot_more_than_twice() {
        // Walk many sessions where the person never answers: every question must ask an
        // empty slot, and no slot more than twice.
        for filled in [&[][..], WHO, WHO_PAIN, FOUR, ALL_BUT_METRIC] {
            for n_needs in 1..=3u32 {
                let needs: Vec<(u32, &[Slot])> = (1..=n_needs).map(|id| (id, filled)).collect();
                let mut discovery = discovery_of(&needs, &[]);
                for _ in 0..40 {
                    let next = discovery.next_question();
                    if let (Some(need_id), Some(slot)) = (next.need_id(), next.slot()) {
                        let need = discovery.need(need_id).map(|need| slot.value(need));
                        assert_eq!(need, Some(None), "asked a filled slot: {next:?}");
                    }
                    discovery.record_question(&next);
                }
                for need in &discovery.needs {
                    for slot in Slot::ALL {
                        let times = discovery.times_asked(need.id, slot);
                        assert!(times <= MAX_ASKS_PER_SLOT, "{slot:?} asked {times} times");
                    }
                }
            }
        }
    }

    #[test]
    fn dropped_needs_are_not_asked_about() {
        let mut discovery = Discovery::new(Idea::default());
        discovery.needs = vec![need(1, "dropped one", &[]), need(2, "kept", ALL)];
        discovery.needs[0].status = NeedStatus::Dropped;
        discovery.asked = vec![asked(2, None)];
        assert!(matches!(
            discovery.next_question(),
            NextQuestion::Complete { .. }
        ));
    }

    #[test]
    fn opening_question_with_no_needs() {
        let mut discovery = Discovery::new(Idea::default());
        let first = discovery.next_question();
        assert_eq!(first.text(), OPENING_QUESTIONS[0]);
        assert!(matches!(first, NextQuestion::Opening { .. }));
        discovery.record_question(&first);
        let second = discovery.next_question();
        assert!(matches!(second, NextQuestion::Opening { .. }));
        assert_ne!(first.text(), second.text());
    }

    #[test]
    fn never_the_same_question_twice_in_a_row() {
        // Situations from one open slot (must rephrase or move on) to many.
        let situations: &[&[(u32, &[Slot])]] = &[
            &[(1, ALL_BUT_METRIC)],
            &[(1, &[])],
            &[(1, WHO), (2, WHO_PAIN)],
            &[(1, ALL)],
            &[],
        ];
        for needs in situations {
            let mut discovery = discovery_of(needs, &[]);
            let mut previous: Option<String> = None;
            for _ in 0..6 {
                let next = discovery.next_question();
                assert!(!next.text().is_empty());
                assert_ne!(Some(next.text().to_string()), previous, "{needs:?}");
                previous = Some(next.text().to_string());
                discovery.record_question(&next);
            }
        }
    }

    #[test]
    fn a_need_is_named_only_among_several() {
        let mut discovery = discovery_of(&[(1, WHO)], &[1]);
        discovery.needs[0].statement =
            "Freelancers miss invoice deadlines every single month".into();
        assert_eq!(
            discovery.next_question().text(),
            "What hurts most about it today?"
        );
        discovery.needs.push(need(2, "Studios lose sketches", WHO));
        discovery.mentioned = vec![NeedId(2), NeedId(1)];
        discovery.asked = vec![asked(2, Some(Slot::Pain))];
        assert_eq!(
            discovery.next_question().text(),
            "Now about \"Freelancers miss invoice deadlines\": What hurts most about it today?"
        );
    }

    /// Fifty odd statements: short, long, one word, numbers, quotes, a question, names,
    /// an apostrophe, punctuation and lower case.
    pub(crate) const ODD_STATEMENTS: [&str; 50] = [
        "Freelance translators juggle deadlines from ten clients by email",
        "Bakeries",
        "every single weekday",
        "They don't get paid for the empty slot",
        "3 free lands deny access",
        "two hours a day, two nights a week, two days a month",
        "Parents' evenings clash with shifts",
        "The NHS waiting list",
        "Kids",
        "a",
        "Nurses hand over patients at seven in the morning and forget details",
        "Why do shops run out of bread?",
        "\"Smart\" fridges",
        "Corner shop owners count stock by hand every Sunday night",
        "It's complicated",
        "People who rent",
        "deadlines slip because a message gets buried",
        "Small dental clinics: patients forget appointments",
        "iPhone users",
        "over 50% of orders arrive late",
        "farmers markets",
        "Dogs",
        "Sheep",
        "Children",
        "bus",
        "Data",
        "Everies",
        "Landlords (small ones)",
        "waiters and waitresses",
        "The receptionist phones every patient the day before to confirm",
        "No-show rates",
        "Something for small dental clinics",
        "Teachers spend their whole Sunday planning lessons",
        "Podcast producers edit episodes at night",
        "one in five patients doesn't come",
        "Warehouse pickers walk twelve kilometres a shift",
        "Mum and dad",
        "Volunteers at the football club",
        "cash comes in late",
        "The worst part is that they still run out of popular items",
        "Elderly people and their pills",
        "Wedding photographers",
        "An app",
        "Trainers lose income to last-minute cancellations",
        "Students in group projects",
        "Growers at farmers' markets",
        "Bike repair shops",
        "The team",
        "status quo",
        "Restaurant kitchens waste prep time every morning",
    ];

    /// Every word of a generated sentence comes from its template or from the words put
    /// in: nothing is conjugated or pluralised.
    pub(crate) fn check_generated(sentence: &str, template_words: &str, put_in: &[&str]) {
        assert!(!sentence.contains("  "), "{sentence:?}");
        assert!(
            sentence.starts_with(|c: char| c.is_uppercase() || c == '"'),
            "{sentence:?}"
        );
        assert!(sentence.ends_with(['?', '.']), "{sentence:?}");
        assert!(!sentence.contains('…'), "{sentence:?}");
        let allowed: Vec<String> = std::iter::once(template_words)
            .chain(put_in.iter().copied())
            .flat_map(|text| crate::needs::text::words(text))
            .map(str::to_lowercase)
            .collect();
        for word in crate::needs::text::words(sentence) {
            assert!(
                allowed.contains(&word.to_lowercase()),
                "{word:?} in {sentence:?} comes from neither the template nor the words put in"
            );
        }
    }

    #[test]
    fn questions_stay_grammatical_for_any_statement() {
        let template_words = format!(
            "{} {} {} {}",
            about("x", ""),
            covered_line("x"),
            Slot::ALL
                .iter()
                .flat_map(|slot| [slot_question(*slot, 0), slot_question(*slot, 1)])
                .collect::<Vec<_>>()
                .join(" "),
            "That is of six covered. Is there another problem you want to talk about, or shall we break the idea down into parts? one two three four five six"
        );
        for (statement_idx, statement) in ODD_STATEMENTS.iter().enumerate() {
            let other = ODD_STATEMENTS[(statement_idx + 1) % ODD_STATEMENTS.len()];
            let mut discovery = discovery_of(&[(1, &[]), (2, FOUR)], &[1, 2]);
            discovery.needs[0].statement = statement.to_string();
            discovery.needs[1].statement = other.to_string();
            for _ in 0..14 {
                let next = discovery.next_question();
                check_generated(next.text(), &template_words, &[statement, other]);
                discovery.record_question(&next);
            }
        }
    }

    #[test]
    fn reply_fallback_cases() {
        let question = NextQuestion::Opening {
            question: "Who has this problem?".to_string(),
        };
        let check = |reply: &str, expected: &str| {
            assert_eq!(reply_or_question(reply, &question), expected, "{reply:?}");
        };
        check("", "Who has this problem?");
        check("   ", "Who has this problem?");
        check("Got it.", "Who has this problem?");
        check("How often does that happen?", "How often does that happen?");
        check(" How  often\ndoes it happen? ", "How often does it happen?");
        check("\"Who pays for it?\"", "\"Who pays for it?\"");
        check(
            &format!("{}?", "very long ".repeat(40)),
            "Who has this problem?",
        );
    }
}
