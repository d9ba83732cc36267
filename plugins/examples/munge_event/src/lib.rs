//! Rewrites every event's `Host` and `Cache-Control`, as the reference
//! stack's `munge_event` in `separate_events.py` did: the example of a
//! transform that changes events.

use sluice_sdk::{Event, transform};

#[transform]
pub fn munge_event(mut e: Event) -> Event {
    e.set("Host", "moe");
    e.set("Cache-Control", "no-cache");
    e
}

#[cfg(test)]
mod tests {
    use super::munge_event;
    use sluice_sdk::Event;

    #[test]
    fn sets_host_and_cache_control_keeping_the_rest_in_order() {
        let e = Event::from_json(
            r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com", "Accept": "*/*", "User-Agent": "ApacheBench/2.3"}"#,
        )
        .expect("a JSON object");
        let out = munge_event(e);
        assert!(out.is_modified());
        assert_eq!(out.str("Host"), Some("moe"));
        assert_eq!(out.str("Cache-Control"), Some("no-cache"));
        assert_eq!(
            String::from_utf8(out.to_json_bytes().into_owned()).expect("utf-8"),
            r#"{"event_type":"purchase_sword","Host":"moe","Accept":"*/*","User-Agent":"ApacheBench/2.3","Cache-Control":"no-cache"}"#
        );
    }

    #[test]
    fn an_already_munged_event_is_left_unmodified() {
        let e = Event::from_json(
            r#"{"event_type": "login", "Host": "moe", "Cache-Control": "no-cache"}"#,
        )
        .expect("a JSON object");
        assert!(!munge_event(e).is_modified());
    }

    #[test]
    fn metadata_survives() {
        let e = Event::from_json(r#"{"event_type": "login"}"#)
            .expect("a JSON object")
            .with_partition(3)
            .with_offset(42)
            .with_timestamp_ms(1_534_126_580_000);
        let out = munge_event(e);
        assert_eq!(
            (out.partition(), out.offset(), out.timestamp_ms()),
            (3, 42, 1_534_126_580_000)
        );
    }
}
