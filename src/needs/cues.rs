//! Cue phrases: what a sentence of the person's does, read from its words alone. A
//! sentence is filler ("Look at this.", "Hmm, okay."), a non-answer ("I don't know yet."),
//! a correction ("No, it's for teachers, not parents."), a remark about the conversation
//! ("I've drawn what I'm imagining."), or content; content may describe a problem, a wish
//! or a person, and may carry explicit cues for an interview slot ("right now they…",
//! "every week", "I would measure success by…").
//!
//! Why rules beside a language model: the interview must not depend on the model being
//! strong. A 135 M model cannot tell a filler from a problem, and even a good model's
//! answer has to be checked against what was said. Every rule here is a short word list or
//! word pattern, tested on its own, and used only where a wrong reading costs little: to
//! keep filler from becoming a need, to notice that an answer speaks to another slot than
//! the one asked, and to take a slot the person named explicitly.

mod lexicon;
mod people;
mod values;

use lexicon::*;
use people::*;
pub use values::{clause_value, slot_value};

use super::coverage::Slot;
use super::text::{squash, word_spans};

/// Whether a clause describes a habit: a subject and a habit verb ("she uses…", "they
/// keep…"), what the speaker ends up doing, or "by hand".
///
/// "They keep losing…" says something goes wrong again and again ([`keeps_happening_at`]),
/// and "I run a small clinic" says who the person is: neither is a habit.
fn is_habit(clause: &str) -> bool {
    let words = cue_words(clause);
    contains_any(&words, WORKAROUND_HABITS)
        || ends_up_doing(&words)
        || words.windows(2).enumerate().any(|(idx, pair)| {
            let runs_a_business = matches!(pair[1].as_str(), "run" | "runs")
                && words
                    .get(idx + 2)
                    .is_some_and(|next| matches!(next.as_str(), "a" | "an" | "my" | "our"));
            HABIT_SUBJECTS.contains(&pair[0].as_str())
                && HABIT_VERBS.contains(&pair[1].as_str())
                && !keeps_happening_at(&words, idx + 1)
                && !runs_a_business
        })
}

/// Whether the speaker says what they end up doing ("so we end up phoning the other crew",
/// "I end up ringing round the farmers"): how they cope. Doing it twice or again ("we end
/// up writing the catch log twice") is the waste itself, not a way of coping.
fn ends_up_doing(words: &[String]) -> bool {
    let repeats = words
        .iter()
        .any(|word| matches!(word.as_str(), "twice" | "again"));
    !repeats
        && words.windows(4).any(|four| {
            matches!(four[0].as_str(), "we" | "i")
                && four[1] == "end"
                && four[2] == "up"
                && four[3].len() > "ing".len()
                && four[3].ends_with("ing")
        })
}

/// Whether the word at `idx` is a "keep" before a verb in "-ing" that says something goes
/// wrong over and over ("clients keep asking for one more change"), not a habit or a
/// thought ("we keep using…", "I keep thinking…").
fn keeps_happening_at(words: &[String], idx: usize) -> bool {
    KEEP_VERBS.contains(&words[idx].as_str())
        && words.get(idx + 1).is_some_and(|next| {
            next.len() > "ing".len()
                && next.ends_with("ing")
                && !NEUTRAL_KEEP_GERUNDS.contains(&next.as_str())
        })
}

/// Where a clause announces a count of problems to come ("I have two separate headaches",
/// "there are a couple of issues"): the index of the count word and of the noun.
fn announcement_at(words: &[String]) -> Option<(usize, usize)> {
    words.iter().enumerate().find_map(|(count_idx, word)| {
        if !ANNOUNCING_COUNTS.contains(&word.as_str()) {
            return None;
        }
        (count_idx + 1..words.len().min(count_idx + 4))
            .find(|noun_idx| ANNOUNCED_NOUNS.contains(&words[*noun_idx].as_str()))
            .map(|noun_idx| (count_idx, noun_idx))
    })
}

/// Whether a clause announces a count of problems to come ("I have two separate headaches,
/// one for my cleaners and one for me"): it says there is more to hear, not what hurts.
pub fn announces_problems(clause: &str) -> bool {
    announcement_at(&lower_words(clause)).is_some()
}

/// The word index before which a people noun counts as the subject.
const MAX_SUBJECT_WORD_IDX: usize = 5;

/// The most words besides the declining phrase a non-answer may have ("I don't know yet
/// how they deal with it today" still declines; a longer sentence says something).
const MAX_NON_ANSWER_EXTRA_WORDS: usize = 6;

/// The most words a correction without an opener ("Landlords, not tenants.") may have.
const MAX_BARE_CORRECTION_WORDS: usize = 6;

/// The most words a remark may hold besides its remark phrase and filler ("here's the
/// rough drawing I made last night" holds four: rough, made, last, night).
const MAX_REMARK_EXTRA_WORDS: usize = 5;

/// What a sentence does in the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Only filler and cue phrases: nothing to capture.
    Filler,
    /// Declines to answer ("I don't know yet").
    NonAnswer,
    /// A question the person asks ("How would we measure it?"): it restates a topic and
    /// says nothing to capture.
    Question,
    /// Takes something back: `right` replaces `wrong` ("it's for teachers, not parents").
    Correction {
        /// The words taken back ("parents").
        wrong: String,
        /// The words meant instead ("teachers").
        right: String,
    },
    /// Talk about the conversation itself: showing or drawing the sketch ("I've drawn what
    /// I'm imagining"), finding where to begin ("Let me think where to start"), announcing
    /// the next topic without saying it ("The second thing is pickup"). It tells no slot,
    /// though a model often labels it the problem.
    Remark,
    /// Anything else.
    Content,
}

/// A sentence's words, lowercased, in order.
pub(super) fn lower_words(text: &str) -> Vec<String> {
    word_spans(text)
        .into_iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect()
}

/// A sentence's words for matching cue phrases: lowercased, without the adverbs that may
/// stand inside a cue.
fn cue_words(text: &str) -> Vec<String> {
    lower_words(text)
        .into_iter()
        .filter(|word| !CUE_ADVERBS.contains(&word.as_str()))
        .collect()
}

/// Whether `pattern` occurs in `words` as consecutive words.
fn contains_phrase(words: &[String], pattern: &[&str]) -> bool {
    phrase_position(words, pattern).is_some()
}

/// Where `pattern` first occurs in `words` as consecutive words.
fn phrase_position(words: &[String], pattern: &[&str]) -> Option<usize> {
    if pattern.is_empty() || pattern.len() > words.len() {
        return None;
    }
    (0..=words.len() - pattern.len()).find(|start| {
        pattern
            .iter()
            .enumerate()
            .all(|(offset, word)| words[start + offset] == *word)
    })
}

/// Whether any of `patterns` occurs in `words`.
pub(super) fn contains_any(words: &[String], patterns: &[&[&str]]) -> bool {
    patterns
        .iter()
        .any(|pattern| contains_phrase(words, pattern))
}

/// The sentences of an utterance, each squashed; a sentence ends at `.`, `!` or `?`
/// followed by a space or the end (so "3.5" and "e.g." inside a word stay whole).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (char_idx, c) in chars.iter().enumerate() {
        current.push(*c);
        let at_end = matches!(c, '.' | '!' | '?')
            && chars
                .get(char_idx + 1)
                .is_none_or(|next| next.is_whitespace());
        if at_end {
            let sentence = squash(&current);
            if !sentence.is_empty() {
                out.push(sentence);
            }
            current.clear();
        }
    }
    let rest = squash(&current);
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// What a sentence does (see [`Act`]).
pub fn act(sentence: &str) -> Act {
    let words = lower_words(sentence);
    if words.is_empty()
        || words
            .iter()
            .all(|word| FILLER_WORDS.contains(&word.as_str()))
    {
        return Act::Filler;
    }
    if let Some((wrong, right)) = correction(sentence) {
        return Act::Correction { wrong, right };
    }
    // A refusal with an excuse beside it ("As for how it gets patched up now, I honestly
    // couldn't tell you, that happens in the office") declines too, when nothing in it
    // speaks clearly to a slot.
    let says_little = content_word_count(&words) <= MAX_NON_ANSWER_EXTRA_WORDS
        || slot_evidence(sentence)
            .iter()
            .all(|strength| *strength < CLEAR);
    let declines = contains_any(&words, NON_ANSWER_PATTERNS)
        && says_little
        && frequency_phrase(sentence).is_none()
        && explicit_slot(sentence).is_none();
    if declines {
        return Act::NonAnswer;
    }
    if is_remark(sentence) {
        return Act::Remark;
    }
    if sentence.trim_end().ends_with('?') {
        return Act::Question;
    }
    Act::Content
}

/// Whether a sentence is a remark about the conversation (see [`Act::Remark`]): it holds a
/// remark phrase, at most [`MAX_REMARK_EXTRA_WORDS`] words besides it and filler, and no
/// sign of any slot ([`slot_evidence`]).
fn is_remark(sentence: &str) -> bool {
    let words = cue_words(sentence);
    let pattern: Vec<&str> = match REMARK_PATTERNS
        .iter()
        .find(|pattern| contains_phrase(&words, pattern))
    {
        Some(pattern) => pattern.to_vec(),
        None => match announcement_at(&words) {
            Some((count_idx, noun_idx)) => words[count_idx..=noun_idx]
                .iter()
                .map(String::as_str)
                .collect(),
            None => return false,
        },
    };
    let n_extra_words = words
        .iter()
        .filter(|word| !FILLER_WORDS.contains(&word.as_str()) && !pattern.contains(&word.as_str()))
        .count();
    n_extra_words <= MAX_REMARK_EXTRA_WORDS
        && slot_evidence(sentence)
            .iter()
            .all(|strength| *strength == 0)
}

/// Words that are neither filler nor the words of a non-answer phrase.
fn content_word_count(words: &[String]) -> usize {
    let pattern_words: Vec<&str> = NON_ANSWER_PATTERNS
        .iter()
        .flat_map(|pattern| pattern.iter().copied())
        .collect();
    words
        .iter()
        .filter(|word| {
            !FILLER_WORDS.contains(&word.as_str()) && !pattern_words.contains(&word.as_str())
        })
        .count()
}

/// A correction's (wrong, right) words: "no, it's for X, not Y", "X, not Y", "not Y but
/// X", "I meant X, not Y", "sorry, not Y, I mean X". "No, sorry, I mean X" names only
/// what is right, and only when X is people: its wrong side is empty (the caller knows
/// whom it replaces). `None` for a sentence that takes nothing back.
pub fn correction(sentence: &str) -> Option<(String, String)> {
    let spans = word_spans(sentence);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let opened = words
        .first()
        .is_some_and(|word| CORRECTION_OPENERS.contains(&word.as_str()))
        || contains_phrase(&words, &["i", "meant"]);
    // Where the phrase starting at `from` ends: before the next punctuation, or at the end.
    let phrase_end = |from: usize| -> usize {
        (from..words.len())
            .find(|idx| {
                idx + 1 < words.len()
                    && sentence[spans[*idx].1..spans[idx + 1].0]
                        .contains([',', '.', ';', ':', '!', '?'])
            })
            .map_or(words.len(), |idx| idx + 1)
    };
    // "I mean X" names what is right: after "not Y," or after an opener alone ("No, sorry,
    // I mean the porters").
    let mean_idx = words
        .windows(2)
        .position(|pair| pair[0] == "i" && matches!(pair[1].as_str(), "mean" | "meant"))
        .map(|idx| idx + 1);
    let not_idx = words.iter().position(|word| word == "not");
    // "No wait, let me take that back, it's the dispatchers": what follows the take-back
    // names the people meant; what was wrong is left to the caller.
    if let Some(back_end) = TAKE_BACK_PHRASES
        .iter()
        .filter_map(|pattern| phrase_end_at(&words, pattern))
        .min()
        && mean_idx.is_none_or(|mean_idx| mean_idx >= back_end)
    {
        let mut from = back_end;
        while from < words.len() && is_correction_lead(&words[from]) {
            from += 1;
        }
        if from < words.len() {
            let right = squash(
                sentence[spans[from].0..spans[words.len() - 1].1]
                    .trim_end_matches([',', '.', ';', '!', '?']),
            );
            if actor_phrase(&right).is_some() {
                return Some((String::new(), right));
            }
        }
    }
    if let Some(mean_idx) = mean_idx {
        let right_end = phrase_end(mean_idx + 1);
        let right = if mean_idx + 1 < right_end {
            squash(&sentence[spans[mean_idx + 1].0..spans[right_end - 1].1])
        } else {
            String::new()
        };
        let leads_only = |to: usize| words[..to].iter().all(|word| is_correction_lead(word));
        match not_idx {
            // "Sorry, not the apprentices, I mean the plumbers".
            Some(not_idx) if not_idx < mean_idx && leads_only(not_idx) => {
                let wrong_end = phrase_end(not_idx + 1).min(mean_idx - 1);
                if not_idx + 1 < wrong_end && !right.is_empty() {
                    let wrong = squash(&sentence[spans[not_idx + 1].0..spans[wrong_end - 1].1]);
                    return Some((last_words(&wrong, 4), right));
                }
            }
            // "No, sorry, I mean the porters": what was wrong is left to the caller.
            None if opened && leads_only(mean_idx - 1) && actor_phrase(&right).is_some() => {
                return Some((String::new(), right));
            }
            _ => {}
        }
    }
    let not_idx = not_idx?;
    // "…, not Y": the comma right before "not".
    let comma_before_not = not_idx > 0 && {
        let previous_end = spans[not_idx - 1].1;
        sentence[previous_end..spans[not_idx].0].contains(',')
    };
    let but_idx = words
        .iter()
        .skip(not_idx + 1)
        .position(|word| word == "but")
        .map(|offset| offset + not_idx + 1);
    let phrase = |from: usize, to: usize| -> String {
        let mut from = from;
        while from < to && is_correction_lead(&words[from]) {
            from += 1;
        }
        if from >= to {
            return String::new();
        }
        squash(sentence[spans[from].0..spans[to - 1].1].trim_end_matches([',', '.', ';', '!', '?']))
    };
    let short = words.len() <= MAX_BARE_CORRECTION_WORDS;
    let (wrong, right) = match but_idx {
        // "not Y but X".
        Some(but_idx) if opened || not_idx == 0 => (
            phrase(not_idx + 1, but_idx),
            phrase(but_idx + 1, words.len()),
        ),
        _ if comma_before_not && (opened || short) => {
            // "X, not Y": X is the phrase before the comma, after any opener.
            let end = clause_end(&words, not_idx + 1);
            (phrase(not_idx + 1, end), phrase(0, not_idx))
        }
        _ => return None,
    };
    let right = last_words(&right, 4);
    let wrong = last_words(&wrong, 4);
    (!wrong.is_empty() && !right.is_empty() && !opened_only_pronoun(&right))
        .then_some((wrong, right))
}

/// Where the first occurrence of `pattern` in `words` ends (the index after its last
/// word), if it occurs.
fn phrase_end_at(words: &[String], pattern: &[&str]) -> Option<usize> {
    words
        .windows(pattern.len())
        .position(|window| window.iter().zip(pattern).all(|(word, want)| word == want))
        .map(|start| start + pattern.len())
}

/// Whether a word opens a correction or its subject ("no", "sorry", "it's", "for").
fn is_correction_lead(word: &str) -> bool {
    CORRECTION_OPENERS.contains(&word)
        || matches!(
            word,
            "it's"
                | "it"
                | "is"
                | "its"
                | "for"
                | "i"
                | "meant"
                | "mean"
                | "they're"
                | "they"
                | "are"
                | "the"
                | "a"
                | "an"
                | "that's"
                | "that"
                | "was"
                | "about"
                | "really"
        )
}

/// Whether a correction's right side is only a pronoun (not usable as a replacement).
fn opened_only_pronoun(right: &str) -> bool {
    matches!(
        right.to_lowercase().as_str(),
        "it" | "them" | "they" | "this" | "that"
    )
}

/// The index where the clause starting at `from` ends (a clause break or the end).
fn clause_end(words: &[String], from: usize) -> usize {
    words
        .iter()
        .skip(from)
        .position(|word| CLAUSE_BREAKS.contains(&word.as_str()))
        .map_or(words.len(), |offset| offset + from)
}

/// The last `n` words of a phrase.
fn last_words(phrase: &str, n: usize) -> String {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    words[words.len().saturating_sub(n)..].join(" ")
}

/// Whether a sentence says something hurts or goes wrong.
///
/// A problem word that a count announces ("I have two problems") says there is a problem
/// to come, not which; "they keep losing…" says something goes wrong over and over.
pub fn is_problem(sentence: &str) -> bool {
    let words = lower_words(sentence);
    holds_unannounced(&words, PROBLEM_WORDS)
        || (0..words.len()).any(|idx| keeps_happening_at(&words, idx))
}

/// Whether `words` hold a word of `list` other than the noun a count announces ("I have
/// two problems" holds no problem word of its own).
fn holds_unannounced(words: &[String], list: &[&str]) -> bool {
    let announced_idx = announcement_at(words).map(|(_, noun_idx)| noun_idx);
    words
        .iter()
        .enumerate()
        .any(|(idx, word)| list.contains(&word.as_str()) && Some(idx) != announced_idx)
}

/// Whether a sentence says someone wants something (not what the speaker wants to build).
pub fn is_wish(sentence: &str) -> bool {
    let words = cue_words(sentence);
    contains_any(&words, WISH_PHRASES) && !contains_any(&words, BUILDER_PHRASES)
}

/// Whether a sentence describes a problem, a wish or a person: the only sentences a need
/// may be created from.
pub fn describes_need(sentence: &str) -> bool {
    act(sentence) == Act::Content
        && (is_problem(sentence) || is_wish(sentence) || actor_phrase(sentence).is_some())
}

/// Whether a lowercase word names people (or an organisation of people): a word of the
/// people list, or a plural agent noun ("tuners", "instructors", "electricians") that is
/// not one of the things such endings also name ("orders", "folders").
fn is_people_noun(word: &str) -> bool {
    PEOPLE_NOUNS.contains(&word) || is_agent_noun(word)
}

/// How far after "of" the people a group is made of may stand ("a team of twelve carers"),
/// in words.
const MAX_GROUP_MEMBER_WORDS: usize = 4;

/// How far after a role verb ("I run a shearing crew") the people noun may stand, in words.
const MAX_ROLE_OBJECT_WORDS: usize = 4;

/// How far after "one of" the people noun may stand ("one of those independent yoga
/// teachers"), in words.
const MAX_ONE_OF_WORDS: usize = 5;

/// How far after a singular people noun used as a describing word ("volunteer tour
/// guides") the plural it describes may stand, in words.
const MAX_DESCRIBED_PLURAL_WORDS: usize = 2;

/// The fewest letters a plural agent noun has ("tutors" has six; "doors" is a thing).
const MIN_AGENT_NOUN_CHARS: usize = 6;

/// Whether a lowercase word is a plural agent noun by its ending: a trade or role
/// ("roofers", "interpreters", "physiotherapists", "technicians").
fn is_agent_noun(word: &str) -> bool {
    word.chars().count() >= MIN_AGENT_NOUN_CHARS
        && AGENT_NOUN_ENDINGS
            .iter()
            .any(|ending| word.ends_with(ending))
        && !AGENT_ENDING_THINGS.contains(&word)
}

/// The first phrase naming the people a sentence is about: a people noun with the
/// describing words before it ("small dental clinics", "independent personal trainers"),
/// in the sentence's own words and case. Only people in the subject's place (among the
/// first words) or after "for" count: "They juggle deadlines from ten clients" is not
/// about clients.
pub fn actor_phrase(sentence: &str) -> Option<String> {
    let spans = word_spans(sentence);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    // "two things that drive ski instructors like me crazy": the speaker is one of them.
    let like_me = |idx: usize| {
        words.get(idx + 1).is_some_and(|word| word == "like")
            && words
                .get(idx + 2)
                .is_some_and(|word| matches!(word.as_str(), "me" | "us" | "myself"))
    };
    let in_place = |idx: usize| {
        let opening = words[..idx].iter().all(|word| {
            SUBJECT_LEAD_WORDS.contains(&word.as_str()) || !PHRASE_STOPS.contains(&word.as_str())
        }) && idx < MAX_SUBJECT_WORD_IDX;
        let after_for = (1..=4).any(|back| {
            idx >= back
                && matches!(
                    words[idx - back].as_str(),
                    "for"
                        | "helps"
                        | "help"
                        | "helping"
                        | "serves"
                        | "about"
                        | "hits"
                        | "affects"
                        | "mean"
                        | "meant"
                )
                && words[idx - back + 1..idx]
                    .iter()
                    .all(|word| !matches!(word.as_str(), "for" | "from" | "of" | "with" | "by"))
        });
        // "I'm one of those independent yoga teachers who…": so is the speaker.
        let one_of = (0..words.len().saturating_sub(1)).any(|of_idx| {
            words[of_idx] == "one"
                && words[of_idx + 1] == "of"
                && of_idx < MAX_SUBJECT_WORD_IDX
                && of_idx + 1 < idx
                && idx - of_idx <= MAX_ONE_OF_WORDS
        });
        // "The second headache is mine, as the owner", "As a teacher, I…": the speaker's
        // role, after an "as" that opens the sentence or follows a break.
        let as_role = (1..=2).any(|back| {
            idx >= back
                && words[idx - back] == "as"
                && (back == 1 || DETERMINERS.contains(&words[idx - 1].as_str()))
                && (idx == back
                    || sentence[spans[idx - back - 1].1..spans[idx - back].0].contains(','))
        });
        // "I run a shearing crew, four shearers…", "we have six cleaners on the evening
        // shift": the people the speaker runs, manages or works with.
        let after_role_verb = (1..=MAX_ROLE_OBJECT_WORDS).any(|back| {
            idx > back
                && ROLE_VERBS.contains(&words[idx - back].as_str())
                && matches!(words[idx - back - 1].as_str(), "i" | "we")
                && words[idx - back + 1..idx]
                    .iter()
                    .all(|word| !matches!(word.as_str(), "for" | "from" | "with" | "by" | "to"))
        });
        opening || after_for || one_of || as_role || after_role_verb
    };
    let is_about = |idx: usize| in_place(idx) || like_me(idx);
    if let Some(complement) = copula_actor(sentence) {
        return Some(complement);
    }
    let head = words
        .iter()
        .enumerate()
        .position(|(idx, word)| is_people_noun(word) && is_about(idx))?;
    // "for restaurant kitchens": after "for" the phrase runs on to a break, so a people
    // noun used as a describing word keeps its head.
    if head > 0 && words[head - 1] == "for" {
        let mut last = head;
        while last + 1 < words.len() && last < head + 3 {
            let between = &sentence[spans[last].1..spans[last + 1].0];
            let next = words[last + 1].as_str();
            if between.contains([',', '.', ';', ':', '!', '?'])
                || PHRASE_STOPS.contains(&next)
                || CLAUSE_BREAKS.contains(&next)
                || is_number_word(next)
            {
                break;
            }
            last += 1;
        }
        if last > head
            && !words[head..=last]
                .iter()
                .skip(1)
                .all(|word| is_people_noun(word))
        {
            // Only extend over a noun that names what the people are ("kitchens"), not a
            // verb: a following word ending the phrase at a break is taken as such.
            let ends_at_break = last + 1 == words.len() || {
                let between = &sentence[spans[last].1..spans[last + 1].0];
                between.contains([',', '.', ';', ':', '!', '?'])
                    || PHRASE_STOPS.contains(&words[last + 1].as_str())
                    || CLAUSE_BREAKS.contains(&words[last + 1].as_str())
            };
            if ends_at_break {
                let last = relative_clause_end(sentence, &spans, &words, last);
                return Some(squash(&sentence[spans[head].0..spans[last].1]));
            }
        }
    }
    // Compound heads: "shop owners", "pet owners" — extend right over further people nouns.
    let mut last = head;
    while last + 1 < words.len() && is_people_noun(&words[last + 1]) {
        last += 1;
    }
    // After "we're" the people are plural: a singular people noun there describes them
    // ("We're volunteer tour guides"), so the phrase runs on to the plural.
    let after_plural_copula = head > 0
        && matches!(
            words[head - 1].as_str(),
            "we're" | "they're" | "are" | "were"
        );
    // "a small team of sign language interpreters", "a crew of shearers": the group runs on
    // to the people it is made of.
    if words.get(last + 1).is_some_and(|word| word == "of")
        && let Some(member) = (last + 2..words.len().min(last + 2 + MAX_GROUP_MEMBER_WORDS))
            .take_while(|idx| {
                !sentence[spans[idx - 1].1..spans[*idx].0].contains([',', '.', ';', ':', '!', '?'])
            })
            .find(|idx| is_people_noun(&words[*idx]))
    {
        last = member;
    }
    if after_plural_copula && !words[last].ends_with('s') {
        let plural = (last + 1..words.len().min(last + 1 + MAX_DESCRIBED_PLURAL_WORDS))
            .take_while(|idx| {
                !sentence[spans[idx - 1].1..spans[*idx].0].contains([',', '.', ';', ':', '!', '?'])
                    && !PHRASE_STOPS.contains(&words[*idx].as_str())
            })
            .find(|idx| words[*idx].ends_with('s'));
        if let Some(plural) = plural {
            last = plural;
        }
    }
    // Before people named far from the subject's place ("that bother ski instructors like
    // me") stands a verb, so only one describing word is taken.
    let max_back = if in_place(head) { 3 } else { 1 };
    let mut first = head;
    while first > 0 && head - (first - 1) <= max_back {
        let previous = &words[first - 1];
        let broken = {
            let between = &sentence[spans[first - 1].1..spans[first].0];
            between.contains([',', '.', ';', ':', '!', '?'])
        };
        // "We're volunteer tour guides": the pronoun is the speaker, not the people.
        let is_pronoun = matches!(
            previous.as_str(),
            "we're" | "they're" | "i'm" | "we" | "they" | "us" | "are"
        );
        if broken
            || is_pronoun
            || ROLE_VERBS.contains(&previous.as_str())
            || PHRASE_STOPS.contains(&previous.as_str())
            || is_number_word(previous)
        {
            break;
        }
        first -= 1;
    }
    let last = relative_clause_end(sentence, &spans, &words, last);
    Some(squash(&sentence[spans[first].0..spans[last].1]))
}

/// The most words before "are" in a sentence that says who people are ("The people stuck
/// with it are…").
const MAX_COPULA_SUBJECT_WORDS: usize = 8;

/// The most words of the people phrase after "are", before a relative clause.
const MAX_COPULA_PHRASE_WORDS: usize = 4;

/// The people a sentence names by saying who others are: "The people stuck with it are
/// the ward nurses", "My parents are campsite owners", "The ones who struggle are the
/// volunteer coordinators". The subject names people ("people", "ones", "parents") and
/// the complement starts with a people phrase, which is returned. `None` otherwise ("The
/// problem is people get lost" has no people in its subject).
pub fn copula_actor(sentence: &str) -> Option<String> {
    let spans = word_spans(sentence);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'").to_lowercase())
        .collect();
    let copula_idx = words
        .iter()
        .take(MAX_COPULA_SUBJECT_WORDS + 1)
        .position(|word| word == "are")?;
    let subject_names_people = words[..copula_idx]
        .iter()
        .any(|word| is_people_noun(word) || word == "ones" || word == "those");
    if !subject_names_people || copula_idx + 1 >= words.len() {
        return None;
    }
    let complement = &sentence[spans[copula_idx + 1].0..];
    let complement_words = lower_words(complement);
    let head_idx = complement_words
        .iter()
        .take(4)
        .position(|word| is_people_noun(word))?;
    // Only the complement's first phrase: "the ward nurses", not what follows a comma.
    let phrase_end = complement
        .find([',', '.', ';', ':', '!', '?'])
        .unwrap_or(complement.len());
    let phrase = squash(complement[..phrase_end].trim());
    let phrase_words = lower_words(&phrase);
    if head_idx >= phrase_words.len() {
        return None;
    }
    let first = phrase_words
        .iter()
        .position(|word| !matches!(word.as_str(), "the" | "a" | "an" | "our" | "my" | "their"))
        .unwrap_or(0);
    let spans = word_spans(&phrase);
    // The noun phrase runs on over the head's other words ("volunteer coordinators") up
    // to a word that starts something else; a relative clause may follow.
    let mut last = head_idx;
    while last + 1 < phrase_words.len()
        && last < first + MAX_COPULA_PHRASE_WORDS - 1
        && !matches!(
            phrase_words[last + 1].as_str(),
            "who" | "that" | "with" | "and" | "or" | "because" | "when" | "in" | "at" | "on"
        )
        && !PHRASE_STOPS.contains(&phrase_words[last + 1].as_str())
    {
        last += 1;
    }
    let last = relative_clause_end(&phrase, &spans, &phrase_words, last);
    (first <= last).then(|| squash(&phrase[spans[first].0..spans[last].1]))
}

/// The most words a relative clause after a people phrase adds ("who live alone and take a
/// lot of different pills").
const MAX_RELATIVE_CLAUSE_WORDS: usize = 10;

/// Where a people phrase ends when a relative clause follows it ("older people who live
/// alone"): at the next punctuation, or after `MAX_RELATIVE_CLAUSE_WORDS` words. Without
/// one, at `last`.
fn relative_clause_end(
    sentence: &str,
    spans: &[(usize, usize, String)],
    words: &[String],
    last: usize,
) -> usize {
    let last = place_phrase_end(sentence, spans, words, last);
    let opens = words
        .get(last + 1)
        .is_some_and(|word| matches!(word.as_str(), "who" | "that"))
        && !breaks_after(sentence, spans, last);
    if !opens {
        return last;
    }
    let mut end = last + 1;
    while end + 1 < words.len()
        && end < last + 1 + MAX_RELATIVE_CLAUSE_WORDS
        && !breaks_after(sentence, spans, end)
        && !starts_main_verb(&words[end + 1], end + 1 - (last + 1))
    {
        end += 1;
    }
    end
}

/// Whether a word, `n_clause_words` words into a relative clause, is the sentence's own
/// verb that ends it ("artists who run their own studio | lose money"): a verb or adverb
/// of `PLACE_PHRASE_ENDERS` after the clause's first two words, not a word that joins.
fn starts_main_verb(word: &str, n_clause_words: usize) -> bool {
    let word = word.to_lowercase();
    n_clause_words >= 3
        && PLACE_PHRASE_ENDERS.contains(&word.as_str())
        && !matches!(word.as_str(), "and" | "but" | "all" | "just" | "still")
}

/// Whether punctuation stands between word `idx` of a sentence and the next word.
fn breaks_after(sentence: &str, spans: &[(usize, usize, String)], idx: usize) -> bool {
    sentence[spans[idx].1..spans[idx + 1].0].contains([',', '.', ';', ':', '!', '?'])
}

/// The most words of a place phrase after a people phrase ("in small repair shops").
const MAX_PLACE_PHRASE_WORDS: usize = 5;

/// Where a people phrase ends when a place follows it ("bike mechanics in small repair
/// shops", "the volunteers at our town library end up…"): the place phrase is taken when
/// it ends within `MAX_PLACE_PHRASE_WORDS` words at punctuation, at the sentence's end, or
/// before a verb, a break or a relative clause, and is no time ("nurses at night").
/// Without one, at `last`.
fn place_phrase_end(
    sentence: &str,
    spans: &[(usize, usize, String)],
    words: &[String],
    last: usize,
) -> usize {
    let lower = |idx: usize| words[idx].to_lowercase();
    let opens = words
        .get(last + 1)
        .is_some_and(|word| matches!(word.to_lowercase().as_str(), "in" | "at"))
        && !breaks_after(sentence, spans, last);
    if !opens {
        return last;
    }
    let mut end = last + 1;
    loop {
        if end + 1 >= words.len() {
            break;
        }
        if breaks_after(sentence, spans, end) {
            break;
        }
        let next = lower(end + 1);
        let ends_here = PLACE_PHRASE_ENDERS.contains(&next.as_str())
            || HABIT_VERBS.contains(&next.as_str())
            || CLAUSE_BREAKS.contains(&next.as_str())
            || matches!(next.as_str(), "who" | "that");
        if ends_here {
            break;
        }
        end += 1;
        if end > last + 1 + MAX_PLACE_PHRASE_WORDS {
            return last;
        }
    }
    let place: Vec<String> = (last + 2..=end).map(lower).collect();
    let is_time = place
        .iter()
        .any(|word| TIME_NOUNS.contains(&word.as_str()) || is_number_word(word))
        || place.is_empty();
    if is_time { last } else { end }
}

/// Whether a word is a number (digits or a count word).
fn is_number_word(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit()) || COUNT_WORDS.contains(&word)
}

/// The most words between a count and "a"/"per" in a rate ("thirty worried calls a day").
const MAX_RATE_NOUN_WORDS: usize = 3;

/// The most hedge words between "that's" and a frequency ("that's pretty much every day").
const MAX_FREQUENCY_HEDGE_WORDS: usize = 3;

/// A frequency expression in a sentence ("every single weekday", "two or three times a
/// week", "every Sunday night", "weekly"), in the sentence's own words.
pub fn frequency_phrase(sentence: &str) -> Option<String> {
    let spans = word_spans(sentence);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let text = |first: usize, last: usize| squash(&sentence[spans[first].0..spans[last].1]);
    // The time noun after "every"/"per": at once, or after words such as "single" or
    // "other" ("every single weekday", "every other week"), never after a noun ("every
    // patient the day before").
    // One other word may stand between ("every market day"), never two ("every patient
    // the day before").
    let time_noun_within = |from: usize, max_words: usize| -> Option<usize> {
        let mut n_other = 0usize;
        (from..words.len().min(from + max_words))
            .take_while(|idx| {
                let known = TIME_NOUNS.contains(&words[*idx].as_str())
                    || TIME_MODIFIERS.contains(&words[*idx].as_str())
                    || is_number_word(&words[*idx]);
                if !known {
                    n_other += 1;
                }
                n_other <= 1
            })
            .find(|idx| TIME_NOUNS.contains(&words[*idx].as_str()))
    };
    // The time phrase may go on: "every Sunday night", "every weekend during the school year".
    let extend = |mut last: usize| -> usize {
        // "every shift without fail".
        if words.get(last + 1).is_some_and(|word| word == "without")
            && words.get(last + 2).is_some_and(|word| word == "fail")
        {
            return last + 2;
        }
        if last + 1 < words.len()
            && matches!(
                words[last + 1].as_str(),
                "night" | "morning" | "evening" | "afternoon"
            )
        {
            last += 1;
        }
        let joined_later = last + 1 < words.len() && {
            let between = &sentence[spans[last].1..spans[last + 1].0];
            !between.contains([',', '.', ';', ':', '!', '?'])
        };
        if joined_later && matches!(words[last + 1].as_str(), "during" | "in" | "at" | "of") {
            let end = (last + 5).min(words.len() - 1);
            let mut tail = last + 1;
            while tail < end && !CLAUSE_BREAKS.contains(&words[tail + 1].as_str()) {
                tail += 1;
                if TIME_NOUNS.contains(&words[tail].as_str()) {
                    last = tail;
                    break;
                }
            }
        }
        last
    };
    // Where the count ending at `idx` starts: back over the count words before it ("two
    // or three"), but not over an article.
    let count_start = |idx: usize| -> usize {
        let mut start = idx;
        while start > 0 && is_number_word(&words[start - 1]) && words[start - 1] != "a" {
            start -= 1;
        }
        start
    };
    // "twenty or thirty worried calls a day", "ten orders a week": a count of things, then
    // "a"/"per" and a time noun, a few words on and with no break between. Returns where
    // "a"/"per" stands.
    let count_rate = |idx: usize| -> Option<usize> {
        if !is_number_word(&words[idx]) || matches!(words[idx].as_str(), "a" | "of" | "or") {
            return None;
        }
        let last_per_idx = (idx + 2 + MAX_RATE_NOUN_WORDS).min(words.len());
        let per_idx = (idx + 2..last_per_idx).find(|per_idx| {
            matches!(words[*per_idx].as_str(), "a" | "per")
                && words
                    .get(per_idx + 1)
                    .is_some_and(|next| TIME_NOUNS.contains(&next.as_str()))
        })?;
        // "a couple of times a month", "three nights a week" are read by their own rules.
        let counts_times = (idx + 1..per_idx).any(|between| {
            matches!(words[between].as_str(), "time" | "times")
                || TIME_NOUNS.contains(&words[between].as_str())
        });
        let unbroken = !counts_times
            && (idx..per_idx).all(|between| {
                !breaks_after(sentence, &spans, between)
                    && !CLAUSE_BREAKS.contains(&words[between + 1].as_str())
            });
        unbroken.then_some(per_idx)
    };
    for (idx, word) in words.iter().enumerate() {
        match word.as_str() {
            "every" | "each" | "per" => {
                if let Some(noun) = time_noun_within(idx + 1, 3) {
                    let start = if idx > 0 && words[idx - 1] == "almost" {
                        idx - 1
                    } else {
                        idx
                    };
                    return Some(text(start, extend(noun)));
                }
            }
            "times" | "time" if idx > 0 && is_number_word(&words[idx - 1]) => {
                // "two or three times a week": back over the count words.
                let mut start = idx - 1;
                while start > 0 && is_number_word(&words[start - 1]) {
                    start -= 1;
                }
                let last = match time_noun_within(idx + 1, 3) {
                    Some(noun) if word == "times" || noun > idx => extend(noun),
                    _ => idx,
                };
                // A bare count says how often only of something that happens ("it has
                // happened three times"); "they end up visiting it three times" counts
                // visits.
                let happens = words[..start].iter().any(|word| word.starts_with("happen"));
                if last > idx || (word == "times" && happens) {
                    return Some(text(start, last));
                }
            }
            // "twice a week"; a bare "twice" ("they walk the aisle twice") is no frequency.
            "twice" | "once" => {
                if let Some(noun) = time_noun_within(idx + 1, 3) {
                    return Some(text(idx, extend(noun)));
                }
            }
            // "most weeks", "most nights": "most" with a time noun in the plural.
            "most"
                if words.get(idx + 1).is_some_and(|next| {
                    next.ends_with('s') && TIME_NOUNS.contains(&next.as_str())
                }) =>
            {
                let start = if idx > 0 && matches!(words[idx - 1].as_str(), "on" | "at") {
                    idx - 1
                } else {
                    idx
                };
                return Some(text(start, extend(idx + 1)));
            }
            // "three nights a week", "two days a month".
            _ if is_number_word(word)
                && words
                    .get(idx + 1)
                    .is_some_and(|next| TIME_NOUNS.contains(&next.as_str()))
                && words.get(idx + 2).is_some_and(|next| {
                    matches!(next.as_str(), "a" | "per" | "each" | "every")
                })
                && words
                    .get(idx + 3)
                    .is_some_and(|next| TIME_NOUNS.contains(&next.as_str())) =>
            {
                let mut start = count_start(idx);
                if start > 0 && matches!(words[start - 1].as_str(), "about" | "around" | "roughly")
                {
                    start -= 1;
                }
                return Some(text(start, extend(idx + 3)));
            }
            // "three weeks out of four", "two days out of five".
            _ if is_number_word(word)
                && words
                    .get(idx + 1)
                    .is_some_and(|next| TIME_NOUNS.contains(&next.as_str()))
                && words.get(idx + 2).is_some_and(|next| next == "out")
                && words.get(idx + 3).is_some_and(|next| next == "of")
                && words.get(idx + 4).is_some_and(|next| is_number_word(next)) =>
            {
                return Some(text(idx, idx + 4));
            }
            // "We meet weekly", not "the weekly rota".
            _ if FREQUENCY_WORDS.contains(&word.as_str())
                && !(idx > 0 && DETERMINERS.contains(&words[idx - 1].as_str())) =>
            {
                return Some(text(idx, idx));
            }
            // A count of things at a rate (no frequency word is a count word).
            _ => {
                if let Some(per_idx) = count_rate(idx) {
                    return Some(text(count_start(idx), extend(per_idx + 1)));
                }
            }
        }
    }
    None
}

/// The slot a clause names explicitly, if any: how success is measured ("I would measure
/// success by…"), what hurts ("the worst part is…"), who has it ("the people who have the
/// problem are…"), the outcome wanted ("they would love…", not "I want to build…"), how
/// people cope today ("right now they…"), or how often ("it happens every…"). Earlier in
/// that list wins.
pub fn explicit_slot(clause: &str) -> Option<Slot> {
    let words = cue_words(clause);
    if contains_any(&words, METRIC_PHRASES) {
        Some(Slot::SuccessMetric)
    } else if contains_any(&words, PAIN_PHRASES) {
        Some(Slot::Pain)
    } else if contains_any(&words, ACTOR_PHRASES) || copula_actor(clause).is_some() {
        Some(Slot::Actor)
    } else if contains_any(&words, OUTCOME_PHRASES) && !contains_any(&words, BUILDER_PHRASES) {
        Some(Slot::DesiredOutcome)
    } else if contains_any(&words, WORKAROUND_PHRASES) {
        Some(Slot::Workaround)
    } else if is_about_frequency(clause) {
        Some(Slot::Frequency)
    } else {
        None
    }
}

/// The strength with which a clause names it outright.
pub const NAMED: u8 = 3;
/// The strength of a clear sign ("hate", "they would love", a frequency expression).
pub const CLEAR: u8 = 2;
/// The strength of a hint (a problem word, a tool, a number).
pub const HINT: u8 = 1;

/// How strongly a clause speaks to each slot (in `Slot::ALL` order), from its words
/// alone: `NAMED` when it names the slot outright, `CLEAR` for a clear sign, `HINT` for a
/// hint, 0 for nothing.
pub fn slot_evidence(clause: &str) -> [u8; 6] {
    let words = lower_words(clause);
    let mut evidence = [0u8; 6];
    let mut raise = |slot: Slot, strength: u8| {
        let slot_idx = slot as usize;
        evidence[slot_idx] = evidence[slot_idx].max(strength);
    };
    let explicit = explicit_slot(clause);
    if let Some(slot) = explicit {
        raise(slot, NAMED);
    }
    if actor_phrase(clause).is_some() {
        raise(Slot::Actor, HINT);
    }
    if is_strong_pain(clause) {
        raise(Slot::Pain, CLEAR);
    } else if is_problem(clause) {
        raise(Slot::Pain, HINT);
    }
    // A frequency expression is taken as its own span, beside whatever else the clause
    // says, so it counts as named without speaking against the other slots.
    if explicit != Some(Slot::SuccessMetric) && frequency_phrase(clause).is_some() {
        raise(Slot::Frequency, NAMED);
    }
    if is_wish(clause) {
        raise(Slot::DesiredOutcome, CLEAR);
    }
    if is_habit(clause) {
        raise(Slot::Workaround, CLEAR);
    } else if words.iter().enumerate().any(|(idx, word)| {
        WORKAROUND_WORDS.contains(&word.as_str()) && !keeps_happening_at(&words, idx)
    }) {
        raise(Slot::Workaround, HINT);
    }
    if words
        .iter()
        .any(|word| METRIC_WORDS.contains(&word.as_str()))
    {
        raise(Slot::SuccessMetric, HINT);
    }
    if words
        .iter()
        .any(|word| FREQUENCY_HINTS.contains(&word.as_str()))
        || contains_phrase(&words, &["all", "the", "time"])
        || contains_phrase(&words, &["a", "lot"])
        || contains_phrase(&words, &["most", "days"])
    {
        raise(Slot::Frequency, HINT);
    }
    evidence
}

/// The slots a clause gives evidence of: its explicit slot, frequency when it holds a
/// frequency expression, what hurts when it says something goes wrong, and who when it
/// names people.
pub fn slots_heard(clause: &str) -> Vec<Slot> {
    let mut slots = Vec::new();
    if actor_phrase(clause).is_some() {
        slots.push(Slot::Actor);
    }
    if is_problem(clause) {
        slots.push(Slot::Pain);
    }
    let explicit = explicit_slot(clause);
    if let Some(slot) = explicit {
        slots.push(slot);
    }
    if explicit != Some(Slot::SuccessMetric) && frequency_phrase(clause).is_some() {
        slots.push(Slot::Frequency);
    }
    slots.sort();
    slots.dedup();
    slots
}

/// Whether a clause fits as an answer for `slot`: it does unless it clearly speaks to
/// another one — names another slot explicitly ("right now they…" is no answer to "how
/// often?"), or is mostly a frequency expression while something else was asked. Weaker
/// signs (a problem word, a people noun) do not decide.
pub fn fits_slot(clause: &str, slot: Slot) -> bool {
    match explicit_slot(clause) {
        Some(named) => named == slot,
        None => slot == Slot::Frequency || !is_about_frequency(clause),
    }
}

/// Whether a clause is about how often something happens: a frequency expression that
/// makes up most of it, one with "happens" ("It happens every evening, especially on
/// rainy days"), or one that "that's" says ("During tech week that's pretty much every
/// day").
pub fn is_about_frequency(clause: &str) -> bool {
    let Some(phrase) = frequency_phrase(clause) else {
        return false;
    };
    let words = lower_words(clause);
    let phrase_words = lower_words(&phrase);
    let phrase_words: Vec<&str> = phrase_words.iter().map(String::as_str).collect();
    if is_said_by_copula(&words, &phrase_words) {
        return true;
    }
    let says_happens = words.iter().any(|word| {
        matches!(
            word.as_str(),
            "happen" | "happens" | "happened" | "occurs" | "occur" | "recurs"
        )
    }) || contains_phrase(&words, &["comes", "up"]);
    says_happens || 2 * phrase.split_whitespace().count() >= words.len()
}

/// Whether a frequency phrase follows "that's" or "it's" with at most hedges between
/// them ("that's maybe once a fortnight", "it's pretty much every day"): the clause says
/// how often the thing before happens.
fn is_said_by_copula(words: &[String], phrase: &[&str]) -> bool {
    let Some(phrase_at) = phrase_position(words, phrase) else {
        return false;
    };
    (0..phrase_at)
        .rev()
        .take(MAX_FREQUENCY_HEDGE_WORDS + 1)
        .any(|idx| {
            matches!(words[idx].as_str(), "that's" | "it's")
                && words[idx + 1..phrase_at]
                    .iter()
                    .all(|word| FREQUENCY_HEDGES.contains(&word.as_str()))
        })
}

/// The need a clause names as its topic before a comma: "cancellations" in "For the
/// cancellations, success would be…", "money side" in "For the money side, I'd want…".
pub fn topic_reference(clause: &str) -> Option<String> {
    let spans = word_spans(clause);
    let words: Vec<String> = spans.iter().map(|(_, _, word)| word.clone()).collect();
    let mut first = 0;
    if words.first().is_some_and(|word| word == "and") {
        first += 1;
    }
    if words.get(first).is_some_and(|word| word == "as") {
        first += 1;
    }
    if !words
        .get(first)
        .is_some_and(|word| matches!(word.as_str(), "for" | "about" | "on"))
    {
        return None;
    }
    first += 1;
    if words.get(first).is_some_and(|word| word == "the") {
        first += 1;
    }
    let last = (first..spans.len().min(first + 4)).find(|idx| {
        spans
            .get(idx + 1)
            .is_some_and(|next| clause[spans[*idx].1..next.0].contains(','))
    })?;
    Some(squash(&clause[spans[first].0..spans[last].1]))
}

/// The clauses of a sentence: split before ", and", ", but" and ", so" (unless what comes
/// before says what is wanted), and at ";". A clause the next one takes back ("I thought at
/// first this would be for brides, but no, actually it's for us") is left out.
pub fn clauses(sentence: &str) -> Vec<String> {
    let mut kept = split_clauses(sentence);
    let mut clause_idx = 0;
    while clause_idx + 1 < kept.len() {
        if takes_back(&kept[clause_idx + 1]) {
            kept.remove(clause_idx);
        } else {
            clause_idx += 1;
        }
    }
    kept
}

/// Whether a clause opens by taking back the one before it: "but no, actually…", "no,
/// sorry…", "actually no…" (not "but no one reads it").
fn takes_back(clause: &str) -> bool {
    let spans = word_spans(clause);
    let words = lower_words(clause);
    let first = usize::from(words.first().is_some_and(|word| word == "but"));
    if words.get(first).is_some_and(|word| word == "actually")
        && words.get(first + 1).is_some_and(|word| word == "no")
    {
        return true;
    }
    if words.get(first).is_none_or(|word| word != "no") {
        return false;
    }
    let comma_after = spans
        .get(first + 1)
        .is_some_and(|next| clause[spans[first].1..next.0].contains(','));
    comma_after
        || words
            .get(first + 1)
            .is_some_and(|word| matches!(word.as_str(), "actually" | "sorry" | "wait"))
}

/// The clauses of a sentence as it was said, none left out.
fn split_clauses(sentence: &str) -> Vec<String> {
    let spans = word_spans(sentence);
    let mut cuts = vec![0usize];
    for (idx, (start, _, word)) in spans.iter().enumerate() {
        if idx == 0 {
            continue;
        }
        let between = &sentence[spans[idx - 1].1..*start];
        // Before ", so" only when the clause before wants nothing and names no pain:
        // "…, so they call the colleague at home" is what they do about it, but "a list
        // that follows the route, so they never double back" says what the list is for,
        // and "what hurts is…, so we run out" is one pain with its consequence.
        let wants = || {
            let before = &sentence[cuts.last().copied().unwrap_or(0)..*start];
            matches!(
                explicit_slot(before),
                Some(Slot::DesiredOutcome | Slot::SuccessMetric | Slot::Pain)
            )
        };
        let is_break = between.contains(';')
            || (between.contains(',')
                && (matches!(word.as_str(), "and" | "but") || (word == "so" && !wants())));
        if is_break {
            cuts.push(*start);
        }
    }
    cuts.push(sentence.len());
    cuts.windows(2)
        .map(|pair| {
            squash(
                sentence[pair[0]..pair[1]]
                    .trim()
                    .trim_start_matches([',', ';'])
                    .trim_end_matches([',', ';', '.', '!', '?']),
            )
        })
        .filter(|clause| !clause.is_empty())
        .collect()
}

/// The head noun of a people phrase, normalised: the people noun itself ("owner" in "corner
/// shop owners", "producer" in "independent podcast producers who edit shows"), or the
/// last word of a phrase without one.
pub fn head_noun(phrase: &str) -> Option<String> {
    let words = lower_words(phrase);
    let first = words.iter().position(|word| is_people_noun(word));
    let head = match first {
        Some(mut idx) => {
            while idx + 1 < words.len() && is_people_noun(&words[idx + 1]) {
                idx += 1;
            }
            &words[idx]
        }
        None => words.last()?,
    };
    Some(super::text::normalise_word(head))
}

/// The people a sentence is about: named outright ("it's for vendors at the market") or
/// in passing ("small bakeries throw away bread").
pub fn actor_of(sentence: &str) -> Option<String> {
    if explicit_slot(sentence) == Some(Slot::Actor) {
        named_actor(sentence).or_else(|| actor_phrase(sentence))
    } else {
        actor_phrase(sentence)
    }
}

/// The people a clause names outright: what follows "are" in "the people who have the
/// problem are the line cooks", or "for" in "it's for vendors at the market".
fn named_actor(clause: &str) -> Option<String> {
    let spans = word_spans(clause);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let cue = ACTOR_PHRASES
        .iter()
        .filter_map(|pattern| phrase_position(&words, pattern).map(|at| (at, pattern.len())))
        .min()?;
    let after_cue = cue.0 + cue.1;
    // "it hits the nurses who…", "this is about home care nurses", "that lands on my game
    // masters": the people follow the cue; "the people who have the problem are the line
    // cooks": they follow "are".
    let ends_in_verb = matches!(
        words[after_cue - 1].as_str(),
        "hits" | "affects" | "about" | "for" | "at" | "on" | "to"
    );
    let first = if ends_in_verb {
        // "the people this is for are patients recovering…": the people follow "are".
        let copula_follows = words
            .get(after_cue)
            .is_some_and(|word| matches!(word.as_str(), "are" | "is" | "were" | "was"));
        after_cue + usize::from(copula_follows)
    } else {
        let link = (cue.0..words.len()).find(|idx| {
            matches!(words[*idx].as_str(), "are" | "is" | "for" | "at")
                && (*idx >= after_cue - 1 || words[*idx] == "for" || words[*idx] == "at")
        })?;
        link + 1
    };
    if first >= words.len() {
        return None;
    }
    let phrase = squash(clause[spans[first].0..].trim_end_matches([',', ';', '.', '!', '?']));
    (!phrase.is_empty()).then_some(phrase)
}

/// Whether a clause says plainly that something hurts.
pub fn is_strong_pain(clause: &str) -> bool {
    holds_unannounced(&lower_words(clause), STRONG_PAIN_WORDS)
}

#[cfg(test)]
mod tests;
