//! Schema-constrained decoding: masks every token that cannot continue a valid document.

/// Why a constraint refused a token.
#[derive(Debug, thiserror::Error)]
pub enum ConstraintError {
    /// The sampler chose a token the mask had removed; this is a bug in the caller.
    #[error("token {0} cannot continue the document here; sample from the masked logits")]
    TokenNotAllowed(u32),
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
