//! Tests across several Lambdas: the TVM with the projector, the exporter and the authorizer.

mod config;
mod faults;
mod fuzz;
mod load;
mod support;
