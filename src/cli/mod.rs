//! The `dbond` command-line verbs. Argument structs live here; `main.rs` only wires
//! them.

pub mod calc;
