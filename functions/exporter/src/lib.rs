//! Lambda on the ledger stream that publishes every event to EventBridge.
