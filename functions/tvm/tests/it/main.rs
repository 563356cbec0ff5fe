//! TVM handler tests: API Gateway payload-2.0 fixtures against in-memory ports, attack tests,
//! and the vend path through the STS, SSM and DynamoDB emulators.

mod attacks;
mod drift;
mod emulators;
mod faults;
mod forged_views;
mod fuzz;
mod handler;
mod immediacy;
mod keys;
mod load;
mod people;
mod revocation;
mod support;
mod trust;
mod workflow;
