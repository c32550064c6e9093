//! Issue 17's first slice through the router (`tower::ServiceExt::oneshot`) on a real server (real
//! store file, real SIP socket, a trunk that never answers): signed recording URLs, the new
//! `GET /v1/calls` filters, and the console's sessions, CSRF protection, pages and CSV export.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod filters;
mod pages;
mod sessions;
mod signed_urls;
