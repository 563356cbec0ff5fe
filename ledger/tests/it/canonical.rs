//! The hand-written RFC 8785 canonical JSON (`ledger::canonical`) against an independent JCS
//! implementation (`serde_jcs`) over arbitrary JSON: nested objects with any Unicode keys,
//! strings with escapes and astral characters, and numbers in and out of the ledger's range.

use std::collections::HashMap;

use ledger::canonical::{to_canonical_bytes, CanonicalError};
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use serde_json::{Number, Value};

/// 2^53 - 1, the largest integer the ledger's documents hold (and the largest whose JCS form,
/// that of an IEEE 754 double, is exact).
const MAX_SAFE: i64 = (1 << 53) - 1;

/// Strings that exercise the escaping rules and UTF-16 ordering: controls, quote, backslash,
/// `/` and DEL (never escaped), line separators, BMP characters above the surrogate range
/// (which sort after astral ones in UTF-16), and astral characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        r#"[\x00-\x1F"\\/\x7F\x{80}\x{2028}\x{2029}é€\x{E000}\x{FB01}\x{FFFD}\x{FFFF}\x{10000}\x{1F600}\x{10FFFF}a-c ]{0,12}"#,
    ]
}

/// Integers the ledger canonicalises: |n| ≤ 2^53 - 1, edges included.
fn safe_integer() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-MAX_SAFE..=MAX_SAFE).prop_map(Number::from),
        prop::sample::select(vec![0, 1, -1, MAX_SAFE, -MAX_SAFE, 1 << 52]).prop_map(Number::from),
    ]
}

/// Any number serde_json can hold: the safe integers, larger integers, and finite doubles
/// (integral ones such as `1.0`, negative zero, the smallest subnormal, huge ones).
fn any_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        safe_integer(),
        ((MAX_SAFE as u64 + 1)..=u64::MAX).prop_map(Number::from),
        (i64::MIN..-MAX_SAFE).prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        prop::sample::select(vec![-0.0, 0.0, 1.0, -1.5, 0.1, 1e21, 1e-7, 5e-324, f64::MAX, 9007199254740992.0])
            .prop_filter_map("finite", Number::from_f64),
    ]
}

fn json(number: BoxedStrategy<Number>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number.prop_map(Value::Number),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            hash_map(text(), inner, 0..6).prop_map(|m: HashMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Whether every number in `value` is one the ledger accepts: an integer (not a double, not
/// even an integral one) of magnitude at most 2^53 - 1.
fn in_range(value: &Value) -> bool {
    match value {
        Value::Number(n) => !n.is_f64() && n.as_f64().is_some_and(|f| f.abs() <= MAX_SAFE as f64),
        Value::Array(items) => items.iter().all(in_range),
        Value::Object(members) => members.values().all(in_range),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

fn jcs(value: &Value) -> Vec<u8> {
    serde_jcs::to_vec(value).expect("serde_jcs serialises any serde_json value")
}

proptest! {
    #[test]
    fn canonical_bytes_equal_an_independent_rfc8785_implementation(value in json(safe_integer().boxed())) {
        let ours = to_canonical_bytes(&value).expect("values with safe integers have a canonical form");
        prop_assert_eq!(String::from_utf8(ours.clone()).unwrap(), String::from_utf8(jcs(&value)).unwrap());
        // And the canonical text is JSON for the same value.
        prop_assert_eq!(serde_json::from_slice::<Value>(&ours).unwrap(), value);
    }

    #[test]
    fn numbers_outside_the_ledger_range_are_refused_and_the_rest_still_agree(value in json(any_number().boxed())) {
        match to_canonical_bytes(&value) {
            Ok(ours) => {
                prop_assert!(in_range(&value), "accepted a number outside the range: {}", value);
                prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(jcs(&value)).unwrap());
            }
            Err(CanonicalError::UnsupportedNumber(n)) => {
                prop_assert!(!in_range(&value), "refused {} in {}", n, value);
            }
        }
    }
}

#[test]
fn fixed_cases_agree_with_the_independent_implementation() {
    // Member order by UTF-16 code units: U+1F600 (D83D DE00) before U+E000 and U+FB01.
    let value: Value = serde_json::from_str(r#"{"\ufb01":1,"\ud83d\ude00":2,"\ue000":3,"a":4}"#).unwrap();
    assert_eq!(to_canonical_bytes(&value).unwrap(), jcs(&value));
    assert_eq!(String::from_utf8(jcs(&value)).unwrap(), "{\"a\":4,\"\u{1F600}\":2,\"\u{E000}\":3,\"\u{FB01}\":1}");
    // Every control character, quote and backslash, and the characters JCS leaves alone.
    let all_escapes: String = (0u8..0x20).map(char::from).chain("\"\\/\u{7F}\u{2028}".chars()).collect();
    let value = Value::String(all_escapes);
    assert_eq!(to_canonical_bytes(&value).unwrap(), jcs(&value));
    // Negative zero and integral doubles are JCS numbers (`0`, `1`) but not ledger numbers.
    for refused in [-0.0, 1.0] {
        let value = Value::Number(Number::from_f64(refused).unwrap());
        assert!(to_canonical_bytes(&value).is_err());
        assert!(!in_range(&value));
        assert_eq!(jcs(&value), format!("{}", refused.abs()).into_bytes());
    }
}
