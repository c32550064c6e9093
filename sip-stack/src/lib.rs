//! Sans-IO SIP for Ringback: message parsing with limits (our own RFC 4475-conformant parser), client
//! and server transactions with RFC 3261 timers over UDP, TCP and TLS, the registration client with
//! digest auth, calls in both directions with their dialogs (re-INVITE, UPDATE, session timers, REFER),
//! trunk keep-alives, SDP offer/answer, and a guard against scanners and floods.
//!
//! The core ([`Endpoint`]) never reads a clock or touches a socket: it takes `now` and datagrams in
//! and gives datagrams, events and its next deadline back. The optional [`driver`] is a small tokio
//! task around it.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod address;
pub mod call;
pub mod digest;
#[cfg(feature = "driver")]
pub mod driver;
pub mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod identity;
pub mod message;
pub mod outgoing;
pub mod redact;
pub mod registration;
pub mod sdp;
pub mod timer;
pub mod transaction;
pub mod transport;
pub mod trunk;

pub use address::AddressError;
pub use call::timer::SessionTimerConfig;
pub use call::{CallDirection, CallEvent, CallHandle, EndCause, HangupBy, InviteParams};
pub use endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointStats, Event, IncomingCall};
pub use guard::GuardConfig;
pub use identity::IdentityMode;
/// Networks of trunk sources ([`InboundConfig::sources`]).
pub use ipnet::IpNet;
pub use redact::Redacted;
pub use registration::RegistrationStatus;
pub use transaction::Transmit;
pub use transport::{Peer, Transport};
pub use trunk::{BadProxy, InboundConfig, ProxyHost, TrunkConfig, TrunkCredentials, TrunkId};
