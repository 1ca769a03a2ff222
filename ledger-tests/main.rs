//! The integration tests, as one test binary: each file beside this one is a
//! module (`cargo test --test ledger-tests crash::` runs one of them). One binary
//! links once and compiles the shared helpers (`common/`) and the generated gRPC
//! clients once, instead of once per file: the clean test build went from 12 to
//! 8.5 minutes on 2 cores (sixteen binaries had taken about 600 s of CPU).

mod common;

mod audit;
mod authz;
mod bondmath;
mod cli;
mod console;
mod coupons;
mod crash;
mod demo;
mod faults;
mod format_vectors;
mod hostile;
mod issuance;
mod ledger_server;
mod operations;
mod pricing_service;
mod python_client;
mod report;
