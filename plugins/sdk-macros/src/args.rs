//! The attribute's arguments: `name = "..."` for every kind, and for a
//! router `tables(name = "schema", ...)`, checked here so a typo is a compile
//! error at the offending name rather than a plugin the host refuses.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitStr};

use crate::schema;
use crate::signature::Kind;

/// A table a router declares.
pub(crate) struct TableArg {
    pub(crate) name: Ident,
    pub(crate) schema: LitStr,
}

/// The parsed arguments of one attribute.
pub(crate) struct PluginArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) tables: Vec<TableArg>,
}

pub(crate) fn parse(kind: Kind, args: TokenStream) -> syn::Result<PluginArgs> {
    let mut name = None;
    let mut tables = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            if name.is_some() {
                return Err(meta.error("`name` is given twice"));
            }
            let value: LitStr = meta.value()?.parse()?;
            if value.value().trim().is_empty() {
                return Err(syn::Error::new_spanned(
                    &value,
                    "a plugin's name cannot be empty",
                ));
            }
            name = Some(value);
            Ok(())
        } else if meta.path.is_ident("tables") {
            if kind != Kind::Router {
                return Err(meta.error(format!(
                    "only a #[router] declares tables; the events a {} passes on go to the \
                     table chosen so far",
                    kind.attribute()
                )));
            }
            if tables.is_some() {
                return Err(meta.error("`tables(...)` is given twice"));
            }
            tables = Some(parse_tables(&meta)?);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown argument; {} takes {}",
                kind.attribute(),
                if kind == Kind::Router {
                    "`tables(name = \"schema\", ...)` and optionally `name = \"...\"`"
                } else {
                    "only `name = \"...\"`"
                }
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    let tables = match (kind, tables) {
        (Kind::Router, None) => {
            return Err(syn::Error::new(
                Span::call_site(),
                "a #[router] declares the tables it routes into: \
                 #[router(tables(events_buy = \"host string, item_type string\", ...))]",
            ));
        }
        (_, tables) => tables.unwrap_or_default(),
    };
    Ok(PluginArgs { name, tables })
}

fn parse_tables(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<TableArg>> {
    let mut tables: Vec<TableArg> = Vec::new();
    meta.parse_nested_meta(|table| {
        let Some(name) = table.path.get_ident().cloned() else {
            return Err(table.error("a table name is one lower snake case word, e.g. `events_buy`"));
        };
        let text = name.to_string();
        if !is_snake_case(&text) {
            return Err(syn::Error::new_spanned(
                &name,
                format!("table name `{text}` is not lower snake case (like `events_buy`)"),
            ));
        }
        if tables.iter().any(|other| other.name == name) {
            return Err(syn::Error::new_spanned(
                &name,
                format!("table `{text}` is declared twice"),
            ));
        }
        let schema: LitStr = table
            .value()
            .map_err(|_| {
                table.error(format!(
                    "table `{text}` needs a schema: `{text} = \"host string, item_type string\"`"
                ))
            })?
            .parse()?;
        if let Err(problem) = schema::check(&schema.value()) {
            return Err(syn::Error::new_spanned(
                &schema,
                format!("schema of table `{text}`: {problem}"),
            ));
        }
        tables.push(TableArg { name, schema });
        Ok(())
    })?;
    if tables.is_empty() {
        return Err(meta.error("`tables(...)` declares no table"));
    }
    Ok(tables)
}

/// `events_buy`: starts with a lower case letter, then lower case letters,
/// digits and single underscores, not ending in one.
fn is_snake_case(name: &str) -> bool {
    let name = name.strip_prefix("r#").unwrap_or(name);
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

#[cfg(test)]
mod tests {
    use super::is_snake_case;

    #[test]
    fn snake_case_names() {
        for good in ["events_buy", "a", "t2", "events_2018"] {
            assert!(is_snake_case(good), "{good}");
        }
        for bad in [
            "Events",
            "eventsBuy",
            "_x",
            "x_",
            "a__b",
            "2x",
            "événements",
        ] {
            assert!(!is_snake_case(bad), "{bad}");
        }
    }
}
