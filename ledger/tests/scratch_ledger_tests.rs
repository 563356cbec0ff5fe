#[path = "it/fixtures.rs"]
mod fixtures;
