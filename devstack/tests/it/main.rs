//! Integration tests of the local gateway and the dev identities: real HTTP on 127.0.0.1,
//! requests signed by aws-sigv4 (the SDKs' signer), and moto for the emulated IAM.

mod fuzz;
mod gateway;
mod identities;
mod support;
