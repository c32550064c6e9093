//! Sans-IO SIP for Ringback: message parsing with limits (our own RFC 4475-conformant parser), client transactions with RFC 3261 timers,
//! the registration client with digest auth, outbound calls and their dialogs, and SDP offer/answer.
//!
//! The core ([`Endpoint`]) never reads a clock or touches a socket: it takes `now` and datagrams in
//! and gives datagrams, events and its next deadline back. The optional [`driver`] is a small tokio
//! task around it.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod call;
pub mod digest;
#[cfg(feature = "driver")]
pub mod driver;
pub mod endpoint;
pub mod message;
pub mod outgoing;
pub mod registration;
pub mod sdp;
pub mod server;
pub mod timer;
pub mod transaction;
pub mod trunk;

pub use call::{CallEvent, CallHandle, EndCause, HangupBy, InviteParams};
pub use endpoint::{Endpoint, EndpointConfig, EndpointError, Event};
pub use registration::RegistrationStatus;
pub use transaction::Transmit;
pub use trunk::{TrunkConfig, TrunkCredentials, TrunkId};
