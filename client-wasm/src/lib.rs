//! Browser SDK of Session Gateway: typed live session status and feedback over
//! wasm-bindgen, shipped as the npm package `@session-gateway/client`.
//!
//! The stream is read with `fetch` rather than the browser's `EventSource`, which cannot
//! send an `Authorization` header, cannot report the HTTP status of a failure, and
//! reconnects on its own schedule. Here the SDK owns reconnection: backoff with jitter,
//! resume by each session's last event id, stop on fatal statuses, no retries from hidden tabs.
//!
//! # Layout
//! - [`client`]: [`GatewayClient`], the JavaScript entry point; one method per endpoint.
//! - [`subscription`]: [`Subscription`]: one session's view, state and callbacks.
//! - `mux`: the one connection (`POST /v1/events`) all subscriptions of a client share;
//!   it reconnects and resumes every session from its own position.
//! - `sse`: incremental `text/event-stream` parser.
//! - `view`: the merged metadata view (snapshots replace, updates merge, deletes remove),
//!   held as JavaScript values.
//! - `backoff`: reconnection delays.
//! - `visibility`: waiting for a hidden tab to be shown before reconnecting.
//! - `http`: requests (the global `fetch`), auth header, answers to JSON or [`GatewayError`].
//! - `auth`: the token source (fixed token or provider function).
//! - `options`: reading the caller's option and handler objects; their TS interfaces.
//! - `convert`: values across the JavaScript boundary: JSON by the browser's `JSON`.
//! - [`error`]: [`GatewayError`], the one error type of the API.
//!
//! TypeScript declarations come from the Rust types: `shared-types` with its
//! `typescript` feature (wire types) and this crate (errors, states, options).
//!
//! Every page load downloads this module, so it has a size budget (40 KiB gzipped with
//! its JS, checked by `scripts/check-sdk-size.sh`): JSON is decoded and encoded by the
//! browser, the wire types serve for their TypeScript declarations only, and formatting
//! machinery (`format!`) is avoided in favour of plain string concatenation.

mod auth;
mod backoff;
pub mod client;
mod convert;
pub mod error;
mod http;
mod mux;
mod options;
mod sse;
pub mod subscription;
mod view;
mod visibility;

/// Talc instead of the default dlmalloc: a few kilobytes smaller, and faster.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use client::GatewayClient;
pub use error::GatewayError;
pub use subscription::{ConnectionState, StateInfo, Subscription};
