//! Read side: pure folds from ledger events to views, the ViewStore port, and the view + tail reader.
