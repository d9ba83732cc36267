//! Keeps sword purchases: the reference stack's `is_purchase` Spark UDF, the
//! filter behind the `sword_purchases` table.

use sluice_sdk::{Event, filter};

/// Reads one field; the SDK scans for it without parsing the event.
#[filter]
pub fn is_purchase(e: &Event) -> bool {
    e.event_type() == Some("purchase_sword")
}

#[cfg(test)]
mod tests {
    use super::is_purchase;
    use sluice_sdk::Event;

    fn event(json: &str) -> Event<'static> {
        Event::from_json(json).expect("a JSON object")
    }

    #[test]
    fn keeps_a_sword_purchase() {
        let e = event(
            r#"{"event_type": "purchase_sword", "Host": "user1.comcast.com", "Accept": "*/*", "User-Agent": "ApacheBench/2.3"}"#,
        );
        assert!(is_purchase(&e));
    }

    #[test]
    fn drops_other_purchases_and_events() {
        for json in [
            r#"{"event_type": "purchase_knife", "description": "very sharp knife", "Host": "user1.comcast.com"}"#,
            r#"{"username": "user1", "event_type": "buy_item", "item_type": "sword", "Host": "user1.comcast.com"}"#,
            r#"{"event_type": "join_guild", "guild_name": "knights", "username": "user1"}"#,
            r#"{"event_type": "Purchase_Sword"}"#,
            r#"{"event_type": ["purchase_sword"]}"#,
            r#"{"user_info": {"event_type": "purchase_sword"}}"#,
            r#"{}"#,
        ] {
            assert!(!is_purchase(&event(json)), "{json}");
        }
    }

    #[test]
    fn an_escaped_event_type_still_matches() {
        assert!(is_purchase(&event(
            r#"{"event_type": "purchase\u005fsword"}"#
        )));
        assert!(is_purchase(&event(
            r#"{"event\u005ftype": "purchase_sword"}"#
        )));
    }
}
