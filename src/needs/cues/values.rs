//! The slot values a clause gives, in the person's words: the cleaned clause, what follows
//! an opener such as "the problem is", a frequency made precise by a second expression, and
//! the measure a metric clause names, before or after its cue.

use super::lexicon::*;
use super::{Slot, actor_phrase, frequency_phrase, named_actor, phrase_position};
use crate::needs::text::{squash, word_spans};

/// How many words after a slot opener ("what drives me") its "is" may come ("…up the wall
/// is that").
const OPENER_COPULA_WINDOW: usize = 5;

/// A slot value made from a clause: leading fillers ("Well, so, …") and a trailing full
/// stop dropped, the person's words otherwise kept.
pub fn clause_value(clause: &str) -> String {
    let spans = word_spans(clause);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let mut first = 0;
    while first + 1 < words.len() && LEADING_FILLERS.contains(&words[first].as_str()) {
        first += 1;
    }
    let Some((start, _, _)) = spans.get(first) else {
        return squash(clause);
    };
    squash(clause[*start..].trim_end_matches([',', ';', '.', '!', '?']))
}

/// The value a clause gives for `slot`, in the person's words: the people phrase for who,
/// the frequency expression for how often, what success is measured by for the metric
/// ("the number of missed deadlines" from "I would measure success by the number of
/// missed deadlines"), the cleaned clause otherwise.
pub fn slot_value(clause: &str, slot: Slot) -> String {
    match slot {
        Slot::Actor => named_actor(clause)
            .or_else(|| actor_phrase(clause))
            .unwrap_or_else(|| clause_value(clause)),
        Slot::Frequency => frequency_value(clause).unwrap_or_else(|| clause_value(clause)),
        Slot::SuccessMetric => metric_phrase(clause).unwrap_or_else(|| clause_value(clause)),
        Slot::Pain => after_opener(clause, PAIN_PHRASES).unwrap_or_else(|| clause_value(clause)),
        _ => clause_value(clause),
    }
}

/// What a clause says after an opener such as "the problem is (that)": "repair requests"
/// from "The problem is repair requests". `None` without such an opener, or with too few
/// words after it.
fn after_opener(clause: &str, openers: &[&[&str]]) -> Option<String> {
    let spans = word_spans(clause);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let (at, len) = openers
        .iter()
        .filter_map(|pattern| phrase_position(&words, pattern).map(|at| (at, pattern.len())))
        .min()?;
    // Only an opener at the start ("The worst part is…"), not one inside the clause.
    if at > 2 {
        return None;
    }
    let mut first = at + len;
    // "What drives me up the wall is that…": an opener without its own "is" runs on to the
    // first one that follows it closely.
    if !matches!(words[first - 1].as_str(), "is" | "was" | "are")
        && let Some(copula) = (first..words.len().min(first + OPENER_COPULA_WINDOW))
            .find(|idx| matches!(words[*idx].as_str(), "is" | "was" | "are"))
    {
        first = copula;
    }
    while words
        .get(first)
        .is_some_and(|word| matches!(word.as_str(), "is" | "was" | "that" | "are"))
    {
        first += 1;
    }
    let phrase = squash(spans.get(first).map(|(start, _, _)| &clause[*start..])?)
        .trim_end_matches([',', ';', '.', '!', '?'])
        .to_string();
    (phrase.split_whitespace().count() >= MIN_METRIC_WORDS).then_some(phrase)
}

/// A clause's frequency, with a second expression that makes it precise: "most weeks, I'd
/// say three weeks out of four" rather than "most weeks" alone.
fn frequency_value(clause: &str) -> Option<String> {
    let first = frequency_phrase(clause)?;
    let Some(first_start) = clause.find(&first) else {
        return Some(first);
    };
    let first_end = first_start + first.len();
    let rest = &clause[first_end..];
    let second_end = frequency_phrase(rest)
        .and_then(|second| rest.find(&second).map(|at| first_end + at + second.len()));
    Some(match second_end {
        Some(second_end) => squash(&clause[first_start..second_end]),
        None => first,
    })
}

/// What a metric clause says is measured: its words after the metric cue and the linking
/// words ("is", "would be", "if", "by"), or `None` when nothing follows.
fn metric_phrase(clause: &str) -> Option<String> {
    let spans = word_spans(clause);
    let words: Vec<String> = spans
        .iter()
        .map(|(_, _, word)| word.replace('’', "'"))
        .collect();
    let (cue, cue_len) = METRIC_PHRASES
        .iter()
        .filter_map(|pattern| phrase_position(&words, pattern).map(|at| (at, pattern.len())))
        .min()?;
    // "If my dad could be in bed by ten, that's success as far as I'm concerned": the
    // measure comes before the cue when "that's" points back to it.
    let points_back = cue > 0
        && matches!(
            words[cue - 1].as_str(),
            "that's" | "it's" | "that" | "which"
        )
        && sentence_has_comma_before(clause, &spans, cue - 1);
    if points_back {
        let comma = clause[..spans[cue - 1].0].rfind(',')?;
        let phrase = squash(clause[..comma].trim());
        return (phrase.split_whitespace().count() >= MIN_METRIC_WORDS).then_some(phrase);
    }
    // "Fewer complaints at the front desk would tell me it works", "If nobody argues about
    // pay for a season, I'd call that a success": nothing follows the cue, so the measure
    // is what comes before it.
    let ends_clause = words[cue + cue_len..]
        .iter()
        .all(|word| METRIC_LINK_WORDS.contains(&word.as_str()));
    if ends_clause {
        return measure_before(clause, &spans, cue);
    }
    let first =
        (cue..words.len()).find(|idx| !METRIC_LINK_WORDS.contains(&words[*idx].as_str()))?;
    let phrase = squash(clause[spans[first].0..].trim_end_matches([',', ';', '.', '!', '?']));
    (phrase.split_whitespace().count() >= MIN_METRIC_WORDS).then_some(phrase)
}

/// The measure said before a metric cue that ends its clause: the words before the cue,
/// without the linking words next to it ("…, I'd") or an opening "if"/"when".
fn measure_before(clause: &str, spans: &[(usize, usize, String)], cue: usize) -> Option<String> {
    let is_link = |idx: usize| {
        let word = spans[idx].2.as_str();
        METRIC_LINK_WORDS.contains(&word) || word == "that's"
    };
    let mut last = cue;
    while last > 0 && is_link(last - 1) {
        last -= 1;
    }
    let mut first = 0;
    while first < last
        && matches!(
            spans[first].2.as_str(),
            "if" | "when" | "so" | "and" | "but"
        )
    {
        first += 1;
    }
    if first >= last {
        return None;
    }
    let phrase = squash(clause[spans[first].0..spans[last - 1].1].trim_end_matches([',', ';']));
    (phrase.split_whitespace().count() >= MIN_METRIC_WORDS).then_some(phrase)
}

/// Whether a comma stands right before the word at `word_idx`.
fn sentence_has_comma_before(
    text: &str,
    spans: &[(usize, usize, String)],
    word_idx: usize,
) -> bool {
    word_idx > 0 && text[spans[word_idx - 1].1..spans[word_idx].0].contains(',')
}

/// The fewest words a metric taken from after its cue has ("zero" alone says too little).
const MIN_METRIC_WORDS: usize = 2;
