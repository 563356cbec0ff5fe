//! Upcasters: rewrite a stored payload of an older schema version into the current shape.
//!
//! Stored events are never rewritten; upcasting happens on every read, so an event written by
//! any past release decodes forever. Each step takes version `n` to `n + 1`.

use serde_json::{Map, Value};

use crate::event::{Event, PayloadError};

/// Brings `payload` of `event_type` at `version` up to the current version.
pub fn upcast(event_type: &str, mut version: u32, mut payload: Value) -> Result<Value, PayloadError> {
    let current = Event::current_version(event_type).ok_or_else(|| PayloadError::UnknownType(event_type.to_owned()))?;
    if version > current {
        return Err(PayloadError::FutureVersion { event_type: event_type.to_owned(), version, current });
    }
    while version < current {
        payload = step(event_type, version, payload)?;
        version += 1;
    }
    Ok(payload)
}

fn step(event_type: &str, version: u32, payload: Value) -> Result<Value, PayloadError> {
    match (event_type, version) {
        ("CredentialsRequested", 1) => credentials_requested_v1_to_v2(payload),
        ("ApprovalGranted", 1) => add_null_field(event_type, payload, "usable_until"),
        ("BreakGlassClosed", 1) => add_null_field(event_type, payload, "session_id"),
        _ => Err(PayloadError::UnsupportedVersion { event_type: event_type.to_owned(), version }),
    }
}

/// v1 `{principal, profile, duration_seconds}` → v2: `duration_seconds` became
/// `requested_duration_seconds`; `user_id` and `reason` were added (unknown for v1).
fn credentials_requested_v1_to_v2(payload: Value) -> Result<Value, PayloadError> {
    let Value::Object(mut v1) = payload else {
        return Err(PayloadError::Invalid("CredentialsRequested v1 payload is not an object".into()));
    };
    let duration = v1.remove("duration_seconds").unwrap_or(Value::Null);
    let mut v2 = Map::new();
    for key in ["principal", "profile"] {
        v2.insert(key.to_owned(), v1.remove(key).unwrap_or(Value::Null));
    }
    if let Some(extra) = v1.keys().next() {
        return Err(PayloadError::Invalid(format!("CredentialsRequested v1 has unknown field {extra:?}")));
    }
    v2.insert("user_id".into(), Value::Null);
    v2.insert("requested_duration_seconds".into(), duration);
    v2.insert("reason".into(), Value::Null);
    Ok(Value::Object(v2))
}

/// A step that only added an optional field: older events had none (`null`).
fn add_null_field(event_type: &str, payload: Value, field: &str) -> Result<Value, PayloadError> {
    let Value::Object(mut object) = payload else {
        return Err(PayloadError::Invalid(format!("{event_type} payload is not an object")));
    };
    if object.contains_key(field) {
        return Err(PayloadError::Invalid(format!("{event_type} of the older version already has {field:?}")));
    }
    object.insert(field.to_owned(), Value::Null);
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_requested_v1_gains_the_v2_fields() {
        let v1 =
            json!({"principal": "arn:aws:iam::111122223333:user/alice", "profile": "dev", "duration_seconds": 900});
        let v2 = upcast("CredentialsRequested", 1, v1).unwrap();
        assert_eq!(
            v2,
            json!({"principal": "arn:aws:iam::111122223333:user/alice", "profile": "dev",
                   "user_id": null, "requested_duration_seconds": 900, "reason": null})
        );
        assert!(matches!(Event::from_current("CredentialsRequested", v2), Ok(Event::CredentialsRequested(_))));
    }

    #[test]
    fn approval_granted_v1_and_break_glass_closed_v1_gain_their_optional_fields_as_null() {
        let v1 = json!({"approver": "arn:aws:iam::111122223333:user/carol", "comment": null});
        let v2 = upcast("ApprovalGranted", 1, v1).unwrap();
        assert_eq!(v2["usable_until"], Value::Null);
        assert!(matches!(Event::from_current("ApprovalGranted", v2), Ok(Event::ApprovalGranted(_))));
        let v1 = json!({"by": "arn:aws:iam::111122223333:user/oncall", "reason": "resolved"});
        let v2 = upcast("BreakGlassClosed", 1, v1).unwrap();
        assert!(
            matches!(Event::from_current("BreakGlassClosed", v2), Ok(Event::BreakGlassClosed(c)) if c.session_id.is_none())
        );
        let already =
            json!({"approver": "arn:aws:iam::111122223333:user/carol", "comment": null, "usable_until": null});
        assert!(upcast("ApprovalGranted", 1, already).is_err());
    }

    #[test]
    fn a_version_from_the_future_is_refused_not_guessed() {
        let err = upcast("SessionRevoked", 7, json!({})).unwrap_err();
        assert!(matches!(err, PayloadError::FutureVersion { version: 7, current: 1, .. }));
    }

    #[test]
    fn an_unknown_type_is_an_error() {
        assert_eq!(
            upcast("SessionTeleported", 1, json!({})),
            Err(PayloadError::UnknownType("SessionTeleported".into()))
        );
    }

    #[test]
    fn version_zero_has_no_upcaster() {
        assert!(matches!(upcast("SessionRevoked", 0, json!({})), Err(PayloadError::UnsupportedVersion { .. })));
    }
}
