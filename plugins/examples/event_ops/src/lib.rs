//! One transform that rejects, splits and keeps: an event without a string
//! `event_type` is a dead letter, a guild join also yields a
//! `guild_member_added` event, and everything else passes unchanged.

use sluice_sdk::{Event, json, transform};

#[transform]
pub fn event_ops(e: Event) -> Result<Vec<Event>, String> {
    match e.event_type() {
        None => Err("event has no string `event_type`".to_owned()),
        Some("join_guild") => {
            let member = e.derive(json!({
                "event_type": "guild_member_added",
                "guild_name": e.get("guild_name"),
                "username": e.get("username"),
            }));
            Ok(vec![e, member])
        }
        Some(_) => Ok(vec![e]),
    }
}

#[cfg(test)]
mod tests {
    use super::event_ops;
    use sluice_sdk::{Event, json};

    fn event(json: &str) -> Event<'static> {
        Event::from_json(json).expect("a JSON object")
    }

    #[test]
    fn an_event_without_a_string_event_type_is_rejected() {
        for json in [
            r#"{"username": "user1"}"#,
            r#"{"event_type": 1}"#,
            r#"{"event_type": null}"#,
        ] {
            assert_eq!(
                event_ops(event(json)).expect_err(json),
                "event has no string `event_type`"
            );
        }
    }

    #[test]
    fn a_guild_join_is_split_in_two() {
        let join = event(
            r#"{"event_type": "join_guild", "guild_name": "knights", "username": "user1", "Host": "user1.comcast.com"}"#,
        )
        .with_partition(2)
        .with_offset(17);
        let out = event_ops(join).expect("accepted");
        assert_eq!(out.len(), 2);
        assert!(!out[0].is_modified(), "the join itself passes unchanged");
        assert_eq!(out[0].event_type(), Some("join_guild"));
        let member = &out[1];
        assert_eq!(
            member.as_object(),
            json!({"event_type": "guild_member_added", "guild_name": "knights", "username": "user1"})
                .as_object()
                .expect("an object")
        );
        assert_eq!((member.partition(), member.offset()), (2, 17));
    }

    #[test]
    fn other_events_are_kept_unchanged() {
        let out = event_ops(event(
            r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com"}"#,
        ))
        .expect("accepted");
        assert_eq!(out.len(), 1);
        assert!(!out[0].is_modified());
    }
}
