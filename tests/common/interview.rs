//! Scripted interviews (`tests/data/interviews/*.toml`, format in its README) and how a
//! captured session is scored against their gold needs: per-slot precision and recall,
//! invented and duplicate needs, questions that asked for what the person had already
//! said, and corrections kept. Shared by `tests/interview.rs` and `make eval-capture`
//! (`benches/eval_capture.rs`).
//!
//! The scorer has its own word matching, independent of the one in `ideadesk::needs`, so
//! the system is not graded by its own rules.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The six slots, by their JSON field names, in the interviewer's order.
pub const SLOTS: [&str; 6] = [
    "actor",
    "pain",
    "workaround",
    "frequency",
    "desired_outcome",
    "success_metric",
];

/// The labels the events use for the slots (`understood.asked.slot`), in the same order.
pub const SLOT_LABELS: [&str; 6] = [
    "who",
    "what hurts",
    "how they cope today",
    "how often",
    "desired outcome",
    "success metric",
];

/// Share of a gold value's content words a captured value must hold to match it.
pub const MIN_VALUE_MATCH: f64 = 0.5;
/// Share of a gold need's keywords a captured need must hold to be that need.
pub const MIN_KEYWORD_MATCH: f64 = 0.5;

/// Words too common to tell values apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "to", "of", "and", "or", "for", "in", "on", "at", "with", "is", "are", "be",
    "it", "its", "they", "them", "their", "that", "this", "these", "those", "i", "we", "you", "my",
    "our", "your", "so", "by", "as", "from", "just", "what", "would", "will", "when", "do", "does",
    "did", "was", "were", "has", "have", "had", "there", "it's", "that's", "he", "she", "his",
    "her", "me", "us", "one", "all", "some", "any", "how", "if", "then", "than", "out", "up",
    "about", "into", "over", "also", "very", "really", "get", "gets", "got", "can", "could",
    "should", "still", "every", "each",
];

/// One scripted interview.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interview {
    /// What the idea is.
    pub title: String,
    /// Its domain.
    pub domain: String,
    /// `dev` or `held-out`.
    pub split: String,
    /// What it exercises.
    #[serde(default)]
    pub traits: Vec<String>,
    /// What the person says, turn by turn.
    pub turns: Vec<Turn>,
    /// What a good interviewer would have captured.
    pub needs: Vec<GoldNeed>,
    /// The file's stem (set when loaded).
    #[serde(skip)]
    pub name: String,
}

/// One turn of the person's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// What they say ("" for a sketch-only turn).
    pub say: String,
    /// Whether they show a sketch in this turn.
    #[serde(default)]
    pub sketch: bool,
}

/// A need the person expressed, with the slots they said.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldNeed {
    /// The need in a sentence.
    pub statement: String,
    /// Words that identify a captured need as this one.
    pub keywords: Vec<String>,
    /// Who has the problem.
    pub actor: Option<String>,
    /// What hurts.
    pub pain: Option<String>,
    /// How they cope today.
    pub workaround: Option<String>,
    /// How often.
    pub frequency: Option<String>,
    /// The outcome wanted.
    pub desired_outcome: Option<String>,
    /// How success is measured.
    pub success_metric: Option<String>,
    /// Words a correction took back.
    #[serde(default)]
    pub wrong: Vec<String>,
}

impl GoldNeed {
    /// The gold value of a slot (by field name).
    pub fn slot(&self, slot: &str) -> Option<&str> {
        match slot {
            "actor" => self.actor.as_deref(),
            "pain" => self.pain.as_deref(),
            "workaround" => self.workaround.as_deref(),
            "frequency" => self.frequency.as_deref(),
            "desired_outcome" => self.desired_outcome.as_deref(),
            "success_metric" => self.success_metric.as_deref(),
            _ => None,
        }
    }
}

/// The interviews folder.
pub fn interviews_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/interviews")
}

/// Every interview in `dir`, by file name.
pub fn load_all(dir: &Path) -> Result<Vec<Interview>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|err| format!("{}: {err}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|path| load(path)).collect()
}

/// One interview file.
pub fn load(path: &Path) -> Result<Interview, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
    let mut interview: Interview =
        toml::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
    interview.name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(interview)
}

/// A word lowercased, with a plural `s` cut ("bakeries" → "bakery").
fn normalise(word: &str) -> String {
    let lower = word.to_lowercase().replace('’', "'");
    if lower.len() > 4 && lower.ends_with("ies") {
        format!("{}y", &lower[..lower.len() - 3])
    } else if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
        lower[..lower.len() - 1].to_string()
    } else {
        lower
    }
}

/// The content words of a text, normalised.
pub fn content_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .map(|word| word.trim_matches(['\'', '’', '-']))
        .filter(|word| !word.is_empty())
        .map(normalise)
        .filter(|word| !STOP_WORDS.contains(&word.as_str()))
        .collect();
    words.dedup();
    words
}

/// Share (0..=1) of `wanted`'s content words found in `text`.
pub fn share_found(wanted: &str, text: &str) -> f64 {
    let wanted = content_words(wanted);
    if wanted.is_empty() {
        return 0.0;
    }
    let found = content_words(text);
    wanted.iter().filter(|word| found.contains(word)).count() as f64 / wanted.len() as f64
}

/// Whether a captured value matches a gold value.
pub fn value_matches(gold: &str, captured: &str) -> bool {
    share_found(gold, captured) >= MIN_VALUE_MATCH
}

/// The first turn (0-based) by which the person had said a gold value, if any.
pub fn said_by_turn(value: &str, turns: &[String]) -> Option<usize> {
    let mut said = String::new();
    turns.iter().position(|text| {
        said.push(' ');
        said.push_str(text);
        value_matches(value, &said)
    })
}

impl Interview {
    /// Checks the script against the rules of the README.
    pub fn check(&self) -> Result<(), String> {
        let fail = |why: String| Err(format!("{}: {why}", self.name));
        if !(4..=9).contains(&self.turns.len()) {
            return fail(format!("{} turns; write 4 to 9", self.turns.len()));
        }
        if !matches!(self.split.as_str(), "dev" | "held-out") {
            return fail(format!(
                "split {:?} is neither dev nor held-out",
                self.split
            ));
        }
        if self.needs.is_empty() {
            return fail("no gold need".into());
        }
        for turn in &self.turns {
            if turn.say.trim().is_empty() && !turn.sketch {
                return fail("a turn says nothing and shows no sketch".into());
            }
        }
        let all_said: Vec<String> = self.turns.iter().map(|turn| turn.say.clone()).collect();
        let said = all_said.join(" ");
        for need in &self.needs {
            for keyword in &need.keywords {
                if share_found(keyword, &said) < 1.0 {
                    return fail(format!("keyword {keyword:?} is never said"));
                }
            }
            for slot in SLOTS {
                if let Some(value) = need.slot(slot) {
                    if share_found(value, &said) < 1.0 {
                        return fail(format!("{slot} {value:?} is not the person's words"));
                    }
                    if content_words(value).is_empty() {
                        return fail(format!("{slot} {value:?} has no content word"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The number of gold slots.
    pub fn n_gold_slots(&self) -> usize {
        self.needs
            .iter()
            .map(|need| {
                SLOTS
                    .iter()
                    .filter(|slot| need.slot(slot).is_some())
                    .count()
            })
            .sum()
    }
}

/// A need as the system stored it (from `needs list --json` or `capture --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Captured {
    /// `N1`.
    pub id: String,
    /// Its statement.
    pub statement: String,
    /// Slot values by field name.
    pub slots: BTreeMap<String, String>,
    /// Its evidence quotes, joined.
    pub evidence: String,
}

impl Captured {
    /// Reads the JSON of one need.
    pub fn from_json(need: &Value) -> Self {
        let text = |key: &str| need[key].as_str().unwrap_or_default().to_string();
        let slots = SLOTS
            .iter()
            .filter_map(|slot| {
                need[*slot]
                    .as_str()
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (slot.to_string(), value.to_string()))
            })
            .collect();
        let evidence = need["evidence"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["quote"].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Self {
            id: text("id"),
            statement: text("statement"),
            slots,
            evidence,
        }
    }

    /// The statement and slot values, joined.
    fn text(&self) -> String {
        let mut text = self.statement.clone();
        for value in self.slots.values() {
            text.push(' ');
            text.push_str(value);
        }
        text
    }
}

/// A question the interviewer asked, after the person's turn `after_turn` (0-based).
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    /// The turn it followed.
    pub after_turn: usize,
    /// The need asked about (`N1`).
    pub need: Option<String>,
    /// The slot asked for (field name), if any.
    pub slot: Option<String>,
    /// The words.
    pub text: String,
    /// Whether the system's own state had the slot filled when it asked.
    pub filled: bool,
}

/// Counts for one slot.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SlotCounts {
    /// Captured values that match the gold.
    pub true_positives: usize,
    /// Captured values that do not (or where the person never said the slot).
    pub false_positives: usize,
    /// Gold values no captured value matched.
    pub false_negatives: usize,
}

impl SlotCounts {
    fn add(&mut self, other: &SlotCounts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
    }

    /// Precision, or `None` with nothing captured.
    pub fn precision(&self) -> Option<f64> {
        let n = self.true_positives + self.false_positives;
        (n > 0).then(|| self.true_positives as f64 / n as f64)
    }

    /// Recall, or `None` with nothing to find.
    pub fn recall(&self) -> Option<f64> {
        let n = self.true_positives + self.false_negatives;
        (n > 0).then(|| self.true_positives as f64 / n as f64)
    }
}

/// How one session did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Score {
    /// Per slot (field name).
    pub slots: BTreeMap<String, SlotCounts>,
    /// Captured needs that match no gold need: what the person never said.
    pub invented_needs: Vec<String>,
    /// Captured needs beyond the first that match the same gold need.
    pub duplicate_needs: usize,
    /// Gold needs no captured need matched.
    pub missed_needs: usize,
    /// Questions asking for a slot the person had already said (by the gold).
    pub asked_after_said: usize,
    /// Questions asking for a slot the system had already filled.
    pub asked_after_filled: usize,
    /// (need, slot) pairs asked more than twice.
    pub asked_more_than_twice: usize,
    /// Questions that repeated the one before word for word.
    pub repeated_in_a_row: usize,
    /// Corrections whose taken-back words are still in the need.
    pub corrections_not_applied: usize,
    /// Captured slot values, and how many words they have, for their length.
    pub n_values: usize,
    /// Words over all captured values.
    pub n_value_words: usize,
}

impl Score {
    /// All slots together.
    pub fn total(&self) -> SlotCounts {
        let mut total = SlotCounts::default();
        for counts in self.slots.values() {
            total.add(counts);
        }
        total
    }

    /// Adds another session's score.
    pub fn add(&mut self, other: &Score) {
        for (slot, counts) in &other.slots {
            self.slots.entry(slot.clone()).or_default().add(counts);
        }
        self.invented_needs
            .extend(other.invented_needs.iter().cloned());
        self.duplicate_needs += other.duplicate_needs;
        self.missed_needs += other.missed_needs;
        self.asked_after_said += other.asked_after_said;
        self.asked_after_filled += other.asked_after_filled;
        self.asked_more_than_twice += other.asked_more_than_twice;
        self.repeated_in_a_row += other.repeated_in_a_row;
        self.corrections_not_applied += other.corrections_not_applied;
        self.n_values += other.n_values;
        self.n_value_words += other.n_value_words;
    }
}

/// Which gold need a captured need is, if any: the gold need whose keywords it holds
/// best (statement and slots first, then its evidence too).
pub fn match_gold(interview: &Interview, need: &Captured) -> Option<usize> {
    let best = |text: &str| {
        interview
            .needs
            .iter()
            .enumerate()
            .map(|(gold_idx, gold)| {
                let found = gold
                    .keywords
                    .iter()
                    .filter(|keyword| share_found(keyword, text) >= 1.0)
                    .count();
                (gold_idx, found as f64 / gold.keywords.len().max(1) as f64)
            })
            .filter(|(_, share)| *share >= MIN_KEYWORD_MATCH)
            .max_by(|left, right| left.1.total_cmp(&right.1).then(right.0.cmp(&left.0)))
            .map(|(gold_idx, _)| gold_idx)
    };
    best(&need.text()).or_else(|| best(&format!("{} {}", need.text(), need.evidence)))
}

/// Scores a session: the needs stored at its end, the questions asked, and what the
/// person had said by each turn.
pub fn score(
    interview: &Interview,
    captured: &[Captured],
    asked: &[Asked],
    turns_said: &[String],
) -> Score {
    let mut score = Score::default();
    for slot in SLOTS {
        score.slots.insert(slot.to_string(), SlotCounts::default());
    }
    let matches: Vec<Option<usize>> = captured
        .iter()
        .map(|need| match_gold(interview, need))
        .collect();
    for (need, gold_idx) in captured.iter().zip(&matches) {
        if gold_idx.is_none() {
            score.invented_needs.push(need.statement.clone());
        }
        for value in need.slots.values() {
            score.n_values += 1;
            score.n_value_words += value.split_whitespace().count();
        }
    }
    for (gold_idx, gold) in interview.needs.iter().enumerate() {
        let mine: Vec<&Captured> = captured
            .iter()
            .zip(&matches)
            .filter(|(_, matched)| **matched == Some(gold_idx))
            .map(|(need, _)| need)
            .collect();
        if mine.is_empty() {
            score.missed_needs += 1;
        }
        score.duplicate_needs += mine.len().saturating_sub(1);
        for slot in SLOTS {
            let counts = score.slots.entry(slot.to_string()).or_default();
            let values: Vec<&String> = mine
                .iter()
                .filter_map(|need| need.slots.get(slot))
                .collect();
            match gold.slot(slot) {
                Some(gold_value) => {
                    let hits = values
                        .iter()
                        .filter(|value| value_matches(gold_value, value))
                        .count();
                    counts.true_positives += hits;
                    counts.false_positives += values.len() - hits;
                    if hits == 0 {
                        counts.false_negatives += 1;
                    }
                }
                None => counts.false_positives += values.len(),
            }
        }
        for need in &mine {
            let text = format!(
                "{} {}",
                need.statement,
                need.slots.get("actor").map_or("", String::as_str)
            );
            let still_wrong = gold
                .wrong
                .iter()
                .any(|wrong| share_found(wrong, &text) >= 1.0);
            if still_wrong {
                score.corrections_not_applied += 1;
            }
        }
    }
    // Invented needs' values are all false positives.
    for (need, gold_idx) in captured.iter().zip(&matches) {
        if gold_idx.is_none() {
            for slot in need.slots.keys() {
                score.slots.entry(slot.clone()).or_default().false_positives += 1;
            }
        }
    }
    // Questions.
    let gold_of = |need_id: &str| {
        captured
            .iter()
            .zip(&matches)
            .find(|(need, _)| need.id == need_id)
            .and_then(|(_, gold_idx)| *gold_idx)
    };
    let mut times: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut previous: Option<&str> = None;
    for question in asked {
        if previous == Some(question.text.as_str()) {
            score.repeated_in_a_row += 1;
        }
        previous = Some(question.text.as_str());
        let (Some(need), Some(slot)) = (&question.need, &question.slot) else {
            continue;
        };
        if question.filled {
            score.asked_after_filled += 1;
        }
        let count = times.entry((need.clone(), slot.clone())).or_default();
        *count += 1;
        if *count == MAX_ASKS_COUNTED + 1 {
            score.asked_more_than_twice += 1;
        }
        let said_already = gold_of(need)
            .and_then(|gold_idx| interview.needs[gold_idx].slot(slot))
            .and_then(|value| said_by_turn(value, turns_said))
            .is_some_and(|turn| turn <= question.after_turn);
        if said_already {
            score.asked_after_said += 1;
        }
    }
    score
}

/// Asks per slot allowed before `asked_more_than_twice` counts.
const MAX_ASKS_COUNTED: usize = 2;

/// A slot's field name from its label (`how often` → `frequency`).
pub fn slot_from_label(label: &str) -> Option<&'static str> {
    SLOT_LABELS
        .iter()
        .position(|known| *known == label)
        .map(|slot_idx| SLOTS[slot_idx])
}

/// Formats an optional ratio as `0.83`, or `-`.
pub fn ratio(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |value| format!("{value:.2}"))
}
