//! [`NewEvents`]: the events a transform hands back in one `process` call,
//! written straight into the WIT output's buffers.
//!
//! The buffers grow as events are written. Reserving the batch's size up
//! front was measured and bought nothing: the buffer sits at the top of the
//! plugin's heap, where growing it moves nothing.

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
    /// The outcome of a transform that returned one event: `keep` if it is
    /// the input event, unmodified, else `replace` with its JSON. The event
    /// is written (or found unchanged) in one go, straight into the output.
    pub(crate) fn rewrite(&mut self, event: &Event<'_>) -> Outcome {
        if !event.is_input() {
            return self.replace(std::slice::from_ref(event));
        }
        let (data_mark, ends_mark) = (self.data.len(), self.ends.len());
        if !event.write_changes(&mut self.data) {
            return Outcome::Keep;
        }
        match self.end_event(data_mark, ends_mark) {
            Ok(()) => Outcome::Replace(1),
            Err(fail) => fail,
        }
    }

    /// Appends `events` and answers the outcome that replaces the input
    /// event with them.
    pub(crate) fn replace(&mut self, events: &[Event<'_>]) -> Outcome {
        let (data_mark, ends_mark) = (self.data.len(), self.ends.len());
        for event in events {
            event.write_json(&mut self.data);
            if let Err(fail) = self.end_event(data_mark, ends_mark) {
                return fail;
            }
        }
        Outcome::Replace(u32::try_from(events.len()).unwrap_or(u32::MAX))
    }

    /// Ends the event just written. Fails the input event rather than wrap
    /// the `u32` offsets, taking back what it added (from the marks on).
    fn end_event(&mut self, data_mark: usize, ends_mark: usize) -> Result<(), Outcome> {
        let Ok(end) = u32::try_from(self.data.len()) else {
            self.data.truncate(data_mark);
            self.ends.truncate(ends_mark);
            return Err(Outcome::Fail(
                "the new events of this batch pass 4 GiB, the most an output can hold".to_owned(),
            ));
        };
        self.ends.push(end);
        Ok(())
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
