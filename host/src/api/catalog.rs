//! Game rules: what the store sells, at which qualities, and which names
//! players, items and guilds may have. The reference sold a sword, a potion
//! and a shield; sluice adds more, and `?quality=` (common by default).

use super::error::ApiError;

/// An item the store sells.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub name: &'static str,
    /// Goes into the buy event, as the reference's knife had one.
    pub description: Option<&'static str>,
}

pub const ITEMS: &[Item] = &[
    Item {
        name: "sword",
        description: None,
    },
    Item {
        name: "shield",
        description: None,
    },
    Item {
        name: "potion",
        description: None,
    },
    Item {
        name: "knife",
        description: Some("very sharp knife"),
    },
    Item {
        name: "axe",
        description: None,
    },
    Item {
        name: "bow",
        description: None,
    },
    Item {
        name: "arrow",
        description: None,
    },
    Item {
        name: "helmet",
        description: None,
    },
    Item {
        name: "armor",
        description: None,
    },
];

pub const QUALITIES: &[&str] = &["common", "uncommon", "rare", "epic", "legendary"];
pub const DEFAULT_QUALITY: &str = "common";

pub fn item(name: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.name == name)
}

/// Checks `s` is 1 to `max` characters from `allowed`.
fn check(
    what: &str,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
    charset: &str,
) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(ApiError::BadInput(format!(
            "{what} must be 1 to {max} characters long, not {n}"
        )));
    }
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(ApiError::BadInput(format!(
            "{what} may only contain {charset}; {c:?} is not allowed"
        )));
    }
    Ok(())
}

pub fn check_username(s: &str) -> Result<(), ApiError> {
    check(
        "a username",
        s,
        32,
        |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
        "letters, digits, `_`, `.` and `-`",
    )
}

/// An item name in a `/buy/<item>` path: well-formed, though perhaps not
/// sold (that is the reference's "not in stock" reply, not an error).
pub fn check_item_name(s: &str) -> Result<(), ApiError> {
    check(
        "an item name",
        s,
        32,
        |c| c.is_ascii_alphanumeric() || "_-".contains(c),
        "letters, digits, `_` and `-`",
    )
}

pub fn check_guild_name(s: &str) -> Result<(), ApiError> {
    check(
        "a guild name",
        s,
        64,
        |c| c.is_ascii_alphanumeric() || "_- ".contains(c),
        "letters, digits, spaces, `_` and `-`",
    )
}

pub fn check_password(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 128 {
        return Err(ApiError::BadInput(
            "a password must be 1 to 128 bytes long".to_string(),
        ));
    }
    Ok(())
}

pub fn check_quality(s: &str) -> Result<(), ApiError> {
    if QUALITIES.contains(&s) {
        Ok(())
    } else {
        Err(ApiError::BadInput(format!(
            "no item quality `{}`; qualities: {}",
            s.chars().take(32).collect::<String>(),
            QUALITIES.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_username("user1").is_ok());
        assert!(check_username("a.b-c_d").is_ok());
        for bad in ["", "a b", "<script>", "ü", &"x".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_guild_name("Knights of Zion").is_ok());
        assert!(check_guild_name("a/b").is_err());
        assert!(check_item_name("sword").is_ok());
        assert!(check_item_name("sword;drop").is_err());
        assert!(check_quality("rare").is_ok());
        let err = check_quality("shiny").unwrap_err().to_string();
        assert!(err.contains("common, uncommon"), "{err}");
        assert!(check_password("").is_err());
        assert!(check_password(&"p".repeat(129)).is_err());
    }

    #[test]
    fn the_knife_is_very_sharp() {
        assert_eq!(item("knife").unwrap().description, Some("very sharp knife"));
        assert!(item("sword").is_some());
        assert!(item("banana").is_none());
    }
}
