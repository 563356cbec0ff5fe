//! Ledger stream records as Lambda delivers them (DynamoDB Streams, `NEW_IMAGE`): the one
//! reading of a record that the projector and the exporter share.

use aws_lambda_events::dynamodb::EventRecord;
use ledger::StoredEvent;

/// Why a stream record carries no ledger event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record carries no new image (the stream must be `NEW_IMAGE`).
    #[error("the record has no new image")]
    NoImage,
    /// The image is not a ledger event.
    #[error(transparent)]
    Decode(#[from] ledger::StoreError),
}

/// The ledger event a stream record carries, or `None` for a removal (which no product code
/// makes: consumers log it as tampering, and there is nothing to project or export).
pub fn stored_event(record: &EventRecord) -> Result<Option<StoredEvent>, RecordError> {
    if record.event_name == "REMOVE" {
        return Ok(None);
    }
    if record.change.new_image.is_empty() {
        return Err(RecordError::NoImage);
    }
    Ok(Some(ledger::store::dynamo::from_item(record.change.new_image.clone())?))
}

/// The identifier Lambda expects for a failed DynamoDB stream record: its sequence number.
pub fn item_identifier(record: &EventRecord) -> String {
    record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone())
}
