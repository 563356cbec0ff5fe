//! RFC 8785 (JSON Canonicalization Scheme) serialisation, the input of the hash chain.
//!
//! Ledger documents hold strings, integers, booleans, nulls, arrays and objects only, so numbers
//! are restricted to integers of magnitude below 2^53 (where JCS's ECMAScript number form is
//! the plain decimal form). Anything else is refused rather than hashed ambiguously.

use serde_json::Value;

/// Why a JSON value has no canonical form here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("number {0} is not an integer below 2^53; ledger documents hold only such numbers")]
    UnsupportedNumber(String),
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The canonical UTF-8 bytes of `value`.
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(512);
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // JCS orders members by the UTF-16 code units of their names.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_number(n: &serde_json::Number, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let unsupported = || CanonicalError::UnsupportedNumber(n.to_string());
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(unsupported());
        }
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        return Err(unsupported());
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{09}' => out.extend_from_slice(b"\\t"),
            '\u{0A}' => out.extend_from_slice(b"\\n"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            '\u{0D}' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(to_canonical_bytes(&v).unwrap()).unwrap()
    }

    #[test]
    fn members_are_sorted_and_whitespace_is_dropped() {
        assert_eq!(canon(json!({"b": [1, 2], "a": {"z": null, "y": true}})), r#"{"a":{"y":true,"z":null},"b":[1,2]}"#);
    }

    #[test]
    fn member_order_follows_utf16_code_units_not_code_points() {
        // U+1F600 (surrogates D83D DE00) sorts before U+FB01 in UTF-16 but after it by code point.
        assert_eq!(canon(json!({"\u{FB01}": 1, "\u{1F600}": 2})), "{\"\u{1F600}\":2,\"\u{FB01}\":1}");
    }

    #[test]
    fn strings_escape_only_what_jcs_escapes() {
        assert_eq!(canon(json!("a\"b\\c\n\u{1}é/€")), "\"a\\\"b\\\\c\\n\\u0001é/€\"");
    }

    #[test]
    fn numbers_outside_the_safe_integer_range_are_refused() {
        assert_eq!(canon(json!(-42)), "-42");
        assert_eq!(canon(json!(9007199254740991u64)), "9007199254740991");
        assert!(to_canonical_bytes(&json!(9007199254740992u64)).is_err());
        assert!(to_canonical_bytes(&json!(1.5)).is_err());
    }
}
