//! Two versions of a plugin over the same events: for each event, whether the
//! new version does what the old one did and, if not, how it differs.
//! `sluice plugin diff` prints it; hot loading runs it on recent live events
//! before a swap and refuses a version that fails where the old one did not.

use std::collections::BTreeMap;

use serde::Serialize;

use super::batch::EventBatch;
use super::loaded::Plugin;
use super::runner::{PluginRunner, RunResult, Verdict};

/// Events per call into each version.
const DIFF_BATCH: usize = 1024;
/// Longest example text kept, in characters.
const EXAMPLE_CHARS: usize = 300;

/// How the new version's outcome for one event compares with the old one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Same outcome as the old version.
    Kept,
    /// The old version passed it on; the new one drops it.
    Dropped,
    /// Both pass it on, but the new one writes other events.
    Rewritten,
    /// Both pass the same events on, into other tables.
    Rerouted,
    /// The new version fails it (a dead letter) where the old one did not.
    Rejected,
    /// The old version dropped or failed it; the new one passes it on.
    Admitted,
}

impl Change {
    pub const ALL: [Change; 6] = [
        Change::Kept,
        Change::Dropped,
        Change::Rewritten,
        Change::Rerouted,
        Change::Rejected,
        Change::Admitted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Kept => "kept",
            Change::Dropped => "dropped",
            Change::Rewritten => "rewritten",
            Change::Rerouted => "rerouted",
            Change::Rejected => "rejected",
            Change::Admitted => "admitted",
        }
    }
}

/// One event whose outcome changed, as both versions saw it.
#[derive(Debug, Clone, Serialize)]
pub struct DiffExample {
    pub change: Change,
    /// Its index in the events compared.
    pub index: usize,
    pub old: String,
    pub new: String,
}

/// What changes between two versions over the same events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginDiff {
    pub old: String,
    pub new: String,
    pub events: usize,
    /// Events per kind of change, every kind present (zeros included).
    pub counts: BTreeMap<Change, usize>,
    /// Times the new version trapped (panic, timeout, out of memory).
    pub new_traps: u64,
    /// A few events of each kind of change, `Kept` excluded.
    pub examples: Vec<DiffExample>,
}

impl PluginDiff {
    pub fn count(&self, change: Change) -> usize {
        self.counts.get(&change).copied().unwrap_or(0)
    }

    /// Why the new version must not replace the old one on these events, if
    /// it must not: it traps where the old one did not fail, or it fails
    /// most of the events the old one passed (what would pause the chain).
    pub fn refusal(&self) -> Option<String> {
        let rejected = self.count(Change::Rejected);
        if rejected == 0 {
            return None;
        }
        let example = self
            .examples
            .iter()
            .find(|e| e.change == Change::Rejected)
            .map(|e| e.new.clone())
            .unwrap_or_default();
        if self.new_traps > 0 {
            return Some(format!(
                "the dry run on {} recent events failed: the new version trapped on {rejected} events the running one handles ({example})",
                self.events
            ));
        }
        if rejected * 2 > self.events {
            return Some(format!(
                "the dry run on {} recent events failed: the new version rejects {rejected} events the running one handles ({example})",
                self.events
            ));
        }
        None
    }

    /// One line: `kept 10 · dropped 2 · ...`.
    pub fn summary(&self) -> String {
        Change::ALL
            .iter()
            .map(|c| format!("{} {}", c.as_str(), self.count(*c)))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// What one version did with one event, in comparable form.
#[derive(Debug, PartialEq)]
enum Outcome {
    Dropped,
    Failed(String),
    /// The events it passed on, with the table each goes to (`None`: the
    /// pipeline's default, or whatever an earlier plugin chose).
    Out(Vec<(Option<String>, serde_json::Value)>),
}

/// Runs `old` and `new` over `events` and compares them event by event,
/// keeping up to `examples` examples of each kind of change.
pub fn diff(old: &Plugin, new: &Plugin, events: &EventBatch, examples: usize) -> PluginDiff {
    let name = |p: &Plugin| format!("{} {} #{}", p.name(), p.version(), p.content_hash());
    let mut report = PluginDiff {
        old: name(old),
        new: name(new),
        events: events.len(),
        counts: Change::ALL.iter().map(|c| (*c, 0)).collect(),
        ..PluginDiff::default()
    };
    let mut old_runner = PluginRunner::new(old.clone());
    let mut new_runner = PluginRunner::new(new.clone());
    let mut start = 0;
    while start < events.len() {
        let end = (start + DIFF_BATCH).min(events.len());
        let part = events.slice(start..end);
        let before = old_runner.run(&part);
        let after = new_runner.run(&part);
        for i in 0..part.len() {
            let a = outcome(old, &part, &before, i);
            let b = outcome(new, &part, &after, i);
            let change = classify(&a, &b);
            *report.counts.entry(change).or_default() += 1;
            let shown = report
                .examples
                .iter()
                .filter(|e| e.change == change)
                .count();
            if change != Change::Kept && shown < examples {
                report.examples.push(DiffExample {
                    change,
                    index: start + i,
                    old: describe(&a),
                    new: describe(&b),
                });
            }
        }
        start = end;
    }
    report.new_traps = new_runner.stats().traps;
    report.examples.sort_by_key(|e| (e.change, e.index));
    report
}

fn outcome(plugin: &Plugin, batch: &EventBatch, result: &RunResult, i: usize) -> Outcome {
    let table = |t: u32| Some(plugin.tables()[t as usize].name.to_string());
    let value = |json: &[u8]| serde_json::from_slice(json).unwrap_or(serde_json::Value::Null);
    match &result.verdicts[i] {
        Verdict::Keep => Outcome::Out(vec![(None, value(batch.event(i)))]),
        Verdict::Route(t) => Outcome::Out(vec![(table(*t), value(batch.event(i)))]),
        Verdict::Drop => Outcome::Dropped,
        Verdict::Fail(reason) => Outcome::Failed(reason.clone()),
        Verdict::Replace { first, count } => Outcome::Out(
            (*first..first + count)
                .map(|j| {
                    let j = j as usize;
                    (
                        result.new_events.table(j).and_then(table),
                        value(result.new_events.event(j)),
                    )
                })
                .collect(),
        ),
    }
}

fn classify(old: &Outcome, new: &Outcome) -> Change {
    match (old, new) {
        (Outcome::Failed(_), Outcome::Failed(_)) => Change::Kept,
        (_, Outcome::Failed(_)) => Change::Rejected,
        (a, b) if a == b => Change::Kept,
        (Outcome::Out(_), Outcome::Dropped) => Change::Dropped,
        (Outcome::Failed(_), Outcome::Dropped) => Change::Kept,
        (Outcome::Dropped | Outcome::Failed(_), Outcome::Out(_)) => Change::Admitted,
        (Outcome::Out(a), Outcome::Out(b)) => {
            let same_events = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.1 == y.1);
            if same_events {
                Change::Rerouted
            } else {
                Change::Rewritten
            }
        }
        (Outcome::Dropped, Outcome::Dropped) => Change::Kept,
    }
}

fn describe(outcome: &Outcome) -> String {
    let text = match outcome {
        Outcome::Dropped => "dropped".to_string(),
        Outcome::Failed(reason) => format!("rejected: {reason}"),
        Outcome::Out(events) => events
            .iter()
            .map(|(table, json)| match table {
                Some(t) => format!("→ {t}: {json}"),
                None => json.to_string(),
            })
            .collect::<Vec<_>>()
            .join("  +  "),
    };
    if text.chars().count() > EXAMPLE_CHARS {
        let cut: String = text.chars().take(EXAMPLE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(table: Option<&str>, json: &str) -> Outcome {
        Outcome::Out(vec![(
            table.map(str::to_string),
            serde_json::from_str(json).unwrap(),
        )])
    }

    #[test]
    fn each_kind_of_change_is_told_apart() {
        let a = out(None, r#"{"a": 1}"#);
        assert_eq!(classify(&a, &out(None, r#"{"a":1}"#)), Change::Kept);
        assert_eq!(classify(&a, &Outcome::Dropped), Change::Dropped);
        assert_eq!(classify(&a, &out(None, r#"{"a": 2}"#)), Change::Rewritten);
        assert_eq!(
            classify(&a, &out(Some("t"), r#"{"a": 1}"#)),
            Change::Rerouted
        );
        assert_eq!(
            classify(&a, &Outcome::Failed("no".into())),
            Change::Rejected
        );
        assert_eq!(classify(&Outcome::Dropped, &a), Change::Admitted);
        assert_eq!(
            classify(&Outcome::Failed("x".into()), &Outcome::Failed("y".into())),
            Change::Kept
        );
    }
}
