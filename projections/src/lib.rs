//! Read side: pure folds from ledger events to views, the `ViewStore` port with its in-memory
//! adapter (and its DynamoDB adapter with the `dynamo` feature), the projector's step, the
//! view-plus-tail reader, and rebuild. No Lambda event type appears here: reading a stream
//! record is the edge's job (`sentinel-edge`).
//!
//! `view`, `audit` and `fold` are pure; `store::dynamo` alone knows the views table.

pub mod audit;
pub mod fold;
pub mod project;
pub mod query;
pub mod reader;
pub mod rebuild;
pub mod store;
pub mod view;

pub use audit::AuditRecord;
pub use fold::{advance, fold_ledger, FoldError, Folded, Views};
pub use project::{project, ProjectError, Projected};
pub use reader::{Current, ReadError};
pub use rebuild::{rebuild, Mode, Report};
pub use store::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
pub use view::{ApprovalView, BreakGlassView, Projection, SessionView, View};

#[cfg(feature = "testkit")]
#[allow(clippy::expect_used, clippy::unwrap_used)] // test support: a broken fixture should fail loudly
pub mod testkit;
