//! The language model's tokenizer: `tokenizer.json` when one lies next to the weights,
//! otherwise a byte-level BPE assembled from the GGUF metadata (`tokenizer.ggml.*`), so a
//! single GGUF file is enough to run.
//!
//! Besides encoding, it gives what the constrained decoder and the streaming decoder
//! need: the exact bytes every token id stands for ([`LlmTokenizer::token_bytes`]) and
//! the ids that end a turn ([`LlmTokenizer::end_token_ids`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::LlmError;

/// Token names that end an assistant turn or the text in the families we run.
const END_TOKEN_NAMES: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|eom_id|>",
    "<|endoftext|>",
];

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;
const TOKEN_TYPE_BYTE: i32 = 6;

/// Qwen2's pre-tokenizer split (also Qwen3's).
const QWEN2_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's pre-tokenizer split: like Qwen2's but numbers in runs of up to three digits.
const LLAMA3_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a token's vocabulary string maps to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSpelling {
    /// GPT-2 byte-level: every byte is one printable character.
    ByteLevel,
    /// SentencePiece: `▁` is a space and `<0xNN>` is one raw byte.
    SentencePiece,
}

/// The tokenizer with its special tokens and per-token bytes.
#[derive(Clone)]
pub struct LlmTokenizer {
    tokenizer: Tokenizer,
    token_bytes: Vec<Vec<u8>>,
    end_token_ids: Vec<u32>,
    bos_token_id: Option<u32>,
}

impl std::fmt::Debug for LlmTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmTokenizer")
            .field("n_tokens", &self.token_bytes.len())
            .field("end_token_ids", &self.end_token_ids)
            .finish_non_exhaustive()
    }
}

impl LlmTokenizer {
    /// Loads `tokenizer.json`; the GGUF metadata still names the end tokens when given.
    pub fn from_file(path: &Path, metadata: Option<&gguf_file::Content>) -> Result<Self, LlmError> {
        let tokenizer = Tokenizer::from_file(path).map_err(|err| LlmError::Tokenizer {
            reason: format!("cannot read {}: {err}", path.display()),
        })?;
        let spelling = match tokenizer.get_decoder() {
            Some(tokenizers::DecoderWrapper::ByteLevel(_)) => TokenSpelling::ByteLevel,
            _ => TokenSpelling::SentencePiece,
        };
        let vocab = tokenizer.get_vocab(true);
        let n_tokens = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let mut names = vec![String::new(); n_tokens];
        for (name, &id) in &vocab {
            names[id as usize] = name.clone();
        }
        let added = tokenizer.get_added_tokens_decoder();
        let token_bytes = names
            .iter()
            .enumerate()
            .map(|(id, name)| match added.get(&(id as u32)) {
                Some(token) if token.special => Vec::new(),
                Some(token) => token.content.as_bytes().to_vec(),
                None => spell(name, spelling),
            })
            .collect();
        let mut eos_ids = Vec::new();
        if let Some(content) = metadata {
            eos_ids.extend(metadata_u32(
                &content.metadata,
                "tokenizer.ggml.eos_token_id",
            ));
            eos_ids.extend(metadata_u32(
                &content.metadata,
                "tokenizer.ggml.eot_token_id",
            ));
        }
        let bos_token_id = metadata
            .and_then(|content| metadata_u32(&content.metadata, "tokenizer.ggml.bos_token_id"));
        Ok(Self::assemble(
            tokenizer,
            token_bytes,
            eos_ids,
            bos_token_id,
        ))
    }

    /// Builds the tokenizer from GGUF metadata (`tokenizer.ggml.model = gpt2`).
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, LlmError> {
        let md = &content.metadata;
        let fail = |reason: String| LlmError::Tokenizer { reason };
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|value| value.to_string().ok())
            .ok_or_else(|| {
                fail("the GGUF has no tokenizer.ggml.model; put tokenizer.json next to it".into())
            })?;
        if model != "gpt2" {
            return Err(fail(format!(
                "GGUF tokenizer model `{model}` is not supported; put tokenizer.json next to the GGUF"
            )));
        }
        let tokens = string_array(md, "tokenizer.ggml.tokens").map_err(fail)?;
        let merges = string_array(md, "tokenizer.ggml.merges").map_err(fail)?;
        let token_types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
            Some(value) => value
                .to_vec()
                .map_err(|err| fail(format!("tokenizer.ggml.token_type: {err}")))?
                .iter()
                .map(|value| value.to_i32().unwrap_or(1))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|value| value.to_string().ok())
            .map(String::as_str)
            .unwrap_or("default");

        let mut vocab = tokenizers::models::bpe::Vocab::default();
        for (id, token) in tokens.iter().enumerate() {
            vocab.entry(token.clone()).or_insert(id as u32);
        }
        let merges: Vec<(String, String)> = merges
            .iter()
            .filter_map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(left, right)| (left.to_string(), right.to_string()))
            })
            .collect();
        let ignore_merges = matches!(pre, "llama-bpe" | "llama3");
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|err| fail(format!("cannot build the BPE model: {err}")))?;
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer(pre).map_err(fail)?));
        tokenizer.with_decoder(Some(ByteLevelDecoder::default()));

        let mut special = Vec::new();
        let mut user_defined = Vec::new();
        for (token, &token_type) in tokens.iter().zip(&token_types) {
            match token_type {
                TOKEN_TYPE_CONTROL => special.push(AddedToken::from(token.clone(), true)),
                TOKEN_TYPE_USER_DEFINED => {
                    user_defined.push(AddedToken::from(token.clone(), false).normalized(false))
                }
                _ => {}
            }
        }
        tokenizer.add_special_tokens(&special);
        tokenizer.add_tokens(&user_defined);

        let token_bytes = tokens
            .iter()
            .zip(token_types.iter().chain(std::iter::repeat(&1)))
            .map(|(token, &token_type)| match token_type {
                TOKEN_TYPE_CONTROL => Vec::new(),
                TOKEN_TYPE_USER_DEFINED => token.as_bytes().to_vec(),
                TOKEN_TYPE_BYTE => spell(token, TokenSpelling::SentencePiece),
                _ => spell(token, TokenSpelling::ByteLevel),
            })
            .collect();
        let mut eos_ids = Vec::new();
        eos_ids.extend(metadata_u32(md, "tokenizer.ggml.eos_token_id"));
        eos_ids.extend(metadata_u32(md, "tokenizer.ggml.eot_token_id"));
        let bos_token_id = metadata_u32(md, "tokenizer.ggml.bos_token_id");
        Ok(Self::assemble(
            tokenizer,
            token_bytes,
            eos_ids,
            bos_token_id,
        ))
    }

    fn assemble(
        tokenizer: Tokenizer,
        token_bytes: Vec<Vec<u8>>,
        eos_ids: Vec<u32>,
        bos_token_id: Option<u32>,
    ) -> Self {
        let mut end_token_ids = eos_ids;
        for name in END_TOKEN_NAMES {
            if let Some(id) = tokenizer.token_to_id(name) {
                end_token_ids.push(id);
            }
        }
        let mut seen = HashSet::new();
        end_token_ids.retain(|id| seen.insert(*id));
        Self {
            tokenizer,
            token_bytes,
            end_token_ids,
            bos_token_id,
        }
    }

    /// Encodes text; special tokens written in it (`<|im_start|>` …) become their ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|err| LlmError::Tokenizer {
                reason: format!("cannot encode: {err}"),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes ids to text, leaving out special tokens.
    pub fn decode(&self, token_ids: &[u32]) -> String {
        let bytes: Vec<u8> = token_ids
            .iter()
            .flat_map(|&id| self.bytes_of(id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The exact bytes each token id decodes to, indexed by id; special and control
    /// tokens are empty.
    pub fn token_bytes(&self) -> Vec<Vec<u8>> {
        self.token_bytes.clone()
    }

    /// The bytes of one token (empty for special tokens and unknown ids).
    pub fn bytes_of(&self, token_id: u32) -> &[u8] {
        self.token_bytes
            .get(token_id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Ids that end the answer: EOS, end-of-turn and the families' end tokens.
    pub fn end_token_ids(&self) -> &[u32] {
        &self.end_token_ids
    }

    /// The beginning-of-sequence id the GGUF names, if any.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }

    /// The id of a token by its vocabulary string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// Number of token ids the tokenizer knows.
    pub fn n_tokens(&self) -> usize {
        self.token_bytes.len()
    }
}

fn metadata_u32(md: &HashMap<String, gguf_file::Value>, key: &str) -> Option<u32> {
    md.get(key).and_then(|value| value.to_u32().ok())
}

fn string_array(md: &HashMap<String, gguf_file::Value>, key: &str) -> Result<Vec<String>, String> {
    let values = md
        .get(key)
        .ok_or_else(|| format!("the GGUF has no {key}; put tokenizer.json next to it"))?
        .to_vec()
        .map_err(|err| format!("{key}: {err}"))?;
    values
        .iter()
        .map(|value| {
            value
                .to_string()
                .cloned()
                .map_err(|err| format!("{key}: {err}"))
        })
        .collect()
}

/// The pre-tokenizer llama.cpp's `tokenizer.ggml.pre` names.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, String> {
    let split = |regex: &str| -> Result<PreTokenizerWrapper, String> {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|err| format!("pre-tokenizer regex: {err}"))?;
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Split(split),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false)),
        ])))
    };
    match pre {
        "qwen2" => split(QWEN2_SPLIT_REGEX),
        "llama-bpe" | "llama3" | "smaug-bpe" => split(LLAMA3_SPLIT_REGEX),
        "smollm" | "starcoder" | "refact" => {
            Ok(PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
            ])))
        }
        _ => Ok(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, true, true,
        ))),
    }
}

/// GPT-2's map from printable characters back to the bytes they stand for.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut n_shifted = 0u32;
    for byte in 0u8..=255 {
        let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let ch = if printable {
            char::from(byte)
        } else {
            let ch = char::from_u32(256 + n_shifted).unwrap_or(char::REPLACEMENT_CHARACTER);
            n_shifted += 1;
            ch
        };
        map.insert(ch, byte);
    }
    map
}

thread_local! {
    static UNICODE_TO_BYTE: HashMap<char, u8> = unicode_to_byte();
}

/// The bytes a vocabulary string stands for.
fn spell(token: &str, spelling: TokenSpelling) -> Vec<u8> {
    match spelling {
        TokenSpelling::ByteLevel => UNICODE_TO_BYTE.with(|map| {
            let mut bytes = Vec::with_capacity(token.len());
            for ch in token.chars() {
                match map.get(&ch) {
                    Some(&byte) => bytes.push(byte),
                    None => {
                        let mut buffer = [0u8; 4];
                        bytes.extend_from_slice(ch.encode_utf8(&mut buffer).as_bytes());
                    }
                }
            }
            bytes
        }),
        TokenSpelling::SentencePiece => {
            if let Some(hex) = token
                .strip_prefix("<0x")
                .and_then(|rest| rest.strip_suffix('>'))
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                return vec![byte];
            }
            token.replace('\u{2581}', " ").into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_map_covers_every_byte_once() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        let bytes: HashSet<u8> = map.values().copied().collect();
        assert_eq!(bytes.len(), 256);
        assert_eq!(map.get(&'\u{120}'), Some(&b' '));
        assert_eq!(map.get(&'\u{10A}'), Some(&b'\n'));
    }

    #[test]
    fn sentencepiece_spellings_give_their_bytes() {
        for (token, expected) in [("<0x0A>", b"\n".to_vec()), ("\u{2581}hi", b" hi".to_vec())] {
            assert_eq!(
                spell(token, TokenSpelling::SentencePiece),
                expected,
                "{token}"
            );
        }
    }
}
