//! Ledger stream records as Lambda delivers them (DynamoDB Streams, `NEW_IMAGE`): the one
//! reading of a record that the projector and the exporter share, and the batch-failure
//! response both return.

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use ledger::StoredEvent;

/// Why a stream record carries no ledger event.
#[derive(Debug, thiserror::Error)]
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

/// The answer to a batch whose first failed record is `first_failed` (`None`: all done). That
/// record and every one after it are reported, so Lambda retries from there in order and
/// nothing is skipped.
pub fn batch_response(records: &[EventRecord], first_failed: Option<usize>) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    if let Some(first) = first_failed {
        response.batch_item_failures = records
            .iter()
            .skip(first)
            .map(|r| {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(item_identifier(r));
                failure
            })
            .collect();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: Option<&str>, name: &str) -> EventRecord {
        let mut record = EventRecord::default();
        record.event_id = format!("id-{name}");
        record.event_name = name.to_owned();
        record.change.sequence_number = seq.map(str::to_owned);
        record
    }

    fn reported(response: &DynamoDbEventResponse) -> Vec<String> {
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn a_failure_reports_that_record_and_every_later_one_by_sequence_number() {
        let records = [record(Some("100"), "INSERT"), record(Some("200"), "INSERT"), record(None, "INSERT")];
        assert!(reported(&batch_response(&records, None)).is_empty());
        assert_eq!(reported(&batch_response(&records, Some(1))), ["200", "id-INSERT"]);
        assert_eq!(reported(&batch_response(&records, Some(0))).len(), 3);
        assert!(reported(&batch_response(&records, Some(3))).is_empty());
    }

    #[test]
    fn a_removal_carries_no_event_and_an_insert_without_image_is_an_error() {
        assert!(matches!(stored_event(&record(Some("1"), "REMOVE")), Ok(None)));
        assert!(matches!(stored_event(&record(Some("1"), "INSERT")), Err(RecordError::NoImage)));
    }
}
