//! Lambda on the ledger stream that maintains the views.
