//! Schema-constrained decoding: masks every token that cannot continue a valid document.
//!
//! [`TokenVocab`] holds the bytes of every token, organised once per model in byte tries,
//! so that masking walks shared prefixes once. [`JsonConstraint`] runs a byte-level
//! pushdown automaton over the JSON grammar a [`Schema`] directs: compact JSON (no
//! whitespace, so a model cannot spin on it), object properties in declaration order,
//! strings with valid escapes and UTF-8 (a token may end mid-codepoint), bounded numbers,
//! arrays and strings. A token passes the mask only if all its bytes can be consumed.
//!
//! Termination: every automaton state knows the fewest bytes that close the document
//! from it, and no byte is accepted that would push the finished document past
//! `max_document_bytes`. Since every ordinary token carries at least one byte, an engine
//! that allows at least `max_document_bytes` new tokens always ends with a complete,
//! valid document.
//!
//! The tests, which drive the vocabulary, the automaton and the constraint together with
//! synthetic and real vocabularies, live in `constrain/tests.rs` so that this file stays
//! under the project's size limit.

use std::sync::Arc;

use super::schema::{
    INTEGER_MAX_DIGITS, NUMBER_MAX_FRACTION_DIGITS, NUMBER_MAX_INTEGER_DIGITS, Node, NodeId, Schema,
};

/// Why a constraint refused a token.
#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    /// The sampler chose a token the mask had removed; this is a bug in the caller.
    #[error("token {0} cannot continue the document here; sample from the masked logits")]
    TokenNotAllowed(u32),
    /// Raw bytes given to [`JsonConstraint::advance_bytes`] cannot continue the document.
    #[error(
        "byte {offset} of {text:?} cannot continue the document here; check the text against the schema"
    )]
    BytesNotAllowed { offset: usize, text: String },
    /// The byte budget is smaller than the shortest document the schema allows.
    #[error(
        "max_document_bytes is {given} but the schema's shortest document takes {needed} bytes; \
         raise max_document_bytes"
    )]
    BudgetTooSmall { needed: usize, given: usize },
}

/// Decides, step by step, which tokens may come next. The engine calls
/// [`mask_logits`](Self::mask_logits) before sampling each token and
/// [`advance`](Self::advance) with the token it chose.
pub trait TokenConstraint: Send {
    /// Sets the logit of every token that may not come next to `f32::NEG_INFINITY`.
    /// `logits.len()` is the model's vocabulary size, which may exceed the tokenizer's.
    fn mask_logits(&mut self, logits: &mut [f32]);
    /// Records that `token_id` was chosen; an error when it was not allowed.
    fn advance(&mut self, token_id: u32) -> Result<(), ConstraintError>;
    /// True once the document is complete; from then on only end tokens are allowed.
    fn is_complete(&self) -> bool;
}

/// A byte trie over token byte strings, flattened into arrays.
#[derive(Debug, Default)]
struct Trie {
    /// Edges of node `n` are `edge_start[n]..edge_start[n + 1]`.
    edge_start: Vec<u32>,
    edge_byte: Vec<u8>,
    edge_child: Vec<u32>,
    /// Tokens ending at node `n` are `token_ids[token_start[n]..token_start[n + 1]]`.
    token_start: Vec<u32>,
    token_ids: Vec<u32>,
}

impl Trie {
    fn build<'a>(tokens: impl Iterator<Item = (u32, &'a [u8])>) -> Self {
        // Build with per-node child lists, then flatten.
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut ending: Vec<Vec<u32>> = vec![Vec::new()];
        for (id, bytes) in tokens {
            let mut node = 0usize;
            for &byte in bytes {
                let found = children[node]
                    .iter()
                    .find(|(edge, _)| *edge == byte)
                    .map(|(_, child)| *child as usize);
                node = match found {
                    Some(child) => child,
                    None => {
                        let child = children.len();
                        children.push(Vec::new());
                        ending.push(Vec::new());
                        children[node].push((byte, child as u32));
                        child
                    }
                };
            }
            ending[node].push(id);
        }
        let mut trie = Trie::default();
        for (node_children, node_ending) in children.iter_mut().zip(&ending) {
            node_children.sort_unstable();
            trie.edge_start.push(trie.edge_byte.len() as u32);
            trie.token_start.push(trie.token_ids.len() as u32);
            for &(byte, child) in node_children.iter() {
                trie.edge_byte.push(byte);
                trie.edge_child.push(child);
            }
            trie.token_ids.extend_from_slice(node_ending);
        }
        trie.edge_start.push(trie.edge_byte.len() as u32);
        trie.token_start.push(trie.token_ids.len() as u32);
        trie
    }

    fn edges(&self, node: u32) -> (usize, usize) {
        (
            self.edge_start[node as usize] as usize,
            self.edge_start[node as usize + 1] as usize,
        )
    }

    fn tokens(&self, node: u32) -> &[u32] {
        let start = self.token_start[node as usize] as usize;
        let end = self.token_start[node as usize + 1] as usize;
        &self.token_ids[start..end]
    }
}

/// A token that, started anywhere in a string body, stays inside the string: no quote,
/// backslash or control byte, and well-formed UTF-8 (possibly ending mid-codepoint).
#[derive(Debug, Clone, Copy)]
struct PlainToken {
    id: u32,
    len_bytes: u32,
    /// Characters the token starts (a trailing partial character counts).
    chars: u32,
    /// Continuation bytes still owed by a trailing partial character.
    pending_bytes: u32,
}

/// The bytes of every token of a model, precomputed once and shared via `Arc`.
#[derive(Debug)]
pub struct TokenVocab {
    token_bytes: Vec<Vec<u8>>,
    end_token_ids: Vec<u32>,
    /// Every non-end token with bytes.
    all: Trie,
    /// The tokens that are not [`PlainToken`]s.
    non_plain: Trie,
    plain: Vec<PlainToken>,
}

impl TokenVocab {
    /// Builds the vocabulary from the bytes of each token id (empty for special or control
    /// tokens, which are never allowed) and the ids that end generation (allowed only once
    /// the document is complete; they may lie beyond `token_bytes`).
    pub fn new(token_bytes: Vec<Vec<u8>>, end_token_ids: &[u32]) -> Self {
        let ordinary = || {
            token_bytes
                .iter()
                .enumerate()
                .map(|(id, bytes)| (id as u32, bytes.as_slice()))
                .filter(|(id, bytes)| !bytes.is_empty() && !end_token_ids.contains(id))
        };
        let mut plain = Vec::new();
        let mut plain_ids = vec![false; token_bytes.len()];
        for (id, bytes) in ordinary() {
            if let Some((chars, pending_bytes)) = plain_string_run(bytes) {
                plain.push(PlainToken {
                    id,
                    len_bytes: bytes.len() as u32,
                    chars,
                    pending_bytes,
                });
                plain_ids[id as usize] = true;
            }
        }
        let all = Trie::build(ordinary());
        let non_plain = Trie::build(ordinary().filter(|(id, _)| !plain_ids[*id as usize]));
        Self {
            all,
            non_plain,
            plain,
            end_token_ids: end_token_ids.to_vec(),
            token_bytes,
        }
    }

    /// The number of token ids with known bytes.
    pub fn len(&self) -> usize {
        self.token_bytes.len()
    }

    /// True when the vocabulary has no tokens.
    pub fn is_empty(&self) -> bool {
        self.token_bytes.is_empty()
    }

    /// The bytes of `token_id` (empty for special tokens), if it is known.
    pub fn token_bytes(&self, token_id: u32) -> Option<&[u8]> {
        self.token_bytes.get(token_id as usize).map(Vec::as_slice)
    }

    /// Whether `token_id` ends generation.
    pub fn is_end_token(&self, token_id: u32) -> bool {
        self.end_token_ids.contains(&token_id)
    }

    /// Bytes that no single-byte token spells. The termination guarantee needs a
    /// single-byte token for every printable ASCII byte (the grammar never requires any
    /// other byte); byte-level BPE vocabularies have them.
    pub fn missing_single_bytes(&self) -> Vec<u8> {
        let mut present = [false; 256];
        for (id, bytes) in self.token_bytes.iter().enumerate() {
            if let [byte] = bytes.as_slice()
                && !self.is_end_token(id as u32)
            {
                present[*byte as usize] = true;
            }
        }
        (0..=255u8)
            .filter(|byte| !present[*byte as usize])
            .collect()
    }
}

/// For bytes that stay inside a string body from a character boundary: the characters
/// started and the continuation bytes still owed at the end. `None` otherwise.
fn plain_string_run(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut string = StringPhase::Body;
    let mut chars = 0u32;
    for &byte in bytes {
        if matches!(string, StringPhase::Body) && matches!(byte, b'"' | b'\\') {
            return None;
        }
        let (next, started_char) = string_body_byte(string, byte)?;
        chars += u32::from(started_char);
        string = next;
    }
    let pending = match string {
        StringPhase::Body => 0,
        StringPhase::Utf8 { remaining, .. } => u32::from(remaining),
        _ => return None,
    };
    Some((chars, pending))
}

/// Where a string frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringPhase {
    /// Before the opening quote.
    Open,
    /// Between characters.
    Body,
    /// After a backslash.
    Escape,
    /// After `\u` and `digits` hex digits; `surrogate_lead` when the first digit was `d`.
    Unicode { digits: u8, surrogate_lead: bool },
    /// Inside a multi-byte UTF-8 character: `remaining` continuation bytes are owed and
    /// the next one must lie in `low..=high`.
    Utf8 { remaining: u8, low: u8, high: u8 },
}

/// Steps a string body (not `Open`) on a byte that is not a closing quote or a starting
/// backslash in `Body`: the next phase and whether the byte started a character.
fn string_body_byte(phase: StringPhase, byte: u8) -> Option<(StringPhase, bool)> {
    match phase {
        StringPhase::Body => match byte {
            b'\\' => Some((StringPhase::Escape, true)),
            0x20..=0x7F => Some((StringPhase::Body, true)),
            0xC2..=0xDF => Some((utf8(1, 0x80, 0xBF), true)),
            0xE0 => Some((utf8(2, 0xA0, 0xBF), true)),
            0xE1..=0xEC | 0xEE..=0xEF => Some((utf8(2, 0x80, 0xBF), true)),
            0xED => Some((utf8(2, 0x80, 0x9F), true)),
            0xF0 => Some((utf8(3, 0x90, 0xBF), true)),
            0xF1..=0xF3 => Some((utf8(3, 0x80, 0xBF), true)),
            0xF4 => Some((utf8(3, 0x80, 0x8F), true)),
            _ => None,
        },
        StringPhase::Utf8 {
            remaining,
            low,
            high,
        } => {
            if !(low..=high).contains(&byte) {
                return None;
            }
            if remaining <= 1 {
                Some((StringPhase::Body, false))
            } else {
                Some((utf8(remaining - 1, 0x80, 0xBF), false))
            }
        }
        StringPhase::Escape => match byte {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                Some((StringPhase::Body, false))
            }
            b'u' => Some((
                StringPhase::Unicode {
                    digits: 0,
                    surrogate_lead: false,
                },
                false,
            )),
            _ => None,
        },
        StringPhase::Unicode {
            digits,
            surrogate_lead,
        } => {
            if !byte.is_ascii_hexdigit() {
                return None;
            }
            // Surrogates (\uD800..\uDFFF) are refused: a lone one does not parse.
            if digits == 1 && surrogate_lead && !matches!(byte, b'0'..=b'7') {
                return None;
            }
            if digits == 3 {
                return Some((StringPhase::Body, false));
            }
            Some((
                StringPhase::Unicode {
                    digits: digits + 1,
                    surrogate_lead: digits == 0 && matches!(byte, b'd' | b'D'),
                },
                false,
            ))
        }
        StringPhase::Open => None,
    }
}

fn utf8(remaining: u8, low: u8, high: u8) -> StringPhase {
    StringPhase::Utf8 {
        remaining,
        low,
        high,
    }
}

/// Where an object frame is. `next` in [`FrameState::Object`] is the first property not
/// yet passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectPhase {
    /// Before `{`.
    Open,
    /// After `{`: a key or `}`.
    FirstKey,
    /// After a value: `,` or `}`.
    AfterValue,
    /// After `,`: a key.
    KeyAfterComma,
    /// Inside a key: `pos` bytes matched; `mask` holds the candidates (bit k is property
    /// `next + k`).
    Key { pos: u16, mask: u64 },
}

/// Where an array frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayPhase {
    Open,
    FirstItem,
    AfterItem,
    ItemAfterComma,
}

/// Where a number frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberPhase {
    Start,
    Minus,
    Zero,
    Integer(u8),
    Dot,
    Fraction(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameState {
    Object {
        next: u16,
        phase: ObjectPhase,
    },
    /// `count` counts the items begun, including one in progress.
    Array {
        count: u32,
        phase: ArrayPhase,
    },
    String {
        chars: u32,
        phase: StringPhase,
    },
    /// `digits == 0` and not `negative`: nothing read yet.
    Integer {
        negative: bool,
        digits: u8,
        magnitude: u64,
    },
    Number(NumberPhase),
    /// Candidates are `literals[low..high]`, which share their first `pos` bytes.
    Literal {
        pos: u16,
        low: u16,
        high: u16,
    },
    NullableStart,
}

/// One open value on the automaton's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    node: NodeId,
    /// Fewest bytes that close every frame below this one once this one is done.
    close_below: usize,
    state: FrameState,
}

/// What a frame does with a byte.
enum Outcome {
    Consumed,
    /// Consumed, and the frame's value is complete.
    Finished,
    /// Not consumed: the frame's value ended before it; the parent gets the byte.
    Ended,
    /// Consumed; a child value starts after it.
    PushAfter(Frame),
    /// Not consumed: a child value starts with it.
    PushWith(Frame),
    /// Not consumed: the frame becomes another that takes the byte.
    ReplaceWith(Frame),
    Rejected,
}

const POWERS_OF_TEN: [i128; 20] = {
    let mut powers = [1i128; 20];
    let mut index = 1;
    while index < 20 {
        powers[index] = powers[index - 1] * 10;
        index += 1;
    }
    powers
};

/// Whether an integer read so far (`digits` digits of `magnitude`, sign `negative`) can
/// reach `minimum..=maximum` with exactly `extra` more digits.
fn integer_reachable(
    negative: bool,
    digits: u8,
    magnitude: u64,
    extra: u32,
    minimum: i64,
    maximum: i64,
) -> bool {
    let total = u32::from(digits) + extra;
    if total == 0 || total > INTEGER_MAX_DIGITS {
        return false;
    }
    let (low, high): (i128, i128) = if digits == 0 {
        if extra == 1 {
            (if negative { 1 } else { 0 }, 9)
        } else {
            (
                POWERS_OF_TEN[extra as usize - 1],
                POWERS_OF_TEN[extra as usize] - 1,
            )
        }
    } else if magnitude == 0 {
        if extra > 0 {
            return false;
        }
        (0, 0)
    } else {
        let scale = POWERS_OF_TEN[extra as usize];
        let base = i128::from(magnitude) * scale;
        (base, base + scale - 1)
    };
    let (low, high) = if negative { (-high, -low) } else { (low, high) };
    low <= i128::from(maximum) && high >= i128::from(minimum)
}

/// The fewest extra digits that bring an integer into range, if any.
fn integer_min_extra(
    negative: bool,
    digits: u8,
    magnitude: u64,
    minimum: i64,
    maximum: i64,
) -> Option<u32> {
    (0..=INTEGER_MAX_DIGITS)
        .find(|&extra| integer_reachable(negative, digits, magnitude, extra, minimum, maximum))
}

/// The schema-directed JSON pushdown automaton over bytes.
#[derive(Debug, PartialEq, Eq)]
struct Automaton {
    stack: Vec<Frame>,
    emitted_bytes: usize,
}

impl Clone for Automaton {
    fn clone(&self) -> Self {
        Self {
            stack: self.stack.clone(),
            emitted_bytes: self.emitted_bytes,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        // Reuses the allocation: the mask clones a state at every trie node it visits.
        self.stack.clone_from(&source.stack);
        self.emitted_bytes = source.emitted_bytes;
    }
}

impl Automaton {
    fn new(schema: &Schema) -> Self {
        Self {
            stack: vec![start_frame(schema, schema.root(), 0)],
            emitted_bytes: 0,
        }
    }

    /// Fewest bytes that finish the document from here.
    fn min_close_bytes(&self, schema: &Schema) -> usize {
        self.stack.last().map_or(0, |top| {
            remaining_bytes(schema, top).saturating_add(top.close_below)
        })
    }

    /// Whether the document may end here (end tokens allowed).
    fn is_accepting(&self, schema: &Schema) -> bool {
        match self.stack.as_slice() {
            [] => true,
            [top] => frame_can_end(schema, top),
            _ => false,
        }
    }

    /// Consumes one byte if the grammar and the byte budget allow it. On `false` the
    /// state is unspecified; callers step a copy.
    fn step(&mut self, schema: &Schema, byte: u8, budget_bytes: usize) -> bool {
        if !self.feed(schema, byte) {
            return false;
        }
        self.emitted_bytes += 1;
        self.emitted_bytes
            .saturating_add(self.min_close_bytes(schema))
            <= budget_bytes
    }

    fn feed(&mut self, schema: &Schema, byte: u8) -> bool {
        // Each round either consumes the byte, rejects it, or pops or pushes a frame; the
        // stack is bounded by the schema's depth, so this ends.
        loop {
            let Some(top) = self.stack.last_mut() else {
                return false;
            };
            match step_frame(schema, top, byte) {
                Outcome::Consumed => {
                    self.settle(schema);
                    return true;
                }
                Outcome::Finished => {
                    self.stack.pop();
                    self.settle(schema);
                    return true;
                }
                Outcome::Ended => {
                    self.stack.pop();
                }
                Outcome::PushAfter(child) => {
                    self.stack.push(child);
                    return true;
                }
                Outcome::PushWith(child) => self.stack.push(child),
                Outcome::ReplaceWith(frame) => *top = frame,
                Outcome::Rejected => return false,
            }
        }
    }

    /// Pops values that are complete and cannot continue (a leading `0`, a fully matched
    /// literal), so that completion is visible at once.
    fn settle(&mut self, schema: &Schema) {
        while let Some(top) = self.stack.last() {
            if frame_can_end(schema, top) && !frame_can_continue(schema, top) {
                self.stack.pop();
            } else {
                break;
            }
        }
    }
}

/// A fresh frame for a value of `node`.
fn start_frame(schema: &Schema, node: NodeId, close_below: usize) -> Frame {
    let state = match schema.node(node) {
        Node::Object(_) => FrameState::Object {
            next: 0,
            phase: ObjectPhase::Open,
        },
        Node::Array { .. } => FrameState::Array {
            count: 0,
            phase: ArrayPhase::Open,
        },
        Node::String { .. } => FrameState::String {
            chars: 0,
            phase: StringPhase::Open,
        },
        Node::Integer { .. } => FrameState::Integer {
            negative: false,
            digits: 0,
            magnitude: 0,
        },
        Node::Number => FrameState::Number(NumberPhase::Start),
        Node::Enum { literals, .. } => FrameState::Literal {
            pos: 0,
            low: 0,
            high: literals.len() as u16,
        },
        Node::Nullable { .. } => FrameState::NullableStart,
    };
    Frame {
        node,
        close_below,
        state,
    }
}

/// Fewest bytes that finish this frame's own value (a child in progress excluded: the
/// parent's state already stands after the child).
fn remaining_bytes(schema: &Schema, frame: &Frame) -> usize {
    let node = schema.node(frame.node);
    match (frame.state, node) {
        (FrameState::Object { next, phase }, Node::Object(object)) => {
            let next = usize::from(next);
            let suffix = |index: usize| object.suffix_min_bytes.get(index).copied().unwrap_or(0);
            let key_cost = |index: usize, pos: usize| {
                let property = &object.properties[index];
                property.key_bytes.len().saturating_sub(pos)
                    + schema.min_bytes(property.node)
                    + suffix(index + 1)
                    + 1
            };
            let best_key = |mask: u64, pos: usize| {
                (0..64)
                    .filter(|bit| mask & (1u64 << bit) != 0)
                    .map(|bit| next + bit)
                    .filter(|&index| index < object.properties.len())
                    .map(|index| key_cost(index, pos))
                    .min()
                    .unwrap_or(usize::MAX)
            };
            match phase {
                ObjectPhase::Open => schema.min_bytes(frame.node),
                ObjectPhase::FirstKey => {
                    if object.may_close(next) {
                        1
                    } else {
                        best_key(object.candidates(next), 0)
                    }
                }
                ObjectPhase::AfterValue => suffix(next) + 1,
                ObjectPhase::KeyAfterComma => best_key(object.candidates(next), 0),
                ObjectPhase::Key { pos, mask } => best_key(mask, usize::from(pos)),
            }
        }
        (
            FrameState::Array { count, phase },
            Node::Array {
                items, min_items, ..
            },
        ) => {
            let item = schema.min_bytes(*items);
            let owed_after = |done: u32| (min_items.saturating_sub(done) as usize) * (item + 1);
            match phase {
                ArrayPhase::Open => schema.min_bytes(frame.node),
                ArrayPhase::FirstItem => {
                    if *min_items == 0 {
                        1
                    } else {
                        owed_after(0)
                    }
                }
                ArrayPhase::AfterItem => owed_after(count) + 1,
                ArrayPhase::ItemAfterComma => item + owed_after(count + 1) + 1,
            }
        }
        (FrameState::String { chars, phase }, Node::String { min_chars, .. }) => {
            let owed_chars = min_chars.saturating_sub(chars) as usize;
            match phase {
                StringPhase::Open => schema.min_bytes(frame.node),
                StringPhase::Body => owed_chars + 1,
                StringPhase::Escape => 1 + owed_chars + 1,
                StringPhase::Unicode { digits, .. } => {
                    usize::from(4u8.saturating_sub(digits)) + owed_chars + 1
                }
                StringPhase::Utf8 { remaining, .. } => usize::from(remaining) + owed_chars + 1,
            }
        }
        (
            FrameState::Integer {
                negative,
                digits,
                magnitude,
            },
            Node::Integer { minimum, maximum },
        ) => {
            if digits == 0 && !negative {
                schema.min_bytes(frame.node)
            } else {
                integer_min_extra(negative, digits, magnitude, *minimum, *maximum)
                    .map_or(usize::MAX, |extra| extra as usize)
            }
        }
        (FrameState::Number(phase), _) => match phase {
            NumberPhase::Start | NumberPhase::Minus | NumberPhase::Dot => 1,
            _ => 0,
        },
        (FrameState::Literal { pos, low, high }, Node::Enum { literals, .. }) => literals
            .get(usize::from(low)..usize::from(high))
            .unwrap_or_default()
            .iter()
            .map(|literal| literal.len().saturating_sub(usize::from(pos)))
            .min()
            .unwrap_or(usize::MAX),
        (FrameState::NullableStart, _) => schema.min_bytes(frame.node),
        _ => usize::MAX,
    }
}

/// Whether the frame's value is complete as it stands (only numbers and literals end
/// without a byte of their own).
fn frame_can_end(schema: &Schema, frame: &Frame) -> bool {
    match (frame.state, schema.node(frame.node)) {
        (
            FrameState::Integer {
                negative,
                digits,
                magnitude,
            },
            Node::Integer { minimum, maximum },
        ) => digits > 0 && integer_reachable(negative, digits, magnitude, 0, *minimum, *maximum),
        (FrameState::Number(phase), _) => matches!(
            phase,
            NumberPhase::Zero | NumberPhase::Integer(_) | NumberPhase::Fraction(_)
        ),
        (FrameState::Literal { pos, low, .. }, Node::Enum { literals, .. }) => literals
            .get(usize::from(low))
            .is_some_and(|literal| literal.len() == usize::from(pos)),
        _ => false,
    }
}

/// Whether the frame's value can take more bytes.
fn frame_can_continue(schema: &Schema, frame: &Frame) -> bool {
    match (frame.state, schema.node(frame.node)) {
        (
            FrameState::Integer {
                negative,
                digits,
                magnitude,
            },
            Node::Integer { minimum, maximum },
        ) => (1..=INTEGER_MAX_DIGITS)
            .any(|extra| integer_reachable(negative, digits, magnitude, extra, *minimum, *maximum)),
        (FrameState::Number(phase), _) => match phase {
            NumberPhase::Integer(_) | NumberPhase::Zero => true,
            NumberPhase::Fraction(digits) => u32::from(digits) < NUMBER_MAX_FRACTION_DIGITS,
            _ => true,
        },
        (FrameState::Literal { pos, high, .. }, Node::Enum { literals, .. }) => literals
            .get(usize::from(high).saturating_sub(1))
            .is_some_and(|literal| literal.len() > usize::from(pos)),
        _ => true,
    }
}

/// Steps the top frame on one byte.
fn step_frame(schema: &Schema, frame: &mut Frame, byte: u8) -> Outcome {
    let node = schema.node(frame.node);
    match (&mut frame.state, node) {
        (FrameState::Object { next, phase }, Node::Object(object)) => {
            let may_close = object.may_close(usize::from(*next));
            let key_start = match *phase {
                ObjectPhase::Open if byte == b'{' => {
                    *phase = ObjectPhase::FirstKey;
                    return Outcome::Consumed;
                }
                ObjectPhase::Open => return Outcome::Rejected,
                ObjectPhase::FirstKey | ObjectPhase::AfterValue if byte == b'}' && may_close => {
                    return Outcome::Finished;
                }
                ObjectPhase::AfterValue if byte == b',' => {
                    if object.candidates(usize::from(*next)) == 0 {
                        return Outcome::Rejected;
                    }
                    *phase = ObjectPhase::KeyAfterComma;
                    return Outcome::Consumed;
                }
                ObjectPhase::AfterValue => return Outcome::Rejected,
                ObjectPhase::FirstKey | ObjectPhase::KeyAfterComma => {
                    (0u16, object.candidates(usize::from(*next)))
                }
                ObjectPhase::Key { pos, mask } => (pos, mask),
            };
            let (pos, mask) = key_start;
            let base = usize::from(*next);
            let mut matched = 0u64;
            let mut complete = None;
            for bit in 0..64usize {
                if mask & (1u64 << bit) == 0 {
                    continue;
                }
                let Some(property) = object.properties.get(base + bit) else {
                    continue;
                };
                if property.key_bytes.get(usize::from(pos)) == Some(&byte) {
                    matched |= 1u64 << bit;
                    if property.key_bytes.len() == usize::from(pos) + 1 {
                        complete = Some(base + bit);
                    }
                }
            }
            if matched == 0 {
                return Outcome::Rejected;
            }
            if let Some(index) = complete {
                // Keys are quoted and end with `:`, so none is a prefix of another.
                let property = &object.properties[index];
                *next = (index + 1) as u16;
                *phase = ObjectPhase::AfterValue;
                let after = object.suffix_min_bytes.get(index + 1).copied().unwrap_or(0) + 1;
                let close_below = frame.close_below.saturating_add(after);
                return Outcome::PushAfter(start_frame(schema, property.node, close_below));
            }
            *phase = ObjectPhase::Key {
                pos: pos + 1,
                mask: matched,
            };
            Outcome::Consumed
        }
        (
            FrameState::Array { count, phase },
            Node::Array {
                items,
                min_items,
                max_items,
            },
        ) => match *phase {
            ArrayPhase::Open if byte == b'[' => {
                *phase = ArrayPhase::FirstItem;
                Outcome::Consumed
            }
            ArrayPhase::Open => Outcome::Rejected,
            ArrayPhase::FirstItem | ArrayPhase::AfterItem
                if byte == b']' && *count >= *min_items =>
            {
                Outcome::Finished
            }
            ArrayPhase::AfterItem if byte == b',' && *count < *max_items => {
                *phase = ArrayPhase::ItemAfterComma;
                Outcome::Consumed
            }
            ArrayPhase::AfterItem => Outcome::Rejected,
            ArrayPhase::FirstItem | ArrayPhase::ItemAfterComma => {
                if *count >= *max_items {
                    return Outcome::Rejected;
                }
                *count += 1;
                *phase = ArrayPhase::AfterItem;
                let item_bytes = schema.min_bytes(*items);
                let owed = (min_items.saturating_sub(*count) as usize) * (item_bytes + 1);
                let close_below = frame.close_below.saturating_add(owed + 1);
                Outcome::PushWith(start_frame(schema, *items, close_below))
            }
        },
        (
            FrameState::String { chars, phase },
            Node::String {
                min_chars,
                max_chars,
            },
        ) => {
            if *phase == StringPhase::Open {
                if byte != b'"' {
                    return Outcome::Rejected;
                }
                *phase = StringPhase::Body;
                return Outcome::Consumed;
            }
            if *phase == StringPhase::Body && byte == b'"' {
                return if *chars >= *min_chars {
                    Outcome::Finished
                } else {
                    Outcome::Rejected
                };
            }
            let Some((next, started_char)) = string_body_byte(*phase, byte) else {
                return Outcome::Rejected;
            };
            if started_char {
                if *chars >= *max_chars {
                    return Outcome::Rejected;
                }
                *chars += 1;
            }
            *phase = next;
            Outcome::Consumed
        }
        (
            FrameState::Integer {
                negative,
                digits,
                magnitude,
            },
            Node::Integer { minimum, maximum },
        ) => {
            let (minimum, maximum) = (*minimum, *maximum);
            if byte == b'-' && *digits == 0 && !*negative {
                let reachable = (1..=INTEGER_MAX_DIGITS)
                    .any(|extra| integer_reachable(true, 0, 0, extra, minimum, maximum));
                if !reachable {
                    return Outcome::Rejected;
                }
                *negative = true;
                return Outcome::Consumed;
            }
            if byte.is_ascii_digit() {
                let leading_zero = *digits > 0 && *magnitude == 0;
                let negative_zero = *negative && *digits == 0 && byte == b'0';
                if !leading_zero && !negative_zero && u32::from(*digits) < INTEGER_MAX_DIGITS {
                    let candidate = *magnitude * 10 + u64::from(byte - b'0');
                    let reachable = (0..=INTEGER_MAX_DIGITS).any(|extra| {
                        integer_reachable(
                            *negative,
                            *digits + 1,
                            candidate,
                            extra,
                            minimum,
                            maximum,
                        )
                    });
                    if reachable {
                        *digits += 1;
                        *magnitude = candidate;
                        return Outcome::Consumed;
                    }
                }
            }
            if *digits > 0 && integer_reachable(*negative, *digits, *magnitude, 0, minimum, maximum)
            {
                Outcome::Ended
            } else {
                Outcome::Rejected
            }
        }
        (FrameState::Number(phase), Node::Number) => {
            let digit = byte.is_ascii_digit();
            let next = match (*phase, byte) {
                (NumberPhase::Start, b'-') => Some(NumberPhase::Minus),
                (NumberPhase::Start | NumberPhase::Minus, b'0') => Some(NumberPhase::Zero),
                (NumberPhase::Start | NumberPhase::Minus, _) if digit => {
                    Some(NumberPhase::Integer(1))
                }
                (NumberPhase::Zero | NumberPhase::Integer(_), b'.') => Some(NumberPhase::Dot),
                (NumberPhase::Integer(count), _)
                    if digit && u32::from(count) < NUMBER_MAX_INTEGER_DIGITS =>
                {
                    Some(NumberPhase::Integer(count + 1))
                }
                (NumberPhase::Dot, _) if digit => Some(NumberPhase::Fraction(1)),
                (NumberPhase::Fraction(count), _)
                    if digit && u32::from(count) < NUMBER_MAX_FRACTION_DIGITS =>
                {
                    Some(NumberPhase::Fraction(count + 1))
                }
                _ => None,
            };
            match next {
                Some(next) => {
                    *phase = next;
                    Outcome::Consumed
                }
                None if matches!(
                    *phase,
                    NumberPhase::Zero | NumberPhase::Integer(_) | NumberPhase::Fraction(_)
                ) =>
                {
                    Outcome::Ended
                }
                None => Outcome::Rejected,
            }
        }
        (FrameState::Literal { pos, low, high }, Node::Enum { literals, .. }) => {
            let at = usize::from(*pos);
            let range = usize::from(*low)..usize::from(*high);
            let mut new_low = None;
            let mut new_high = 0usize;
            for index in range {
                if literals.get(index).and_then(|literal| literal.get(at)) == Some(&byte) {
                    new_low.get_or_insert(index);
                    new_high = index + 1;
                }
            }
            match new_low {
                Some(new_low) => {
                    *pos += 1;
                    *low = new_low as u16;
                    *high = new_high as u16;
                    Outcome::Consumed
                }
                None if literals
                    .get(usize::from(*low))
                    .is_some_and(|literal| literal.len() == at) =>
                {
                    Outcome::Ended
                }
                None => Outcome::Rejected,
            }
        }
        (FrameState::NullableStart, Node::Nullable { inner, null_node }) => {
            let target = if byte == b'n' { *null_node } else { *inner };
            Outcome::ReplaceWith(start_frame(schema, target, frame.close_below))
        }
        _ => Outcome::Rejected,
    }
}

/// Constrains decoding to JSON documents of one [`Schema`] that fit a byte budget.
#[derive(Debug, Clone)]
pub struct JsonConstraint {
    schema: Arc<Schema>,
    vocab: Arc<TokenVocab>,
    max_document_bytes: usize,
    automaton: Automaton,
    text: Vec<u8>,
    /// Scratch states, one per trie depth, reused across calls.
    scratch: Vec<Automaton>,
    /// Scratch bitset of allowed token ids.
    allowed: Vec<u64>,
}

impl JsonConstraint {
    /// A constraint at the start of a document. `max_document_bytes` bounds the finished
    /// document; give the engine at least that many new tokens.
    pub fn new(
        schema: Arc<Schema>,
        vocab: Arc<TokenVocab>,
        max_document_bytes: usize,
    ) -> Result<Self, ConstraintError> {
        let needed = schema.min_document_bytes();
        if needed > max_document_bytes {
            return Err(ConstraintError::BudgetTooSmall {
                needed,
                given: max_document_bytes,
            });
        }
        let automaton = Automaton::new(&schema);
        let highest_end = vocab.end_token_ids.iter().map(|&id| id as usize + 1).max();
        let words = vocab.len().max(highest_end.unwrap_or(0)).div_ceil(64);
        Ok(Self {
            schema,
            vocab,
            max_document_bytes,
            automaton,
            text: Vec::new(),
            scratch: Vec::new(),
            allowed: vec![0; words],
        })
    }

    /// Starts over with an empty document.
    pub fn reset(&mut self) {
        self.automaton = Automaton::new(&self.schema);
        self.text.clear();
    }

    /// The bytes emitted so far.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// Whether end tokens are allowed now (the document may end here).
    pub fn is_accepting(&self) -> bool {
        self.automaton.is_accepting(&self.schema)
    }

    /// Fewest bytes still needed to finish the document.
    pub fn min_bytes_to_finish(&self) -> usize {
        self.automaton.min_close_bytes(&self.schema)
    }

    /// Whether `bytes` can come next (for tests and debugging).
    pub fn allows_bytes(&self, bytes: &[u8]) -> bool {
        let mut state = self.automaton.clone();
        bytes
            .iter()
            .all(|&byte| state.step(&self.schema, byte, self.max_document_bytes))
    }

    /// Consumes raw bytes as if tokens had spelled them (for tests and text the caller
    /// prefills); nothing changes when they cannot come next.
    pub fn advance_bytes(&mut self, bytes: &[u8]) -> Result<(), ConstraintError> {
        let mut state = self.automaton.clone();
        for (offset, &byte) in bytes.iter().enumerate() {
            if !state.step(&self.schema, byte, self.max_document_bytes) {
                return Err(ConstraintError::BytesNotAllowed {
                    offset,
                    text: String::from_utf8_lossy(bytes).into_owned(),
                });
            }
        }
        self.automaton = state;
        self.text.extend_from_slice(bytes);
        Ok(())
    }

    /// Fills `self.allowed` with the ordinary tokens that may come next.
    fn compute_allowed(&mut self, use_fast_path: bool) {
        self.allowed.fill(0);
        if self.automaton.stack.is_empty() {
            return;
        }
        let vocab = Arc::clone(&self.vocab);
        let schema = Arc::clone(&self.schema);
        let trie = match self.string_body_top() {
            Some((chars, min_chars, max_chars, close_below)) if use_fast_path => {
                // Inside a string body, plain tokens only add characters: decide them
                // arithmetically and walk the trie of the other tokens only.
                let budget = self.max_document_bytes;
                let emitted = self.automaton.emitted_bytes;
                for token in &vocab.plain {
                    let chars_after = chars + token.chars;
                    let close = token.pending_bytes as usize
                        + min_chars.saturating_sub(chars_after) as usize
                        + 1;
                    let fits = chars_after <= max_chars
                        && emitted
                            .saturating_add(token.len_bytes as usize)
                            .saturating_add(close)
                            .saturating_add(close_below)
                            <= budget;
                    if fits {
                        set_bit(&mut self.allowed, token.id);
                    }
                }
                &vocab.non_plain
            }
            _ => &vocab.all,
        };
        self.walk(&schema, trie);
    }

    /// The string frame on top, when it stands between characters: its characters, its
    /// length limits and the bytes that close what lies below it.
    fn string_body_top(&self) -> Option<(u32, u32, u32, usize)> {
        let top = self.automaton.stack.last()?;
        match (top.state, self.schema.node(top.node)) {
            (
                FrameState::String {
                    chars,
                    phase: StringPhase::Body,
                },
                Node::String {
                    min_chars,
                    max_chars,
                },
            ) => Some((chars, *min_chars, *max_chars, top.close_below)),
            _ => None,
        }
    }

    /// Depth-first walk of `trie` from the current state, pruning every subtree whose
    /// prefix the automaton rejects.
    fn walk(&mut self, schema: &Schema, trie: &Trie) {
        if self.scratch.is_empty() {
            self.scratch.push(self.automaton.clone());
        } else {
            self.scratch[0].clone_from(&self.automaton);
        }
        // Each entry is a trie node on the current path and its next edge to try.
        let mut path: Vec<(usize, usize)> = Vec::with_capacity(32);
        path.push(trie.edges(0));
        while let Some(last) = path.last_mut() {
            let (edge, end) = *last;
            if edge >= end {
                path.pop();
                continue;
            }
            last.0 += 1;
            let depth = path.len();
            if self.scratch.len() <= depth {
                let copy = self.scratch[depth - 1].clone();
                self.scratch.push(copy);
            } else {
                let (parents, children) = self.scratch.split_at_mut(depth);
                children[0].clone_from(&parents[depth - 1]);
            }
            if !self.scratch[depth].step(schema, trie.edge_byte[edge], self.max_document_bytes) {
                continue;
            }
            let child = trie.edge_child[edge];
            for &id in trie.tokens(child) {
                set_bit(&mut self.allowed, id);
            }
            let (child_first, child_end) = trie.edges(child);
            if child_first < child_end {
                path.push((child_first, child_end));
            }
        }
    }

    /// The ordinary tokens the mask would allow now, computed by walking the whole trie
    /// without the string fast path (for tests).
    #[cfg(test)]
    fn allowed_ids(&mut self, use_fast_path: bool) -> Vec<u32> {
        self.compute_allowed(use_fast_path);
        (0..(self.allowed.len() * 64) as u32)
            .filter(|&id| get_bit(&self.allowed, id))
            .collect()
    }
}

fn set_bit(bits: &mut [u64], id: u32) {
    if let Some(word) = bits.get_mut(id as usize / 64) {
        *word |= 1u64 << (id % 64);
    }
}

#[cfg(test)]
fn get_bit(bits: &[u64], id: u32) -> bool {
    bits.get(id as usize / 64)
        .is_some_and(|word| word & (1u64 << (id % 64)) != 0)
}

impl TokenConstraint for JsonConstraint {
    fn mask_logits(&mut self, logits: &mut [f32]) {
        self.compute_allowed(true);
        // End tokens are never in the tries; they pass exactly when the document may end.
        if self.is_accepting() {
            for &id in &self.vocab.end_token_ids {
                set_bit(&mut self.allowed, id);
            }
        }
        for (chunk_index, chunk) in logits.chunks_mut(64).enumerate() {
            let word = self.allowed.get(chunk_index).copied().unwrap_or(0);
            if word == u64::MAX {
                continue;
            }
            for (bit, logit) in chunk.iter_mut().enumerate() {
                if word & (1u64 << bit) == 0 {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
    }

    fn advance(&mut self, token_id: u32) -> Result<(), ConstraintError> {
        if self.vocab.is_end_token(token_id) {
            return if self.is_accepting() {
                Ok(())
            } else {
                Err(ConstraintError::TokenNotAllowed(token_id))
            };
        }
        let vocab = Arc::clone(&self.vocab);
        let bytes = vocab
            .token_bytes(token_id)
            .filter(|bytes| !bytes.is_empty())
            .ok_or(ConstraintError::TokenNotAllowed(token_id))?;
        self.advance_bytes(bytes)
            .map_err(|_| ConstraintError::TokenNotAllowed(token_id))
    }

    fn is_complete(&self) -> bool {
        self.automaton.stack.is_empty()
    }
}

#[cfg(test)]
mod tests;
