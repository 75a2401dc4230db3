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

/// The most words a topic (a need named in a question) carries.
const TOPIC_MAX_WORDS: usize = 6;

/// A word lowercased, with a plural `s` cut so that "reminders" matches "reminder".
pub(crate) fn normalise_word(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
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

/// A need's statement cut to a few words, for naming it in a spoken question.
pub(crate) fn topic(statement: &str) -> String {
    let all = words(statement);
    let mut topic = all
        .iter()
        .take(TOPIC_MAX_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if all.len() > TOPIC_MAX_WORDS {
        topic.push('…');
    }
    topic
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
    fn time_and_topic_cases() {
        assert_eq!(mm_ss(41_900), "00:41");
        assert_eq!(mm_ss(3_725_000), "62:05");
        assert_eq!(
            topic("Freelancers miss invoice deadlines every single month"),
            "Freelancers miss invoice deadlines every single…"
        );
        assert_eq!(clip("a  b\nc", 10), "a b c");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
