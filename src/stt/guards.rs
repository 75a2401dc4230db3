//! Guards against Whisper's hallucinations. On silence, noise or music Whisper tends to
//! produce fluent text that nobody said ("Thank you.", "[BLANK_AUDIO]") or to loop on a
//! phrase. These rules drop or repair such segments; they are pure and table-tested.

/// What the guards know about one decoded segment.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSegment {
    /// The decoded text.
    pub text: String,
    /// Whisper's probability that the window holds no speech.
    pub no_speech_probability: f32,
    /// Mean log-probability of the segment's text tokens.
    pub avg_logprob: f32,
}

/// Guard thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// A segment is dropped when its no-speech probability is above this …
    pub no_speech_threshold: f32,
    /// … and its average log-probability is below this (OpenAI's rule).
    pub logprob_threshold: f32,
    /// A known silence phrase is dropped when its no-speech probability is above this,
    /// or its average log-probability below `weak_logprob_threshold`.
    pub weak_no_speech_threshold: f32,
    /// See `weak_no_speech_threshold`.
    pub weak_logprob_threshold: f32,
    /// More consecutive repeats of a phrase than this are collapsed.
    pub max_repeats: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            no_speech_threshold: 0.6,
            logprob_threshold: -1.0,
            weak_no_speech_threshold: 0.15,
            weak_logprob_threshold: -0.6,
            max_repeats: 2,
        }
    }
}

/// Phrases Whisper is known to produce from silence (compared lower-case, without
/// punctuation). Trained on subtitles, it "hears" the credits.
pub const KNOWN_SILENCE_PHRASES: &[&str] = &[
    "you",
    "thank you",
    "thanks",
    "thank you very much",
    "thank you so much",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "like and subscribe",
    "bye",
    "bye bye",
    "subtitles by the amaraorg community",
    "transcription by castingwords",
    "ill see you next time",
    "see you next time",
];

/// Lower-case letters, digits, apostrophe-free, single spaces.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True for `[BLANK_AUDIO]`, `(music)`, `*laughs*`, `♪ … ♪` and the like.
fn is_annotation(text: &str) -> bool {
    let trimmed = text.trim();
    let pairs = [('[', ']'), ('(', ')'), ('*', '*'), ('♪', '♪')];
    trimmed.is_empty()
        || trimmed.chars().all(|c| c == '♪' || c.is_whitespace())
        || pairs.iter().any(|&(open, close)| {
            trimmed.starts_with(open) && trimmed.ends_with(close) && trimmed.len() > 1
        })
}

/// Why a segment was dropped, or `None` to keep it.
pub fn drop_reason(segment: &RawSegment, config: &GuardConfig) -> Option<&'static str> {
    if is_annotation(&segment.text) {
        return Some("non-speech annotation");
    }
    if segment.no_speech_probability > config.no_speech_threshold
        && segment.avg_logprob < config.logprob_threshold
    {
        return Some("no speech");
    }
    let is_known = KNOWN_SILENCE_PHRASES.contains(&normalise(&segment.text).as_str());
    if is_known
        && (segment.no_speech_probability > config.weak_no_speech_threshold
            || segment.avg_logprob < config.weak_logprob_threshold)
    {
        return Some("known silence phrase");
    }
    None
}

/// Collapses a word sequence of 1 to 8 words repeated more than `max_repeats` times in a
/// row to `max_repeats` copies ("the the the the" → "the the" for 2).
pub fn strip_repetition_loops(text: &str, max_repeats: usize) -> String {
    const MAX_PHRASE_WORDS: usize = 8;
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let key = |word: &str| normalise(word);
    let mut changed = true;
    while changed {
        changed = false;
        'search: for phrase_len in 1..=MAX_PHRASE_WORDS {
            let mut start = 0;
            while start + phrase_len * (max_repeats + 1) <= words.len() {
                let same = |a: usize, b: usize| {
                    (0..phrase_len).all(|k| key(words[a + k]) == key(words[b + k]))
                };
                let mut n_repeats = 1;
                while start + (n_repeats + 1) * phrase_len <= words.len()
                    && same(start, start + n_repeats * phrase_len)
                {
                    n_repeats += 1;
                }
                if n_repeats > max_repeats {
                    let keep_end = start + max_repeats * phrase_len;
                    let loop_end = start + n_repeats * phrase_len;
                    words.drain(keep_end..loop_end);
                    changed = true;
                    break 'search;
                }
                start += 1;
            }
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_cases() {
        let check = |text: &str, no_speech: f32, logprob: f32, expected: Option<&str>| {
            let segment = RawSegment {
                text: text.into(),
                no_speech_probability: no_speech,
                avg_logprob: logprob,
            };
            assert_eq!(
                drop_reason(&segment, &GuardConfig::default()),
                expected,
                "{text:?}"
            );
        };
        check(" [BLANK_AUDIO]", 0.0, -0.1, Some("non-speech annotation"));
        check("(music)", 0.0, -0.1, Some("non-speech annotation"));
        check(" ♪ ♪", 0.0, -0.1, Some("non-speech annotation"));
        check("", 0.0, -0.1, Some("non-speech annotation"));
        check(" We need a calendar.", 0.7, -1.2, Some("no speech"));
        check(" We need a calendar.", 0.7, -0.3, None);
        check(" Thank you.", 0.3, -0.2, Some("known silence phrase"));
        check(" Thank you.", 0.01, -0.8, Some("known silence phrase"));
        check(" Thank you.", 0.01, -0.2, None);
        check(" Thank you for the idea.", 0.5, -0.2, None);
    }

    #[test]
    fn repetition_cases() {
        let check = |text: &str, expected: &str| {
            assert_eq!(strip_repetition_loops(text, 2), expected, "{text:?}");
        };
        check("the the the the cat", "the the cat");
        check(
            "we need we need we need we need a tool",
            "we need we need a tool",
        );
        check("so so we start", "so so we start");
        check(
            "a plain sentence with no loops",
            "a plain sentence with no loops",
        );
        check("Go, go. go go go!", "Go, go.");
        check("", "");
    }
}
