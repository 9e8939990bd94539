//! What a step does to the world, and how a plan counts it.

use serde::{Deserialize, Serialize};

/// What a step does to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Looks, changes nothing (checks, verifications, gates, notifications).
    Read,
    /// Changes something that can be put back (stop/start, create, a backup).
    Mutate,
    /// Destroys data: must have a safety backup earlier in the run.
    Destroy,
}

/// How a step is counted in the plan summary, and the symbol it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Stop,
    Start,
    Backup,
    Destructive,
    Check,
    Change,
    Gate,
    Notify,
}

impl Category {
    pub fn symbol(self) -> &'static str {
        match self {
            Category::Stop => "■",
            Category::Start => "▶",
            Category::Backup => "+",
            Category::Destructive => "!",
            Category::Check => "✓",
            Category::Change => "~",
            Category::Gate => "?",
            Category::Notify => "✉",
        }
    }
}
