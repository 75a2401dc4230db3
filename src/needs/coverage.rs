//! Coverage: which of the six interview slots a need has filled (who, what hurts, how
//! they cope today, how often, what outcome, how success is measured), and the same summed
//! over a session. The interviewer asks for the missing slots; the brief lists them.

use serde::{Deserialize, Serialize};

use super::model::{Need, NeedId, NeedStatus};
use super::text::non_empty;

/// One of the six things a good interviewer finds out about a need, in asking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// Who has the problem.
    Actor,
    /// What hurts.
    Pain,
    /// How they cope today.
    Workaround,
    /// How often it happens.
    Frequency,
    /// What they want instead.
    DesiredOutcome,
    /// How success would be measured.
    SuccessMetric,
}

impl Slot {
    /// Every slot, in the order the interviewer asks for them.
    pub const ALL: [Slot; 6] = [
        Slot::Actor,
        Slot::Pain,
        Slot::Workaround,
        Slot::Frequency,
        Slot::DesiredOutcome,
        Slot::SuccessMetric,
    ];

    /// The need field's name, as in the JSON schemas ("desired_outcome").
    pub fn field_name(self) -> &'static str {
        match self {
            Slot::Actor => "actor",
            Slot::Pain => "pain",
            Slot::Workaround => "workaround",
            Slot::Frequency => "frequency",
            Slot::DesiredOutcome => "desired_outcome",
            Slot::SuccessMetric => "success_metric",
        }
    }

    /// The slot whose field name this is ("desired_outcome"), if any.
    pub fn from_field_name(name: &str) -> Option<Slot> {
        Slot::ALL
            .iter()
            .copied()
            .find(|slot| slot.field_name() == name)
    }

    /// A short human label ("how often").
    pub fn label(self) -> &'static str {
        match self {
            Slot::Actor => "who",
            Slot::Pain => "what hurts",
            Slot::Workaround => "how they cope today",
            Slot::Frequency => "how often",
            Slot::DesiredOutcome => "desired outcome",
            Slot::SuccessMetric => "success metric",
        }
    }

    /// The need's value for this slot, if filled with more than whitespace.
    pub fn value(self, need: &Need) -> Option<&str> {
        let value = match self {
            Slot::Actor => &need.actor,
            Slot::Pain => &need.pain,
            Slot::Workaround => &need.workaround,
            Slot::Frequency => &need.frequency,
            Slot::DesiredOutcome => &need.desired_outcome,
            Slot::SuccessMetric => &need.success_metric,
        };
        non_empty(value.as_deref())
    }
}

/// How much of one need the interview has covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The need.
    pub need_id: NeedId,
    /// The slots filled, in asking order.
    pub filled: Vec<Slot>,
    /// The slots still missing, in asking order.
    pub missing: Vec<Slot>,
}

impl Coverage {
    /// The coverage of one need.
    pub fn of(need: &Need) -> Self {
        let (filled, missing) = Slot::ALL
            .iter()
            .partition(|slot| slot.value(need).is_some());
        Self {
            need_id: need.id,
            filled,
            missing,
        }
    }

    /// The share of slots filled, 0..=1.
    pub fn fraction(&self) -> f64 {
        self.filled.len() as f64 / Slot::ALL.len() as f64
    }

    /// Whether every slot is filled.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// The first slot the interviewer should ask for, if any.
    pub fn first_missing(&self) -> Option<Slot> {
        self.missing.first().copied()
    }
}

/// Coverage over a session's needs that are still in play (dropped needs are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCoverage {
    /// Each active need's coverage, in need order.
    pub needs: Vec<Coverage>,
}

impl SessionCoverage {
    /// The coverage of every need that is not dropped.
    pub fn of(needs: &[Need]) -> Self {
        Self {
            needs: needs
                .iter()
                .filter(|need| need.status != NeedStatus::Dropped)
                .map(Coverage::of)
                .collect(),
        }
    }

    /// Slots filled over all active needs.
    pub fn filled_slots(&self) -> usize {
        self.needs
            .iter()
            .map(|coverage| coverage.filled.len())
            .sum()
    }

    /// Slots there are over all active needs.
    pub fn total_slots(&self) -> usize {
        self.needs.len() * Slot::ALL.len()
    }

    /// The share of slots filled, 0..=1; 0 with no needs (nothing is covered yet).
    pub fn fraction(&self) -> f64 {
        if self.needs.is_empty() {
            0.0
        } else {
            self.filled_slots() as f64 / self.total_slots() as f64
        }
    }

    /// How many active needs have every slot filled.
    pub fn complete_needs(&self) -> usize {
        self.needs
            .iter()
            .filter(|coverage| coverage.is_complete())
            .count()
    }

    /// Whether there is at least one need and every active need is complete.
    pub fn is_complete(&self) -> bool {
        !self.needs.is_empty() && self.needs.iter().all(Coverage::is_complete)
    }
}
