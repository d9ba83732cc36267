//! Cuts a WIT `batch` into [`Event`]s that borrow its buffers.
//!
//! The host builds batches, so a malformed one is a host bug; it still
//! never panics the plugin: each event it spoils fails with the reason.

use std::borrow::Cow;

use crate::bindings::Batch;
use crate::event::{Event, Metadata};

/// Calls `visit` once per event of `batch`, in order, with the event or the
/// reason it cannot be read.
pub(crate) fn for_each<'b>(batch: &'b Batch, mut visit: impl FnMut(Result<Event<'b>, String>)) {
    if let Err(reason) = check_columns(batch) {
        for _ in &batch.ends {
            visit(Err(reason.clone()));
        }
        return;
    }
    let mut start = 0;
    let mut header_start = 0;
    let rows = batch
        .ends
        .iter()
        .zip(&batch.partitions)
        .zip(&batch.offsets)
        .zip(&batch.timestamps)
        .enumerate();
    for (index, (((&end, &partition), &offset), &timestamp_ms)) in rows {
        let (data_start, data_end) = (start, end as usize);
        start = data_end;
        let Some(raw) = batch.data.get(data_start..data_end) else {
            visit(Err(format!(
                "malformed batch from the host: event {index} spans bytes {data_start}..{data_end} of {}",
                batch.data.len()
            )));
            continue;
        };
        let header_end = batch
            .header_ends
            .get(index)
            .map_or(header_start, |&end| end as usize);
        let headers = (
            batch.header_keys.get(header_start..header_end),
            batch.header_values.get(header_start..header_end),
        );
        let (Some(header_keys), Some(header_values)) = headers else {
            visit(Err(format!(
                "malformed batch from the host: event {index} has headers {header_start}..{header_end} of {}",
                batch.header_keys.len()
            )));
            header_start = header_end;
            continue;
        };
        header_start = header_end;
        let meta = Metadata {
            partition,
            offset,
            timestamp_ms,
            header_keys: Cow::Borrowed(header_keys),
            header_values: Cow::Borrowed(header_values),
        };
        visit(Ok(Event::from_batch(raw, meta)));
    }
}

/// Every per-event column has one entry per event; `header-ends` may also be
/// empty when no event has headers.
fn check_columns(batch: &Batch) -> Result<(), String> {
    let events = batch.ends.len();
    let columns = [
        ("partitions", batch.partitions.len()),
        ("offsets", batch.offsets.len()),
        ("timestamps", batch.timestamps.len()),
    ];
    for (name, len) in columns {
        if len != events {
            return Err(format!(
                "malformed batch from the host: `{name}` has {len} entries for {events} events"
            ));
        }
    }
    let header_ends = batch.header_ends.len();
    if header_ends != events && !(header_ends == 0 && batch.header_keys.is_empty()) {
        return Err(format!(
            "malformed batch from the host: `header-ends` has {header_ends} entries for {events} events"
        ));
    }
    if batch.header_keys.len() != batch.header_values.len() {
        return Err(format!(
            "malformed batch from the host: {} header keys but {} header values",
            batch.header_keys.len(),
            batch.header_values.len()
        ));
    }
    Ok(())
}
