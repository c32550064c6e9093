//! SIP transactions (RFC 3261 17): the [`client`] side retransmits our requests and absorbs
//! retransmitted responses; the [`server`] side absorbs retransmitted requests and retransmits our
//! final answers. Both are pure state driven by the endpoint's clock.

pub mod client;
pub mod server;

pub use client::*;
