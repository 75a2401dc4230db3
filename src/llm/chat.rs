//! Chat messages and the prompt formats of the model families we run: ChatML (SmolLM2,
//! Qwen2, Qwen3 with thinking switched off) and Llama 3's header format. Templates are
//! written out here rather than interpreted from the GGUF's Jinja, so the exact prompt
//! (and therefore the KV-cache prefix a later turn can reuse) is known and tested.

use serde::{Deserialize, Serialize};

use super::transformer::Architecture;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name as the templates write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A family's prompt format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n` (SmolLM2, Qwen2).
    ChatMl,
    /// ChatML whose assistant turn opens with an empty `<think>` block, which switches
    /// Qwen3's thinking off.
    ChatMlNoThinking,
    /// `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` after
    /// `<|begin_of_text|>` (Llama 3.x).
    Llama3,
}

/// The empty reasoning block that tells Qwen3 not to think.
const EMPTY_THINK_BLOCK: &str = "<think>\n\n</think>\n\n";

impl ChatTemplate {
    /// Picks the template from the architecture and the special tokens the vocabulary has.
    pub fn detect(architecture: Architecture, has_token: impl Fn(&str) -> bool) -> Self {
        if has_token("<|start_header_id|>") && has_token("<|eot_id|>") {
            ChatTemplate::Llama3
        } else if architecture == Architecture::Qwen3 {
            ChatTemplate::ChatMlNoThinking
        } else {
            ChatTemplate::ChatMl
        }
    }

    /// Renders the conversation and opens the assistant's turn when `add_generation_prompt`.
    pub fn render(self, messages: &[ChatMessage], add_generation_prompt: bool) -> String {
        let mut prompt = String::new();
        match self {
            ChatTemplate::ChatMl | ChatTemplate::ChatMlNoThinking => {
                for message in messages {
                    prompt.push_str("<|im_start|>");
                    prompt.push_str(message.role.as_str());
                    prompt.push('\n');
                    prompt.push_str(&message.content);
                    prompt.push_str("<|im_end|>\n");
                }
                if add_generation_prompt {
                    prompt.push_str("<|im_start|>assistant\n");
                    if self == ChatTemplate::ChatMlNoThinking {
                        prompt.push_str(EMPTY_THINK_BLOCK);
                    }
                }
            }
            ChatTemplate::Llama3 => {
                prompt.push_str("<|begin_of_text|>");
                for message in messages {
                    prompt.push_str("<|start_header_id|>");
                    prompt.push_str(message.role.as_str());
                    prompt.push_str("<|end_header_id|>\n\n");
                    prompt.push_str(&message.content);
                    prompt.push_str("<|eot_id|>");
                }
                if add_generation_prompt {
                    prompt.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
        }
        prompt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: ChatTemplate, messages: &[ChatMessage], expected: &str) {
        assert_eq!(template.render(messages, true), expected, "{template:?}");
    }

    #[test]
    fn templates_render_each_family() {
        let messages = [ChatMessage::system("Be brief."), ChatMessage::user("Hi")];
        check(
            ChatTemplate::ChatMl,
            &messages,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        );
        check(
            ChatTemplate::ChatMlNoThinking,
            &messages[1..],
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        );
        check(
            ChatTemplate::Llama3,
            &messages[1..],
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        );
    }

    #[test]
    fn detection_follows_vocabulary_and_architecture() {
        let llama3 = |token: &str| matches!(token, "<|start_header_id|>" | "<|eot_id|>");
        let chatml = |token: &str| token == "<|im_start|>";
        assert_eq!(
            ChatTemplate::detect(Architecture::Llama, llama3),
            ChatTemplate::Llama3
        );
        assert_eq!(
            ChatTemplate::detect(Architecture::Llama, chatml),
            ChatTemplate::ChatMl
        );
        assert_eq!(
            ChatTemplate::detect(Architecture::Qwen3, chatml),
            ChatTemplate::ChatMlNoThinking
        );
    }
}
