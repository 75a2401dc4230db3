//! Word-level helpers of the plan: new-topic cues, statements made from the person's
//! words and the checks a model's statement must pass, and small word utilities.

use super::*;

/// Words of a new-topic cue, which carry no need of their own.
pub(super) const NEW_TOPIC_WORDS: &[&str] = &[
    "another",
    "problem",
    "second",
    "other",
    "different",
    "issue",
    "thing",
    "something",
    "else",
    "one",
    "more",
    "also",
    "separate",
    "unrelated",
    "there's",
    "there",
    "here's",
    "here",
    "okay",
    "so",
    "and",
    "oh",
    "think",
    "i",
    "have",
    "got",
    "a",
    "the",
    "is",
    "it's",
    "that's",
    "there",
    "next",
    "need",
    "now",
    "well",
    "then",
    "big",
    "bigger",
    "i've",
    "we",
    "we've",
    "too",
    "as",
    "to",
    "add",
    "mention",
    "worth",
    "like",
    "i'd",
    "want",
];

/// The most letters of two words' beginnings `shares_stem` compares ("cancel" in
/// "cancellations" and "cancelled"), and the fewest.
pub(super) const STEM_CHARS: usize = 5;
pub(super) const MIN_STEM_CHARS: usize = 4;

/// Whether two texts share a content word, compared by its beginning: the first
/// `STEM_CHARS` letters, or all of the shorter word when it has at least `MIN_STEM_CHARS`
/// ("edit" and "editing").
pub(super) fn shares_stem(left: &str, right: &str) -> bool {
    let words = |text: &str| -> Vec<Vec<char>> {
        content_words(text)
            .into_iter()
            .map(|word| word.chars().collect::<Vec<_>>())
            .filter(|chars| chars.len() >= MIN_STEM_CHARS)
            .collect()
    };
    let right = words(right);
    words(left).iter().any(|left_word| {
        right.iter().any(|right_word| {
            let n = STEM_CHARS.min(left_word.len()).min(right_word.len());
            left_word[..n] == right_word[..n]
        })
    })
}

/// Words a sentence may open with before the determiner of its subject ("And the sheet…").
const SUBJECT_OPENERS: &[&str] = &["and", "but", "so", "oh", "well", "also", "plus"];

/// Determiners that point back to something already said ("the sheet", "that form").
const POINTING_DETERMINERS: &[&str] = &["the", "that", "this", "those", "these"];

/// The most words after the determiner taken as the subject pointed back to.
const MAX_DEFINITE_SUBJECT_WORDS: usize = 2;

/// The words after a sentence's opening determiner ("The sheet has little drawings on it"
/// gives "sheet has"): what a sentence that starts "the…", "that…" or "this…" speaks of,
/// which the person may have named before. `None` for a sentence that opens otherwise.
pub(super) fn definite_subject(sentence: &str) -> Option<String> {
    let words = lower_words(sentence);
    let determiner_idx = words
        .iter()
        .position(|word| !SUBJECT_OPENERS.contains(&word.as_str()))?;
    if !POINTING_DETERMINERS.contains(&words[determiner_idx].as_str()) {
        return None;
    }
    let subject: Vec<&str> = words
        .iter()
        .skip(determiner_idx + 1)
        .take(MAX_DEFINITE_SUBJECT_WORDS)
        .map(String::as_str)
        .collect();
    (!subject.is_empty()).then(|| subject.join(" "))
}

/// Whether a sentence only says a new topic starts ("There's a second problem.").
pub(super) fn is_new_topic_cue_only(sentence: &str) -> bool {
    let words = lower_words(sentence);
    contains_any(&words, NEW_NEED_PHRASES)
        && words
            .iter()
            .all(|word| NEW_TOPIC_WORDS.contains(&word.as_str()))
}

/// Everything known about a need, for telling a new need from talk about it.
pub(super) fn need_text(need: &crate::needs::model::Need) -> String {
    let mut text = need.statement.clone();
    for slot in Slot::ALL {
        if let Some(value) = slot.value(need) {
            text.push(' ');
            text.push_str(value);
        }
    }
    for evidence in &need.evidence {
        if let crate::needs::model::Evidence::Utterance { quote, .. } = evidence {
            text.push(' ');
            text.push_str(quote);
        }
    }
    text
}

/// The evidence a sentence gives, filling `slot` or none.
pub(super) fn evidence_of(heard: &Heard, slot: Option<Slot>) -> EvidenceRef {
    EvidenceRef {
        utterance: heard.utterance_id.0,
        quote: heard.text.trim_end_matches(['.', '!', '?']).to_string(),
        slot,
    }
}

/// The value stored for a slot from words already checked: the people phrase for who
/// when the words hold one, else the words without leading filler.
pub(super) fn value_for(words: &str, slot: Slot) -> String {
    match slot {
        Slot::Actor => cues::actor_phrase(words).unwrap_or_else(|| cues::clause_value(words)),
        _ => cues::clause_value(words),
    }
}

/// Why a statement from a model may not be stored, or `None` when it may: it must be the
/// person's words, whole (not cut by the schema's bound) and free of prompt text.
pub(super) fn statement_problem(
    statement: &str,
    said: &std::collections::BTreeSet<String>,
    discovery: &Discovery,
) -> Option<String> {
    if let Some(reason) = artifact(statement, discovery) {
        return Some(reason);
    }
    if statement.chars().count() >= MAX_MODEL_STATEMENT_CHARS {
        return Some("it was cut off at the length bound".into());
    }
    if grounded_share(statement, said) < MIN_GROUNDED_SHARE {
        return Some("most of its words are not the person's in the sentence it rests on".into());
    }
    if is_new_topic_cue_only(statement) {
        return Some("it only says that a new topic starts".into());
    }
    if matches!(cues::act(statement), cues::Act::Filler | cues::Act::Remark) {
        return Some("it is only filler, or a remark about the conversation".into());
    }
    None
}

/// Why a model's text carries prompt material rather than the person's words: field
/// names, the state's separators, ids, JSON, or a prompt example.
pub(super) fn artifact(text: &str, discovery: &Discovery) -> Option<String> {
    let lower = text.to_lowercase();
    if text.contains(['|', '{', '}', '[', ']', '_']) {
        return Some("it holds prompt or JSON syntax".into());
    }
    let field_names = Slot::ALL.map(Slot::field_name);
    if field_names
        .iter()
        .any(|name| lower.contains(&format!("{name}:")))
        || lower.contains("missing:")
    {
        return Some("it holds the prompt's field names".into());
    }
    if copies_example(text, discovery) {
        return Some("it is the prompt's example".into());
    }
    None
}

/// A statement made from the person's sentence: its first clause when the sentence is
/// long, with the actor standing in for an opening pronoun.
pub(super) fn own_statement(sentence: &str, actor: Option<&str>) -> String {
    let n_words = word_spans(sentence).len();
    let text = if n_words > MAX_STATEMENT_WORDS {
        cues::clauses(sentence)
            .into_iter()
            .next()
            .unwrap_or_else(|| sentence.to_string())
    } else {
        sentence.to_string()
    };
    // "I want to build something for small dental clinics": the people are the statement.
    let lower = lower_words(&text);
    let text = if contains_any(
        &lower,
        &[&["want", "to", "build"], &["building"], &["idea", "for"]],
    ) && let Some(actor) = actor
    {
        format!(
            "Something for {}",
            crate::needs::text::lowercase_first_unless_name(actor)
        )
    } else {
        without_topic_opener(&cues::clause_value(&text))
    };
    statement_from(&text, actor)
}

/// A statement without the words that only announced it: "The other thing is handover
/// notes" → "handover notes", "The second problem is getting paid" → "getting paid".
pub(super) fn without_topic_opener(text: &str) -> String {
    let spans = word_spans(text);
    let words: Vec<String> = spans.iter().map(|(_, _, word)| word.clone()).collect();
    let is_opener_word = |word: &str| {
        matches!(
            word,
            "the"
                | "a"
                | "an"
                | "another"
                | "other"
                | "second"
                | "next"
                | "different"
                | "one"
                | "more"
                | "my"
                | "our"
                | "thing"
                | "problem"
                | "issue"
                | "need"
                | "main"
                | "biggest"
                | "real"
        )
    };
    let Some(link) = words.iter().position(|word| word == "is" || word == "was") else {
        return text.to_string();
    };
    let opener_only = link > 0
        && words[..link].iter().all(|word| is_opener_word(word))
        && words[..link]
            .iter()
            .any(|word| matches!(word.as_str(), "thing" | "problem" | "issue" | "need"));
    let mut first = link + 1;
    if words.get(first).is_some_and(|word| word == "that") {
        first += 1;
    }
    match spans.get(first) {
        Some((start, _, _)) if opener_only => text[*start..].to_string(),
        _ => text.to_string(),
    }
}

// One word splitter and phrase matcher for the whole domain: the cue rules'.
pub(super) use crate::needs::cues::{contains_any, lower_words};

/// Whether a sentence opens by recalling a family member's past ("My mother taught me on a
/// treadle machine", "My grandfather had a vineyard"): a story beside the point. "My dad
/// sits up until midnight at the barrier" is about today, and stays.
pub(super) fn recalls_family_past(words: &[String]) -> bool {
    let [first, kin, verb, ..] = words else {
        return false;
    };
    let in_past = (verb.len() > "ed".len() && verb.ends_with("ed"))
        || IRREGULAR_PAST_VERBS.contains(&verb.as_str());
    first == "my" && KIN_NOUNS.contains(&kin.as_str()) && in_past
}
