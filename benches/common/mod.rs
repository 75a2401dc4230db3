//! What more than one bench needs.

use ideadesk::llm::constrain::{ConstraintError, TokenConstraint};

/// Bans the end tokens so decoding always runs its full budget.
pub struct NoEnd(pub Vec<u32>);

impl TokenConstraint for NoEnd {
    fn mask_logits(&mut self, logits: &mut [f32]) {
        for &id in &self.0 {
            if let Some(logit) = logits.get_mut(id as usize) {
                *logit = f32::NEG_INFINITY;
            }
        }
    }

    fn advance(&mut self, _token_id: u32) -> Result<(), ConstraintError> {
        Ok(())
    }

    fn is_complete(&self) -> bool {
        false
    }
}
