//! Small text helpers shared by the merge, the interviewer, the prompts and the brief:
//! word normalisation for near-duplicate matching, short topics, and `mm:ss` times.

use std::collections::BTreeSet;

/// Words too common to tell two need statements apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "to", "of", "and", "or", "for", "in", "on", "at", "with", "is", "are", "be",
    "it", "its", "they", "them", "their", "that", "this", "these", "those", "need", "needs",
    "want", "wants", "i", "we", "you", "my", "our", "your", "so", "can", "could", "would",
    "should", "some", "way", "when", "from", "by", "as",
];

/// Words no phrase ends with: a value ending on one was cut ("by eight in the").
const DANGLING_WORDS: &[&str] = &[
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "and", "or",
    "but", "their", "my", "our", "your", "his", "her",
];

/// The most words a topic (a need named in a question) carries.
const TOPIC_MAX_WORDS: usize = 6;

/// Words a topic may end before: it is cut at a clause or phrase boundary, never inside
/// a phrase.
const TOPIC_BREAKS: &[&str] = &[
    "from", "by", "with", "because", "and", "but", "so", "when", "while", "which", "who", "that",
    "in", "on", "at", "for", "to", "of", "about", "after", "before", "during", "every", "each",
    "since", "until", "if", "or", "than", "like", "without", "into", "through",
];

/// Cue words a statement in the person's words may open with, which name no topic ("What
/// I really want is for…", "This is for…"); longer ones first.
const TOPIC_LEADING_CUES: &[&[&str]] = &[
    &["what", "i", "really", "want", "is", "for"],
    &["what", "i", "really", "want", "is"],
    &["what", "i", "want", "is", "for"],
    &["what", "i", "want", "is"],
    &["what", "they", "want", "is"],
    &["this", "one", "is", "for"],
    &["this", "is", "for"],
    &["it", "is", "for"],
    &["it's", "for"],
    &["the", "problem", "is", "that"],
    &["the", "problem", "is"],
    &["the", "goal", "is", "that"],
    &["the", "goal", "is"],
];

/// Subject pronouns a statement may open with, which the actor can stand in for.
const SUBJECT_PRONOUNS: &[&str] = &["they", "he", "she", "we", "people"];

/// A word lowercased, with a plural `s` cut so that "reminders" matches "reminder" and
/// "bakeries" matches "bakery".
pub(crate) fn normalise_word(word: &str) -> String {
    let lower = word.to_lowercase().replace('’', "'");
    // A contraction or possessive: "there's" → "there", "parents'" → "parents".
    let lower = lower
        .strip_suffix("'s")
        .or_else(|| lower.strip_suffix('\''))
        .unwrap_or(&lower)
        .to_string();
    if lower.len() > 4 && lower.ends_with("ies") {
        format!("{}y", &lower[..lower.len() - 3])
    } else if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
        lower[..lower.len() - 1].to_string()
    } else {
        lower
    }
}

/// The words of a text: runs of letters and digits (apostrophes kept inside words).
pub(crate) fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|word| word.trim_matches('\''))
        .filter(|word| !word.is_empty())
        .collect()
}

/// The words of a text with their byte ranges, and each word lowercased for comparing.
pub(crate) fn word_spans(text: &str) -> Vec<(usize, usize, String)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let is_word = |c: char| c.is_alphanumeric() || c == '\'';
    for (index, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, is_word(c)) {
            (None, true) => start = Some(index),
            (Some(from), false) => {
                let word = text[from..index].trim_matches('\'');
                if !word.is_empty() {
                    spans.push((from, index, word.to_lowercase()));
                }
                start = None;
            }
            _ => {}
        }
    }
    spans
}

/// The normalised content words of a text, for comparing statements.
pub(crate) fn content_words(text: &str) -> BTreeSet<String> {
    words(text)
        .into_iter()
        .map(normalise_word)
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .collect()
}

/// Jaccard overlap (0..=1) of two statements' content words; 0 when either has none.
pub(crate) fn statement_similarity(left: &str, right: &str) -> f64 {
    let left = content_words(left);
    let right = content_words(right);
    if left.is_empty() || right.is_empty() {
        return 0.0;
    }
    let shared = left.intersection(&right).count();
    let all = left.union(&right).count();
    shared as f64 / all as f64
}

/// A value trimmed, or `None` when nothing is left.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// A need's statement as a short topic for naming it in a question or a step: the whole
/// statement when it is short, else its words up to the last phrase boundary within
/// `TOPIC_MAX_WORDS` words ("Freelance translators juggle deadlines" from "Freelance
/// translators juggle deadlines from ten clients by email"). It is never cut inside a
/// phrase, and it is in the person's words and case, without a closing full stop.
///
/// A statement that opens with the people and a colon ("Road inspectors: this is for…")
/// is named by its people; one that opens with cue words ("What I really want is for…")
/// by what follows them.
pub(crate) fn topic(statement: &str) -> String {
    let spans = word_spans(statement);
    let Some(last_span) = spans.last() else {
        return String::new();
    };
    let colon_idx = spans
        .iter()
        .take(TOPIC_MAX_WORDS)
        .position(|(_, end, _)| statement[*end..].starts_with(':'));
    if let Some(colon_idx) = colon_idx {
        return squash(&statement[spans[0].0..spans[colon_idx].1]);
    }
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.to_lowercase().replace('’', "'"))
        .collect();
    let cue = TOPIC_LEADING_CUES.iter().find(|cue| {
        cue.len() < words.len()
            && cue
                .iter()
                .zip(&words)
                .all(|(cue_word, word)| cue_word == word)
    });
    if let Some(cue) = cue {
        return topic(&statement[spans[cue.len()].0..]);
    }
    let whole = || squash(statement[..last_span.1].trim_start());
    if spans.len() <= TOPIC_MAX_WORDS {
        return whole();
    }
    let cut = (2..=TOPIC_MAX_WORDS)
        .rev()
        .find(|word_idx| TOPIC_BREAKS.contains(&spans[*word_idx].2.as_str()));
    match cut {
        Some(word_idx) => squash(&statement[spans[0].0..spans[word_idx - 1].1]),
        // No boundary near the start: the statement is one long phrase; keep it whole
        // rather than cut it.
        None => whole(),
    }
}

/// `text` with every occurrence of the words of `wrong` replaced by `right` (compared
/// without case or a plural `s`); a capital at the start of the text is kept. `None` when
/// the text does not say `wrong`.
pub(crate) fn replace_words(text: &str, wrong: &str, right: &str) -> Option<String> {
    let spans = word_spans(text);
    let wanted: Vec<String> = word_spans(wrong)
        .into_iter()
        .map(|(_, _, word)| normalise_word(&word))
        .collect();
    if wanted.is_empty() || squash(right).is_empty() || wanted.len() > spans.len() {
        return None;
    }
    let mut out = String::new();
    let mut copied_to = 0usize;
    let mut word_idx = 0usize;
    let mut replaced = false;
    while word_idx + wanted.len() <= spans.len() {
        let matches = wanted
            .iter()
            .enumerate()
            .all(|(offset, word)| normalise_word(&spans[word_idx + offset].2) == *word);
        if !matches {
            word_idx += 1;
            continue;
        }
        let start = spans[word_idx].0;
        let end = spans[word_idx + wanted.len() - 1].1;
        out.push_str(&text[copied_to..start]);
        let starts_capitalised = start == 0 && text[start..].starts_with(char::is_uppercase);
        let replacement = squash(right);
        out.push_str(&if starts_capitalised {
            capitalise_first(&replacement)
        } else if start == 0 {
            replacement
        } else {
            lowercase_first_unless_name(&replacement)
        });
        copied_to = end;
        word_idx += wanted.len();
        replaced = true;
    }
    out.push_str(&text[copied_to..]);
    replaced.then_some(out)
}

/// A text with its first letter upper-case.
pub(crate) fn capitalise_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A phrase moved into the middle of a sentence: its first letter lower-case, unless the
/// first word looks like a name (upper-case letters past its first).
pub(crate) fn lowercase_first_unless_name(text: &str) -> String {
    let first_word = text.split_whitespace().next().unwrap_or_default();
    if first_word.chars().skip(1).any(char::is_uppercase) {
        return text.to_string();
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A sentence as a need statement: the actor stands in for an opening subject pronoun
/// ("They juggle deadlines" → "Freelance translators juggle deadlines"), the first letter
/// is upper-case and a closing full stop is dropped. The words are the person's.
pub(crate) fn statement_from(sentence: &str, actor: Option<&str>) -> String {
    let text = squash(sentence.trim().trim_end_matches(['.', '!', '?', ',', ';']));
    let spans = word_spans(&text);
    let opens_with_pronoun = spans
        .first()
        .is_some_and(|(start, _, word)| *start == 0 && SUBJECT_PRONOUNS.contains(&word.as_str()));
    let text = match (actor.map(squash), opens_with_pronoun) {
        (Some(actor), true) if !actor.is_empty() => {
            format!("{actor}{}", &text[spans[0].1..])
        }
        _ => text,
    };
    capitalise_first(&text)
}

/// Share (0..=1) of `value`'s content words that occur among `said`'s; 0 when the value
/// has none.
pub(crate) fn grounded_share(value: &str, said: &BTreeSet<String>) -> f64 {
    let words = content_words(value);
    if words.is_empty() {
        return 0.0;
    }
    let n_heard = words.iter().filter(|word| said.contains(*word)).count();
    n_heard as f64 / words.len() as f64
}

/// The words of `said` that a model's `value` quotes, in the person's own spelling: from
/// the first of the value's content words in `said` to the last, widened over the words
/// the value shares on either side. Words the value adds at its start (the question's
/// words, a filler) are left out. When the value's end is not the person's (cut at the
/// schema's bound, or a word changed or in another script), the span runs on to the end
/// of `said`, so the person's own ending stands. `None` when `said` holds none of the
/// value's content words.
pub(crate) fn spoken_span(said: &str, value: &str) -> Option<String> {
    let spans = word_spans(said);
    let said_words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| normalise_word(word))
        .collect();
    let value_words: Vec<String> = words(value).into_iter().map(normalise_word).collect();
    let content = content_words(value);
    let is_content = |word: &String| content.contains(word);
    let mut first = said_words.iter().position(is_content)?;
    let mut last = said_words.iter().rposition(is_content)?;
    // Widen over the words the value has beside them ("a suggestion", "order of each").
    if let Some(mut at) = value_words
        .iter()
        .position(|word| *word == said_words[first])
    {
        while first > 0 && at > 0 && value_words[at - 1] == said_words[first - 1] {
            first -= 1;
            at -= 1;
        }
    }
    let ends_as_said = match value_words
        .iter()
        .rposition(|word| *word == said_words[last])
    {
        Some(mut at) => {
            while last + 1 < said_words.len()
                && at + 1 < value_words.len()
                && value_words[at + 1] == said_words[last + 1]
            {
                last += 1;
                at += 1;
            }
            at + 1 == value_words.len() && !DANGLING_WORDS.contains(&said_words[last].as_str())
        }
        None => false,
    };
    if !ends_as_said {
        last = said_words.len() - 1;
    }
    Some(squash(said[spans[first].0..spans[last].1].trim()))
}

/// A time in ms as `mm:ss` (minutes keep counting past an hour).
pub(crate) fn mm_ss(ms: u64) -> String {
    let seconds = ms / 1000;
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

/// A text cut to at most `max_chars` characters, with `…` when cut; one line.
pub(crate) fn clip(text: &str, max_chars: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max_chars {
        return one_line;
    }
    let mut clipped: String = one_line.chars().take(max_chars.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// A text with every run of whitespace made one space, trimmed.
pub(crate) fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_cases() {
        let check = |left: &str, right: &str, at_least: f64, below: f64| {
            let similarity = statement_similarity(left, right);
            assert!(
                similarity >= at_least && similarity < below,
                "{left:?} vs {right:?}: {similarity}"
            );
        };
        check(
            "Freelancers need reminders before invoice deadlines",
            "A freelancer needs a reminder before the invoice deadline",
            1.0,
            1.1,
        );
        check(
            "Track invoice deadlines",
            "Share sketches with the team",
            0.0,
            0.01,
        );
        check("", "anything", 0.0, 0.01);
    }

    #[test]
    fn spoken_span_cases() {
        let check = |said: &str, value: &str, expected: Option<&str>| {
            assert_eq!(
                spoken_span(said, value).as_deref(),
                expected,
                "{said:?} / {value:?}"
            );
        };
        let wish = "What she'd love is a suggestion for how many stems to order of each kind";
        // The value is their words already: the span is the same words.
        check(
            wish,
            "a suggestion for how many stems",
            Some("a suggestion for how many stems"),
        );
        // The question's words before the value are left out; a changed ending gives way
        // to the person's.
        check(
            wish,
            "They would want to happen instead: a suggestion for how many stems to order of 1",
            Some("a suggestion for how many stems to order of each kind"),
        );
        check(
            "I'd want the upload page to warn them that the picture will look fuzzy",
            "warn them that the picture will look模糊",
            Some("warn them that the picture will look fuzzy"),
        );
        // Cut at the schema's bound: the person's ending stands.
        check(
            "Parents need to know by eight in the morning if the group goes out",
            "Parents need to know by eight in the",
            Some("Parents need to know by eight in the morning if the group goes out"),
        );
        check(
            "Every call means a walk to the kennel",
            "trust in the tools",
            None,
        );
    }

    #[test]
    fn time_and_topic_cases() {
        assert_eq!(mm_ss(41_900), "00:41");
        assert_eq!(mm_ss(3_725_000), "62:05");
        let check_topic = |statement: &str, expected: &str| {
            assert_eq!(topic(statement), expected, "{statement:?}");
        };
        check_topic(
            "Freelancers miss invoice deadlines every single month",
            "Freelancers miss invoice deadlines",
        );
        check_topic(
            "Freelance translators juggle deadlines from ten clients by email",
            "Freelance translators juggle deadlines",
        );
        check_topic("Bakeries waste bread.", "Bakeries waste bread");
        check_topic(
            "Patients forget appointments, so chairs sit empty for an hour",
            "Patients forget appointments",
        );
        check_topic(
            "Extraordinarily overcomplicated multi-step onboarding paperwork handling procedures",
            "Extraordinarily overcomplicated multi-step onboarding paperwork handling procedures",
        );
        check_topic("", "");
        // People before a colon name the need; cue words name nothing.
        check_topic(
            "Road inspectors: this is for road inspectors at a small town council",
            "Road inspectors",
        );
        check_topic(
            "What I really want is for patients to do their exercises",
            "patients to do their exercises",
        );
        check_topic(
            "This is for road inspectors at a small town council",
            "road inspectors",
        );
        assert_eq!(clip("a  b\nc", 10), "a b c");
        let check_replace = |text: &str, wrong: &str, right: &str, expected: Option<&str>| {
            assert_eq!(
                replace_words(text, wrong, right).as_deref(),
                expected,
                "{text:?}: {wrong:?} → {right:?}"
            );
        };
        check_replace(
            "Parents never have time to plan the week",
            "parents",
            "teachers",
            Some("Teachers never have time to plan the week"),
        );
        check_replace(
            "Busy parents and their kids",
            "parent",
            "Teachers",
            Some("Busy teachers and their kids"),
        );
        check_replace("Teachers plan lessons", "parents", "teachers", None);
        check_replace("parents", "parents", "", None);
        assert_eq!(
            statement_from(
                "They juggle deadlines by email.",
                Some("freelance translators")
            ),
            "Freelance translators juggle deadlines by email"
        );
        assert_eq!(
            statement_from("small bakeries throw bread away", Some("bakers")),
            "Small bakeries throw bread away"
        );
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
