//! Sentinel's write side: the event catalogue, the per-stream hash chain, pure deciders, and the
//! `EventStore` port with its DynamoDB and in-memory adapters.
//!
//! Domain modules (`ids`, `event`, `upcast`, `canonical`, `record`, `decide`, `policy`,
//! `identity`) name no AWS client;
//! `store::dynamo` alone knows the table.

pub mod canonical;
pub mod command;
pub mod decide;
pub mod event;
pub mod identity;
pub mod ids;
pub mod policy;
pub mod record;
pub mod store;
pub mod upcast;

pub use decide::{Aggregate, DomainError};
pub use event::{Basis, Effect, Event};
pub use ids::{
    Actor, ApprovalId, BreakGlassId, EventId, PersonKey, PrincipalArn, Profile, RoleArn, SessionId, StreamKey, Who,
};
pub use record::{verify_stream, ChainBreak, NewEvent, RecordedEvent, StoredEvent, StreamHead};
pub use store::{EventStore, StoreError, StreamAppend, StreamCheck};
