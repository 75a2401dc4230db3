//! What the language model fills each turn, and the JSON schemas that constrain it.
//!
//! The schemas use only the subset the constrained decoder understands: objects with
//! `properties`, `required` (every property) and `additionalProperties: false`; strings with
//! `maxLength`; `enum` of strings; integers with `minimum`/`maximum`; arrays with `items`
//! and `maxItems`; and nullable values as `"type": [T, "null"]`. A nullable enum is
//! `"type": ["string", "null"]` with the enum listing the strings only, meaning "one of
//! these, or null". Bounds are small so that a small model finishes within about 400 tokens.
//!
//! Two ways of asking are offered. `TurnUpdate` asks for everything at once; the split
//! alternative asks first for the needs heard (`NeedList`) and then, one need at a time,
//! for its missing slots (`NeedSlots`). Both end up as a `TurnUpdate` for the merge.
//!
//! serde_json's map sorts keys, so `properties` prints alphabetically; `required` lists the
//! properties in the order a model should write them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::coverage::Slot;
use super::discovery::Discovery;
use super::model::Severity;

/// The most needs one turn may create or update.
pub const MAX_NEEDS_PER_TURN: usize = 2;
/// The most needs the split "needs heard" step may list.
pub const MAX_HEARD_NEEDS: usize = 3;
/// The most evidence quotes per need and turn.
pub const MAX_EVIDENCE_PER_NEED: usize = 2;
/// The most modules, options or decisions per turn.
pub const MAX_ITEMS_PER_TURN: usize = 2;
/// The most pros or cons per option.
pub const MAX_PROS_OR_CONS: usize = 2;
/// The most need numbers a module may name.
pub const MAX_MODULE_NEEDS: usize = 4;
/// The longest statement, quote, purpose or summary (characters).
pub const MAX_SENTENCE_CHARS: usize = 120;
/// The longest slot value, pro, con or cost (characters).
pub const MAX_SHORT_CHARS: usize = 80;
/// The longest module name (characters).
pub const MAX_NAME_CHARS: usize = 40;
/// The longest reply or rationale (characters).
pub const MAX_REPLY_CHARS: usize = 160;
/// The highest need number a schema allows when it does not know the discovery.
pub const MAX_NEED_NUMBER: i64 = 999;
/// The highest utterance id a schema allows when it does not know the discovery.
pub const MAX_UTTERANCE_ID: i64 = 999_999_999;

/// One need heard this turn: a new one (`need` null) or an update of an existing one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeedUpdate {
    /// The number of the existing need to update, or null for a new one.
    pub need: Option<u32>,
    /// The need in one sentence.
    pub statement: Option<String>,
    /// Who has the problem.
    pub actor: Option<String>,
    /// When or where it arises.
    pub context: Option<String>,
    /// What hurts.
    pub pain: Option<String>,
    /// How they cope today.
    pub workaround: Option<String>,
    /// How often it happens.
    pub frequency: Option<String>,
    /// How much it hurts.
    pub severity: Option<Severity>,
    /// What they want instead.
    pub desired_outcome: Option<String>,
    /// How success would be measured.
    pub success_metric: Option<String>,
    /// The words it rests on.
    pub evidence: Vec<EvidenceRef>,
}

/// A quote from an utterance shown in the prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidenceRef {
    /// The utterance's id, as in `[u12 …]`.
    pub utterance: i64,
    /// The person's words.
    pub quote: String,
    /// The slot these words filled, when the dialogue knows it (never asked of a model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<Slot>,
}

/// The person took something back ("it's for teachers, not parents"): `wrong` becomes
/// `right` in need `need`'s statement and slots, and the correction's words are appended
/// to its evidence. Made by the dialogue, never asked of a model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CorrectionUpdate {
    /// The number of the need corrected.
    pub need: u32,
    /// The words taken back.
    pub wrong: String,
    /// The words meant instead.
    pub right: String,
    /// The utterance that says so.
    pub utterance: i64,
    /// The sentence that says so.
    pub quote: String,
    /// Replace this slot's whole value with `right`, and nothing else; `None` replaces the
    /// words of `wrong` wherever the need says them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<Slot>,
}

/// A part of the product named this turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModuleUpdate {
    /// Short name.
    pub name: String,
    /// What it does.
    pub purpose: String,
    /// The numbers of the needs it serves.
    pub needs: Vec<u32>,
}

/// An option weighed this turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptionUpdate {
    /// The option in a sentence.
    pub summary: String,
    /// What speaks for it.
    pub pros: Vec<String>,
    /// What speaks against it.
    pub cons: Vec<String>,
    /// Rough cost, in words.
    pub cost: Option<String>,
}

/// A decision made this turn.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecisionUpdate {
    /// The option chosen.
    pub option: String,
    /// Why.
    pub rationale: String,
}

/// Everything the model fills in one turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TurnUpdate {
    /// Needs created or updated.
    pub needs: Vec<NeedUpdate>,
    /// Modules named.
    pub modules: Vec<ModuleUpdate>,
    /// Options weighed.
    pub options: Vec<OptionUpdate>,
    /// Decisions made.
    pub decisions: Vec<DecisionUpdate>,
    /// What to say back: one short question.
    pub reply: String,
    /// Corrections the person made (never asked of a model).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub corrections: Vec<CorrectionUpdate>,
}

/// The split alternative, step one: the needs heard, each with one quote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeedList {
    /// The needs heard.
    pub needs: Vec<HeardNeed>,
}

/// One need heard, as the split alternative lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeardNeed {
    /// The need in one sentence.
    pub statement: String,
    /// The utterance it was heard in.
    pub utterance: i64,
    /// The person's words.
    pub quote: String,
}

impl NeedList {
    /// The list as a turn update (each a new need; the merge matches near-duplicates).
    pub fn into_turn_update(self, reply: String) -> TurnUpdate {
        TurnUpdate {
            needs: self
                .needs
                .into_iter()
                .map(|heard| NeedUpdate {
                    statement: Some(heard.statement),
                    evidence: vec![EvidenceRef {
                        utterance: heard.utterance,
                        quote: heard.quote,
                        slot: None,
                    }],
                    ..NeedUpdate::default()
                })
                .collect(),
            reply,
            ..TurnUpdate::default()
        }
    }
}

/// The split alternative, step two: one need's slots. Slots not asked for stay null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NeedSlots {
    /// Who has the problem.
    pub actor: Option<String>,
    /// What hurts.
    pub pain: Option<String>,
    /// How they cope today.
    pub workaround: Option<String>,
    /// How often it happens.
    pub frequency: Option<String>,
    /// What they want instead.
    pub desired_outcome: Option<String>,
    /// How success would be measured.
    pub success_metric: Option<String>,
    /// The utterance the answers were heard in.
    pub utterance: Option<i64>,
    /// The person's words.
    pub quote: Option<String>,
}

/// Share of a slot value's content words that must occur in what was said for the value
/// to count as heard.
const MIN_GROUNDED_SHARE: f64 = 0.6;

impl NeedSlots {
    /// Keeps only slot values the person actually said: a value whose content words are
    /// mostly absent from `said` is the model's invention (small models copy their
    /// prompt's example or fill every slot with one phrase), and a value repeating an
    /// earlier slot's says nothing new. Dropped values become `None`.
    pub fn grounded(mut self, said: &str) -> Self {
        let said_words = super::text::content_words(said);
        let mut kept: Vec<String> = Vec::new();
        let slots = [
            &mut self.actor,
            &mut self.pain,
            &mut self.workaround,
            &mut self.frequency,
            &mut self.desired_outcome,
            &mut self.success_metric,
        ];
        for value in slots {
            let Some(text) = value.as_deref() else {
                continue;
            };
            let words = super::text::content_words(text);
            let n_heard = words
                .iter()
                .filter(|word| said_words.contains(*word))
                .count();
            let is_heard =
                !words.is_empty() && n_heard as f64 >= MIN_GROUNDED_SHARE * words.len() as f64;
            let normalised = super::text::squash(text)
                .trim_end_matches([',', '.', ';'])
                .to_lowercase();
            if is_heard && !kept.contains(&normalised) {
                kept.push(normalised);
            } else {
                *value = None;
            }
        }
        self
    }

    /// The slots as an update of need `need_number`.
    pub fn into_need_update(self, need_number: u32) -> NeedUpdate {
        let evidence = match (self.utterance, self.quote) {
            (Some(utterance), quote) => vec![EvidenceRef {
                utterance,
                quote: quote.unwrap_or_default(),
                slot: None,
            }],
            (None, _) => Vec::new(),
        };
        NeedUpdate {
            need: Some(need_number),
            actor: self.actor,
            pain: self.pain,
            workaround: self.workaround,
            frequency: self.frequency,
            desired_outcome: self.desired_outcome,
            success_metric: self.success_metric,
            evidence,
            ..NeedUpdate::default()
        }
    }
}

/// The integer ranges a schema allows for ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdLimits {
    utterance_min: i64,
    utterance_max: i64,
    need_max: i64,
}

impl IdLimits {
    /// Ranges that fit any discovery.
    const ANY: IdLimits = IdLimits {
        utterance_min: 1,
        utterance_max: MAX_UTTERANCE_ID,
        need_max: MAX_NEED_NUMBER,
    };

    /// Ranges that fit only this discovery's utterances and needs.
    fn of(discovery: &Discovery) -> Self {
        let ids = discovery.utterances.iter().map(|utterance| utterance.id.0);
        let (utterance_min, utterance_max) = match (ids.clone().min(), ids.max()) {
            (Some(min), Some(max)) => (min, max),
            _ => (Self::ANY.utterance_min, Self::ANY.utterance_max),
        };
        let need_max = discovery
            .needs
            .iter()
            .map(|need| i64::from(need.id.0))
            .max()
            .unwrap_or(1);
        Self {
            utterance_min,
            utterance_max,
            need_max,
        }
    }
}

/// An object schema: every property required, nothing else allowed.
fn object(properties: Vec<(&str, Value)>) -> Value {
    let required: Vec<Value> = properties
        .iter()
        .map(|(name, _)| Value::from(*name))
        .collect();
    let properties: Map<String, Value> = properties
        .into_iter()
        .map(|(name, schema)| (name.to_string(), schema))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A string schema.
fn string(max_chars: usize) -> Value {
    json!({ "type": "string", "maxLength": max_chars })
}

/// A nullable string schema.
fn nullable_string(max_chars: usize) -> Value {
    json!({ "type": ["string", "null"], "maxLength": max_chars })
}

/// An integer schema.
fn integer(minimum: i64, maximum: i64) -> Value {
    json!({ "type": "integer", "minimum": minimum, "maximum": maximum })
}

/// An array schema.
fn array(items: Value, max_items: usize) -> Value {
    json!({ "type": "array", "items": items, "maxItems": max_items })
}

/// The schema of one evidence quote.
fn evidence_schema(limits: IdLimits) -> Value {
    object(vec![
        (
            "utterance",
            integer(limits.utterance_min, limits.utterance_max),
        ),
        ("quote", string(MAX_SENTENCE_CHARS)),
    ])
}

/// The `TurnUpdate` schema with the given id ranges.
fn turn_update_schema_with(limits: IdLimits) -> Value {
    let need = object(vec![
        (
            "need",
            json!({ "type": ["integer", "null"], "minimum": 1, "maximum": limits.need_max }),
        ),
        ("statement", nullable_string(MAX_SENTENCE_CHARS)),
        ("actor", nullable_string(MAX_SHORT_CHARS)),
        ("context", nullable_string(MAX_SHORT_CHARS)),
        ("pain", nullable_string(MAX_SHORT_CHARS)),
        ("workaround", nullable_string(MAX_SHORT_CHARS)),
        ("frequency", nullable_string(MAX_SHORT_CHARS)),
        (
            "severity",
            json!({ "type": ["string", "null"], "enum": ["low", "medium", "high"] }),
        ),
        ("desired_outcome", nullable_string(MAX_SHORT_CHARS)),
        ("success_metric", nullable_string(MAX_SHORT_CHARS)),
        (
            "evidence",
            array(evidence_schema(limits), MAX_EVIDENCE_PER_NEED),
        ),
    ]);
    let module = object(vec![
        ("name", string(MAX_NAME_CHARS)),
        ("purpose", string(MAX_SENTENCE_CHARS)),
        (
            "needs",
            array(integer(1, limits.need_max), MAX_MODULE_NEEDS),
        ),
    ]);
    let option = object(vec![
        ("summary", string(MAX_SENTENCE_CHARS)),
        ("pros", array(string(MAX_SHORT_CHARS), MAX_PROS_OR_CONS)),
        ("cons", array(string(MAX_SHORT_CHARS), MAX_PROS_OR_CONS)),
        ("cost", nullable_string(MAX_SHORT_CHARS)),
    ]);
    let decision = object(vec![
        ("option", string(MAX_SENTENCE_CHARS)),
        ("rationale", string(MAX_REPLY_CHARS)),
    ]);
    object(vec![
        ("needs", array(need, MAX_NEEDS_PER_TURN)),
        ("modules", array(module, MAX_ITEMS_PER_TURN)),
        ("options", array(option, MAX_ITEMS_PER_TURN)),
        ("decisions", array(decision, MAX_ITEMS_PER_TURN)),
        ("reply", string(MAX_REPLY_CHARS)),
    ])
}

/// The schema of `TurnUpdate`, fit for any discovery.
pub fn turn_update_schema() -> Value {
    turn_update_schema_with(IdLimits::ANY)
}

/// The schema of `TurnUpdate` whose id ranges fit this discovery's utterances and needs,
/// so that a constrained model cannot cite an utterance id far outside the transcript.
pub fn turn_update_schema_for(discovery: &Discovery) -> Value {
    turn_update_schema_with(IdLimits::of(discovery))
}

/// The split alternative, step one: the schema of `NeedList`, fit for this discovery.
pub fn need_list_schema(discovery: &Discovery) -> Value {
    let limits = IdLimits::of(discovery);
    let heard = object(vec![
        ("statement", string(MAX_SENTENCE_CHARS)),
        (
            "utterance",
            integer(limits.utterance_min, limits.utterance_max),
        ),
        ("quote", string(MAX_SENTENCE_CHARS)),
    ]);
    object(vec![("needs", array(heard, MAX_HEARD_NEEDS))])
}

/// The split alternative, step two: the schema of `NeedSlots` asking only for `slots`
/// (usually a need's missing ones), plus the utterance and quote they were heard in.
pub fn need_slots_schema(discovery: &Discovery, slots: &[Slot]) -> Value {
    let limits = IdLimits::of(discovery);
    let mut properties: Vec<(&str, Value)> = Slot::ALL
        .iter()
        .filter(|slot| slots.contains(slot))
        .map(|slot| (slot.field_name(), nullable_string(MAX_SHORT_CHARS)))
        .collect();
    properties.push((
        "utterance",
        json!({
            "type": ["integer", "null"],
            "minimum": limits.utterance_min,
            "maximum": limits.utterance_max,
        }),
    ));
    properties.push(("quote", nullable_string(MAX_SENTENCE_CHARS)));
    object(properties)
}

#[cfg(test)]
mod grounding_tests {
    use super::NeedSlots;

    const SAID: &str = "Small bakeries throw away a lot of bread every evening. The owner guesses each morning how much to bake. She writes the numbers in a notebook.";

    fn check(slots: [Option<&str>; 6], expected: [Option<&str>; 6]) {
        let [
            actor,
            pain,
            workaround,
            frequency,
            desired_outcome,
            success_metric,
        ] = slots.map(|value| value.map(str::to_string));
        let grounded = NeedSlots {
            actor,
            pain,
            workaround,
            frequency,
            desired_outcome,
            success_metric,
            utterance: None,
            quote: None,
        }
        .grounded(SAID);
        let got = [
            grounded.actor,
            grounded.pain,
            grounded.workaround,
            grounded.frequency,
            grounded.desired_outcome,
            grounded.success_metric,
        ];
        assert_eq!(
            got,
            expected.map(|value| value.map(str::to_string)),
            "{slots:?}"
        );
    }

    #[test]
    fn only_heard_and_new_slot_values_are_kept() {
        check(
            [
                Some("small bakeries"),
                Some("throw away bread"),
                Some("a notebook"),
                Some("every evening"),
                None,
                None,
            ],
            [
                Some("small bakeries"),
                Some("throw away bread"),
                Some("a notebook"),
                Some("every evening"),
                None,
                None,
            ],
        );
        // Copied from the prompt's example: nothing of it was said.
        check(
            [
                Some("dog owners"),
                Some("they forget the medicine"),
                None,
                None,
                None,
                None,
            ],
            [None, None, None, None, None, None],
        );
        // One phrase in every slot: only its first use stands.
        check(
            [Some("The owner,"); 6],
            [Some("The owner,"), None, None, None, None, None],
        );
        // Empty or stop-word-only values say nothing.
        check(
            [Some(""), Some("they"), None, None, None, Some("the")],
            [None, None, None, None, None, None],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::needs::model::{Idea, Utterance, UtteranceId};

    /// Walks a schema and returns every use of something outside the decoder's subset.
    fn subset_violations(schema: &Value, path: &str, found: &mut Vec<String>) {
        let Some(object) = schema.as_object() else {
            found.push(format!("{path}: a schema must be an object"));
            return;
        };
        let types: Vec<&str> = match object.get("type") {
            Some(Value::String(name)) => vec![name.as_str()],
            Some(Value::Array(names)) => {
                let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                if names.len() != 2 || names[1] != "null" {
                    found.push(format!("{path}: a type list must be [T, \"null\"]"));
                }
                names
            }
            _ => {
                found.push(format!("{path}: every schema needs a type"));
                return;
            }
        };
        let allowed: &[&str] = match types[0] {
            "object" => &["type", "properties", "required", "additionalProperties"],
            "string" => &["type", "maxLength", "enum"],
            "integer" => &["type", "minimum", "maximum"],
            "array" => &["type", "items", "maxItems"],
            other => {
                found.push(format!("{path}: type {other} is outside the subset"));
                return;
            }
        };
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                found.push(format!("{path}: keyword {key} is outside the subset"));
            }
        }
        match types[0] {
            "object" => {
                if types.len() > 1 {
                    found.push(format!("{path}: objects may not be nullable"));
                }
                if object.get("additionalProperties") != Some(&Value::Bool(false)) {
                    found.push(format!("{path}: additionalProperties must be false"));
                }
                let properties = object.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = object
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|names| names.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match properties {
                    Some(properties) => {
                        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
                        let mut sorted_required = required.clone();
                        names.sort_unstable();
                        sorted_required.sort_unstable();
                        if names != sorted_required {
                            found.push(format!("{path}: every property must be required"));
                        }
                        for (name, property) in properties {
                            subset_violations(property, &format!("{path}.{name}"), found);
                        }
                    }
                    None => found.push(format!("{path}: an object needs properties")),
                }
            }
            "string" => {
                let has_enum = match object.get("enum") {
                    Some(Value::Array(values)) => {
                        if values.is_empty() || !values.iter().all(Value::is_string) {
                            found.push(format!("{path}: enum must list strings"));
                        }
                        true
                    }
                    Some(_) => {
                        found.push(format!("{path}: enum must be an array"));
                        true
                    }
                    None => false,
                };
                if !has_enum && object.get("maxLength").and_then(Value::as_u64).is_none() {
                    found.push(format!("{path}: a free string needs maxLength"));
                }
            }
            "integer" => {
                let minimum = object.get("minimum").and_then(Value::as_i64);
                let maximum = object.get("maximum").and_then(Value::as_i64);
                match (minimum, maximum) {
                    (Some(minimum), Some(maximum)) if minimum <= maximum => {}
                    _ => found.push(format!("{path}: an integer needs minimum <= maximum")),
                }
            }
            "array" => {
                if types.len() > 1 {
                    found.push(format!("{path}: arrays may not be nullable"));
                }
                if object.get("maxItems").and_then(Value::as_u64).is_none() {
                    found.push(format!("{path}: an array needs maxItems"));
                }
                match object.get("items") {
                    Some(items) => subset_violations(items, &format!("{path}[]"), found),
                    None => found.push(format!("{path}: an array needs items")),
                }
            }
            _ => {}
        }
    }

    fn discovery_with_utterances(ids: &[i64]) -> Discovery {
        let mut discovery = Discovery::new(Idea::default());
        for id in ids {
            let utterance = Utterance {
                id: UtteranceId(*id),
                start_ms: 0,
                end_ms: 1000,
                text: "hello".to_string(),
            };
            assert_eq!(discovery.add_utterance(utterance), Ok(()));
        }
        discovery
    }

    #[test]
    fn schemas_use_only_the_subset() {
        let discovery = discovery_with_utterances(&[4, 9]);
        let check = |name: &str, schema: Value| {
            let text = serde_json::to_string(&schema).unwrap_or_default();
            let reparsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert_eq!(reparsed, schema, "{name} is not valid JSON");
            let mut found = Vec::new();
            subset_violations(&schema, name, &mut found);
            assert!(found.is_empty(), "{found:#?}");
            assert!(text.len() < 4000, "{name} is {} bytes", text.len());
        };
        check("turn_update", turn_update_schema());
        check("turn_update_for", turn_update_schema_for(&discovery));
        check(
            "turn_update_for_empty",
            turn_update_schema_for(&Discovery::default()),
        );
        check("need_list", need_list_schema(&discovery));
        check("need_slots_all", need_slots_schema(&discovery, &Slot::ALL));
        check(
            "need_slots_some",
            need_slots_schema(&discovery, &[Slot::Frequency]),
        );
        check("need_slots_none", need_slots_schema(&discovery, &[]));
    }

    #[test]
    fn the_checker_catches_what_the_decoder_would_not_understand() {
        let check = |schema: Value, expected_fragment: &str| {
            let mut found = Vec::new();
            subset_violations(&schema, "x", &mut found);
            assert!(
                found
                    .iter()
                    .any(|problem| problem.contains(expected_fragment)),
                "{schema}: {found:?}"
            );
        };
        check(json!({ "type": "string" }), "maxLength");
        check(json!({ "type": "number" }), "outside the subset");
        check(
            json!({ "type": "string", "maxLength": 5, "pattern": "a" }),
            "pattern",
        );
        check(
            json!({ "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 1 } }),
            "maxItems",
        );
        check(
            json!({ "type": "object", "properties": { "a": { "type": "string", "maxLength": 1 } }, "required": [], "additionalProperties": false }),
            "required",
        );
        check(
            json!({ "type": "object", "properties": {}, "required": [] }),
            "additionalProperties",
        );
        check(
            json!({ "type": ["string", "integer"], "maxLength": 1 }),
            "[T, \"null\"]",
        );
    }

    #[test]
    fn schema_bounds_fit_the_discovery() {
        let discovery = discovery_with_utterances(&[4, 9]);
        let schema = turn_update_schema_for(&discovery);
        let evidence = &schema["properties"]["needs"]["items"]["properties"]["evidence"]["items"];
        assert_eq!(evidence["properties"]["utterance"]["minimum"], json!(4));
        assert_eq!(evidence["properties"]["utterance"]["maximum"], json!(9));
        let order = &schema["required"];
        assert_eq!(
            order,
            &json!(["needs", "modules", "options", "decisions", "reply"])
        );
        let slots = need_slots_schema(&discovery, &[Slot::SuccessMetric, Slot::Actor]);
        assert_eq!(
            slots["required"],
            json!(["actor", "success_metric", "utterance", "quote"])
        );
    }

    #[test]
    fn hand_written_updates_deserialise() {
        let check = |text: &str, expected: TurnUpdate| {
            let parsed: Result<TurnUpdate, _> = serde_json::from_str(text);
            assert_eq!(parsed.ok(), Some(expected), "{text}");
        };
        check(
            r#"{"needs":[{"need":null,"statement":"Freelancers need invoice reminders",
                "actor":"freelance designers","context":null,"pain":"late payments",
                "workaround":null,"frequency":null,"severity":"high","desired_outcome":null,
                "success_metric":null,"evidence":[{"utterance":12,"quote":"I always forget"}]},
                {"need":2,"statement":null,"actor":null,"context":null,"pain":null,
                "workaround":"a spreadsheet","frequency":"weekly","severity":null,
                "desired_outcome":null,"success_metric":null,"evidence":[]}],
              "modules":[{"name":"Reminders","purpose":"Nudges before deadlines","needs":[1]}],
              "options":[{"summary":"Email reminders","pros":["cheap"],"cons":["ignored"],"cost":null}],
              "decisions":[{"option":"Email first","rationale":"Cheapest to try"}],
              "reply":"How often does that happen?"}"#,
            TurnUpdate {
                needs: vec![
                    NeedUpdate {
                        statement: Some("Freelancers need invoice reminders".to_string()),
                        actor: Some("freelance designers".to_string()),
                        pain: Some("late payments".to_string()),
                        severity: Some(Severity::High),
                        evidence: vec![EvidenceRef {
                            utterance: 12,
                            quote: "I always forget".to_string(),
                            slot: None,
                        }],
                        ..NeedUpdate::default()
                    },
                    NeedUpdate {
                        need: Some(2),
                        workaround: Some("a spreadsheet".to_string()),
                        frequency: Some("weekly".to_string()),
                        ..NeedUpdate::default()
                    },
                ],
                modules: vec![ModuleUpdate {
                    name: "Reminders".to_string(),
                    purpose: "Nudges before deadlines".to_string(),
                    needs: vec![1],
                }],
                options: vec![OptionUpdate {
                    summary: "Email reminders".to_string(),
                    pros: vec!["cheap".to_string()],
                    cons: vec!["ignored".to_string()],
                    cost: None,
                }],
                decisions: vec![DecisionUpdate {
                    option: "Email first".to_string(),
                    rationale: "Cheapest to try".to_string(),
                }],
                reply: "How often does that happen?".to_string(),
                corrections: Vec::new(),
            },
        );
        check(
            r#"{"needs":[],"modules":[],"options":[],"decisions":[],"reply":""}"#,
            TurnUpdate::default(),
        );
    }

    #[test]
    fn split_answers_become_updates() {
        let list: NeedList = serde_json::from_str(
            r#"{"needs":[{"statement":"Reminders before deadlines","utterance":3,"quote":"I forget"}]}"#,
        )
        .unwrap_or_default();
        let update = list.into_turn_update("Who?".to_string());
        assert_eq!(update.needs.len(), 1);
        assert_eq!(update.needs[0].need, None);
        assert_eq!(update.needs[0].evidence[0].utterance, 3);
        let slots: NeedSlots = serde_json::from_str(
            r#"{"frequency":"every Friday","utterance":5,"quote":"every Friday"}"#,
        )
        .unwrap_or_default();
        let update = slots.into_need_update(2);
        assert_eq!(update.need, Some(2));
        assert_eq!(update.frequency.as_deref(), Some("every Friday"));
        assert_eq!(update.evidence.len(), 1);
    }
}
