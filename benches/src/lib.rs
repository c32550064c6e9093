//! Ringback benchmarks.
