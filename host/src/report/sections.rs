//! The report's six analyses of the reference game, each one a section: the
//! queries, a chart, the top rows and a sentence saying what they mean. A
//! section whose table is not in the lake says so instead of failing the
//! report.

use std::collections::{BTreeMap, BTreeSet};

use super::answer::Answer;
use super::chart::{self, Series};
use super::{Section, instant, percent, thousands};
use crate::query::{DEAD_LETTERS_TABLE, QueryEngine};

/// The tables the default `game_events` pipeline writes, one per kind of
/// event (the reference's `stream_*_events.py` jobs).
const EVENT_TABLES: [&str; 3] = ["events_buy", "events_guild", "events_user"];

/// Series drawn in one chart; the rest are summed into `other`.
const MAX_SERIES: usize = 8;
/// Bars in a ranking.
const MAX_BARS: usize = 12;

/// What the lake holds, for the sections to check their tables against.
pub struct Lake {
    pub tables: BTreeSet<String>,
}

impl Lake {
    fn missing(&self, wanted: &[&str]) -> Option<String> {
        let missing: Vec<_> = wanted
            .iter()
            .filter(|t| !self.tables.contains(**t))
            .map(|t| format!("`{t}`"))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "No data: the lake has no {} table yet (the default `game_events` pipeline writes it once such events arrive).",
                missing.join(", ")
            )
        })
    }
}

/// A time bucket: DataFusion's `date_trunc` unit, its length, and how its
/// start is labelled.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    unit: &'static str,
    ms: i64,
    label: &'static str,
}

const BUCKETS: [Bucket; 4] = [
    Bucket {
        unit: "second",
        ms: 1_000,
        label: "%H:%M:%S",
    },
    Bucket {
        unit: "minute",
        ms: 60_000,
        label: "%m-%d %H:%M",
    },
    Bucket {
        unit: "hour",
        ms: 3_600_000,
        label: "%m-%d %H:00",
    },
    Bucket {
        unit: "day",
        ms: 86_400_000,
        label: "%Y-%m-%d",
    },
];

impl Bucket {
    /// The shortest bucket, from `BUCKETS[shortest]` up, that splits `span`
    /// into at most 120 columns.
    fn fitting(span_ms: i64, shortest: usize) -> Bucket {
        BUCKETS[shortest..]
            .iter()
            .copied()
            .find(|b| span_ms / b.ms < 120)
            .unwrap_or(BUCKETS[3])
    }

    fn start(self, ms: i64) -> i64 {
        ms - ms.rem_euclid(self.ms)
    }

    fn label(self, ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format(self.label).to_string())
            .unwrap_or_default()
    }
}

/// Every bucket from the first instant's to the last's, empty ones
/// included, so the time axis is even.
struct Timeline {
    bucket: Bucket,
    first: i64,
    labels: Vec<String>,
}

impl Timeline {
    fn new(bucket: Bucket, first_ms: i64, last_ms: i64) -> Timeline {
        let (first, last) = (bucket.start(first_ms), bucket.start(last_ms));
        let labels = (0..=(last - first) / bucket.ms)
            .map(|i| bucket.label(first + i * bucket.ms))
            .collect();
        Timeline {
            bucket,
            first,
            labels,
        }
    }

    fn index(&self, ms: i64) -> Option<usize> {
        let i = (self.bucket.start(ms) - self.first) / self.bucket.ms;
        usize::try_from(i).ok().filter(|i| *i < self.labels.len())
    }
}

/// Counts per (label, series) from three columns, as series in order of
/// their totals; beyond [`MAX_SERIES`] they are summed into `other`.
fn ranked_series(
    labels: usize,
    cells: impl IntoIterator<Item = (usize, String, u64)>,
) -> Vec<Series> {
    let mut by_name: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, name, n) in cells {
        by_name.entry(name).or_insert_with(|| vec![0.0; labels])[i] += n as f64;
    }
    let mut series: Vec<Series> = by_name
        .into_iter()
        .map(|(name, values)| Series::new(name, values))
        .collect();
    series.sort_by(|a, b| {
        let total = |s: &Series| s.values.iter().sum::<f64>();
        total(b).total_cmp(&total(a)).then(a.name.cmp(&b.name))
    });
    if series.len() > MAX_SERIES {
        let rest = series.split_off(MAX_SERIES - 1);
        let mut other = vec![0.0; labels];
        for s in rest {
            for (o, v) in other.iter_mut().zip(s.values) {
                *o += v;
            }
        }
        series.push(Series::new("other", other));
    }
    series
}

/// 1. Events over time, by type, across the event tables.
pub async fn events_over_time(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "Events over time, by type";
    let question = "How busy is the game, and with what?";
    let present: Vec<&str> = EVENT_TABLES
        .iter()
        .copied()
        .filter(|t| lake.tables.contains(*t))
        .collect();
    if present.is_empty() {
        return Ok(Section::missing(
            title,
            question,
            lake.missing(&EVENT_TABLES).unwrap_or_default(),
        ));
    }
    let events = present
        .iter()
        .map(|t| format!("SELECT \"timestamp\", event_type FROM {t}"))
        .collect::<Vec<_>>()
        .join("\n  UNION ALL ");
    let span_sql = format!(
        "SELECT min(\"timestamp\") AS first, max(\"timestamp\") AS last, count(*) AS events\nFROM (\n  {events}\n) AS e"
    );
    let span = Answer::of(engine, &span_sql).await?;
    let (Some(first), Some(last)) = (span.millis("first")?[0], span.millis("last")?[0]) else {
        return Ok(Section::missing(title, question, "No events yet.".into()));
    };
    let total = span.counts("events")?[0];
    let bucket = Bucket::fitting(last - first, 0);
    let sql = format!(
        "SELECT date_trunc('{unit}', \"timestamp\") AS {unit}, event_type, count(*) AS events\nFROM (\n  {events}\n) AS e\nGROUP BY 1, 2\nORDER BY 1, 2",
        unit = bucket.unit
    );
    let answer = Answer::of(engine, &sql).await?;
    let timeline = Timeline::new(bucket, first, last);
    let (times, types, counts) = (
        answer.millis(bucket.unit)?,
        answer.strings("event_type")?,
        answer.counts("events")?,
    );
    let cells: Vec<(usize, String, u64)> = times
        .iter()
        .zip(types)
        .zip(&counts)
        .filter_map(|((t, ty), n)| Some((timeline.index((*t)?)?, ty, *n)))
        .collect();
    let series = ranked_series(timeline.labels.len(), cells);
    let chart = chart::columns(
        &timeline.labels,
        &series,
        &format!("events per {}", bucket.unit),
    )?;

    let per_bucket: Vec<f64> = (0..timeline.labels.len())
        .map(|i| series.iter().map(|s| s.values[i]).sum())
        .collect();
    let (busiest, peak) =
        per_bucket.iter().enumerate().fold(
            (0, 0.0),
            |best, (i, v)| if *v > best.1 { (i, *v) } else { best },
        );
    let top = &series[0];
    let top_total: f64 = top.values.iter().sum();
    let meaning = format!(
        "{} events from {} to {} (UTC). The busiest {} began at {}, with {} events. `{}` is the most common event, {} of all.",
        thousands(total),
        instant(first),
        instant(last),
        bucket.unit,
        timeline.labels[busiest],
        thousands(peak as u64),
        top.name,
        percent(top_total as u64, total),
    );
    let rows = series
        .iter()
        .map(|s| {
            let n: f64 = s.values.iter().sum();
            vec![
                s.name.clone(),
                thousands(n as u64),
                percent(n as u64, total),
            ]
        })
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![span_sql, sql],
        chart: Some(chart),
        meaning,
        header: vec!["event_type", "events", "share"],
        rows,
    })
}

/// 2. The items bought most, and the quality mix of each.
pub async fn top_items(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "Top items and their quality";
    let question = "What do players buy, and how good is it?";
    if let Some(missing) = lake.missing(&["events_buy"]) {
        return Ok(Section::missing(title, question, missing));
    }
    // The reference's `/purchase_sword` events name the item in their type
    // only, and carry no quality.
    let sql = "SELECT coalesce(item_type, regexp_replace(event_type, '^purchase_', '')) AS item,\n       coalesce(item_quality, 'unrated') AS quality,\n       count(*) AS purchases\nFROM events_buy\nGROUP BY 1, 2\nORDER BY 1, 2".to_string();
    let answer = Answer::of(engine, &sql).await?;
    let (items, qualities, counts) = (
        answer.strings("item")?,
        answer.strings("quality")?,
        answer.counts("purchases")?,
    );
    let total: u64 = counts.iter().sum();
    let mut per_item: BTreeMap<&str, u64> = BTreeMap::new();
    for (item, n) in items.iter().zip(&counts) {
        *per_item.entry(item).or_default() += n;
    }
    let mut ranked: Vec<(&str, u64)> = per_item.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.truncate(MAX_BARS);
    if ranked.is_empty() {
        return Ok(Section::missing(
            title,
            question,
            "No purchases yet.".into(),
        ));
    }
    let position: BTreeMap<&str, usize> = ranked
        .iter()
        .enumerate()
        .map(|(i, (item, _))| (*item, i))
        .collect();
    let cells: Vec<(usize, String, u64)> = items
        .iter()
        .zip(qualities.iter())
        .zip(&counts)
        .filter_map(|((item, q), n)| Some((*position.get(item.as_str())?, q.clone(), *n)))
        .collect();
    let series = ranked_series(ranked.len(), cells);
    let labels: Vec<String> = ranked.iter().map(|(item, _)| item.to_string()).collect();
    let chart = chart::bars(&labels, &series, "purchases")?;

    let (best, best_n) = ranked[0];
    let best_mix: Vec<(String, u64)> = items
        .iter()
        .zip(&qualities)
        .zip(&counts)
        .filter(|((item, _), _)| item.as_str() == best)
        .map(|((_, q), n)| (q.clone(), *n))
        .collect();
    let (top_quality, top_quality_n) = best_mix
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .cloned()
        .unwrap_or_default();
    let top3: u64 = ranked.iter().take(3).map(|(_, n)| n).sum();
    let mut meaning = format!(
        "`{best}` sells most: {} of {} purchases ({}). The top three items make {} of sales. Most `{best}` sales are {top_quality} ({}).",
        thousands(best_n),
        thousands(total),
        percent(best_n, total),
        percent(top3, total),
        percent(top_quality_n, best_n),
    );
    if qualities.iter().any(|q| q == "unrated") {
        meaning.push_str(
            " `unrated` purchases came through the reference's `/purchase_*` routes, which record no quality.",
        );
    }
    let rows = ranked
        .iter()
        .map(|(item, n)| vec![item.to_string(), thousands(*n), percent(*n, total)])
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![sql],
        chart: Some(chart),
        meaning,
        header: vec!["item", "purchases", "share"],
        rows,
    })
}

/// 3. Guild sizes: distinct members per guild.
pub async fn guild_sizes(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "Guild sizes";
    let question = "Which guilds do players join?";
    if let Some(missing) = lake.missing(&["events_guild"]) {
        return Ok(Section::missing(title, question, missing));
    }
    let sql = format!(
        "SELECT guild_name, count(DISTINCT username) AS members, count(*) AS joins\nFROM events_guild\nWHERE event_type = 'join_guild'\nGROUP BY guild_name\nORDER BY members DESC, joins DESC, guild_name\nLIMIT {MAX_BARS}"
    );
    let totals_sql = "SELECT count(DISTINCT guild_name) AS guilds, count(DISTINCT username) AS players, count(*) AS joins\nFROM events_guild\nWHERE event_type = 'join_guild'".to_string();
    let answer = Answer::of(engine, &sql).await?;
    let totals = Answer::of(engine, &totals_sql).await?;
    if answer.is_empty() {
        return Ok(Section::missing(
            title,
            question,
            "No guild joins yet.".into(),
        ));
    }
    let (guilds, members, joins) = (
        answer.strings("guild_name")?,
        answer.counts("members")?,
        answer.counts("joins")?,
    );
    let (all_guilds, players, all_joins) = (
        totals.counts("guilds")?[0],
        totals.counts("players")?[0],
        totals.counts("joins")?[0],
    );
    let series = [Series::new(
        "members",
        members.iter().map(|m| *m as f64).collect(),
    )];
    let chart = chart::bars(&guilds, &series, "members (distinct players who joined)")?;
    let mut meaning = format!(
        "{} players made {} joins into {} guilds. `{}` is the largest, with {} members.",
        thousands(players),
        thousands(all_joins),
        thousands(all_guilds),
        guilds[0],
        thousands(members[0]),
    );
    if all_joins > players {
        meaning.push_str(&format!(
            " {} joins were repeats or second guilds: a player may join more than once.",
            thousands(all_joins - players)
        ));
    }
    let rows = guilds
        .iter()
        .zip(&members)
        .zip(&joins)
        .map(|((g, m), j)| vec![g.clone(), thousands(*m), thousands(*j)])
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![sql, totals_sql],
        chart: Some(chart),
        meaning,
        header: vec!["guild_name", "members", "joins"],
        rows,
    })
}

/// 4. Purchases by `Host`: where the buying comes from.
pub async fn purchases_by_host(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "Purchases by host";
    let question = "Where do purchases come from?";
    if let Some(missing) = lake.missing(&["events_buy"]) {
        return Ok(Section::missing(title, question, missing));
    }
    let sql = "SELECT coalesce(host, '(none)') AS host, count(*) AS purchases\nFROM events_buy\nGROUP BY 1\nORDER BY purchases DESC, host".to_string();
    let answer = Answer::of(engine, &sql).await?;
    if answer.is_empty() {
        return Ok(Section::missing(
            title,
            question,
            "No purchases yet.".into(),
        ));
    }
    let (hosts, counts) = (answer.strings("host")?, answer.counts("purchases")?);
    let total: u64 = counts.iter().sum();
    let shown = hosts.len().min(MAX_BARS);
    let series = [Series::new(
        "purchases",
        counts[..shown].iter().map(|n| *n as f64).collect(),
    )];
    let chart = chart::bars(&hosts[..shown], &series, "purchases")?;
    let top3: u64 = counts.iter().take(3).sum();
    let mut meaning = if hosts.len() == 1 {
        format!(
            "All {} purchases came from one host, `{}`: a load test or a single client rather than a crowd of players.",
            thousands(total),
            hosts[0]
        )
    } else {
        format!(
            "{} hosts made {} purchases. `{}` made the most, {}; the top three made {}.",
            thousands(hosts.len() as u64),
            thousands(total),
            hosts[0],
            percent(counts[0], total),
            percent(top3, total),
        )
    };
    if hosts.len() > 1 && counts[0] * 2 > total {
        meaning.push_str(
            " One host making over half the purchases usually means a load test or a bot rather than players: check it before reading the other charts.",
        );
    }
    let rows = hosts
        .iter()
        .zip(&counts)
        .take(shown)
        .map(|(h, n)| vec![h.clone(), thousands(*n), percent(*n, total)])
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![sql],
        chart: Some(chart),
        meaning,
        header: vec!["host", "purchases", "share"],
        rows,
    })
}

/// 5. New users (sign-ups) per hour.
pub async fn new_users(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "New users per hour";
    let question = "Is the game still growing?";
    if let Some(missing) = lake.missing(&["events_user"]) {
        return Ok(Section::missing(title, question, missing));
    }
    let span_sql = "SELECT min(\"timestamp\") AS first, max(\"timestamp\") AS last, count(*) AS signups\nFROM events_user\nWHERE event_type = 'signup'".to_string();
    let span = Answer::of(engine, &span_sql).await?;
    let (Some(first), Some(last)) = (span.millis("first")?[0], span.millis("last")?[0]) else {
        return Ok(Section::missing(title, question, "No sign-ups yet.".into()));
    };
    let total = span.counts("signups")?[0];
    // Hours, unless the lake spans so long that days read better.
    let bucket = Bucket::fitting(last - first, 2);
    let sql = format!(
        "SELECT date_trunc('{unit}', \"timestamp\") AS {unit}, count(*) AS signups\nFROM events_user\nWHERE event_type = 'signup'\nGROUP BY 1\nORDER BY 1",
        unit = bucket.unit
    );
    let answer = Answer::of(engine, &sql).await?;
    let timeline = Timeline::new(bucket, first, last);
    let mut values = vec![0.0; timeline.labels.len()];
    for (t, n) in answer
        .millis(bucket.unit)?
        .into_iter()
        .zip(answer.counts("signups")?)
    {
        if let Some(i) = t.and_then(|t| timeline.index(t)) {
            values[i] += n as f64;
        }
    }
    let (peak_i, peak) =
        values.iter().enumerate().fold(
            (0, 0.0),
            |best, (i, v)| if *v > best.1 { (i, *v) } else { best },
        );
    let chart = chart::columns(
        &timeline.labels,
        &[Series::new("sign-ups", values.clone())],
        &format!("sign-ups per {}", bucket.unit),
    )?;
    let buckets = values.len() as u64;
    let meaning = format!(
        "{} players signed up over {} {}{}. The busiest {} began at {}, with {}; {:.1} per {} on average.{}",
        thousands(total),
        buckets,
        bucket.unit,
        if buckets == 1 { "" } else { "s" },
        bucket.unit,
        timeline.labels[peak_i],
        thousands(peak as u64),
        total as f64 / buckets as f64,
        bucket.unit,
        if buckets > 2 && values[values.len() - 1] < values[0] {
            " The last period had fewer sign-ups than the first."
        } else {
            ""
        },
    );
    let rows = timeline
        .labels
        .iter()
        .zip(&values)
        .filter(|(_, v)| **v > 0.0)
        .map(|(l, v)| vec![l.clone(), thousands(*v as u64)])
        .take(24)
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![span_sql, sql],
        chart: Some(chart),
        meaning,
        header: vec![bucket.unit, "signups"],
        rows,
    })
}

/// 6. Dead letters by reason: the events no table could take.
pub async fn dead_letters(engine: &QueryEngine, lake: &Lake) -> anyhow::Result<Section> {
    let title = "Dead letters by reason";
    let question = "Which events could not be stored, and why?";
    if !lake.tables.contains(DEAD_LETTERS_TABLE) {
        return Ok(Section::missing(
            title,
            question,
            "No dead letters: every event fit the tables it was routed to.".into(),
        ));
    }
    // Numbers (sizes, byte positions) are blanked so one kind of fault is
    // one bar.
    let sql = format!(
        "SELECT regexp_replace(reason, '[0-9]+', 'N', 'g') AS reason,\n       count(*) AS dead_letters,\n       count(DISTINCT concat(topic, '/', \"partition\", '/', \"offset\")) AS events,\n       string_agg(DISTINCT pipeline, ', ') AS pipelines\nFROM {DEAD_LETTERS_TABLE}\nGROUP BY 1\nORDER BY dead_letters DESC, reason"
    );
    let answer = Answer::of(engine, &sql).await?;
    if answer.is_empty() {
        return Ok(Section::missing(
            title,
            question,
            "No dead letters: every event fit the tables it was routed to.".into(),
        ));
    }
    let (reasons, letters, events, pipelines) = (
        answer.strings("reason")?,
        answer.counts("dead_letters")?,
        answer.counts("events")?,
        answer.strings("pipelines")?,
    );
    let shown = reasons.len().min(MAX_BARS);
    let labels: Vec<String> = reasons[..shown].iter().map(|r| shorten(r, 60)).collect();
    let series = [Series::new(
        "dead letters",
        letters[..shown].iter().map(|n| *n as f64).collect(),
    )];
    let chart = chart::bars(&labels, &series, "dead letters")?;
    let total: u64 = letters.iter().sum();
    let meaning = format!(
        "{} dead letters, for {} reasons; the most common: “{}” ({}). Each pipeline that refuses an event keeps its own dead letter with the whole reason and the raw event, so fix the sender or the plugin, then replay from `_dead_letters`.",
        thousands(total),
        reasons.len(),
        reasons[0],
        thousands(letters[0]),
    );
    let rows = reasons
        .iter()
        .zip(&letters)
        .zip(&events)
        .zip(&pipelines)
        .take(shown)
        .map(|(((r, n), e), p)| vec![r.clone(), thousands(*n), thousands(*e), p.clone()])
        .collect();
    Ok(Section {
        title,
        question,
        queries: vec![sql],
        chart: Some(chart),
        meaning,
        header: vec!["reason", "dead letters", "events", "pipelines"],
        rows,
    })
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_axis_has_every_bucket_and_no_more() {
        // 90 s of events: seconds would be 91 columns, so seconds it is.
        let t0 = 1_764_410_000_000; // 2025-11-29 09:53:20 UTC
        let bucket = Bucket::fitting(90_000, 0);
        assert_eq!(bucket.unit, "second");
        let timeline = Timeline::new(bucket, t0 + 400, t0 + 90_000);
        assert_eq!(timeline.labels.len(), 91);
        assert_eq!(timeline.labels[0], "09:53:20");
        assert_eq!(timeline.index(t0 + 999), Some(0));
        assert_eq!(timeline.index(t0 + 90_000), Some(90));
        assert_eq!(timeline.index(t0 + 91_000), None);
        // Three hours in hour buckets: 09:00, 10:00, 11:00, 12:00.
        let hours = Timeline::new(Bucket::fitting(3 * 3_600_000, 2), t0, t0 + 3 * 3_600_000);
        assert_eq!(
            hours.labels,
            ["11-29 09:00", "11-29 10:00", "11-29 11:00", "11-29 12:00"]
        );
        // A month of seconds becomes days.
        assert_eq!(Bucket::fitting(30 * 86_400_000, 0).unit, "day");
    }

    #[test]
    fn series_beyond_eight_are_summed_into_other() {
        let cells = (0..10).map(|k| (0, format!("type{k}"), 10 - k as u64));
        let series = ranked_series(1, cells);
        assert_eq!(series.len(), MAX_SERIES);
        assert_eq!(series[0].name, "type0");
        assert_eq!(series[7].name, "other");
        assert_eq!(series[7].values, [3.0 + 2.0 + 1.0]);
    }
}
