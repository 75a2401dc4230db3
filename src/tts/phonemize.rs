//! Text → Piper phoneme ids, through espeak-ng run as a separate program.
//!
//! Piper voices are trained on the phonemes of piper-phonemize, which calls espeak-ng's
//! library clause by clause (`espeak_TextToPhonemesWithTerminator`, IPA, no separators, no
//! ties), drops `(lang)` switch flags, appends the clause's punctuation (`.` `?` `!`, or
//! `,` `:` `;` and a space), starts a new sentence after `.` `?` `!`, and decomposes the
//! result (NFD). espeak-ng is GPL, so here it runs as a program instead:
//! `espeak-ng -q --ipa -v VOICE --stdin` prints the same IPA, one line per clause, but
//! not the punctuation that ended each clause. `clause_ends` finds those by reading the
//! text the way espeak-ng's `ReadClause` does, and the two are zipped. If the number of
//! clauses ever disagrees, the lines are joined with spaces and only the sentence's last
//! mark is kept (logged at debug level).
//!
//! Known difference: the program prints each clause after intonation is computed, which
//! raises the stress of the loudest syllable to primary in a tone group that had none
//! (`what?` prints `wˈʌt`, the library `wˌʌt`). Nothing after the fact can tell those
//! marks apart, so they are left as printed.
//!
//! Like piper-phonemize, clauses ended by an ellipsis or full-width punctuation get no
//! mark and no space, and sentences that espeak-ng finds inside one input (`Dr. Smith`)
//! are joined here with a space where Piper would synthesise them separately.
//!
//! Measured with espeak-ng 1.51: on 65 assistant-style sentences (numbers, money, times,
//! abbreviations, questions, lists) 63 phoneme strings equal piper-phonemize 1.1.0's
//! exactly, and the other two differ only in that one stress mark; espeak-ng and our clause
//! ends agreed on 251 of 251 varied inputs. One run costs about 12 ms (process start and
//! dictionary load), small next to synthesising the sentence.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::TtsError;
use super::espeak::{
    ESPEAK_PROGRAM, checked_voice_name, locate_program, run_espeak, sanitize_for_espeak,
};

/// espeak-ng's clause buffer (`N_TR_SOURCE`, bytes). A clause is cut where it first
/// reaches `CLAUSE_CUT_BYTES` at a character that is neither a letter nor a digit, and in
/// any case at `CLAUSE_MAX_BYTES`.
const CLAUSE_CUT_BYTES: usize = 800 - 75;
const CLAUSE_MAX_BYTES: usize = 800 - 4;

/// Turns sentences into the IPA phonemes a Piper voice expects.
#[derive(Debug, Clone)]
pub struct Phonemizer {
    /// The espeak-ng program.
    program: PathBuf,
    /// The espeak-ng voice (a Piper voice's `espeak.voice`, e.g. `en-us`).
    voice: String,
}

impl Phonemizer {
    /// A phonemizer for the espeak-ng voice `espeak_voice`, using the `espeak-ng` on PATH.
    /// Fails with `EspeakMissing` when there is none and `UnknownEspeakVoice` when
    /// espeak-ng does not know the voice.
    pub fn new(espeak_voice: &str) -> Result<Self, TtsError> {
        Self::with_program(ESPEAK_PROGRAM, espeak_voice)
    }

    /// Like `new`, with the espeak-ng program given: a path, or a name looked up on PATH.
    pub fn with_program(program: impl AsRef<Path>, espeak_voice: &str) -> Result<Self, TtsError> {
        let program = locate_program(program.as_ref())?;
        let voice = checked_voice_name(espeak_voice)?;
        run_espeak(&program, &["-q", "--ipa", "-v", &voice, "--stdin"], "")?;
        Ok(Self { program, voice })
    }

    /// The espeak-ng voice name.
    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// The IPA phonemes of `sentence`, with clause punctuation, as piper-phonemize writes
    /// them (see the module header). Fails with `NothingToSay` when espeak-ng finds nothing
    /// to pronounce.
    pub fn phonemize(&self, sentence: &str) -> Result<String, TtsError> {
        let text = sanitize_for_espeak(sentence);
        if text.is_empty() {
            return Err(TtsError::NothingToSay);
        }
        let stdout = run_espeak(
            &self.program,
            &["-q", "--ipa", "-v", &self.voice, "--stdin"],
            &text,
        )?;
        let stdout = String::from_utf8_lossy(&stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let ends = clause_ends(&text);
        let phonemes = if lines.len() == ends.len() {
            join_clauses(lines.iter().copied().zip(ends.iter().copied()))
        } else {
            tracing::debug!(
                n_lines = lines.len(),
                n_clauses = ends.len(),
                "espeak-ng's clauses differ from ours; phonemes keep only the final mark"
            );
            let last = ends.last().copied().unwrap_or(ClauseEnd::NONE);
            let n_lines = lines.len();
            join_clauses(lines.iter().enumerate().map(|(ix, &line)| {
                let end = if ix + 1 == n_lines {
                    last
                } else {
                    ClauseEnd::SPACE
                };
                (line, end)
            }))
        };
        if phonemes
            .chars()
            .all(|c| c.is_whitespace() || ",.?!:;".contains(c))
        {
            return Err(TtsError::NothingToSay);
        }
        Ok(phonemes)
    }
}

/// Piper's phoneme ids: `^` (sentence start), `_` (pad), then each codepoint's ids
/// followed by `_`, then `$` (sentence end). Codepoints missing from the map are skipped
/// (as Piper does) and counted in a debug log.
pub fn phoneme_ids(phonemes: &str, phoneme_id_map: &HashMap<String, Vec<i64>>) -> Vec<i64> {
    let mut ids = Vec::with_capacity(2 * phonemes.len() + 3);
    let mut n_missing = 0_usize;
    let mut push = |c: char, ids: &mut Vec<i64>| {
        let mut key = [0_u8; 4];
        match phoneme_id_map.get(&*c.encode_utf8(&mut key)) {
            Some(found) => {
                ids.extend_from_slice(found);
                true
            }
            None => {
                n_missing += 1;
                false
            }
        }
    };
    push('^', &mut ids);
    push('_', &mut ids);
    for c in phonemes.chars() {
        if push(c, &mut ids) {
            push('_', &mut ids);
        }
    }
    push('$', &mut ids);
    if n_missing > 0 {
        tracing::debug!(
            n_missing,
            phonemes,
            "phonemes missing from the voice's id map were skipped"
        );
    }
    ids
}

/// How a clause ended, as far as Piper's phonemes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClauseEnd {
    /// What is written after the clause (`.` `?` `!`, or `,` `:` `;` and a space).
    mark: Option<char>,
    /// Whether a new sentence starts after it.
    ends_sentence: bool,
}

impl ClauseEnd {
    /// No mark, the sentence goes on (an ellipsis, a clause cut for length).
    const NONE: Self = Self {
        mark: None,
        ends_sentence: false,
    };
    /// A plain space: only used when our clauses disagree with espeak-ng's.
    const SPACE: Self = Self {
        mark: Some(' '),
        ends_sentence: false,
    };
    /// No mark, but the sentence ends (end of text, full-width marks).
    const SENTENCE: Self = Self {
        mark: None,
        ends_sentence: true,
    };
}

/// Joins espeak-ng's clause lines with their ends, the way piper-phonemize does, with a
/// space between sentences.
fn join_clauses<'a>(clauses: impl Iterator<Item = (&'a str, ClauseEnd)>) -> String {
    let mut out = String::new();
    let mut sentence_ended = false;
    for (line, end) in clauses {
        if sentence_ended && !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
        push_decomposed(&mut out, &without_language_flags(line));
        match end.mark {
            Some(mark @ (',' | ':' | ';')) => {
                out.push(mark);
                out.push(' ');
            }
            Some(mark) if mark != ' ' || !out.ends_with(' ') => out.push(mark),
            _ => {}
        }
        sentence_ended = end.ends_sentence;
    }
    out
}

/// Drops espeak-ng's language switch flags, e.g. `(fr)` … `(en)`, as piper-phonemize does.
fn without_language_flags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_flag = false;
    for c in line.chars() {
        match c {
            '(' => in_flag = true,
            ')' if in_flag => in_flag = false,
            _ if in_flag => {}
            _ => out.push(c),
        }
    }
    out
}

/// Appends `text` in canonical decomposition (NFD) for the precomposed letters espeak-ng's
/// IPA can contain (`ç` → `c` + U+0327, accented vowels), as piper-phonemize does; the
/// voice's id map has the combining marks, not the precomposed letters.
fn push_decomposed(out: &mut String, text: &str) {
    /// Each combining mark with the precomposed letters that carry it and their bases.
    const DECOMPOSITIONS: [(char, &str, &str); 7] = [
        ('\u{300}', "ÀÈÌÒÙàèìòù", "AEIOUaeiou"),
        ('\u{301}', "ÁÉÍÓÚÝáéíóúý", "AEIOUYaeiouy"),
        ('\u{302}', "ÂÊÎÔÛâêîôû", "AEIOUaeiou"),
        ('\u{303}', "ÃÑÕãñõ", "ANOano"),
        ('\u{308}', "ÄËÏÖÜäëïöüÿ", "AEIOUaeiouy"),
        ('\u{30A}', "Åå", "Aa"),
        ('\u{327}', "Çç", "Cc"),
    ];
    for c in text.chars() {
        let decomposed = DECOMPOSITIONS.iter().find_map(|&(mark, letters, bases)| {
            let ix = letters.chars().position(|letter| letter == c)?;
            Some((bases.chars().nth(ix)?, mark))
        });
        match decomposed {
            Some((base, mark)) => {
                out.push(base);
                out.push(mark);
            }
            None => out.push(c),
        }
    }
}

/// espeak-ng's punctuation classes that end a clause (from its `clause_type_from_codepoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Punct {
    /// `.`; piper writes `.` and starts a new sentence.
    Period,
    /// `?`.
    Question,
    /// `!`.
    Exclamation,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
    /// `;`, and the long dashes `–` `—`, which espeak-ng treats as a semicolon.
    Semicolon,
    /// `…` or three dots: ends a clause, but piper writes nothing for it.
    Ellipsis,
    /// Full-width or inverted marks that need no space after them: piper writes nothing.
    Unwritten { ends_sentence: bool },
}

impl Punct {
    fn of(c: char) -> Option<Self> {
        Some(match c {
            '.' | '\u{06D4}' | '\u{0701}' | '\u{1362}' => Self::Period,
            '?' | '\u{037E}' | '\u{061F}' => Self::Question,
            '!' => Self::Exclamation,
            ',' | '\u{060C}' => Self::Comma,
            ':' => Self::Colon,
            ';' | '\u{2013}' | '\u{2014}' | '\u{2E3A}' | '\u{2E3B}' | '\u{FE31}' | '\u{FE32}' => {
                Self::Semicolon
            }
            '\u{2026}' | '\u{0EAF}' | '\u{1801}' | '\u{FE19}' => Self::Ellipsis,
            '\u{3002}' | '\u{FF0E}' | '\u{0964}' | '\u{0589}' | '\u{FF01}' | '\u{FF1F}' => {
                Self::Unwritten {
                    ends_sentence: true,
                }
            }
            '\u{FF0C}' | '\u{3001}' | '\u{FF1A}' | '\u{FF1B}' | '\u{00A1}' | '\u{00BF}' => {
                Self::Unwritten {
                    ends_sentence: false,
                }
            }
            _ => return None,
        })
    }

    /// Whether espeak-ng ends the clause without needing a space after the mark.
    fn optional_space_after(self) -> bool {
        matches!(self, Self::Ellipsis | Self::Unwritten { .. })
    }

    fn clause_end(self) -> ClauseEnd {
        let written = |mark, ends_sentence| ClauseEnd {
            mark: Some(mark),
            ends_sentence,
        };
        match self {
            Self::Period => written('.', true),
            Self::Question => written('?', true),
            Self::Exclamation => written('!', true),
            Self::Comma => written(',', false),
            Self::Colon => written(':', false),
            Self::Semicolon => written(';', false),
            Self::Ellipsis => ClauseEnd::NONE,
            Self::Unwritten { ends_sentence } => ClauseEnd {
                mark: None,
                ends_sentence,
            },
        }
    }
}

/// espeak-ng's brackets (`IsBracket`): after a mark, one of these ends the clause like a
/// space does.
fn is_bracket(c: char) -> bool {
    matches!(
        c,
        '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '"' | '\'' | '`' | '«' | '»' | '《' | '》'
    ) || ('\u{2014}'..='\u{201F}').contains(&c)
}

/// The ends of the clauses espeak-ng makes of `text`, one per line it prints, found the
/// way its `ReadClause` finds them (for text without newlines, SSML or phoneme input,
/// which `sanitize_for_espeak` guarantees):
/// - a mark ends a clause when whitespace, a bracket or quote, `?` or the end of the text
///   follows (or always, for marks that need no space after them); further marks right
///   after it are swallowed (`?!`, `!!`);
/// - three or more dots are an ellipsis;
/// - a `.` followed by a lower-case word, or by `'s` (`U.S.A.'s`), does not end a clause;
/// - no mark ends a clause that has no letter or digit yet;
/// - a clause is cut without a mark once it fills espeak-ng's buffer.
fn clause_ends(text: &str) -> Vec<ClauseEnd> {
    let chars: Vec<char> = text.chars().collect();
    let mut ends = Vec::new();
    let mut any_alnum = false;
    let mut n_bytes = 0;
    let mut ix = 0;
    while ix < chars.len() {
        let mut c = chars[ix];
        ix += 1;
        if c.is_alphanumeric() {
            any_alnum = true;
        }
        let mut punct = Punct::of(c);
        if c == '.' && chars.get(ix) == Some(&'.') && chars.get(ix + 1) == Some(&'.') {
            // Three or more dots read as one ellipsis.
            while chars.get(ix) == Some(&'.') {
                ix += 1;
            }
            c = '\u{2026}';
            punct = Some(Punct::Ellipsis);
        }
        if let Some(punct) = punct {
            while chars.get(ix).is_some_and(|&next| Punct::of(next).is_some()) {
                ix += 1;
            }
            let next = chars.get(ix).copied();
            let ends_here = punct.optional_space_after()
                || next.is_none_or(|next| next.is_whitespace() || is_bracket(next) || next == '?');
            if ends_here {
                let mut after = ix;
                while chars.get(after).is_some_and(|next| next.is_whitespace()) {
                    after += 1;
                }
                let lower_next = chars.get(after).copied().is_some_and(char::is_lowercase);
                let genitive =
                    chars.get(after) == Some(&'\'') && chars.get(after + 1) == Some(&'s');
                if any_alnum && !(c == '.' && (lower_next || genitive)) {
                    ends.push(punct.clause_end());
                    any_alnum = false;
                    n_bytes = 0;
                    ix = after;
                    continue;
                }
                // Whitespace after a mark that did not end the clause reads as one space.
                if after > ix {
                    ix = after - 1;
                }
            }
        }
        n_bytes += c.len_utf8();
        let too_long =
            (n_bytes > CLAUSE_CUT_BYTES && !c.is_alphanumeric()) || n_bytes >= CLAUSE_MAX_BYTES;
        if too_long {
            ends.push(ClauseEnd::NONE);
            any_alnum = false;
            n_bytes = 0;
        }
    }
    // The text after the last mark is a clause of its own, ended by the end of the text.
    if n_bytes > 0 || ends.is_empty() {
        ends.push(ClauseEnd::SENTENCE);
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The phonemizer every test uses; espeak-ng must be installed (`make deps`).
    fn phonemizer() -> Phonemizer {
        match Phonemizer::new("en-us") {
            Ok(phonemizer) => phonemizer,
            Err(e) => panic!("{e}"),
        }
    }

    /// The real joe voice's phoneme id map from `models/test/`.
    fn joe_id_map() -> HashMap<String, Vec<i64>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/test/tts/en_US-joe-medium.onnx.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run `make test-models`", path.display()));
        let config: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(config["espeak"]["voice"], "en-us");
        serde_json::from_value(config["phoneme_id_map"].clone())
            .unwrap_or_else(|e| panic!("{}: phoneme_id_map: {e}", path.display()))
    }

    fn phonemes(phonemizer: &Phonemizer, sentence: &str) -> String {
        match phonemizer.phonemize(sentence) {
            Ok(phonemes) => phonemes,
            Err(e) => panic!("{sentence:?}: {e}"),
        }
    }

    #[test]
    fn clause_ends_follow_espeak() {
        let check = |text: &str, expected: &str| {
            let written: Vec<String> = clause_ends(text)
                .iter()
                .map(|end| {
                    let mark = end.mark.map_or(String::from("∅"), String::from);
                    if end.ends_sentence { mark + "|" } else { mark }
                })
                .collect();
            assert_eq!(written.join(" "), expected, "{text:?}");
        };
        check("Hello, world.", ", .|");
        check("Hello, world", ", ∅|");
        check("Hello world", "∅|");
        check("Hello,", ",");
        check("What?! Yes.", "?| .|");
        check("Wait... what?", "∅ ?|");
        check("Wait… what?", "∅ ?|");
        check("Wait.. what?", "?|");
        check("Use e.g. this one.", ".|");
        check("The U.S. Army is big.", ".| .|");
        check("It costs 3.5 dollars.", ".|");
        check("A — B – C.", "; ; .|");
        check("A—B.", ".|");
        check("He said \"hi, there\" and left.", ", .|");
        check("x. . y", ".| ∅|");
        check(", , .", "∅|");
        check("Hi?.. there", "?| ∅|");
        check("One: two; three!", ": ; !|");
        check("你好。再见！", "∅| ∅|");
        check("(Quietly.) Then.", ".| .|");
        check("The U.S.A.'s army.", ".|");
        check("Really?' he asked.", "?| .|");
    }

    #[test]
    fn known_words_have_the_expected_phonemes() {
        let phonemizer = phonemizer();
        let check = |sentence: &str, expected: &str| {
            assert_eq!(phonemes(&phonemizer, sentence), expected, "{sentence:?}");
        };
        // Checked against piper-phonemize 1.1.0, which gives the same strings.
        check("Hello, world.", "həlˈoʊ, wˈɜːld.");
        check("Hello, world", "həlˈoʊ, wˈɜːld");
        check("One: two; three!", "wˈʌn: tˈuː; θɹˈiː!");
        check("It is 50% off.", "ɪɾ ɪz fˈɪfti pɚsˈɛnt ˈɔf.");
        check("A — B – C.", "ˈeɪ; bˈiː; sˈiː.");
        check(
            "Mr. Smith and Dr. Jones.",
            "mˈɪstɚ. smˈɪθ ænd dˈɑːktɚ. dʒˈoʊnz.",
        );
        check("Use e.g. this one.", "jˈuːs fˌɔːɹɛɡzˈæmpəl ðˈɪswˌʌn.");
        let hello = phonemes(&phonemizer, "hello");
        for part in ["h", "l", "oʊ"] {
            assert!(hello.contains(part), "{hello:?} lacks {part:?}");
        }
        assert!(hello.contains('ə') || hello.contains('ɛ'), "{hello:?}");
        assert!(hello.contains('ˈ'), "stress kept: {hello:?}");
        assert!(
            !hello.contains('_') && !hello.contains('\u{361}'),
            "no ties: {hello:?}"
        );
    }

    #[test]
    fn ids_follow_piper() {
        let map = joe_id_map();
        let phonemizer = phonemizer();
        let check = |sentence: &str, expected_inner: &[i64]| {
            let ids = phoneme_ids(&phonemes(&phonemizer, sentence), &map);
            assert_eq!(ids[..2], [1, 0], "{sentence:?} starts with ^ _");
            assert_eq!(ids[ids.len() - 2..], [0, 2], "{sentence:?} ends with _ $");
            for id in expected_inner {
                assert!(ids.contains(id), "{sentence:?} lacks id {id}: {ids:?}");
            }
            assert!(
                ids.iter().skip(1).step_by(2).all(|&id| id == 0),
                "pads between"
            );
        };
        check("Hello, world.", &[8, 10, 3, 120]);
        check("Really?", &[13]);
        check("Stop!", &[4]);
        check("Hello, world", &[8]);
    }

    #[test]
    fn phoneme_ids_by_codepoint() {
        let map: HashMap<String, Vec<i64>> = [
            ("^", 1),
            ("_", 0),
            ("$", 2),
            ("a", 14),
            ("̧", 140),
            ("c", 16),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), vec![v]))
        .collect();
        let check = |phonemes: &str, expected: &[i64]| {
            assert_eq!(phoneme_ids(phonemes, &map), expected, "{phonemes:?}");
        };
        check("", &[1, 0, 2]);
        check("a", &[1, 0, 14, 0, 2]);
        check("aXa", &[1, 0, 14, 0, 14, 0, 2]);
        check("c\u{327}", &[1, 0, 16, 0, 140, 0, 2]);
        let mut decomposed = String::new();
        push_decomposed(&mut decomposed, "çaéÝÿ");
        assert_eq!(decomposed, "c\u{327}ae\u{301}Y\u{301}y\u{308}");
        assert_eq!(without_language_flags("(fr)ʃɑ̃sɔ̃(en) ok"), "ʃɑ̃sɔ̃ ok");
    }

    #[test]
    fn nothing_to_say() {
        let phonemizer = phonemizer();
        let check = |sentence: &str| {
            assert!(
                matches!(phonemizer.phonemize(sentence), Err(TtsError::NothingToSay)),
                "{sentence:?}"
            );
        };
        check("");
        check(" \n\t ");
        check(", , .");
        check("...");
    }

    #[test]
    fn hostile_input_is_only_text() {
        let phonemizer = phonemizer();
        let check = |sentence: &str| match phonemizer.phonemize(sentence) {
            Ok(phonemes) => assert!(!phonemes.is_empty(), "{sentence:?}"),
            Err(TtsError::NothingToSay) => {}
            Err(e) => panic!("{sentence:?}: {e}"),
        };
        check("; rm -rf /");
        check("--help -v xx \"double\" 'single' $(whoami) `id` \\ %s %n");
        check("line one\nline two\r\n\0 nul \u{1} embedded");
        check("say [[h@l'oU]] now");
        check("<speak>not ssml</speak> &amp; &#65;");
        check("😀🎉 party 👍");
        let long = "We could add a reminder, and then a calendar. ".repeat(220);
        let started = Instant::now();
        let long_phonemes = phonemes(&phonemizer, &long);
        assert!(long.len() >= 10_000);
        assert_eq!(long_phonemes.matches("kˈæləndɚ.").count(), 220);
        assert_eq!(long_phonemes.matches("ɹᵻmˈaɪndɚ, ").count(), 220);
        assert!(started.elapsed().as_secs() < 20);
        let no_marks = "word ".repeat(2_000);
        let no_marks_phonemes = phonemes(&phonemizer, &no_marks);
        assert_eq!(no_marks_phonemes.matches("wˈɜːd").count(), 2_000);
    }

    #[test]
    fn phoneme_input_is_not_interpreted() {
        let phonemizer = phonemizer();
        let raw = phonemes(&phonemizer, "say [[h@l'oU]] now");
        assert!(
            raw.contains("ˈeɪtʃ"),
            "the letters are spelled out: {raw:?}"
        );
    }

    #[test]
    fn missing_program_or_voice() {
        let check = |program: &str, voice: &str, missing: bool| match Phonemizer::with_program(
            program, voice,
        ) {
            Err(TtsError::EspeakMissing) => assert!(missing, "{program} {voice}"),
            Err(TtsError::UnknownEspeakVoice(name)) => {
                assert!(!missing, "{program} {voice}");
                assert_eq!(name, voice);
            }
            other => panic!("{program} {voice}: {other:?}"),
        };
        check("/nonexistent/espeak-ng", "en-us", true);
        check("no-such-espeak-program", "en-us", true);
        check(ESPEAK_PROGRAM, "xx-nope", false);
        check(ESPEAK_PROGRAM, "-q", false);
        check(ESPEAK_PROGRAM, "en us", false);
    }

    /// Measures one espeak-ng run per sentence (the cost of running it as a program).
    #[test]
    fn cost_per_call() {
        let phonemizer = phonemizer();
        let sentences = [
            "We could add a reminder before every appointment.",
            "How often does that happen?",
            "Dr. Smith paid 3.5 dollars, twice.",
        ];
        let started = Instant::now();
        let n_calls = 30;
        for ix in 0..n_calls {
            phonemes(&phonemizer, sentences[ix % sentences.len()]);
        }
        let ms_per_call = started.elapsed().as_secs_f64() * 1000.0 / n_calls as f64;
        eprintln!("phonemize: {ms_per_call:.1} ms per call");
        assert!(ms_per_call < 500.0, "{ms_per_call:.1} ms per call");
    }
}
