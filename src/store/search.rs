//! The pure parts of search: turning what a user typed into an FTS5 query that can never
//! be a syntax error, cosine similarity, the duplicate threshold, and the hit type.
//!
//! FTS5 gives meaning to quotes, `AND`/`OR`/`NOT`, `NEAR(…)`, `*`, `^`, `-`, `:` and
//! parentheses. Rather than escape each of those, every word of the query becomes a
//! double-quoted FTS5 string (a phrase), with any `"` inside doubled. Inside a string FTS5
//! treats nothing as an operator, and the tokenizer splits the string the way it split the
//! indexed text, so "e-mail" still finds "e-mail". Words are joined by spaces, which FTS5
//! reads as AND: every word must appear.

use crate::needs::model::{NeedId, UtteranceId};

use super::{NeedRowId, SessionId};

/// The cosine similarity at or above which a new need is linked to an earlier one as a
/// possible duplicate.
///
/// Calibrated with all-MiniLM-L6-v2 (mean pooling, L2-normalised) on need statements
/// (`tests/store.rs`, `semantic_similarity_calibration` and the semantic search tests):
/// - close restatements of one need: 0.79 to 0.97 ("Freelancers forget to send invoices at
///   the end of the month" vs "Freelancers often forget to invoice clients at month end":
///   0.905; "Shop owners cannot see when stock is running low" vs "Store owners don't know
///   when their inventory is running low": 0.786; the cross-session duplicate: 0.971);
/// - looser rewordings used as search queries: 0.54 to 0.81;
/// - related but different needs of one product: 0.36 and 0.41;
/// - unrelated needs: 0.03 to 0.20, and at most 0.40 between the eight test needs.
///
/// 0.70 sits between related-but-different needs and clear restatements: it links needs
/// that say the same thing in other words and leaves neighbours on the same topic alone.
/// Loose rewordings below it are still found by [`super::Store::search_semantic`]. The
/// link is only a hint shown to the person ("possible duplicate of N3"), never a merge.
pub const DUPLICATE_THRESHOLD: f32 = 0.70;

/// The most earlier needs one new need is linked to, best first.
pub const MAX_DUPLICATE_LINKS: usize = 3;

/// One full-text match.
#[derive(Debug, Clone, PartialEq)]
pub enum TextHit {
    /// A need whose statement, actor, context, pain, workaround, outcome or metric matched.
    Need {
        /// The need's row id.
        row_id: NeedRowId,
        /// Its session.
        session_id: SessionId,
        /// Its number in the session.
        number: NeedId,
        /// Its statement.
        statement: String,
        /// The match's relevance: the negated bm25 rank, higher is better.
        score: f64,
    },
    /// An utterance whose transcript matched.
    Utterance {
        /// The utterance's id.
        id: UtteranceId,
        /// Its session.
        session_id: SessionId,
        /// Start within the session's audio (ms).
        start_ms: u64,
        /// End within the session's audio (ms).
        end_ms: u64,
        /// The transcript.
        text: String,
        /// The match's relevance: the negated bm25 rank, higher is better.
        score: f64,
    },
}

impl TextHit {
    /// The match's relevance (negated bm25), higher is better.
    pub fn score(&self) -> f64 {
        match self {
            TextHit::Need { score, .. } | TextHit::Utterance { score, .. } => *score,
        }
    }
}

/// Turns free text into a safe FTS5 match expression: each word that holds at least one
/// letter or digit becomes a quoted string, and the strings are ANDed. Returns `None` when
/// nothing searchable is left (only punctuation or blanks), so the caller answers "no
/// hits" without asking SQLite.
pub fn fts5_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

/// Cosine similarity of two vectors; 0 when their lengths differ or either is all zeros.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        dot += f64::from(x) * f64::from(y);
        norm_a += f64::from(x) * f64::from(x);
        norm_b += f64::from(y) * f64::from(y);
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    (dot / (norm_a.sqrt() * norm_b.sqrt())) as f32
}

/// Little-endian f32 bytes, the embedding column's layout.
pub(crate) fn embedding_to_bytes(embedding: &[f32]) -> Vec<u8> {
    embedding
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Reads the embedding column back; `None` when its length is not a multiple of 4.
pub(crate) fn embedding_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks one query's translation.
    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(fts5_query(input).as_deref(), expected, "query {input:?}");
    }

    #[test]
    fn fts5_query_quotes_every_word() {
        let cases: &[(&str, Option<&str>)] = &[
            ("late invoices", Some("\"late\" \"invoices\"")),
            ("  spaced\tout\n", Some("\"spaced\" \"out\"")),
            ("say \"hi\"", Some("\"say\" \"\"\"hi\"\"\"")),
            ("AND OR", Some("\"AND\" \"OR\"")),
            ("NEAR(a b", Some("\"NEAR(a\" \"b\"")),
            ("e-mail", Some("\"e-mail\"")),
            ("prefix*", Some("\"prefix*\"")),
            ("café über", Some("\"café\" \"über\"")),
            ("\"", None),
            ("- * ( ) ^ :", None),
            ("", None),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn cosine_similarity_cases() {
        let cases: &[(&[f32], &[f32], f32)] = &[
            (&[1.0, 0.0], &[1.0, 0.0], 1.0),
            (&[1.0, 0.0], &[0.0, 1.0], 0.0),
            (&[1.0, 1.0], &[-1.0, -1.0], -1.0),
            (&[3.0, 4.0], &[6.0, 8.0], 1.0),
            (&[0.0, 0.0], &[1.0, 0.0], 0.0),
            (&[1.0], &[1.0, 0.0], 0.0),
            (&[], &[], 0.0),
        ];
        for (a, b, expected) in cases {
            let got = cosine_similarity(a, b);
            assert!((got - expected).abs() < 1e-6, "{a:?} · {b:?}: {got}");
        }
    }

    #[test]
    fn embedding_bytes_round_trip() {
        let vector = [0.5f32, -1.25, f32::MIN_POSITIVE, 3.0e7];
        let bytes = embedding_to_bytes(&vector);
        assert_eq!(bytes.len(), 16);
        assert_eq!(embedding_from_bytes(&bytes), Some(vector.to_vec()));
        assert_eq!(embedding_from_bytes(&bytes[..3]), None);
    }
}
