//! Diaspora bond issuance and registry ledger.
//!
//! Module map (dependencies point one way): `money`, `calendar` and `pricing` are
//! pure bond math and know nothing of the rest; `ledger` knows bytes, hashes and
//! keys; `registry` is the deterministic state machine; `store` joins ledger and
//! registry on sled; `service` is the tonic edge; `cli` holds the `dbond` verbs.

pub mod accrual;
pub mod audit;
pub mod calendar;
pub mod cli;
pub mod client;
pub mod clock;
pub mod codec;
pub mod config;
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
