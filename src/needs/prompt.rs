//! Prompts for the need-capture model, as plain strings. Each prompt shows the recent
//! transcript with ids and times (`[u12 00:41–00:47] text`), the sketches (`[s3] …`), a
//! compact state (needs with numbers and missing slots) and, for the turn prompt, the
//! interviewer's chosen question to steer the reply. Lengths are bounded: only the last
//! lines are shown, each line is clipped, so a small model's context never overflows.

use serde::{Deserialize, Serialize};

use super::NeedsError;
use super::coverage::{Coverage, Slot};
use super::discovery::Discovery;
use super::interviewer::NextQuestion;
use super::model::{NeedId, NeedStatus, UtteranceId};
use super::text::{clip, mm_ss, squash};

/// The most transcript lines a prompt shows.
pub const MAX_TRANSCRIPT_LINES: usize = 12;
/// The longest transcript line or sketch description shown (characters).
pub const MAX_LINE_CHARS: usize = 240;
/// The most sketches a prompt shows (the latest).
pub const MAX_PROMPT_SKETCHES: usize = 3;
/// The most needs a prompt's state shows (the most recently mentioned).
pub const MAX_PROMPT_NEEDS: usize = 6;
/// The longest slot value shown in a prompt's state (characters).
pub const MAX_STATE_VALUE_CHARS: usize = 48;

/// A prompt: the system message, worked examples, and the user message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// Instructions.
    pub system: String,
    /// Worked examples shown as earlier turns of the conversation: (user, assistant).
    /// Small models follow examples far better than instructions.
    #[serde(default)]
    pub examples: Vec<(String, String)>,
    /// The material for this turn.
    pub user: String,
}

/// Instructions shared by every extraction call. They are the same for all of a turn's
/// calls, and so is the material that follows them, so the engine's cache reuses that
/// prefix and each call only prefills its task.
const EXTRACT_SYSTEM: &str = "You take notes for a product interviewer. Read the transcript and answer with JSON only. Use the person's own words, a few of them. Write null for anything the person did not say.";

/// The all-in-one turn update's task.
const TURN_TASK: &str = "Task: fill the JSON for the new lines.
- needs: only needs the person expressed in the new lines. \"need\" is the number of an existing need they talk about (N2 is 2), or null for a new need.
- Fill a field only with what the person said, in a few words; otherwise null.
- evidence: \"utterance\" is the id number in the brackets ([u12 ...] is 12); \"quote\" is their exact words.
- modules, options, decisions: only what the person named; otherwise [].
- reply: one short question to ask next; use the suggested question unless the person asked something.";

/// The split alternative's first task; [`Examples::need_list`] follows it.
const NEED_LIST_TASK: &str = "Task: list the needs the person expressed in the new lines: who has which problem, or who wants what.
For each need: \"statement\" is who needs what, in one short sentence of their words; \"utterance\" is the id number in the brackets ([u12 ...] is 12); \"quote\" is their exact words there.
A need already listed under Needs: repeat its statement word for word. Filler, remarks about the sketch and talk about other things are not needs. No need in the new lines: {\"needs\":[]}.
";

/// The split alternative's second task.
const NEED_SLOTS_TASK: &str = "Task: fill in what the new lines say about this need, in a few of the person's words. Use null for anything the new lines do not say. \"utterance\" is the id number in the brackets of the line you used ([u12 ...] is 12); \"quote\" is their exact words there.";

/// The answer task: which words of the new lines answer the interviewer's last question;
/// [`Examples::answer`] follows it.
const ANSWER_TASK: &str = "Task: copy the words of the new lines that answer this question, or null when the new lines do not answer it.
";

/// The clause-labelling task: what one part of the new lines tells. The label words are
/// [`CLAUSE_LABELS`]; [`Examples::labels`] and the part follow it.
const CLAUSE_LABEL_TASK: &str =
    "Task: say what one part of the new lines tells about the problem, with one label:
who: the people who have the problem, or who they are
problem: what goes wrong for them, what hurts, costs or annoys them
workaround: what they do about it today
how_often: how often it happens
wish: what they want to have or to happen instead
measure: how success would be measured, counted or noticed
other: anything else (greetings, stories, questions, the sketch, not knowing)
";

/// The labels of the clause-labelling task and the slot each names; `other` names none.
pub const CLAUSE_LABELS: [(&str, Option<Slot>); 7] = [
    ("who", Some(Slot::Actor)),
    ("problem", Some(Slot::Pain)),
    ("workaround", Some(Slot::Workaround)),
    ("how_often", Some(Slot::Frequency)),
    ("wish", Some(Slot::DesiredOutcome)),
    ("measure", Some(Slot::SuccessMetric)),
    ("other", None),
];

/// One set of worked examples for the extraction and acknowledgement prompts, about
/// people the session is not about: a copied example then cites no words of the person's
/// and the grounding drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Examples {
    /// Word stems that only this set's examples hold ("beekeep" for "beekeepers").
    pub markers: &'static [&'static str],
    /// The need list's example.
    pub need_list: &'static str,
    /// The answer step's examples: one answer, one line that answers nothing.
    pub answer: &'static str,
    /// The acknowledgement's example: what was said, and what is said back.
    pub acknowledgement: (&'static str, &'static str),
    /// The clause-labelling examples: one part per label, in a mixed order, each with its
    /// label.
    pub labels: &'static str,
}

/// The example sets, in order of preference. A session about beekeepers gets the
/// lighthouse keepers' examples, and the other way round.
pub const EXAMPLE_SETS: [Examples; 2] = [
    Examples {
        markers: &["beekeep", "hive"],
        need_list: "Example: for the new line [u7 01:10-01:15] Beekeepers lose track of which hive they treated. the answer is {\"needs\":[{\"statement\":\"Beekeepers lose track of treated hives\",\"utterance\":7,\"quote\":\"Beekeepers lose track of which hive they treated\"}]}",
        answer: "Examples: asked \"How do they cope today?\", the new line \"Mostly they ring the beekeeping club.\" gives {\"answer\":\"they ring the beekeeping club\"}; the new line \"I had a nice lunch with the beekeepers.\" gives {\"answer\":null}.",
        acknowledgement: (
            "Beekeepers forget which hive they treated last week.",
            "So beekeepers lose track of their hive treatments.",
        ),
        labels: "Examples:
\"I had a nice lunch with the beekeepers\" is other
\"they would love a reminder on their phone\" is wish
\"it happens every week in spring\" is how_often
\"they lose track of which hive they treated\" is problem
\"mostly they write it on the hive lid\" is workaround
\"hobby beekeepers with a few hives in the garden\" is who
\"and the honey goes to waste\" is problem
\"success is no hive treated twice in a season\" is measure
\"I'm not sure\" is other
",
    },
    Examples {
        markers: &["lighthouse", "lamp"],
        need_list: "Example: for the new line [u7 01:10-01:15] Lighthouse keepers run out of spare lamps in winter. the answer is {\"needs\":[{\"statement\":\"Lighthouse keepers run out of spare lamps\",\"utterance\":7,\"quote\":\"Lighthouse keepers run out of spare lamps in winter\"}]}",
        answer: "Examples: asked \"How do they cope today?\", the new line \"Mostly they borrow lamps from the next lighthouse.\" gives {\"answer\":\"they borrow lamps from the next lighthouse\"}; the new line \"I had a nice lunch with the lighthouse keepers.\" gives {\"answer\":null}.",
        acknowledgement: (
            "Lighthouse keepers spend every Sunday counting spare lamps by hand.",
            "So counting spare lamps by hand eats their Sundays.",
        ),
        labels: "Examples:
\"I visited a lighthouse on holiday once\" is other
\"they want the spare lamps counted for them\" is wish
\"it happens every Sunday\" is how_often
\"counting takes them the whole afternoon\" is problem
\"they count the spare lamps by hand\" is workaround
\"lighthouse keepers on remote islands\" is who
\"and the lamps run out in a storm\" is problem
\"we'd know it works when no lighthouse runs out of lamps\" is measure
\"I'd have to ask them\" is other
",
    },
];

/// Whether a word is one of an example set's marker words ("hives" for "hive", but not
/// "archive").
fn is_marker_word(word: &str, markers: &[&str]) -> bool {
    markers.iter().any(|marker| word.starts_with(marker))
}

/// The lowercase words of everything the person said in the session.
fn session_words(discovery: &Discovery) -> Vec<String> {
    discovery
        .utterances
        .iter()
        .flat_map(|utterance| super::cues::lower_words(&utterance.text))
        .collect()
}

/// The example set for a session: the first whose marker words the person never said.
pub fn examples_for(discovery: &Discovery) -> &'static Examples {
    let said = session_words(discovery);
    EXAMPLE_SETS
        .iter()
        .find(|examples| {
            !said
                .iter()
                .any(|word| is_marker_word(word, examples.markers))
        })
        .unwrap_or(&EXAMPLE_SETS[0])
}

/// Whether `text` (a model's words) holds a word of a prompt example that the person
/// never said in the session: it was copied from the example, not heard.
pub fn copies_example(text: &str, discovery: &Discovery) -> bool {
    let said = session_words(discovery);
    super::cues::lower_words(text).iter().any(|word| {
        EXAMPLE_SETS
            .iter()
            .any(|examples| is_marker_word(word, examples.markers))
            && !said.contains(word)
    })
}

/// Instructions for the spoken acknowledgement that opens a reply. It is spoken while
/// the needs are extracted, so it must be short, and it must not ask: the interviewer's
/// question follows it.
const ACKNOWLEDGEMENT_SYSTEM: &str =
    "You are a product interviewer. Say back the problem you heard in one short sentence.";

/// What the interviewer says about a sketch no vision model could read: it never
/// describes what it cannot see.
pub const SKETCH_UNREAD_LINE: &str = "Got the sketch; I can't read it yet.";

/// Share of an acknowledgement's content words that must be the person's words of the
/// turn: it says back what was heard, it does not add to it.
pub const MIN_ACKNOWLEDGEMENT_GROUNDED_SHARE: f64 = 0.5;

/// Whether an acknowledgement says back the person's words (at least
/// `MIN_ACKNOWLEDGEMENT_GROUNDED_SHARE` of its content words are among `said`'s), rather
/// than something of the model's ("This is a drawing of a dog.").
pub fn acknowledgement_is_grounded(acknowledgement: &str, said: &str) -> bool {
    let said = super::text::content_words(said);
    super::text::grounded_share(acknowledgement, &said) >= MIN_ACKNOWLEDGEMENT_GROUNDED_SHARE
}

/// Whether the person's words say anything to capture: not only filler, cue phrases,
/// questions or refusals.
pub fn has_content(said: &str) -> bool {
    super::cues::sentences(said)
        .iter()
        .any(|sentence| super::cues::act(sentence) == super::cues::Act::Content)
}

/// The longest acknowledgement input (characters of the newest utterances).
pub const MAX_ACKNOWLEDGEMENT_INPUT_CHARS: usize = 400;

/// The prompt for the spoken acknowledgement of the utterances just added: only their
/// words (the newest last, clipped from the front), so the prompt stays short and the
/// first spoken word comes quickly.
pub fn acknowledgement_prompt(discovery: &Discovery, new_utterance_ids: &[UtteranceId]) -> Prompt {
    let said: Vec<&str> = new_utterance_ids
        .iter()
        .filter_map(|id| discovery.utterance(*id))
        .map(|utterance| utterance.text.trim())
        .filter(|text| !text.is_empty())
        .collect();
    let said = said.join(" ");
    let n_chars = said.chars().count();
    let said: String = said
        .chars()
        .skip(n_chars.saturating_sub(MAX_ACKNOWLEDGEMENT_INPUT_CHARS))
        .collect();
    Prompt {
        system: ACKNOWLEDGEMENT_SYSTEM.to_string(),
        examples: acknowledgement_examples(discovery)
            .iter()
            .map(|(user, assistant)| (user.to_string(), assistant.to_string()))
            .collect(),
        user: said,
    }
}

/// Worked examples of the acknowledgement: those of every example set whose words the
/// person never said. Small models follow examples far better than instructions (with
/// instructions alone, SmolLM2-135M refused or rambled on two of four test monologues),
/// and a copied example fails the acknowledgement's grounding check.
fn acknowledgement_examples(discovery: &Discovery) -> Vec<(&'static str, &'static str)> {
    let said = session_words(discovery);
    let unsaid: Vec<(&str, &str)> = EXAMPLE_SETS
        .iter()
        .filter(|examples| {
            !said
                .iter()
                .any(|word| is_marker_word(word, examples.markers))
        })
        .map(|examples| examples.acknowledgement)
        .collect();
    if unsaid.is_empty() {
        vec![examples_for(discovery).acknowledgement]
    } else {
        unsaid
    }
}

/// The all-in-one turn prompt for the utterances just added.
pub fn turn_prompt(
    discovery: &Discovery,
    new_utterance_ids: &[UtteranceId],
    next_question: &NextQuestion,
) -> Prompt {
    let mut user = material(discovery, new_utterance_ids);
    user.push_str("\nNeeds:\n");
    user.push_str(&needs_state(discovery));
    user.push_str(&format!("\nSuggested question: {}\n", next_question.text()));
    user.push_str(TURN_TASK);
    Prompt {
        system: EXTRACT_SYSTEM.to_string(),
        examples: Vec::new(),
        user,
    }
}

/// The answer step: which words of the new lines answer the question asked last, about
/// need `need_id`'s `slot`. Ask with `answer_schema()`.
pub fn answer_prompt(
    discovery: &Discovery,
    need_id: NeedId,
    slot: Slot,
    question: &str,
    new_utterance_ids: &[UtteranceId],
) -> Result<Prompt, NeedsError> {
    let need = discovery
        .need(need_id)
        .ok_or(NeedsError::UnknownNeed(need_id.0))?;
    let mut user = material(discovery, new_utterance_ids);
    user.push_str(&format!(
        "\nThe interviewer asked about need {} ({}): \"{}\" ({})\n",
        need.id,
        clip(&need.statement, MAX_LINE_CHARS),
        clip(question, MAX_LINE_CHARS),
        slot.label()
    ));
    user.push_str(ANSWER_TASK);
    user.push_str(examples_for(discovery).answer);
    Ok(Prompt {
        system: EXTRACT_SYSTEM.to_string(),
        examples: Vec::new(),
        user,
    })
}

/// The clause-labelling step for one part of the new lines (a clause of `sentence`):
/// what it tells, read in the light of the question asked last. Ask with
/// `needs::dialogue::clause_label_schema()`. Every part of a turn shares the prompt up to
/// the part itself, so the engine's cache makes each further part cheap.
pub fn clause_label_prompt(
    discovery: &Discovery,
    question: Option<&str>,
    sentence: &str,
    part: &str,
    new_utterance_ids: &[UtteranceId],
) -> Prompt {
    let mut user = material(discovery, new_utterance_ids);
    if let Some(question) = question.filter(|question| !question.trim().is_empty()) {
        user.push_str(&format!(
            "\nThe interviewer last asked: \"{}\"\n",
            clip(question, MAX_LINE_CHARS)
        ));
    }
    user.push_str(CLAUSE_LABEL_TASK);
    user.push_str(examples_for(discovery).labels);
    let bare = |text: &str| {
        squash(text)
            .trim_end_matches(['.', '!', '?', ',', ';'])
            .to_string()
    };
    if bare(sentence) != bare(part) {
        user.push_str(&format!(
            "The sentence: \"{}\"\n",
            clip(sentence, MAX_LINE_CHARS)
        ));
    }
    user.push_str(&format!(
        "The part to label: \"{}\"\n",
        clip(part, MAX_LINE_CHARS)
    ));
    Prompt {
        system: EXTRACT_SYSTEM.to_string(),
        examples: Vec::new(),
        user,
    }
}

/// The split alternative, step one: which needs were heard in the new utterances.
pub fn need_list_prompt(discovery: &Discovery, new_utterance_ids: &[UtteranceId]) -> Prompt {
    let mut user = material(discovery, new_utterance_ids);
    user.push_str("\nNeeds:\n");
    user.push_str(&needs_state(discovery));
    user.push_str(NEED_LIST_TASK);
    user.push_str(examples_for(discovery).need_list);
    Prompt {
        system: EXTRACT_SYSTEM.to_string(),
        examples: Vec::new(),
        user,
    }
}

/// The split alternative, step two: fill one need's `slots` (usually its missing ones)
/// from the new utterances. Ask with `need_slots_schema(discovery, slots)`.
pub fn need_slots_prompt(
    discovery: &Discovery,
    need_id: NeedId,
    slots: &[Slot],
    new_utterance_ids: &[UtteranceId],
) -> Result<Prompt, NeedsError> {
    let need = discovery
        .need(need_id)
        .ok_or(NeedsError::UnknownNeed(need_id.0))?;
    let mut user = material(discovery, new_utterance_ids);
    user.push_str(&format!(
        "\nNeed {}: {}\n",
        need.id,
        clip(&need.statement, MAX_LINE_CHARS)
    ));
    for slot in Slot::ALL {
        if let Some(value) = slot.value(need) {
            user.push_str(&format!(
                "Known {}: {}\n",
                slot.field_name(),
                clip(value, MAX_STATE_VALUE_CHARS)
            ));
        }
    }
    let wanted: Vec<&str> = Slot::ALL
        .iter()
        .filter(|slot| slots.contains(slot))
        .map(|slot| slot.field_name())
        .collect();
    user.push_str(&format!("Fill: {}\n", wanted.join(", ")));
    user.push_str(NEED_SLOTS_TASK);
    Ok(Prompt {
        examples: Vec::new(),
        system: EXTRACT_SYSTEM.to_string(),
        user,
    })
}

/// The idea, the transcript and the sketches, shared by every prompt.
fn material(discovery: &Discovery, new_utterance_ids: &[UtteranceId]) -> String {
    let mut text = String::new();
    let idea = &discovery.idea;
    if !idea.title.trim().is_empty() || !idea.summary.trim().is_empty() {
        text.push_str(&format!(
            "Idea: {}\n",
            clip(
                &format!("{}. {}", idea.title.trim(), idea.summary.trim()),
                MAX_LINE_CHARS
            )
        ));
    }
    text.push_str("Transcript:\n");
    let shown = shown_utterances(discovery, new_utterance_ids);
    if shown.is_empty() {
        text.push_str("(nothing yet)\n");
    }
    for index in shown {
        let utterance = &discovery.utterances[index];
        text.push_str(&format!(
            "[u{} {}–{}] {}\n",
            utterance.id.0,
            mm_ss(utterance.start_ms),
            mm_ss(utterance.end_ms),
            clip(&utterance.text, MAX_LINE_CHARS)
        ));
    }
    let new: Vec<String> = new_utterance_ids
        .iter()
        .filter(|id| discovery.utterance(**id).is_some())
        .map(|id| format!("u{}", id.0))
        .collect();
    text.push_str(&format!(
        "New lines: {}\n",
        if new.is_empty() {
            "none".to_string()
        } else {
            new.join(", ")
        }
    ));
    let sketches = &discovery.sketches;
    if !sketches.is_empty() {
        text.push_str("Sketches:\n");
        for sketch in &sketches[sketches.len().saturating_sub(MAX_PROMPT_SKETCHES)..] {
            let mut line = sketch
                .description
                .as_deref()
                .map(str::trim)
                .filter(|description| !description.is_empty())
                .unwrap_or("(no description)")
                .to_string();
            if !sketch.labels.is_empty() {
                line.push_str(&format!(" Labels: {}.", sketch.labels.join(", ")));
            }
            text.push_str(&format!(
                "[s{}] {}\n",
                sketch.id.0,
                clip(&line, MAX_LINE_CHARS)
            ));
        }
    }
    text
}

/// The positions of the utterances to show, oldest first: the new ones (the latest of them
/// if there are too many), then the most recent others, up to `MAX_TRANSCRIPT_LINES`.
fn shown_utterances(discovery: &Discovery, new_utterance_ids: &[UtteranceId]) -> Vec<usize> {
    let utterances = &discovery.utterances;
    let mut shown: Vec<usize> = (0..utterances.len())
        .filter(|index| new_utterance_ids.contains(&utterances[*index].id))
        .collect();
    let excess = shown.len().saturating_sub(MAX_TRANSCRIPT_LINES);
    let mut shown = shown.split_off(excess);
    for index in (0..utterances.len()).rev() {
        if shown.len() >= MAX_TRANSCRIPT_LINES {
            break;
        }
        if !shown.contains(&index) {
            shown.push(index);
        }
    }
    shown.sort_unstable();
    shown
}

/// One line per active need (the most recently mentioned), with filled and missing slots.
fn needs_state(discovery: &Discovery) -> String {
    let mut active: Vec<_> = discovery
        .needs
        .iter()
        .filter(|need| need.status != NeedStatus::Dropped)
        .collect();
    if active.is_empty() {
        return "(none yet)\n".to_string();
    }
    active.sort_by_key(|need| std::cmp::Reverse(discovery.recency(need.id)));
    active.truncate(MAX_PROMPT_NEEDS);
    active.sort_by_key(|need| need.id);
    let mut text = String::new();
    for need in active {
        let mut line = format!("{}: {}", need.id, clip(&need.statement, MAX_LINE_CHARS));
        for slot in Slot::ALL {
            if let Some(value) = slot.value(need) {
                line.push_str(&format!(
                    " | {}: {}",
                    slot.field_name(),
                    clip(value, MAX_STATE_VALUE_CHARS)
                ));
            }
        }
        let missing: Vec<&str> = Coverage::of(need)
            .missing
            .iter()
            .map(|slot| slot.field_name())
            .collect();
        if !missing.is_empty() {
            line.push_str(&format!(" | missing: {}", missing.join(", ")));
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::model::{Idea, Sketch, SketchId, Utterance};

    fn discovery(utterances: usize) -> Discovery {
        let mut discovery = Discovery::new(Idea {
            title: "Invoice nudge".to_string(),
            summary: "Reminders so freelancers invoice on time.".to_string(),
        });
        for index in 0..utterances {
            let start_ms = index as u64 * 7_000;
            let added = discovery.add_utterance(Utterance {
                id: UtteranceId(index as i64 + 1),
                start_ms,
                end_ms: start_ms + 6_500,
                text: format!("line {} {}", index + 1, "words ".repeat(index % 3)),
            });
            assert_eq!(added, Ok(()));
        }
        discovery
    }

    /// A discovery whose one utterance is `said`.
    fn said(said: &str) -> Discovery {
        let mut discovery = discovery(0);
        let added = discovery.add_utterance(Utterance {
            id: UtteranceId(1),
            start_ms: 0,
            end_ms: 5_000,
            text: said.to_string(),
        });
        assert_eq!(added, Ok(()));
        discovery
    }

    #[test]
    fn a_session_gets_examples_about_people_it_is_not_about() {
        let check = |said_text: &str, expected_marker: &str, copied: &[(&str, bool)]| {
            let discovery = said(said_text);
            let examples = examples_for(&discovery);
            assert!(examples.markers.contains(&expected_marker), "{said_text}");
            let prompt = need_list_prompt(&discovery, &[UtteranceId(1)]);
            assert!(prompt.user.contains(examples.need_list), "{said_text}");
            for (text, expected) in copied {
                assert_eq!(
                    copies_example(text, &discovery),
                    *expected,
                    "{said_text} / {text}"
                );
            }
        };
        check(
            "Florists throw away a bucket of roses every Monday.",
            "beekeep",
            &[
                ("Beekeepers lose track of treated hives", true),
                ("they borrow lamps from the next lighthouse", true),
                ("roses in the archive room", false),
                ("florists throw away roses", false),
            ],
        );
        check(
            "Hobby beekeepers forget which hive they checked last.",
            "lighthouse",
            &[
                ("hobby beekeepers", false),
                ("which hive they checked", false),
                ("Lighthouse keepers run out of spare lamps", true),
            ],
        );
    }

    #[test]
    fn turn_prompt_shows_ids_times_state_and_question() {
        let mut discovery = discovery(3);
        let added = discovery.add_sketch(Sketch {
            id: SketchId(3),
            image_path: "sketches/3.png".to_string(),
            description: Some("A calendar with red deadline dots.".to_string()),
            labels: vec!["due".to_string()],
        });
        assert_eq!(added, Ok(()));
        let update = crate::needs::update::TurnUpdate {
            needs: vec![crate::needs::update::NeedUpdate {
                statement: Some("Freelancers need deadline reminders".to_string()),
                actor: Some("freelancers".to_string()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            discovery
                .apply(&update, chrono::DateTime::<chrono::Utc>::default())
                .is_ok()
        );
        let question = discovery.next_question();
        let prompt = turn_prompt(&discovery, &[UtteranceId(3)], &question);
        let check = |fragment: &str| {
            assert!(
                prompt.user.contains(fragment),
                "{fragment:?} not in\n{}",
                prompt.user
            );
        };
        check("Idea: Invoice nudge. Reminders so freelancers invoice on time.\n");
        check("[u1 00:00–00:06] line 1\n");
        check("[u2 00:07–00:13] line 2 words\n");
        check("New lines: u3\n");
        check("[s3] A calendar with red deadline dots. Labels: due.\n");
        check(
            "N1: Freelancers need deadline reminders | actor: freelancers | missing: pain, workaround, frequency, desired_outcome, success_metric\n",
        );
        check("Suggested question: What hurts most about it today?\n");
        assert!(prompt.user.contains("null for a new need"));
    }

    #[test]
    fn acknowledgement_prompt_is_the_new_words_with_examples() {
        let check = |new: &[i64], expected_user: &str| {
            let discovery = discovery(3);
            let ids: Vec<UtteranceId> = new.iter().map(|id| UtteranceId(*id)).collect();
            let prompt = acknowledgement_prompt(&discovery, &ids);
            assert_eq!(prompt.user, expected_user, "{new:?}");
            assert_eq!(prompt.examples.len(), EXAMPLE_SETS.len());
            assert!(
                prompt
                    .examples
                    .iter()
                    .all(|(_, answer)| answer.starts_with("So "))
            );
        };
        check(&[3], "line 3 words words");
        check(&[1, 2], "line 1 line 2 words");
        check(&[99], "");
        let long = discovery(200);
        let ids: Vec<UtteranceId> = (1..=200).map(UtteranceId).collect();
        let prompt = acknowledgement_prompt(&long, &ids);
        assert_eq!(
            prompt.user.chars().count(),
            MAX_ACKNOWLEDGEMENT_INPUT_CHARS,
            "the newest words are kept, clipped from the front"
        );
        assert!(prompt.user.ends_with("line 200 words"), "{}", prompt.user);
    }

    #[test]
    fn prompts_are_bounded() {
        let discovery = discovery(200);
        let old_and_new = [UtteranceId(2), UtteranceId(200)];
        let question = discovery.next_question();
        let prompt = turn_prompt(&discovery, &old_and_new, &question);
        let lines = prompt
            .user
            .lines()
            .filter(|line| line.starts_with("[u"))
            .count();
        assert_eq!(lines, MAX_TRANSCRIPT_LINES);
        assert!(prompt.user.contains("[u2 "), "a new line is always shown");
        assert!(prompt.user.contains("[u200 "));
        assert!(!prompt.user.contains("[u150 "));
        assert!(prompt.user.len() < 2_000, "{}", prompt.user.len());
        let list = need_list_prompt(&discovery, &old_and_new);
        assert!(list.user.len() < 2_000);
        assert!(list.user.contains("(none yet)"));
    }

    #[test]
    fn need_slots_prompt_names_the_need_and_slots() {
        let mut discovery = discovery(2);
        let update = crate::needs::update::TurnUpdate {
            needs: vec![crate::needs::update::NeedUpdate {
                statement: Some("Freelancers need deadline reminders".to_string()),
                pain: Some("late fees".to_string()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            discovery
                .apply(&update, chrono::DateTime::<chrono::Utc>::default())
                .is_ok()
        );
        let slots = [Slot::Frequency, Slot::Actor];
        let prompt = need_slots_prompt(&discovery, NeedId(1), &slots, &[UtteranceId(2)]);
        let Ok(prompt) = prompt else {
            panic!("{prompt:?}");
        };
        assert!(
            prompt
                .user
                .contains("Need N1: Freelancers need deadline reminders\n")
        );
        assert!(prompt.user.contains("Known pain: late fees\n"));
        assert!(prompt.user.contains("Fill: actor, frequency\n"));
        assert_eq!(
            need_slots_prompt(&discovery, NeedId(9), &slots, &[]),
            Err(NeedsError::UnknownNeed(9))
        );
    }

    #[test]
    fn clause_label_prompt_ends_with_the_part_after_an_example_of_each_label() {
        let discovery = said("Hobby beekeepers forget which hive they checked last.");
        let prompt = clause_label_prompt(
            &discovery,
            Some("How often does it happen?"),
            "Mostly on Sundays, and they hate it.",
            "they hate it",
            &[UtteranceId(1)],
        );
        let user = &prompt.user;
        assert!(user.contains("The interviewer last asked: \"How often does it happen?\"\n"));
        // The session is about beekeepers, so the examples are the lighthouse keepers'.
        assert!(user.contains(EXAMPLE_SETS[1].labels), "{user}");
        assert!(user.ends_with(
            "The sentence: \"Mostly on Sundays, and they hate it.\"\nThe part to label: \"they hate it\"\n"
        ));
        for (label, _) in CLAUSE_LABELS {
            assert!(
                user.contains(&format!("\n{label}: ")),
                "{label} unexplained"
            );
            for examples in EXAMPLE_SETS {
                assert!(
                    examples.labels.contains(&format!("\" is {label}\n")),
                    "{label} has no example"
                );
            }
        }
        // A part that is the whole sentence is shown once; no question, no question line.
        let whole = clause_label_prompt(&discovery, None, "They hate it.", "They hate it", &[]);
        assert!(!whole.user.contains("last asked"));
        assert!(!whole.user.contains("The sentence:"));
    }
}
