//! The fuzz harness the test crates share: proptest runs with a case count from
//! `SENTINEL_FUZZ_CASES` (256 in `make test`, 100,000 in `make fuzz`), a fixed seed
//! (`SENTINEL_FUZZ_SEED`) and no failure files written into the tree.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// The runner's configuration from the environment.
pub fn config() -> Config {
    let cases = std::env::var("SENTINEL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let seed = std::env::var("SENTINEL_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x05e1_71e1);
    Config { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(seed), ..Config::default() }
}

/// Runs `test` on generated inputs; a failure or a panic fails the caller with the shrunk input.
pub fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = config();
    let cases = config.cases;
    TestRunner::new(config).run(&strategy, test).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("fuzz {name}: {cases} cases, 0 failures, 0 panics");
}
