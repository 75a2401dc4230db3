//! The JSON-schema subset constrained decoding understands.
//!
//! A [`Schema`] is parsed once from a `serde_json::Value` and compiled into a small arena
//! of nodes that the byte automaton in [`super::constrain`] walks. Every value a schema
//! describes is finite: strings, arrays and numbers get default caps when the schema
//! gives none, so a decoder that follows the schema always reaches the end of the
//! document. Keywords outside the subset are refused with an error that names them,
//! because silently ignoring one would let the model produce documents the caller does
//! not expect. [`validate`] checks a parsed document against the same rules.

use serde_json::{Map, Value};

/// Characters a string may hold when its schema gives no `maxLength`.
pub const DEFAULT_STRING_MAX_CHARS: u32 = 256;
/// Items an array may hold when its schema gives no `maxItems`.
pub const DEFAULT_ARRAY_MAX_ITEMS: u32 = 32;
/// The largest magnitude an `integer` may have (18 decimal digits, well inside `i64`).
pub const INTEGER_MAX_MAGNITUDE: i64 = 999_999_999_999_999_999;
/// Decimal digits an `integer` may have.
pub const INTEGER_MAX_DIGITS: u32 = 18;
/// Digits before the decimal point a `number` may have.
pub const NUMBER_MAX_INTEGER_DIGITS: u32 = 15;
/// Digits after the decimal point a `number` may have.
pub const NUMBER_MAX_FRACTION_DIGITS: u32 = 15;
/// Properties one object may declare (the key matcher tracks candidates in a 64-bit mask).
pub const OBJECT_MAX_PROPERTIES: usize = 64;
/// Values one `enum` may list.
pub const ENUM_MAX_VALUES: usize = 4096;
/// Bytes one property name may take.
pub const PROPERTY_NAME_MAX_BYTES: usize = 1024;
/// How deeply schemas may nest.
pub const SCHEMA_MAX_DEPTH: usize = 32;

/// Keywords that only annotate a schema and are ignored.
const ANNOTATION_KEYWORDS: &[&str] = &["title", "description", "$schema", "$comment", "examples"];

/// Why a schema could not be used, or why a document does not match it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// The schema uses a keyword outside the supported subset.
    #[error(
        "schema at {path}: `{keyword}` is not supported by constrained decoding; remove it or \
         use only type, properties, required, additionalProperties: false, items, minItems, \
         maxItems, minLength, maxLength, enum, const, minimum/maximum (integers) and \
         anyOf [X, null]"
    )]
    UnsupportedKeyword { path: String, keyword: String },
    /// A supported keyword has a value that cannot be used.
    #[error("schema at {path}: `{keyword}` {reason}")]
    InvalidKeyword {
        path: String,
        keyword: String,
        reason: String,
    },
    /// The schema nests deeper than [`SCHEMA_MAX_DEPTH`].
    #[error("schema at {path} nests deeper than {SCHEMA_MAX_DEPTH} levels; flatten it")]
    TooDeep { path: String },
    /// A document does not match the schema.
    #[error("document does not match the schema at {path}: {reason}")]
    Mismatch { path: String, reason: String },
}

/// Index of a node in a [`Schema`]'s arena.
pub(crate) type NodeId = u32;

/// One property of an object schema.
#[derive(Debug, Clone)]
pub(crate) struct Property {
    /// The property's name.
    pub(crate) name: String,
    /// The exact bytes of the key as emitted: the JSON-quoted name followed by `:`.
    pub(crate) key_bytes: Vec<u8>,
    /// The schema of the property's value.
    pub(crate) node: NodeId,
    /// Whether the property must appear.
    pub(crate) required: bool,
}

/// An object schema with its precomputed closing costs.
#[derive(Debug, Clone)]
pub(crate) struct ObjectNode {
    /// Properties in declaration order, which is also the order they are emitted in.
    pub(crate) properties: Vec<Property>,
    /// `suffix_min_bytes[i]`: the fewest bytes of `,"key":value` pairs needed to emit every
    /// required property at index `i` or later (length `properties.len() + 1`).
    pub(crate) suffix_min_bytes: Vec<usize>,
    /// `next_required[i]`: the index of the first required property at `i` or later, or
    /// `properties.len()` when none is left (length `properties.len() + 1`).
    pub(crate) next_required: Vec<usize>,
}

impl ObjectNode {
    /// The properties that may come next when `next` is the first one not yet passed: all
    /// up to and including the next required one, as a mask relative to `next`.
    pub(crate) fn candidates(&self, next: usize) -> u64 {
        let count = self.properties.len();
        if next >= count {
            return 0;
        }
        let last = self.next_required[next].min(count - 1);
        let width = last - next + 1;
        if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        }
    }

    /// Whether every required property has been passed once `next` is the next index.
    pub(crate) fn may_close(&self, next: usize) -> bool {
        self.next_required
            .get(next)
            .is_none_or(|&required| required >= self.properties.len())
    }
}

/// One compiled schema node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// An object whose properties come in declaration order.
    Object(ObjectNode),
    /// An array of `items` with a bounded length.
    Array {
        items: NodeId,
        min_items: u32,
        max_items: u32,
    },
    /// A string with a length in characters.
    String { min_chars: u32, max_chars: u32 },
    /// An integer within an inclusive range.
    Integer { minimum: i64, maximum: i64 },
    /// A number without exponent, with capped digit counts.
    Number,
    /// One of a fixed set of values, matched as their compact JSON text (booleans and
    /// `null` are enums too).
    Enum {
        /// The compact JSON text of each value, sorted and deduplicated.
        literals: Vec<Vec<u8>>,
        /// The values themselves, for validation.
        values: Vec<Value>,
    },
    /// `null` or `inner`; `null_node` is the enum node holding the literal `null`.
    Nullable { inner: NodeId, null_node: NodeId },
}

/// A compiled JSON schema from the supported subset.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    min_bytes: Vec<usize>,
    root: NodeId,
}

impl Schema {
    /// Parses and compiles a JSON schema. Properties are emitted in the order the map
    /// iterates: alphabetical unless serde_json's `preserve_order` feature is on. Use
    /// [`Schema::from_json_str`] to keep the order the schema text declares.
    pub fn from_json(schema: &Value) -> Result<Self, SchemaError> {
        Self::compile(schema, None)
    }

    /// Parses and compiles a JSON schema from its text, emitting properties in the
    /// order the text declares them.
    pub fn from_json_str(text: &str) -> Result<Self, SchemaError> {
        let not_json = |error: serde_json::Error| {
            invalid("#", "schema", &format!("is not valid JSON ({error})"))
        };
        let value: Value = serde_json::from_str(text).map_err(not_json)?;
        let order: KeyOrder = serde_json::from_str(text).map_err(not_json)?;
        Self::compile(&value, Some(&order))
    }

    fn compile(schema: &Value, order: Option<&KeyOrder>) -> Result<Self, SchemaError> {
        let mut builder = Builder {
            nodes: Vec::new(),
            min_bytes: Vec::new(),
        };
        let root = builder.parse(schema, order, "#", 0)?;
        Ok(Self {
            nodes: builder.nodes,
            min_bytes: builder.min_bytes,
            root,
        })
    }

    /// The fewest bytes any document of this schema takes; `max_document_bytes` must be
    /// at least this.
    pub fn min_document_bytes(&self) -> usize {
        self.min_bytes(self.root)
    }

    pub(crate) fn root(&self) -> NodeId {
        self.root
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The fewest bytes a value of node `id` takes.
    pub(crate) fn min_bytes(&self, id: NodeId) -> usize {
        self.min_bytes[id as usize]
    }
}

/// Collects nodes while parsing.
struct Builder {
    nodes: Vec<Node>,
    min_bytes: Vec<usize>,
}

impl Builder {
    fn push(&mut self, node: Node, min_bytes: usize) -> NodeId {
        self.nodes.push(node);
        self.min_bytes.push(min_bytes);
        (self.nodes.len() - 1) as NodeId
    }

    fn parse(
        &mut self,
        schema: &Value,
        order: Option<&KeyOrder>,
        path: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        if depth > SCHEMA_MAX_DEPTH {
            return Err(SchemaError::TooDeep {
                path: path.to_string(),
            });
        }
        let Value::Object(map) = schema else {
            return Err(invalid(path, "schema", "must be a JSON object"));
        };
        for key in map.keys() {
            let supported = matches!(
                key.as_str(),
                "type"
                    | "properties"
                    | "required"
                    | "additionalProperties"
                    | "items"
                    | "minItems"
                    | "maxItems"
                    | "minLength"
                    | "maxLength"
                    | "enum"
                    | "const"
                    | "minimum"
                    | "maximum"
                    | "anyOf"
            ) || ANNOTATION_KEYWORDS.contains(&key.as_str());
            if !supported {
                return Err(SchemaError::UnsupportedKeyword {
                    path: path.to_string(),
                    keyword: key.clone(),
                });
            }
        }
        if let Some(any_of) = map.get("anyOf") {
            let order = order.and_then(|order| order.child("anyOf"));
            return self.parse_any_of(map, any_of, order, path, depth);
        }
        if map.contains_key("enum") || map.contains_key("const") {
            return self.parse_enum(map, path);
        }
        let (type_name, nullable) = match map.get("type") {
            None => {
                return Err(invalid(
                    path,
                    "type",
                    "is missing; every schema needs a type (or enum/const)",
                ));
            }
            Some(Value::String(name)) => (name.as_str(), false),
            Some(Value::Array(names)) => nullable_type(names, path)?,
            Some(_) => {
                return Err(invalid(
                    path,
                    "type",
                    "must be a string or [type, \"null\"]",
                ));
            }
        };
        let inner = self.parse_typed(type_name, map, order, path, depth)?;
        if nullable {
            Ok(self.nullable(inner))
        } else {
            Ok(inner)
        }
    }

    /// Wraps `inner` so that `null` is also accepted.
    fn nullable(&mut self, inner: NodeId) -> NodeId {
        match &self.nodes[inner as usize] {
            Node::Nullable { .. } => inner,
            Node::Enum { values, .. } => {
                let mut values = values.clone();
                values.push(Value::Null);
                self.enum_node(values)
            }
            _ => {
                let null_node = self.enum_node(vec![Value::Null]);
                let min_bytes = self.min_bytes[inner as usize].min(4);
                self.push(Node::Nullable { inner, null_node }, min_bytes)
            }
        }
    }

    fn enum_node(&mut self, mut values: Vec<Value>) -> NodeId {
        values.dedup();
        let mut literals: Vec<Vec<u8>> = values
            .iter()
            .map(|value| serde_json::to_vec(value).unwrap_or_default())
            .collect();
        literals.sort();
        literals.dedup();
        let min_bytes = literals.iter().map(Vec::len).min().unwrap_or(0);
        self.push(Node::Enum { literals, values }, min_bytes)
    }

    fn parse_any_of(
        &mut self,
        map: &Map<String, Value>,
        any_of: &Value,
        order: Option<&KeyOrder>,
        path: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let only_annotations = map
            .keys()
            .all(|key| key == "anyOf" || ANNOTATION_KEYWORDS.contains(&key.as_str()));
        let Value::Array(branches) = any_of else {
            return Err(invalid(path, "anyOf", "must be an array"));
        };
        let is_null = |branch: &Value| branch.get("type").and_then(Value::as_str) == Some("null");
        let others: Vec<(usize, &Value)> = branches
            .iter()
            .enumerate()
            .filter(|(_, branch)| !is_null(branch))
            .collect();
        if !only_annotations || branches.len() != 2 || others.len() != 1 {
            return Err(invalid(
                path,
                "anyOf",
                "is only supported as [schema, {\"type\": \"null\"}] with nothing beside it",
            ));
        }
        let (index, branch) = others[0];
        let order = order.and_then(|order| order.items.get(index));
        let inner = self.parse(branch, order, &format!("{path}/anyOf/{index}"), depth + 1)?;
        Ok(self.nullable(inner))
    }

    fn parse_enum(&mut self, map: &Map<String, Value>, path: &str) -> Result<NodeId, SchemaError> {
        let values = match (map.get("enum"), map.get("const")) {
            (Some(_), Some(_)) => {
                return Err(invalid(path, "const", "cannot be combined with enum"));
            }
            (Some(Value::Array(values)), None) => values.clone(),
            (Some(_), None) => return Err(invalid(path, "enum", "must be an array")),
            (None, Some(value)) => vec![value.clone()],
            (None, None) => Vec::new(),
        };
        if values.is_empty() {
            return Err(invalid(path, "enum", "must list at least one value"));
        }
        if values.len() > ENUM_MAX_VALUES {
            return Err(invalid(
                path,
                "enum",
                &format!("lists more than {ENUM_MAX_VALUES} values; use a string instead"),
            ));
        }
        let allowed_types: Option<Vec<&str>> = match map.get("type") {
            None => None,
            Some(Value::String(name)) => Some(vec![name.as_str()]),
            Some(Value::Array(names)) => {
                let (name, nullable) = nullable_type(names, path)?;
                Some(if nullable {
                    vec![name, "null"]
                } else {
                    vec![name]
                })
            }
            Some(_) => {
                return Err(invalid(
                    path,
                    "type",
                    "must be a string or [type, \"null\"]",
                ));
            }
        };
        for key in map.keys() {
            let fits = matches!(key.as_str(), "enum" | "const" | "type")
                || ANNOTATION_KEYWORDS.contains(&key.as_str());
            if !fits {
                return Err(invalid(
                    path,
                    key,
                    "cannot be combined with enum/const; the listed values are the only ones",
                ));
            }
        }
        for value in &values {
            let kind = match value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) | Value::Object(_) => {
                    return Err(invalid(
                        path,
                        "enum",
                        "may only list strings, numbers, booleans and null",
                    ));
                }
            };
            if let Some(types) = &allowed_types {
                let fits =
                    types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
                if !fits {
                    return Err(invalid(
                        path,
                        "enum",
                        &format!("lists {value}, which is not of the declared type"),
                    ));
                }
            }
        }
        Ok(self.enum_node(values))
    }

    fn parse_typed(
        &mut self,
        type_name: &str,
        map: &Map<String, Value>,
        order: Option<&KeyOrder>,
        path: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let allowed: &[&str] = match type_name {
            "object" => &["type", "properties", "required", "additionalProperties"],
            "array" => &["type", "items", "minItems", "maxItems"],
            "string" => &["type", "minLength", "maxLength"],
            "integer" => &["type", "minimum", "maximum"],
            "number" | "boolean" | "null" => &["type"],
            other => {
                return Err(invalid(
                    path,
                    "type",
                    &format!(
                        "`{other}` is not supported; use object, array, string, integer, \
                         number, boolean or null"
                    ),
                ));
            }
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) && !ANNOTATION_KEYWORDS.contains(&key.as_str()) {
                return Err(invalid(
                    path,
                    key,
                    &format!("does not apply to type `{type_name}` in the supported subset"),
                ));
            }
        }
        match type_name {
            "object" => self.parse_object(map, order, path, depth),
            "array" => {
                let items = map.get("items").ok_or_else(|| {
                    invalid(path, "items", "is missing; arrays need an item schema")
                })?;
                let order = order.and_then(|order| order.child("items"));
                let items = self.parse(items, order, &format!("{path}/items"), depth + 1)?;
                let min_items = count_keyword(map, "minItems", path)?.unwrap_or(0);
                let max_items =
                    count_keyword(map, "maxItems", path)?.unwrap_or(DEFAULT_ARRAY_MAX_ITEMS);
                if min_items > max_items {
                    return Err(invalid(path, "minItems", "is larger than maxItems"));
                }
                let item_bytes = self.min_bytes[items as usize];
                let min_bytes = 2 + (min_items as usize).saturating_mul(item_bytes + 1)
                    - usize::from(min_items > 0);
                Ok(self.push(
                    Node::Array {
                        items,
                        min_items,
                        max_items,
                    },
                    min_bytes,
                ))
            }
            "string" => {
                let min_chars = count_keyword(map, "minLength", path)?.unwrap_or(0);
                let max_chars =
                    count_keyword(map, "maxLength", path)?.unwrap_or(DEFAULT_STRING_MAX_CHARS);
                if min_chars > max_chars {
                    return Err(invalid(path, "minLength", "is larger than maxLength"));
                }
                Ok(self.push(
                    Node::String {
                        min_chars,
                        max_chars,
                    },
                    2 + min_chars as usize,
                ))
            }
            "integer" => {
                let minimum =
                    integer_bound(map, "minimum", path)?.unwrap_or(-INTEGER_MAX_MAGNITUDE);
                let maximum = integer_bound(map, "maximum", path)?.unwrap_or(INTEGER_MAX_MAGNITUDE);
                if minimum > maximum {
                    return Err(invalid(path, "minimum", "is larger than maximum"));
                }
                let min_bytes = if minimum <= 0 && maximum >= 0 {
                    1
                } else if minimum > 0 {
                    decimal_digits(minimum.unsigned_abs())
                } else {
                    1 + decimal_digits(maximum.unsigned_abs())
                };
                Ok(self.push(Node::Integer { minimum, maximum }, min_bytes))
            }
            "number" => Ok(self.push(Node::Number, 1)),
            "boolean" => Ok(self.enum_node(vec![Value::Bool(false), Value::Bool(true)])),
            _ => Ok(self.enum_node(vec![Value::Null])),
        }
    }

    fn parse_object(
        &mut self,
        map: &Map<String, Value>,
        order: Option<&KeyOrder>,
        path: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        match map.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err(invalid(
                    path,
                    "additionalProperties",
                    "may only be false; decoding emits exactly the declared properties",
                ));
            }
        }
        let declared = match map.get("properties") {
            None => Map::new(),
            Some(Value::Object(declared)) => declared.clone(),
            Some(_) => return Err(invalid(path, "properties", "must be an object")),
        };
        if declared.len() > OBJECT_MAX_PROPERTIES {
            return Err(invalid(
                path,
                "properties",
                &format!("declares more than {OBJECT_MAX_PROPERTIES} properties; split the object"),
            ));
        }
        let required: Vec<String> = match map.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| {
                    name.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(path, "required", "must list property names"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(path, "required", "must be an array of names")),
        };
        for name in &required {
            if !declared.contains_key(name) {
                return Err(invalid(
                    path,
                    "required",
                    &format!("names `{name}`, which is not in properties; declare it"),
                ));
            }
        }
        // Declaration order when the text's order is known, else the map's order.
        let declared_order = order.and_then(|order| order.child("properties"));
        let mut names: Vec<&String> = declared.keys().collect();
        if let Some(declared_order) = declared_order {
            names.sort_by_key(|name| declared_order.position(name));
        }
        let mut properties = Vec::with_capacity(declared.len());
        for name in names {
            let schema = &declared[name];
            let property_order = declared_order.and_then(|order| order.child(name));
            if name.len() > PROPERTY_NAME_MAX_BYTES {
                return Err(invalid(
                    path,
                    "properties",
                    &format!("has a name longer than {PROPERTY_NAME_MAX_BYTES} bytes; shorten it"),
                ));
            }
            let node = self.parse(
                schema,
                property_order,
                &format!("{path}/properties/{name}"),
                depth + 1,
            )?;
            let mut key_bytes = serde_json::to_vec(name).unwrap_or_default();
            key_bytes.push(b':');
            properties.push(Property {
                name: name.clone(),
                key_bytes,
                node,
                required: required.contains(name),
            });
        }
        let count = properties.len();
        let mut suffix_min_bytes = vec![0usize; count + 1];
        let mut next_required = vec![count; count + 1];
        for index in (0..count).rev() {
            let property = &properties[index];
            let pair_bytes = 1 + property.key_bytes.len() + self.min_bytes[property.node as usize];
            suffix_min_bytes[index] =
                suffix_min_bytes[index + 1] + if property.required { pair_bytes } else { 0 };
            next_required[index] = if property.required {
                index
            } else {
                next_required[index + 1]
            };
        }
        let object = ObjectNode {
            properties,
            suffix_min_bytes,
            next_required,
        };
        // `{`, the required pairs without the first comma, `}`.
        let min_bytes = 1 + object.suffix_min_bytes[0] - usize::from(!object.may_close(0)) + 1;
        Ok(self.push(Node::Object(object), min_bytes))
    }
}

/// The order of keys in a JSON text, recorded as a tree beside the parsed `Value`
/// (serde_json's map forgets the order unless its `preserve_order` feature is on).
#[derive(Debug, Default)]
struct KeyOrder {
    /// Object members in text order.
    keys: Vec<(String, KeyOrder)>,
    /// Array elements in order.
    items: Vec<KeyOrder>,
}

impl KeyOrder {
    fn child(&self, key: &str) -> Option<&KeyOrder> {
        // The last duplicate wins, as in serde_json's map.
        self.keys
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, order)| order)
    }

    fn position(&self, key: &str) -> usize {
        self.keys
            .iter()
            .position(|(name, _)| name == key)
            .unwrap_or(usize::MAX)
    }
}

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyOrderVisitor)
    }
}

struct KeyOrderVisitor;

impl<'de> serde::de::Visitor<'de> for KeyOrderVisitor {
    type Value = KeyOrder;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }
    fn visit_unit<E>(self) -> Result<KeyOrder, E> {
        Ok(KeyOrder::default())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<KeyOrder, A::Error> {
        let mut order = KeyOrder::default();
        while let Some(item) = seq.next_element::<KeyOrder>()? {
            order.items.push(item);
        }
        Ok(order)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
        let mut order = KeyOrder::default();
        while let Some((key, value)) = map.next_entry::<String, KeyOrder>()? {
            order.keys.push((key, value));
        }
        Ok(order)
    }
}

/// Reads `[type, "null"]` (either order).
fn nullable_type<'a>(names: &'a [Value], path: &str) -> Result<(&'a str, bool), SchemaError> {
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    match names.as_slice() {
        [name] => Ok((name, false)),
        ["null", name] | [name, "null"] if *name != "null" => Ok((name, true)),
        _ => Err(invalid(
            path,
            "type",
            "lists several types; only [type, \"null\"] is supported",
        )),
    }
}

fn count_keyword(
    map: &Map<String, Value>,
    keyword: &str,
    path: &str,
) -> Result<Option<u32>, SchemaError> {
    match map.get(keyword) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|count| u32::try_from(count).ok())
            .map(Some)
            .ok_or_else(|| invalid(path, keyword, "must be a non-negative integer")),
    }
}

fn integer_bound(
    map: &Map<String, Value>,
    keyword: &str,
    path: &str,
) -> Result<Option<i64>, SchemaError> {
    match map.get(keyword) {
        None => Ok(None),
        Some(value) => {
            let bound = value
                .as_i64()
                .or_else(|| value.as_u64().map(|_| i64::MAX))
                .ok_or_else(|| invalid(path, keyword, "must be an integer"))?;
            Ok(Some(
                bound.clamp(-INTEGER_MAX_MAGNITUDE, INTEGER_MAX_MAGNITUDE),
            ))
        }
    }
}

fn decimal_digits(mut value: u64) -> usize {
    let mut digits = 1;
    while value >= 10 {
        value /= 10;
        digits += 1;
    }
    digits
}

fn invalid(path: &str, keyword: &str, reason: &str) -> SchemaError {
    SchemaError::InvalidKeyword {
        path: path.to_string(),
        keyword: keyword.to_string(),
        reason: reason.to_string(),
    }
}

fn mismatch(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Mismatch {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Checks that `document` matches `schema`, including the default caps. Property order
/// is not checked (a `serde_json::Value` does not keep it).
pub fn validate(schema: &Schema, document: &Value) -> Result<(), SchemaError> {
    validate_node(schema, schema.root(), document, "#")
}

fn validate_node(
    schema: &Schema,
    id: NodeId,
    value: &Value,
    path: &str,
) -> Result<(), SchemaError> {
    match schema.node(id) {
        Node::Object(object) => {
            let Value::Object(map) = value else {
                return Err(mismatch(path, format!("expected an object, found {value}")));
            };
            for key in map.keys() {
                if !object
                    .properties
                    .iter()
                    .any(|property| &property.name == key)
                {
                    return Err(mismatch(path, format!("property `{key}` is not declared")));
                }
            }
            for property in &object.properties {
                match map.get(&property.name) {
                    Some(child) => validate_node(
                        schema,
                        property.node,
                        child,
                        &format!("{path}/{}", property.name),
                    )?,
                    None if property.required => {
                        return Err(mismatch(
                            path,
                            format!("required property `{}` is missing", property.name),
                        ));
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Node::Array {
            items,
            min_items,
            max_items,
        } => {
            let Value::Array(elements) = value else {
                return Err(mismatch(path, format!("expected an array, found {value}")));
            };
            if elements.len() < *min_items as usize || elements.len() > *max_items as usize {
                return Err(mismatch(
                    path,
                    format!(
                        "the array has {} items; {min_items} to {max_items} are allowed",
                        elements.len()
                    ),
                ));
            }
            for (index, element) in elements.iter().enumerate() {
                validate_node(schema, *items, element, &format!("{path}/{index}"))?;
            }
            Ok(())
        }
        Node::String {
            min_chars,
            max_chars,
        } => {
            let Value::String(text) = value else {
                return Err(mismatch(path, format!("expected a string, found {value}")));
            };
            let chars = text.chars().count();
            if chars < *min_chars as usize || chars > *max_chars as usize {
                return Err(mismatch(
                    path,
                    format!(
                        "the string has {chars} characters; {min_chars} to {max_chars} are allowed"
                    ),
                ));
            }
            Ok(())
        }
        Node::Integer { minimum, maximum } => match value.as_i64() {
            Some(number) if (*minimum..=*maximum).contains(&number) => Ok(()),
            Some(number) => Err(mismatch(
                path,
                format!("{number} is outside {minimum}..={maximum}"),
            )),
            None => Err(mismatch(
                path,
                format!("expected an integer, found {value}"),
            )),
        },
        Node::Number => match value {
            Value::Number(_) => Ok(()),
            _ => Err(mismatch(path, format!("expected a number, found {value}"))),
        },
        Node::Enum { values, .. } => {
            if values.contains(value) {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!("{value} is not one of the allowed values"),
                ))
            }
        }
        Node::Nullable { inner, .. } => {
            if value.is_null() {
                Ok(())
            } else {
                validate_node(schema, *inner, value, path)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Parses `schema`; `expected_error` is `None` when it must be accepted, or a
    /// fragment its error message must contain.
    fn check_parse(schema: Value, expected_error: Option<&str>) {
        match (Schema::from_json(&schema), expected_error) {
            (Ok(_), None) => {}
            (Ok(_), Some(fragment)) => panic!("{schema} was accepted; expected `{fragment}`"),
            (Err(error), None) => panic!("{schema} was refused: {error}"),
            (Err(error), Some(fragment)) => assert!(
                error.to_string().contains(fragment),
                "{schema}: error `{error}` lacks `{fragment}`"
            ),
        }
    }

    #[test]
    fn supported_shapes_parse() {
        let accepted = [
            json!({"type": "string"}),
            json!({"type": "string", "maxLength": 10, "minLength": 1, "description": "d"}),
            json!({"type": "string", "enum": ["low", "medium", "high"]}),
            json!({"type": ["string", "null"], "maxLength": 5}),
            json!({"anyOf": [{"type": "integer"}, {"type": "null"}]}),
            json!({"type": "integer", "minimum": -5, "maximum": 1000}),
            json!({"type": "number"}),
            json!({"type": "boolean"}),
            json!({"type": "null"}),
            json!({"enum": [1, "a", null, true]}),
            json!({"const": "fixed"}),
            json!({"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 3}),
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({
                "type": "object",
                "title": "t",
                "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}},
                "required": ["a"]
            }),
        ];
        for schema in accepted {
            check_parse(schema, None);
        }
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let refused = [
            (
                json!({"type": "string", "pattern": "a+"}),
                "`pattern` is not supported",
            ),
            (
                json!({"type": "string", "format": "date"}),
                "`format` is not supported",
            ),
            (
                json!({"oneOf": [{"type": "string"}]}),
                "`oneOf` is not supported",
            ),
            (json!({"$ref": "#/defs/a"}), "`$ref` is not supported"),
            (json!({"type": "tuple"}), "`tuple` is not supported"),
            (json!({"properties": {}}), "every schema needs a type"),
            (
                json!({"type": ["string", "integer"]}),
                "only [type, \"null\"]",
            ),
            (
                json!({"type": "object", "additionalProperties": true}),
                "may only be false",
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}),
                "names `b`, which is not in properties",
            ),
            (
                json!({"type": "string", "maxItems": 3}),
                "does not apply to type `string`",
            ),
            (
                json!({"type": "number", "minimum": 0}),
                "does not apply to type `number`",
            ),
            (json!({"type": "array"}), "arrays need an item schema"),
            (
                json!({"type": "string", "minLength": 5, "maxLength": 2}),
                "larger than maxLength",
            ),
            (
                json!({"type": "integer", "minimum": 5, "maximum": 2}),
                "larger than maximum",
            ),
            (
                json!({"type": "string", "maxLength": -1}),
                "non-negative integer",
            ),
            (json!({"enum": []}), "at least one value"),
            (
                json!({"type": "string", "enum": [1]}),
                "not of the declared type",
            ),
            (json!({"enum": [[1]]}), "may only list"),
            (
                json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
                "anyOf",
            ),
            (json!("string"), "must be a JSON object"),
        ];
        for (schema, fragment) in refused {
            check_parse(schema, Some(fragment));
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut schema = json!({"type": "string"});
        for _ in 0..40 {
            schema = json!({"type": "array", "items": schema});
        }
        check_parse(schema, Some("nests deeper"));
    }

    fn needs_schema() -> Schema {
        Schema::from_json(&json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 5},
                "severity": {"enum": ["low", "high"]},
                "count": {"type": "integer", "minimum": 0, "maximum": 10},
                "note": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "score": {"type": "number"},
                "done": {"type": "boolean"}
            },
            "required": ["title", "severity"]
        }))
        .expect("the schema parses")
    }

    /// Validates `document`; `expected_error` as in [`check_parse`].
    fn check_validate(document: Value, expected_error: Option<&str>) {
        let schema = needs_schema();
        match (validate(&schema, &document), expected_error) {
            (Ok(()), None) => {}
            (Ok(()), Some(fragment)) => panic!("{document} validated; expected `{fragment}`"),
            (Err(error), None) => panic!("{document} was refused: {error}"),
            (Err(error), Some(fragment)) => assert!(
                error.to_string().contains(fragment),
                "{document}: error `{error}` lacks `{fragment}`"
            ),
        }
    }

    #[test]
    fn validate_checks_documents() {
        let cases = [
            (json!({"title": "abc", "severity": "low"}), None),
            (
                json!({"title": "héllo", "severity": "high", "count": 10, "note": null,
                       "tags": ["a", "b"], "score": -1.5, "done": true}),
                None,
            ),
            (json!({"title": "abc"}), Some("`severity` is missing")),
            (
                json!({"title": "abcdef", "severity": "low"}),
                Some("6 characters"),
            ),
            (
                json!({"title": "a", "severity": "mid"}),
                Some("not one of the allowed"),
            ),
            (
                json!({"title": "a", "severity": "low", "x": 1}),
                Some("`x` is not declared"),
            ),
            (
                json!({"title": "a", "severity": "low", "count": 11}),
                Some("outside 0..=10"),
            ),
            (
                json!({"title": "a", "severity": "low", "count": 1.5}),
                Some("expected an integer"),
            ),
            (
                json!({"title": "a", "severity": "low", "tags": ["a", "b", "c"]}),
                Some("3 items"),
            ),
            (
                json!({"title": "a", "severity": "low", "note": 3}),
                Some("expected a string"),
            ),
            (
                json!({"title": "a", "severity": "low", "done": "yes"}),
                Some("not one of"),
            ),
            (json!([1]), Some("expected an object")),
        ];
        for (document, fragment) in cases {
            check_validate(document, fragment);
        }
    }

    #[test]
    fn text_order_is_kept() {
        let schema = Schema::from_json_str(
            r#"{"type": "object", "properties": {"zeta": {"type": "string"},
                "alpha": {"type": "object", "properties": {"y": {"type": "null"}, "b": {"type": "null"}}}}}"#,
        )
        .expect("the schema parses");
        let Node::Object(object) = schema.node(schema.root()) else {
            panic!("the root is an object");
        };
        let names: Vec<&str> = object.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let Node::Object(inner) = schema.node(object.properties[1].node) else {
            panic!("alpha is an object");
        };
        let names: Vec<&str> = inner.properties.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["y", "b"]);
    }

    #[test]
    fn minimum_document_sizes() {
        let cases = [
            (json!({"type": "string", "minLength": 3}), 5),
            (json!({"type": "integer", "minimum": 100}), 3),
            (json!({"type": "integer", "maximum": -20}), 3),
            (json!({"type": ["string", "null"], "minLength": 8}), 4),
            (
                json!({"type": "array", "items": {"type": "boolean"}, "minItems": 2}),
                2 + 4 + 1 + 4,
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "null"}},
                       "required": ["a", "b"]}),
                r#"{"a":"","b":null}"#.len(),
            ),
        ];
        for (schema, expected) in cases {
            let compiled = Schema::from_json(&schema).expect("the schema parses");
            assert_eq!(compiled.min_document_bytes(), expected, "{schema}");
        }
    }
}
