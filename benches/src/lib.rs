//! Ringback benchmarks, and the labelled corpus and scoring of the audio-intelligence
//! evaluation.

pub mod callees;
pub mod corpus;
pub mod eval;
pub mod prompts;
pub mod stt;
pub mod turns;
