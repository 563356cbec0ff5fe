//! Sentinel's system tests live in `it/` (one integration-test binary, `cargo test -p
//! sentinel-system-tests`): faults across a vend and the stream consumers, a bounded load on an
//! in-process stack, property tests at scale over every parsed input, and the configuration of
//! all five functions against the Terraform contract. This library is empty: the crate exists
//! so that only it, never a function crate, depends on several Lambdas.
