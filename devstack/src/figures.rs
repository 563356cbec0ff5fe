//! Figures measured by the harness benches (`make bench`): latency samples summarised as
//! medians and percentiles, merged section by section into `target/bench/figures.json`,
//! which `tools/bench_report.py` folds into the report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Where the harness benches put their figures.
pub fn figures_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    target.join("bench").join("figures.json")
}

/// Replaces `section` of the figures file with `value`, keeping the other sections.
pub fn record(section: &str, value: Value) -> Result<()> {
    let path = figures_path();
    std::fs::create_dir_all(path.parent().unwrap_or(&path))
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut all: Value =
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| json!({}));
    if !all.is_object() {
        all = json!({});
    }
    all[section] = value;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all)?)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The `q`-quantile (0..=1) of `sorted` by nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Latency samples in milliseconds summarised: count, p50, p99, max.
pub fn latency(samples: &[Duration]) -> Value {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    json!({
        "count": ms.len(),
        "p50_ms": round3(quantile(&ms, 0.50)),
        "p99_ms": round3(quantile(&ms, 0.99)),
        "max_ms": round3(ms.last().copied().unwrap_or(f64::NAN)),
    })
}

/// The median of `values` (unsorted).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// `value` rounded to three decimals, for readable reports.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.99), 99.0);
        assert_eq!(quantile(&sorted, 1.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
