//! The integration tests, as one test binary: each file beside this one is a
//! module (`cargo test --test ledger-tests crash::` runs one of them). One binary
//! links once and compiles the shared helpers (`common/`) and the generated gRPC
//! clients once, instead of once per file, which saves minutes of a clean test
//! build on two cores.

mod common;

mod audit;
mod authz;
mod bondmath;
mod cli;
mod console;
mod contract;
mod coupons;
mod crash;
mod demo;
mod failover;
mod faults;
mod format_vectors;
mod holdings;
mod hostile;
mod hsm;
mod issuance;
mod layers;
mod ledger_server;
mod mirror;
mod operations;
mod postgres;
mod pricing_service;
mod python_client;
mod readme;
mod report;
mod rotation;
