//! The answer parser of the sketch describer: it turns the vision model's text answer into a
//! [`SketchDescription`] (the trimmed summary, the text labels the answer quotes or
//! capitalises, the UI elements it names). It is small, deterministic and needs no model,
//! so it lives apart from the model and its worker (`describe.rs`) with its own tests.

use super::{END_MARKER, SketchDescription};

/// The most characters a label may have; longer quoted text is a sentence, not a label.
const MAX_LABEL_CHARS: usize = 40;
/// The most words a capitalised phrase may have to count as a label.
const MAX_LABEL_WORDS: usize = 5;

/// Capitalised words that start sentences or describe the picture rather than name
/// something on it; a label never starts with one. Compared in lower case.
const NOT_LABEL_WORDS: &[&str] = &[
    "a", "above", "all", "also", "an", "and", "answer", "any", "are", "as", "at", "below",
    "beside", "between", "bottom", "but", "by", "each", "every", "first", "for", "from", "has",
    "have", "he", "her", "here", "his", "i", "if", "image", "in", "inside", "is", "it", "its",
    "last", "left", "my", "near", "next", "no", "not", "of", "on", "one", "or", "our", "outside",
    "over", "photo", "picture", "question", "right", "second", "she", "sketch", "so", "some",
    "that", "the", "their", "them", "then", "there", "these", "they", "third", "this", "those",
    "three", "to", "top", "two", "under", "was", "we", "were", "what", "when", "where", "which",
    "who", "with", "yes", "you", "your", "drawing",
];

/// UI elements the answer may name: the name reported, and the lower-case words that
/// name it (the last word may also be plural). Multi-word names come first so that
/// "text box" is a text field and not a box.
const ELEMENT_VOCABULARY: &[(&str, &[&str])] = &[
    ("navigation bar", &["navigation", "bar"]),
    ("navigation bar", &["nav", "bar"]),
    ("search bar", &["search", "bar"]),
    ("progress bar", &["progress", "bar"]),
    ("text field", &["text", "field"]),
    ("text field", &["text", "box"]),
    ("text field", &["input", "field"]),
    ("checkbox", &["check", "box"]),
    ("dropdown", &["drop", "down"]),
    ("popup", &["pop", "up"]),
    ("sidebar", &["side", "bar"]),
    ("navigation bar", &["navbar"]),
    ("text field", &["textbox"]),
    ("text field", &["field"]),
    ("arrow", &["arrow"]),
    ("avatar", &["avatar"]),
    ("box", &["box"]),
    ("button", &["button"]),
    ("calendar", &["calendar"]),
    ("card", &["card"]),
    ("chart", &["chart"]),
    ("checkbox", &["checkbox"]),
    ("circle", &["circle"]),
    ("diagram", &["diagram"]),
    ("dialog", &["dialog"]),
    ("dropdown", &["dropdown"]),
    ("flowchart", &["flowchart"]),
    ("footer", &["footer"]),
    ("form", &["form"]),
    ("graph", &["graph"]),
    ("grid", &["grid"]),
    ("header", &["header"]),
    ("icon", &["icon"]),
    ("list", &["list"]),
    ("logo", &["logo"]),
    ("map", &["map"]),
    ("menu", &["menu"]),
    ("modal", &["modal"]),
    ("page", &["page"]),
    ("panel", &["panel"]),
    ("popup", &["popup"]),
    ("rectangle", &["rectangle"]),
    ("screen", &["screen"]),
    ("sidebar", &["sidebar"]),
    ("slider", &["slider"]),
    ("tab", &["tab"]),
    ("table", &["table"]),
    ("timeline", &["timeline"]),
    ("toggle", &["toggle"]),
    ("toolbar", &["toolbar"]),
    ("window", &["window"]),
];

/// Turns a model's answer into a [`SketchDescription`]: the same answer always gives the
/// same description.
pub fn parse_answer(answer: &str) -> SketchDescription {
    let answer = answer.split(END_MARKER).next().unwrap_or_default();
    let summary = answer.trim().to_string();
    SketchDescription {
        labels: extract_labels(&summary),
        elements: extract_elements(&summary),
        summary,
    }
}

/// Quoted strings and runs of capitalised words, in text order, without repeats (compared
/// ignoring case).
fn extract_labels(text: &str) -> Vec<String> {
    let (mut found, quoted_spans) = quoted_labels(text);
    found.extend(capitalised_labels(text, &quoted_spans));
    found.sort_by_key(|(start, _)| *start);
    let mut labels: Vec<String> = Vec::new();
    for (_, label) in found {
        if !labels
            .iter()
            .any(|seen| seen.to_lowercase() == label.to_lowercase())
        {
            labels.push(label);
        }
    }
    labels
}

/// The closing quote for an opening one, or `None` if `open` does not open a quote.
fn closing_quote(open: char) -> Option<char> {
    match open {
        '"' => Some('"'),
        '\u{201C}' => Some('\u{201D}'),
        '\'' => Some('\''),
        '\u{2018}' => Some('\u{2019}'),
        _ => None,
    }
}

/// A label and the byte offset where it starts in the answer.
type PlacedLabel = (usize, String);

/// A half-open byte range `(start, end)` of the answer.
type ByteSpan = (usize, usize);

/// Labels in quotes, with the byte offset of each, and the byte spans the quotes cover
/// (opening quote to closing quote) so that the capitalised scan skips them. A straight
/// single quote only opens after a non-letter and only closes before one, so apostrophes
/// in words (the user's list) are left alone.
fn quoted_labels(text: &str) -> (Vec<PlacedLabel>, Vec<ByteSpan>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let is_word_char = |index: usize| chars.get(index).is_some_and(|(_, c)| c.is_alphanumeric());
    let mut labels = Vec::new();
    let mut spans = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let (open_at, open) = chars[index];
        let Some(close) = closing_quote(open) else {
            index += 1;
            continue;
        };
        let is_apostrophe =
            (open == '\'' || open == '\u{2018}') && index > 0 && is_word_char(index - 1);
        if is_apostrophe {
            index += 1;
            continue;
        }
        // Only the same line can close a quote; single quotes close only at a word's end.
        let is_single = open == '\'' || open == '\u{2018}';
        let mut close_index = None;
        for (candidate, &(_, c)) in chars.iter().enumerate().skip(index + 1) {
            if c == '\n' {
                break;
            }
            let closes = c == close || (open == '\u{201C}' && c == '"');
            if closes && !(is_single && is_word_char(candidate + 1)) {
                close_index = Some(candidate);
                break;
            }
        }
        match close_index {
            Some(close_index) => {
                let (close_at, close_char) = chars[close_index];
                let inner = text[open_at + open.len_utf8()..close_at].trim();
                let char_count = inner.chars().count();
                if (1..=MAX_LABEL_CHARS).contains(&char_count) {
                    labels.push((open_at, inner.to_string()));
                }
                spans.push((open_at, close_at + close_char.len_utf8()));
                index = close_index + 1;
            }
            // No closing quote on this line: the quote mark is just a character.
            _ => index += 1,
        }
    }
    (labels, spans)
}

/// Runs of capitalised words (separated only by spaces) outside quotes, with the byte
/// offset of each. A run longer than [`MAX_LABEL_WORDS`] is a shouted or title-case
/// sentence and is skipped; words of [`NOT_LABEL_WORDS`] at the start of a run are dropped
/// (The Login screen → Login) but kept inside one (Sign In).
fn capitalised_labels(text: &str, quoted_spans: &[ByteSpan]) -> Vec<PlacedLabel> {
    let mut labels = Vec::new();
    let mut run: Vec<(usize, &str)> = Vec::new();
    let mut flush = |run: &mut Vec<(usize, &str)>| {
        let first_kept = run.iter().position(|(_, word)| !is_filler_word(word));
        if let Some(first_kept) = first_kept.filter(|_| run.len() <= MAX_LABEL_WORDS) {
            let kept = &run[first_kept..];
            let is_single_letter = kept.len() == 1 && kept[0].1.chars().count() < 2;
            if !is_single_letter {
                let words: Vec<&str> = kept.iter().map(|(_, word)| *word).collect();
                labels.push((kept[0].0, words.join(" ")));
            }
        }
        run.clear();
    };
    for item in words_and_breaks(text, quoted_spans) {
        match item {
            Some((start, word)) if word.chars().next().is_some_and(char::is_uppercase) => {
                run.push((start, word));
            }
            _ => flush(&mut run),
        }
    }
    flush(&mut run);
    labels
}

/// One of [`NOT_LABEL_WORDS`], in any case.
fn is_filler_word(word: &str) -> bool {
    NOT_LABEL_WORDS.contains(&word.to_lowercase().as_str())
}

/// The text as words (`Some((byte offset, word))`) and breaks (`None`): punctuation, line
/// ends and quoted spans break a run of words, spaces do not. Words keep inner hyphens and
/// apostrophes (Sign-up, Today's).
fn words_and_breaks<'t>(
    text: &'t str,
    quoted_spans: &[(usize, usize)],
) -> Vec<Option<(usize, &'t str)>> {
    let in_quotes = |at: usize| {
        quoted_spans
            .iter()
            .any(|&(start, end)| at >= start && at < end)
    };
    let is_word_char = |c: char| c.is_alphanumeric() || c == '-' || c == '\'' || c == '\u{2019}';
    let mut items = Vec::new();
    let mut word_start: Option<usize> = None;
    let push_word = |items: &mut Vec<Option<(usize, &'t str)>>, start: usize, end: usize| {
        let slice = &text[start..end];
        let trimmed_front = slice.trim_start_matches(|c: char| !c.is_alphanumeric());
        let word = trimmed_front.trim_end_matches(|c: char| !c.is_alphanumeric());
        if !word.is_empty() {
            items.push(Some((start + slice.len() - trimmed_front.len(), word)));
        }
    };
    for (at, c) in text.char_indices() {
        let quoted = in_quotes(at);
        if !quoted && is_word_char(c) {
            word_start.get_or_insert(at);
            continue;
        }
        if let Some(start) = word_start.take() {
            push_word(&mut items, start, at);
        }
        if quoted || !(c == ' ' || c == '\t') {
            items.push(None);
        }
    }
    if let Some(start) = word_start {
        push_word(&mut items, start, text.len());
    }
    items
}

/// The UI elements [`ELEMENT_VOCABULARY`] finds in the text, by name, in order of first
/// mention.
fn extract_elements(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    let mut elements: Vec<String> = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let found = ELEMENT_VOCABULARY
            .iter()
            .find(|(_, pattern)| matches_element(&words[index..], pattern));
        match found {
            Some((name, pattern)) => {
                if !elements.iter().any(|seen| seen == name) {
                    elements.push((*name).to_string());
                }
                index += pattern.len();
            }
            None => index += 1,
        }
    }
    elements
}

/// Whether `words` starts with `pattern`, its last word singular or plural (-s, -es).
fn matches_element(words: &[&str], pattern: &[&str]) -> bool {
    if words.len() < pattern.len() {
        return false;
    }
    let last = pattern.len() - 1;
    pattern
        .iter()
        .zip(words)
        .enumerate()
        .all(|(at, (want, word))| {
            if at < last {
                word == want
            } else {
                word == want
                    || word
                        .strip_prefix(want)
                        .is_some_and(|suffix| suffix == "s" || suffix == "es")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn parser_reads_labels_and_elements_from_a_login_flow() {
        let description = parse_answer(
            " The sketch shows a Login screen with two text fields labeled \"Email\" and \
             \"Password\", a Sign In button, and an arrow pointing to the Dashboard screen.\n",
        );
        assert!(description.summary.starts_with("The sketch shows"));
        assert!(description.summary.ends_with("Dashboard screen."));
        assert_eq!(
            description.labels,
            strings(&["Login", "Email", "Password", "Sign In", "Dashboard"])
        );
        assert_eq!(
            description.elements,
            strings(&["screen", "text field", "button", "arrow"])
        );
    }

    #[test]
    fn parser_tells_single_quotes_from_apostrophes_and_drops_the_end_marker() {
        let description = parse_answer(
            "There are three boxes: 'Ideas', 'Backlog' and 'Done'. The user's list has check \
             boxes and a drop-down menu.<END> Question: ignored",
        );
        assert!(
            description.summary.ends_with("drop-down menu."),
            "{}",
            description.summary
        );
        assert_eq!(description.labels, strings(&["Ideas", "Backlog", "Done"]));
        assert_eq!(
            description.elements,
            strings(&["box", "list", "checkbox", "dropdown", "menu"])
        );
    }

    #[test]
    fn parser_handles_curly_quotes_repeats_and_unclosed_quotes() {
        let description = parse_answer(
            "A card titled “Weekly Report” next to a bar chart and a calendar. The Settings \
             panel repeats Settings and has a \"Save button",
        );
        assert_eq!(
            description.labels,
            strings(&["Weekly Report", "Settings", "Save"])
        );
        assert_eq!(
            description.elements,
            strings(&["card", "chart", "calendar", "panel", "button"])
        );
    }

    #[test]
    fn parser_finds_nothing_where_there_is_nothing() {
        assert_eq!(parse_answer(""), SketchDescription::default());
        assert_eq!(parse_answer("  <END>"), SketchDescription::default());
        let description = parse_answer("a flowchart with arrows between boxes");
        assert!(description.labels.is_empty());
        assert_eq!(
            description.elements,
            strings(&["flowchart", "arrow", "box"])
        );
        // Long title-case runs are prose, and single letters are not labels.
        let description =
            parse_answer("THIS IS A VERY LONG SHOUTED SENTENCE OF WORDS. X marks it.");
        assert!(description.labels.is_empty(), "{:?}", description.labels);
        // The same answer always gives the same description.
        let answer = "The Home screen links to \"Profile\" via an arrow.";
        assert_eq!(parse_answer(answer), parse_answer(answer));
    }
}
