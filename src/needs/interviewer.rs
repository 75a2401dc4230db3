//! The interviewer policy: the single most valuable next question. Slots are asked in a
//! fixed order (who, what hurts, how they cope today, how often, what outcome, how success
//! is measured). Among the needs, the one whose first missing slot comes earliest is
//! asked about, and among those the one mentioned most recently, so the conversation stays
//! on the topic the person is on. The same question is never asked twice in a row: the
//! next candidate is taken, or the question is rephrased when there is no other.

use serde::{Deserialize, Serialize};

use super::coverage::{Coverage, Slot};
use super::discovery::{AskedQuestion, Discovery};
use super::model::{NeedId, NeedStatus};
use super::text::topic;

/// Opening questions, asked while there are no needs; the second rephrases the first.
const OPENING_QUESTIONS: [&str; 2] = [
    "Who has this problem?",
    "Tell me about the last time someone ran into this. Who was it?",
];

/// Wrap-up lines, said when every need is covered; the second rephrases the first.
const WRAP_UP_LINES: [&str; 2] = [
    "Every need is covered. Shall we decide between the options, or move on to your next idea?",
    "That covers what I wanted to ask. Do you want to record a decision, or talk about the next idea?",
];

/// The longest reply (characters) spoken as is; a longer one is replaced by the question.
const MAX_REPLY_CHARS: usize = 300;

/// What the interviewer would ask next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NextQuestion {
    /// No needs yet: find out who has the problem.
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
    },
    /// Every need has every slot: invite a decision or the next idea.
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
            NextQuestion::Complete { wrap_up } => wrap_up,
        }
    }

    /// The need asked about, if any.
    pub fn need_id(&self) -> Option<NeedId> {
        match self {
            NextQuestion::Slot { need_id, .. } => Some(*need_id),
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

/// The question for a slot, in one of two phrasings (0 or 1), naming the need briefly.
pub fn slot_question(slot: Slot, statement: &str, phrasing: usize) -> String {
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
    let question = phrasings[phrasing % phrasings.len()];
    let topic = topic(statement);
    if topic.is_empty() {
        question.to_string()
    } else {
        format!("About \"{topic}\": {question}")
    }
}

impl Discovery {
    /// The single most valuable next question (see the module header for the policy).
    pub fn next_question(&self) -> NextQuestion {
        let previous = self.asked.last();
        let coverage = self.coverage();
        if coverage.needs.is_empty() {
            return NextQuestion::Opening {
                question: pick_unrepeated(&OPENING_QUESTIONS, previous),
            };
        }
        // Candidates: every missing slot of every active need, best first.
        let mut candidates: Vec<(NeedId, Slot)> = coverage
            .needs
            .iter()
            .flat_map(|coverage: &Coverage| {
                coverage
                    .missing
                    .iter()
                    .map(move |slot| (coverage.need_id, *slot))
            })
            .collect();
        if candidates.is_empty() {
            return NextQuestion::Complete {
                wrap_up: pick_unrepeated(&WRAP_UP_LINES, previous),
            };
        }
        candidates.sort_by(|left, right| {
            left.1
                .cmp(&right.1)
                .then_with(|| self.recency(right.0).cmp(&self.recency(left.0)))
        });
        let was_previous = |(need_id, slot): &(NeedId, Slot)| {
            previous
                .is_some_and(|asked| asked.need_id == Some(*need_id) && asked.slot == Some(*slot))
        };
        let chosen = candidates
            .iter()
            .find(|candidate| !was_previous(candidate))
            .unwrap_or(&candidates[0]);
        let (need_id, slot) = *chosen;
        let statement = self
            .need(need_id)
            .map(|need| need.statement.as_str())
            .unwrap_or_default();
        let mut question = slot_question(slot, statement, 0);
        if previous.is_some_and(|asked| asked.question == question) {
            question = slot_question(slot, statement, 1);
        }
        NextQuestion::Slot {
            need_id,
            slot,
            question,
        }
    }

    /// Records a question as asked, so the next one is not the same.
    pub fn record_question(&mut self, question: &NextQuestion) {
        self.asked.push(AskedQuestion {
            question: question.text().to_string(),
            need_id: question.need_id(),
            slot: question.slot(),
        });
    }

    /// The questions still open for the brief: each active need's missing slots, asked.
    pub fn remaining_questions(&self) -> Vec<(NeedId, String)> {
        self.needs
            .iter()
            .filter(|need| need.status != NeedStatus::Dropped)
            .flat_map(|need| {
                Coverage::of(need)
                    .missing
                    .into_iter()
                    .map(|slot| (need.id, slot_question(slot, &need.statement, 0)))
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
mod tests {
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
    const ALL_BUT_METRIC: &[Slot] = &[
        Slot::Actor,
        Slot::Pain,
        Slot::Workaround,
        Slot::Frequency,
        Slot::DesiredOutcome,
    ];

    /// The expected result: `None` means `Complete`, otherwise the need and slot asked.
    type Expected = Option<(u32, Slot)>;

    #[test]
    fn interviewer_cases() {
        // (needs as (number, filled slots), mention order, expected)
        let check = |needs: &[(u32, &[Slot])], mentioned: &[u32], expected: Expected| {
            let mut discovery = Discovery::new(Idea::default());
            discovery.needs = needs
                .iter()
                .map(|(id, filled)| need(*id, &format!("need number {id}"), filled))
                .collect();
            discovery.mentioned = mentioned.iter().map(|id| NeedId(*id)).collect();
            let next = discovery.next_question();
            match expected {
                None => assert!(matches!(next, NextQuestion::Complete { .. }), "{next:?}"),
                Some((id, slot)) => {
                    assert_eq!(next.need_id(), Some(NeedId(id)), "{needs:?}: {next:?}");
                    assert_eq!(next.slot(), Some(slot), "{needs:?}: {next:?}");
                }
            }
        };
        check(&[(1, &[])], &[1], Some((1, Slot::Actor)));
        check(&[(1, WHO)], &[1], Some((1, Slot::Pain)));
        check(&[(1, WHO_PAIN)], &[1], Some((1, Slot::Workaround)));
        check(&[(1, ALL_BUT_METRIC)], &[1], Some((1, Slot::SuccessMetric)));
        check(&[(1, ALL)], &[1], None);
        check(&[(1, ALL), (2, ALL)], &[2, 1], None);
        // The earliest missing slot wins over recency.
        check(&[(1, &[]), (2, WHO)], &[1, 2], Some((1, Slot::Actor)));
        // Same earliest slot: the most recently mentioned need.
        check(&[(1, &[]), (2, &[])], &[2, 1], Some((1, Slot::Actor)));
        check(&[(1, &[]), (2, &[])], &[1, 2], Some((2, Slot::Actor)));
        // Never mentioned (restored): the higher number counts as more recent.
        check(&[(1, WHO), (2, WHO)], &[], Some((2, Slot::Pain)));
        // A complete need is skipped.
        check(
            &[(1, ALL), (2, WHO_PAIN)],
            &[2, 1],
            Some((2, Slot::Workaround)),
        );
    }

    #[test]
    fn dropped_needs_are_not_asked_about() {
        let mut discovery = Discovery::new(Idea::default());
        discovery.needs = vec![need(1, "dropped one", &[]), need(2, "kept", ALL)];
        discovery.needs[0].status = NeedStatus::Dropped;
        assert!(matches!(
            discovery.next_question(),
            NextQuestion::Complete { .. }
        ));
    }

    #[test]
    fn opening_question_with_no_needs() {
        let mut discovery = Discovery::new(Idea::default());
        let first = discovery.next_question();
        assert_eq!(first.text(), "Who has this problem?");
        assert!(matches!(first, NextQuestion::Opening { .. }));
        discovery.record_question(&first);
        let second = discovery.next_question();
        assert!(matches!(second, NextQuestion::Opening { .. }));
        assert_ne!(first.text(), second.text());
    }

    #[test]
    fn never_the_same_question_twice_in_a_row() {
        // Situations from one open slot (must rephrase) to many (must move on).
        let situations: &[&[(u32, &[Slot])]] = &[
            &[(1, ALL_BUT_METRIC)],
            &[(1, &[])],
            &[(1, WHO), (2, WHO_PAIN)],
            &[(1, ALL)],
            &[],
        ];
        for needs in situations {
            let mut discovery = Discovery::new(Idea::default());
            discovery.needs = needs
                .iter()
                .map(|(id, filled)| need(*id, "invoices slip", filled))
                .collect();
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
    fn questions_are_short_and_spoken() {
        for slot in Slot::ALL {
            for phrasing in 0..2 {
                let question = slot_question(slot, "Freelancers miss invoice deadlines", phrasing);
                let sentences = question.matches(['.', '?', '!']).count();
                assert!(question.ends_with('?'), "{question}");
                assert!(sentences <= 2, "{question}");
                assert!(question.contains("Freelancers miss invoice deadlines"));
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
