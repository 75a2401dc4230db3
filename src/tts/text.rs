//! Text prepared for speaking: a reply cut into sentences that are synthesised one by one,
//! so the first can play while the rest is still being made.
//!
//! One scanner serves both whole replies (`sentences`) and streamed ones
//! (`SentenceSplitter`, fed LLM tokens a few characters at a time). It only ever decides a
//! cut from the text it has seen, and waits when a decision needs more text (a `.` at the
//! end of the buffer may be the start of `3.5`), so the sentences never depend on how the
//! text was fragmented.
//!
//! Rules, in order:
//! - A run of `.`, `!`, `?` or `…` (with any closing quotes or brackets after it) ends a
//!   sentence when whitespace and then a word that does not start in lower case follow.
//!   A single `.` does not end one after a title (`Dr.`, `Mr.`) or `vs.`, `cf.`,
//!   `approx.`, a one-letter initial
//!   (`J.`), a dotted abbreviation (`e.g.`, `U.S.`, `a.m.`), or before a digit after
//!   `No.`, `p.`, `Fig.` or a month (`Jan. 5`). Digits around a dot (`3.5`) never end one.
//!   espeak-ng still pauses inside such a joined sentence, so a wrong join only costs
//!   length, never a word; a wrong cut would cost intonation.
//! - A line break ends a sentence, unless it only wraps a line (a letter, digit or comma
//!   before it and a lower-case word after it). A blank line or a list item always does.
//! - A sentence longer than `MAX_SENTENCE_CHARS` is cut at its last clause mark
//!   (`,` `;` `:` `—`), else at its last space, else where it is, so one sentence never
//!   becomes a huge synthesis job.
//!
//! Each sentence is then cleaned: list markers (`-`, `*`, `•`, `1.`, `#`) at its start go,
//! typographic quotes become ASCII ones, `…` becomes `...`, dashes become a spaced `—`
//! (espeak-ng pauses there), emoji and symbols that cannot be spoken (markdown `*` `_`
//! `#` `` ` ``, arrows, ©, ™ …) become spaces, and whitespace collapses. Kept are letters
//! and digits of any script, clause punctuation, quotes, brackets and the symbols espeak-ng
//! reads well: `% $ € £ ¥ ¢ ₹ & + = ° /` and `@` (an e-mail address is read as
//! "joe at example dot com"). A sentence with no letter or digit left is dropped.

/// The longest sentence handed to a voice, in characters of the original text. About 20
/// seconds of speech: long enough for any ordinary sentence, short enough that the first
/// sound never waits on a huge synthesis job.
pub const MAX_SENTENCE_CHARS: usize = 300;

/// How much whitespace after a sentence mark the scanner reads before it decides without
/// seeing the next word. It bounds how long a streamed sentence can be held back.
const MAX_LOOKAHEAD_CHARS: usize = 32;

/// Abbreviations after which a `.` never ends a sentence: titles that precede a name, and
/// a few that are always followed by more words (`vs.`, `cf.`, `approx.`).
const JOINING_ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon", "gen", "capt",
    "col", "lt", "sgt", "gov", "pres", "vs", "cf", "approx", "ca", "viz",
];

/// Abbreviations that precede a number: a `.` after them does not end a sentence when a
/// digit follows (`No. 5`, `p. 12`, `Jan. 3`).
const NUMBER_PREFIXES: &[&str] = &[
    "no", "nos", "vol", "vols", "p", "pp", "fig", "figs", "ch", "sec", "art", "ex", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
];

/// Splits a whole reply into speakable sentences, cleaned as the module header says.
/// Returns an empty list when nothing in the text can be spoken.
pub fn sentences(text: &str) -> Vec<String> {
    let mut splitter = SentenceSplitter::new();
    let mut out = splitter.push(text);
    out.extend(splitter.finish());
    out
}

/// Splits streamed text into sentences as soon as each one is certainly complete.
///
/// Pushing a text in any fragments and then calling `finish` gives exactly
/// `sentences(text)`.
#[derive(Debug, Clone, Default)]
pub struct SentenceSplitter {
    /// Text received but not yet handed out as a sentence.
    pending: String,
    /// Whether `pending` starts in the middle of a line (the last cut crossed no line
    /// break). List markers are only recognised at the start of a line.
    mid_line: bool,
}

impl SentenceSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fragment and returns the sentences it completed (often none).
    pub fn push(&mut self, fragment: &str) -> Vec<String> {
        self.pending.push_str(fragment);
        self.take_sentences(false)
    }

    /// Ends the stream and returns what is left as sentences.
    pub fn finish(mut self) -> Vec<String> {
        self.take_sentences(true)
    }

    /// Cuts every sentence that can be decided now and removes its text from `pending`.
    fn take_sentences(&mut self, at_end: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(cut) = next_cut(&self.pending[start..], at_end, !self.mid_line) {
            let rest = &self.pending[start..];
            if let Some(sentence) = clean(&rest[..cut.end], !self.mid_line) {
                out.push(sentence);
            }
            if cut.next == 0 {
                break;
            }
            self.mid_line = !rest[cut.end..cut.next].contains('\n');
            start += cut.next;
        }
        self.pending.drain(..start);
        out
    }
}

/// Where the first sentence of a text ends, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cut {
    /// The sentence is `text[..end]`.
    end: usize,
    /// The rest starts at `text[next..]` (whitespace between the two is skipped).
    next: usize,
}

/// What follows a sentence mark or a line break: the first character that is not
/// whitespace, or the end of the text, or too much whitespace to look through.
enum Next {
    /// A character at this byte offset, after this many line breaks.
    Char {
        at: usize,
        c: char,
        n_newlines: usize,
    },
    /// The text ends after whitespace (`at` is its length).
    End { at: usize },
    /// More than `MAX_LOOKAHEAD_CHARS` of whitespace (`at` is where the scan stopped).
    FarAway { at: usize },
}

/// Finds the first sentence of `text`. `None` means it cannot be decided until more text
/// arrives (never when `at_end`, unless `text` is empty). At a `line_start`, list markers
/// are skipped first so that the dot of `1.` is not taken for a sentence end.
fn next_cut(text: &str, at_end: bool, line_start: bool) -> Option<Cut> {
    let mut i = 0;
    if line_start {
        loop {
            let content = scan_while(text, i, char::is_whitespace);
            if content == text.len() {
                break;
            }
            match list_marker_len(&text[content..]) {
                MarkerCheck::Marker(n_bytes) => i = content + n_bytes,
                MarkerCheck::NeedMore if !at_end => return None,
                MarkerCheck::NeedMore | MarkerCheck::NoMarker => break,
            }
        }
    }
    let mut n_chars = text[..i].chars().count();
    let mut seen_content = false;
    while i < text.len() {
        let c = text[i..].chars().next()?;
        let c_len = c.len_utf8();
        if is_sentence_mark(c) {
            let run_end = scan_while(text, i, is_sentence_mark);
            let after_closers = scan_while(text, run_end, is_closer);
            match sentence_mark_decision(text, i, run_end, after_closers, at_end) {
                Decision::Undecided => return None,
                Decision::Cut(cut) => return Some(cut),
                Decision::Continue => {
                    n_chars += text[i..run_end].chars().count();
                    i = run_end;
                    if n_chars >= MAX_SENTENCE_CHARS {
                        return Some(length_cut(text, i));
                    }
                    seen_content = true;
                    continue;
                }
            }
        }
        if c == '\n' && seen_content {
            match line_break_decision(text, i, at_end) {
                Decision::Undecided => return None,
                Decision::Cut(cut) => return Some(cut),
                Decision::Continue => {}
            }
        }
        if !c.is_whitespace() {
            seen_content = true;
        }
        n_chars += 1;
        i += c_len;
        if n_chars >= MAX_SENTENCE_CHARS {
            return Some(length_cut(text, i));
        }
    }
    if at_end && !text.is_empty() {
        Some(Cut {
            end: text.len(),
            next: text.len(),
        })
    } else {
        None
    }
}

/// The scanner's verdict at one candidate position.
enum Decision {
    /// The sentence ends here.
    Cut(Cut),
    /// Not a sentence end; keep scanning.
    Continue,
    /// More text is needed to decide.
    Undecided,
}

/// Decides whether the mark run `text[start..run_end]` (closing quotes up to
/// `after_closers`) ends a sentence.
fn sentence_mark_decision(
    text: &str,
    start: usize,
    run_end: usize,
    after_closers: usize,
    at_end: bool,
) -> Decision {
    let run = &text[start..run_end];
    let cut_at = |next: usize| {
        Decision::Cut(Cut {
            end: after_closers,
            next,
        })
    };
    // Full-width marks (Chinese, Japanese) need no space after them.
    let full_width = run.chars().any(|c| matches!(c, '。' | '！' | '？'));
    let Some(first_after) = text[after_closers..].chars().next() else {
        return if at_end {
            cut_at(after_closers)
        } else {
            Decision::Undecided
        };
    };
    if !first_after.is_whitespace() {
        return if full_width {
            cut_at(after_closers)
        } else {
            Decision::Continue
        };
    }
    let (next_at, next_char, n_newlines) = match look_past_whitespace(text, after_closers) {
        Next::Char { at, c, n_newlines } => (at, c, n_newlines),
        Next::End { at } => {
            return if at_end {
                cut_at(at)
            } else {
                Decision::Undecided
            };
        }
        Next::FarAway { at } => return cut_at(at),
    };
    if n_newlines > 0 || full_width {
        return cut_at(next_at);
    }
    if next_char.is_lowercase() {
        return Decision::Continue;
    }
    if run.contains(['!', '?']) || run.contains('…') || run.len() > 1 {
        return cut_at(next_at);
    }
    let word = word_before(text, start);
    let lower = word.to_lowercase();
    let is_initial = word.chars().count() == 1 && word.chars().all(char::is_alphabetic);
    let is_dotted = word.contains('.')
        && word.split('.').all(|part| {
            (1..=2).contains(&part.chars().count()) && part.chars().all(char::is_alphabetic)
        });
    let joins = JOINING_ABBREVIATIONS.contains(&lower.as_str())
        || is_initial
        || is_dotted
        || (next_char.is_ascii_digit() && NUMBER_PREFIXES.contains(&lower.as_str()));
    if joins {
        Decision::Continue
    } else {
        cut_at(next_at)
    }
}

/// Decides whether the line break at `at` ends a sentence.
fn line_break_decision(text: &str, at: usize, at_end: bool) -> Decision {
    let (next_at, next_char, n_newlines) = match look_past_whitespace(text, at) {
        Next::Char { at, c, n_newlines } => (at, c, n_newlines),
        Next::End { at } => {
            return if at_end {
                Decision::Cut(Cut { end: at, next: at })
            } else {
                Decision::Undecided
            };
        }
        Next::FarAway { at: far } => return Decision::Cut(Cut { end: at, next: far }),
    };
    let cut = Decision::Cut(Cut {
        end: at,
        next: next_at,
    });
    if n_newlines > 1 {
        return cut;
    }
    match list_marker_len(&text[next_at..]) {
        MarkerCheck::Marker(_) => return cut,
        MarkerCheck::NeedMore if !at_end => return Decision::Undecided,
        MarkerCheck::NeedMore | MarkerCheck::NoMarker => {}
    }
    let before = text[..at].trim_end().chars().next_back();
    let wraps = before.is_some_and(|c| c.is_alphanumeric() || c == ',') && next_char.is_lowercase();
    if wraps { Decision::Continue } else { cut }
}

/// Looks past the whitespace that starts at `from`.
fn look_past_whitespace(text: &str, from: usize) -> Next {
    let mut n_newlines = 0;
    for (n_seen, (offset, c)) in text[from..].char_indices().enumerate() {
        if !c.is_whitespace() {
            return Next::Char {
                at: from + offset,
                c,
                n_newlines,
            };
        }
        if n_seen >= MAX_LOOKAHEAD_CHARS {
            return Next::FarAway { at: from + offset };
        }
        if c == '\n' {
            n_newlines += 1;
        }
    }
    Next::End { at: text.len() }
}

/// Cuts an over-long sentence `text[..limit]` at its last clause mark, else its last
/// space, else at `limit`. Only looks at the last two thirds, so no piece is tiny.
fn length_cut(text: &str, limit: usize) -> Cut {
    let window = &text[..limit];
    let min_start = window
        .char_indices()
        .nth(MAX_SENTENCE_CHARS / 3)
        .map_or(0, |(offset, _)| offset);
    let mut last_clause = None;
    let mut last_space = None;
    let mut previous: Option<(usize, char)> = None;
    for (offset, c) in window.char_indices() {
        if c.is_whitespace() && offset >= min_start {
            last_space = Some(offset);
            if let Some((mark_at, mark)) = previous
                && matches!(mark, ',' | ';' | ':' | '—' | '–')
            {
                last_clause = Some(mark_at + mark.len_utf8());
            }
        }
        previous = Some((offset, c));
    }
    let end = last_clause.or(last_space).unwrap_or(limit);
    Cut { end, next: end }
}

/// Whether a list marker starts `line` (`- `, `* `, `• `, `1. `, `2) `, `# `).
enum MarkerCheck {
    /// A marker of this many bytes (the space after it included).
    Marker(usize),
    /// None.
    NoMarker,
    /// The text ends before it can be told.
    NeedMore,
}

fn list_marker_len(line: &str) -> MarkerCheck {
    let mut chars = line.char_indices();
    let Some((_, first)) = chars.next() else {
        return MarkerCheck::NeedMore;
    };
    let space_after = |offset: usize| match line[offset..].chars().next() {
        None => MarkerCheck::NeedMore,
        Some(c) if c.is_whitespace() => MarkerCheck::Marker(offset + c.len_utf8()),
        Some(_) => MarkerCheck::NoMarker,
    };
    match first {
        '-' | '*' | '+' | '•' | '·' | '‣' | '◦' | '▪' | '–' | '—' | '>' => {
            space_after(first.len_utf8())
        }
        '#' => space_after(scan_while(line, 0, |c| c == '#')),
        '0'..='9' => {
            let digits_end = scan_while(line, 0, |c| c.is_ascii_digit());
            if digits_end > 3 {
                return MarkerCheck::NoMarker;
            }
            match line[digits_end..].chars().next() {
                None => MarkerCheck::NeedMore,
                Some('.' | ')') => space_after(digits_end + 1),
                Some(_) => MarkerCheck::NoMarker,
            }
        }
        _ => MarkerCheck::NoMarker,
    }
}

/// Cleans one raw sentence for speaking (see the module header); list markers go when it
/// starts a line. `None` when nothing speakable is left.
fn clean(raw: &str, line_start: bool) -> Option<String> {
    let mut text = raw.trim_start();
    while line_start && let MarkerCheck::Marker(n_bytes) = list_marker_len(text) {
        text = text[n_bytes..].trim_start();
    }
    let mut spaced = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '“' | '”' | '„' | '‟' | '«' | '»' | '″' | '〃' => spaced.push('"'),
            '‘' | '’' | '‚' | '‛' | '‹' | '›' | '′' => spaced.push('\''),
            '…' => spaced.push_str("..."),
            '—' | '–' | '―' | '‒' => spaced.push_str(" — "),
            '-' if chars.peek() == Some(&'-') => {
                while chars.peek() == Some(&'-') {
                    chars.next();
                }
                spaced.push_str(" — ");
            }
            c if c.is_whitespace() || c.is_control() => spaced.push(' '),
            c if is_speakable(c) => spaced.push(c),
            _ => spaced.push(' '),
        }
    }
    let mut out = String::with_capacity(spaced.len());
    for word in spaced.split_whitespace() {
        let glued_to_previous = word.starts_with([',', '.', '!', '?', ';', ':', ')']);
        if !out.is_empty() && !glued_to_previous && !out.ends_with('(') {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.chars().any(char::is_alphanumeric).then_some(out)
}

/// Whether espeak-ng can speak `c` (letters, digits, combining marks, the kept symbols).
fn is_speakable(c: char) -> bool {
    if c.is_alphanumeric() {
        return true;
    }
    if matches!(
        c,
        '.' | ','
            | '!'
            | '?'
            | ';'
            | ':'
            | '\''
            | '"'
            | '('
            | ')'
            | '-'
            | '%'
            | '$'
            | '€'
            | '£'
            | '¥'
            | '¢'
            | '₹'
            | '&'
            | '+'
            | '='
            | '°'
            | '/'
            | '@'
            | '¿'
            | '¡'
            | '。'
            | '！'
            | '？'
            | '，'
            | '、'
            | '：'
            | '；'
            | '\u{200C}'
    ) {
        return true;
    }
    // Combining marks and the sign blocks of scripts written with them: without them a
    // word in those scripts changes.
    matches!(c as u32,
        0x0300..=0x036F
        | 0x0483..=0x0489
        | 0x0591..=0x05C7
        | 0x0610..=0x061A
        | 0x064B..=0x065F
        | 0x0670
        | 0x06D6..=0x06ED
        | 0x0900..=0x0963
        | 0x0966..=0x0DFF
        | 0x0E00..=0x0EFF
        | 0x1DC0..=0x1DFF
        | 0xFE20..=0xFE2F)
}

/// Sentence marks: a run of them may end a sentence.
fn is_sentence_mark(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

/// Closing quotes and brackets that belong to the sentence they follow.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '›' | '」' | '』' | '）' | '*' | '_'
    )
}

/// The byte offset where the run of characters matching `keep` that starts at `from`
/// ends.
fn scan_while(text: &str, from: usize, keep: impl Fn(char) -> bool) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| !keep(c))
        .map_or(text.len(), |(offset, _)| from + offset)
}

/// The word (letters, digits and inner dots) that ends just before byte `end`.
fn word_before(text: &str, end: usize) -> &str {
    let start = text[..end]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '.')
        .last()
        .map_or(end, |(offset, _)| offset);
    text[start..end].trim_start_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Splits `text` both whole and streamed in a few fragment patterns, checks they agree,
    /// and compares with `expected`.
    /// 100,000 characters with no space or mark are cut at the hard length, in time
    /// linear in the text: the sentences cover the text, none is longer than the limit, and
    /// twice the text takes about twice as long, not four times.
    #[test]
    fn unbroken_text_is_cut_in_linear_time() {
        let time = |n_chars: usize| {
            let text = "a".repeat(n_chars);
            let started = std::time::Instant::now();
            let cut = sentences(&text);
            let elapsed = started.elapsed().as_secs_f64();
            assert!(cut.iter().all(|s| s.chars().count() <= MAX_SENTENCE_CHARS));
            assert_eq!(cut.iter().map(|s| s.len()).sum::<usize>(), n_chars);
            elapsed
        };
        let small_s = time(50_000);
        let large_s = time(100_000);
        assert!(large_s < 2.0, "100,000 characters took {large_s:.2} s");
        assert!(
            large_s < 4.0 * small_s.max(0.01),
            "doubling the text took {small_s:.3} s -> {large_s:.3} s"
        );
    }

    fn check(text: &str, expected: &[&str]) {
        let whole = sentences(text);
        assert_eq!(whole, expected, "sentences({text:?})");
        for fragment_chars in [1, 2, 3, 7] {
            assert_eq!(
                streamed(text, fragment_chars),
                whole,
                "{text:?} streamed {fragment_chars} characters at a time"
            );
        }
    }

    /// Streams `text` through a splitter `fragment_chars` characters at a time.
    fn streamed(text: &str, fragment_chars: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut splitter = SentenceSplitter::new();
        let mut out = Vec::new();
        for fragment in chars.chunks(fragment_chars) {
            out.extend(splitter.push(&fragment.iter().collect::<String>()));
        }
        out.extend(splitter.finish());
        out
    }

    #[test]
    fn plain_sentences() {
        check(
            "Hello there. How are you? I'm fine!",
            &["Hello there.", "How are you?", "I'm fine!"],
        );
        check("No final mark", &["No final mark"]);
        check("  spaced   out\ttext .  ", &["spaced out text."]);
        check("What?! Really?? Yes!!!", &["What?!", "Really??", "Yes!!!"]);
        check("", &[]);
        check("   \n\n  ", &[]);
    }

    #[test]
    fn abbreviations_and_numbers() {
        check(
            "Dr. Smith met Mr. Jones. They talked.",
            &["Dr. Smith met Mr. Jones.", "They talked."],
        );
        check(
            "Use a list, e.g. a shopping list. It helps.",
            &["Use a list, e.g. a shopping list.", "It helps."],
        );
        check(
            "The U.S. Army is big. So is the U.K. navy.",
            &["The U.S. Army is big.", "So is the U.K. navy."],
        );
        check(
            "It costs 3.5 dollars. That is 10,000 cents.",
            &["It costs 3.5 dollars.", "That is 10,000 cents."],
        );
        check("Call at 9 a.m. Then rest.", &["Call at 9 a.m. Then rest."]);
        check(
            "See No. 5 and p. 12. Done.",
            &["See No. 5 and p. 12.", "Done."],
        );
        check(
            "J. R. R. Tolkien wrote it.",
            &["J. R. R. Tolkien wrote it."],
        );
        check(
            "It ended in 1999. 2000 was next.",
            &["It ended in 1999.", "2000 was next."],
        );
        check("Version 2.0.1 is out.", &["Version 2.0.1 is out."]);
        check(
            "It grew 50% to $3.50 & more.",
            &["It grew 50% to $3.50 & more."],
        );
        check("Mail joe@example.com now.", &["Mail joe@example.com now."]);
    }

    #[test]
    fn ellipses_and_quotes() {
        check("Wait... what?", &["Wait... what?"]);
        check("Wait… what?", &["Wait... what?"]);
        check(
            "I wonder... Maybe tomorrow.",
            &["I wonder...", "Maybe tomorrow."],
        );
        check(
            "He said “stop.” Then he left.",
            &["He said \"stop.\"", "Then he left."],
        );
        check(
            "“Stop,” she said. ‘Why?’ he asked.",
            &["\"Stop,\" she said.", "'Why?' he asked."],
        );
        check("It’s fine — really.", &["It's fine — really."]);
        check("A--B and C–D.", &["A — B and C — D."]);
        check("(Quietly.) Then loud.", &["(Quietly.)", "Then loud."]);
    }

    #[test]
    fn lines_and_lists() {
        check(
            "Options:\n- Calendar\n- Reminders\n\nPick one.",
            &["Options:", "Calendar", "Reminders", "Pick one."],
        );
        check(
            "Steps:\n1. Open it\n2) Close it",
            &["Steps:", "Open it", "Close it"],
        );
        check("## Summary\nWe need a tool", &["Summary", "We need a tool"]);
        check(
            "a sentence wrapped\nacross two lines.",
            &["a sentence wrapped across two lines."],
        );
        check("First line\nSecond line", &["First line", "Second line"]);
        check(
            "* **Bold** point\n* `code` point",
            &["Bold point", "code point"],
        );
        check("Ends here.\n\n\n", &["Ends here."]);
    }

    #[test]
    fn emoji_and_symbols() {
        check("😀🎉👍", &[]);
        check("...", &[]);
        check("→ ★ ✓ ©", &[]);
        check("Great idea 🎉!", &["Great idea!"]);
        check("Ship it 🚀. Then rest 😴.", &["Ship it.", "Then rest."]);
        check("Family 👨‍👩‍👧 time.", &["Family time."]);
        check("Press 1️⃣ now.", &["Press 1 now."]);
        check("Go → next ™.", &["Go next."]);
        check("snake_case and a|b", &["snake case and a b"]);
        check("Café au lait, naïve.", &["Café au lait, naïve."]);
        check("नमस्ते दुनिया।", &["नमस्ते दुनिया"]);
        check("你好。再见！", &["你好。", "再见！"]);
    }

    #[test]
    fn long_sentences_are_cut() {
        let clause = "we could add reminders for every appointment";
        let long = std::iter::repeat_n(clause, 20)
            .collect::<Vec<_>>()
            .join(", ")
            + ".";
        let pieces = sentences(&long);
        assert!(pieces.len() > 1, "{pieces:?}");
        for piece in &pieces {
            assert!(piece.chars().count() <= MAX_SENTENCE_CHARS, "{piece:?}");
        }
        for piece in &pieces[..pieces.len() - 1] {
            assert!(piece.chars().count() > MAX_SENTENCE_CHARS / 3, "{piece:?}");
        }
        assert!(pieces[0].ends_with(','), "cut at a comma: {:?}", pieces[0]);
        let rejoined = pieces.join(" ");
        assert_eq!(rejoined, long);

        let no_spaces = "a".repeat(1000);
        let pieces = sentences(&no_spaces);
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces.concat(), no_spaces);
    }

    #[test]
    fn ten_thousand_characters_are_fast() {
        let paragraph = "Dr. Smith said the U.S. plan costs 3.5 million dollars… or so 😀. \
                         Is that right? “Yes,” she said — mostly!\n- One point\n- Another\n\n";
        let text: String = paragraph.chars().cycle().take(10_000).collect();
        let started = Instant::now();
        let whole = sentences(&text);
        let batch_ms = started.elapsed().as_secs_f64() * 1000.0;
        assert!(whole.len() > 100, "{}", whole.len());
        assert!(batch_ms < 50.0, "10,000 characters took {batch_ms:.1} ms");
        let started = Instant::now();
        assert_eq!(streamed(&text, 3), whole);
        let streamed_ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!("10,000 characters: {batch_ms:.2} ms whole, {streamed_ms:.2} ms streamed");
        assert!(streamed_ms < 500.0, "streaming took {streamed_ms:.1} ms");

        let no_breaks = "word ".repeat(2_000);
        let started = Instant::now();
        let pieces = sentences(&no_breaks);
        assert!(started.elapsed().as_millis() < 50);
        assert!(
            pieces
                .iter()
                .all(|p| p.chars().count() <= MAX_SENTENCE_CHARS)
        );
    }

    /// Streaming must give the batch result however the text is cut: every single split
    /// point, and pseudo-random fragment sizes.
    #[test]
    fn streaming_equals_batch_at_every_split() {
        let texts = [
            "Dr. Smith met Mr. Jones in the U.S. yesterday. It cost 3.5 dollars... or more? \
             “Yes!” she said — twice.\n- a list item\n- another\n\n## Heading\nwrapped\nline. 😀 End",
            "Wait… what?! No. 5 is e.g. fine. J. R. R. Tolkien.\n1. One\n2) Two\nThe end.",
            "   Leading space. Trailing space.   \n\n\n",
            "你好。再见！ Ok. नमस्ते।",
        ];
        // Long enough to be cut for length, twice, once with no space to cut at.
        let long =
            "so we talk to users, then we sketch, ".repeat(12) + &"x".repeat(350) + ". Done.";
        for text in texts.iter().copied().chain([long.as_str()]) {
            let whole = sentences(text);
            let chars: Vec<char> = text.chars().collect();
            for split in 0..=chars.len() {
                let (head, tail): (String, String) = (
                    chars[..split].iter().collect(),
                    chars[split..].iter().collect(),
                );
                let mut splitter = SentenceSplitter::new();
                let mut out = splitter.push(&head);
                out.extend(splitter.push(&tail));
                out.extend(splitter.finish());
                assert_eq!(out, whole, "{text:?} split at character {split}");
            }
            let mut seed = 12_345_u64;
            for _ in 0..50 {
                let mut splitter = SentenceSplitter::new();
                let mut out = Vec::new();
                let mut at = 0;
                while at < chars.len() {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let n_chars = 1 + (seed >> 33) as usize % 9;
                    let end = (at + n_chars).min(chars.len());
                    out.extend(splitter.push(&chars[at..end].iter().collect::<String>()));
                    at = end;
                }
                out.extend(splitter.finish());
                assert_eq!(out, whole, "{text:?} in random fragments");
            }
        }
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_are_complete() {
        let mut splitter = SentenceSplitter::new();
        assert!(splitter.push("Hello there").is_empty());
        assert!(splitter.push(". ").is_empty(), "the next word decides");
        assert_eq!(splitter.push("How"), ["Hello there."]);
        assert!(splitter.push(" are you?").is_empty());
        assert_eq!(splitter.finish(), ["How are you?"]);
    }
}
