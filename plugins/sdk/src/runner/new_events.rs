//! [`NewEvents`]: the events a transform hands back in one `process` call,
//! written straight into the WIT output's buffers.

use crate::Event;
use crate::bindings::Output;
use crate::bindings::sluice::plugin::types::Outcome;

/// The `data` and `ends` of an `output` being filled.
#[derive(Debug, Default)]
pub struct NewEvents {
    data: Vec<u8>,
    ends: Vec<u32>,
}

impl NewEvents {
    /// Appends `events` and answers the outcome that replaces the input
    /// event with them. Fails the event rather than wrap the `u32` offsets.
    pub(crate) fn replace(&mut self, events: &[Event<'_>]) -> Outcome {
        let (data_mark, ends_mark) = (self.data.len(), self.ends.len());
        for event in events {
            event.write_json(&mut self.data);
            let Ok(end) = u32::try_from(self.data.len()) else {
                self.data.truncate(data_mark);
                self.ends.truncate(ends_mark);
                return Outcome::Fail(
                    "the new events of this batch pass 4 GiB, the most an output can hold"
                        .to_owned(),
                );
            };
            self.ends.push(end);
        }
        Outcome::Replace(u32::try_from(events.len()).unwrap_or(u32::MAX))
    }

    pub(crate) fn into_output(self, outcomes: Vec<Outcome>) -> Output {
        Output {
            outcomes,
            tables: vec![None; self.ends.len()],
            data: self.data,
            ends: self.ends,
        }
    }
}
