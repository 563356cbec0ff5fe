//! The commands: those answered by the HTTP API, and the operator commands that read AWS
//! directly with the operator's own credentials.

pub mod api;
pub mod ops;
