//! Diaspora bond issuance and registry ledger.
//!
//! Module map. Dependencies point one way, up this chain (docs/ARCHITECTURE.md
//! draws it, and `ledger-tests/layers.rs` checks every `crate::` path against it):
//!
//! 1. `ids`, `money`, `calendar`, `pricing`: identifiers and pure bond math;
//! 2. `accrual`: the coupon engine's pure core;
//! 3. `ledger`: bytes, hashes, keys, signed requests, proofs and checkpoints;
//! 4. `registry`: the deterministic state machine (never names `ledger` or `proto`);
//! 5. `codec`: protobuf ↔ domain;
//! 6. `store`: the ledger on a storage engine (sled by default), the single writer;
//! 7. `audit` (verification) and `metrics`;
//! 8. `service` (the tonic edge), `client`, `report`, `console`;
//! 9. `cli`: the `dbond` verbs.
//!
//! `limits`, `clock` and `config` sit beside the chain.

pub mod accrual;
pub mod audit;
pub mod calendar;
pub mod cli;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
pub mod console;
pub mod ids;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod mirror;
pub mod money;
pub mod pricing;
pub mod registry;
pub mod report;
pub mod service;
pub mod store;

pub mod proto {
    //! Generated protobuf and gRPC types (package `diaspora.bonds.v1`). Only the
    //! edge (service, ledger codec, cli) uses them.
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("diaspora.bonds.v1");

    /// Encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dbond_descriptor");
}
