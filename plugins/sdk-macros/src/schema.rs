//! A first look at a router's table schemas at compile time: catches the
//! mistakes a glance can (nothing declared, unbalanced brackets, a column
//! without a type, duplicate or reserved columns). The host parses schemas
//! fully when it loads the plugin; this check never rejects what it accepts.

/// Columns the host adds to every table itself.
const RESERVED: [&str; 2] = ["raw_event", "timestamp"];

/// Checks a Hive-style column list such as
/// `host string, user_info struct<session_datetime:string, inventory:array<string>>`.
pub(crate) fn check(schema: &str) -> Result<(), String> {
    if schema.trim().is_empty() {
        return Err("it is empty; list the columns, e.g. \"host string, item_type string\"".into());
    }
    let mut names: Vec<String> = Vec::new();
    for column in split_top_level(schema)? {
        let column = column.trim();
        let Some((name, ty)) = column.split_once(char::is_whitespace) else {
            return Err(if column.is_empty() {
                "it has an empty column (a stray comma?)".into()
            } else {
                format!("column `{column}` has no type, e.g. `{column} string`")
            });
        };
        if ty.trim().is_empty() {
            return Err(format!("column `{name}` has no type"));
        }
        // Hive folds names to lower case and lets backticks quote them.
        let name = name.trim_matches('`').to_lowercase();
        if RESERVED.contains(&name.as_str()) {
            return Err(format!(
                "`{name}` is added to every table by the host; do not declare it"
            ));
        }
        if names.contains(&name) {
            return Err(format!("column `{name}` is declared twice"));
        }
        names.push(name);
    }
    Ok(())
}

/// Splits at commas outside `<...>`, `(...)` and quotes.
fn split_top_level(schema: &str) -> Result<Vec<&str>, String> {
    let mut columns = Vec::new();
    let mut depth: usize = 0;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (at, c) in schema.char_indices() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '<' | '(') => depth += 1,
            (None, '>' | ')') => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("`{c}` closes nothing"))?;
            }
            (None, ',') if depth == 0 => {
                columns.push(&schema[start..at]);
                start = at + 1;
            }
            (None, _) => {}
        }
    }
    if let Some(open) = quote {
        return Err(format!("a `{open}` is never closed"));
    }
    if depth != 0 {
        return Err("a `<` or `(` is never closed".into());
    }
    columns.push(&schema[start..]);
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn reference_schemas_pass() {
        check("accept string, host string, user_agent string, event_type string, event_id string, username string, item_type string, item_quality string, description string, inventory array<string>, user_info struct<session_datetime:string, inventory:array<string>>").expect("valid");
        check("price decimal(10,2), `Weird Name` string COMMENT 'a, b'").expect("valid");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("", "empty"),
            ("  ", "empty"),
            ("host string,", "empty column"),
            ("host", "no type"),
            ("host string, Host int", "declared twice"),
            ("raw_event string", "added to every table"),
            ("TIMESTAMP bigint", "added to every table"),
            ("a array<string", "never closed"),
            ("a string>", "closes nothing"),
            ("a string comment 'x", "never closed"),
        ];
        for (schema, expected) in cases {
            let error = check(schema).expect_err(schema);
            assert!(error.contains(expected), "{schema:?}: {error}");
        }
    }
}
