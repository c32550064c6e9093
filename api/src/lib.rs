//! Ringback's HTTP API, store, webhooks, configuration and the `ringback` command line.

#![deny(missing_docs)]

pub mod audit;
pub mod campaign;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
mod dispatch;
pub mod events;
mod fault;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod https;
mod inbound;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod policy;
pub mod retention;
mod salvage;
pub mod server;
pub mod service;
pub mod store;
pub mod upload;
pub mod webhook;
