//! The report as one HTML page: styles inline, charts inline as SVG, no
//! script and nothing fetched, so it can be mailed or archived as is. Every
//! piece of text from the lake is escaped here.

use std::fmt::Write;

use super::{Report, Section, thousands};

const STYLE: &str = r#"
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; background: #f6f7f9; margin: 0; }
main { max-width: 920px; margin: 0 auto; padding: 24px 20px 60px; }
h1 { font-size: 28px; margin: 8px 0 0; }
h2 { font-size: 20px; margin: 0 0 2px; }
.meta { color: #5b6475; margin: 2px 0 20px; }
section { background: #fff; border: 1px solid #e1e4ea; border-radius: 8px; padding: 18px 20px; margin: 18px 0; }
.question { color: #5b6475; margin: 0 0 10px; font-style: italic; }
figure { margin: 8px 0; }
figure svg { max-width: 100%; height: auto; }
.meaning { background: #eef4fb; border-left: 4px solid #4e79a7; padding: 8px 12px; margin: 10px 0; }
.missing { background: #fbf4e8; border-left-color: #f28e2b; }
table { border-collapse: collapse; margin: 10px 0; font-size: 14px; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eceef2; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
details { margin-top: 8px; }
summary { cursor: pointer; color: #4e79a7; }
pre { background: #f3f4f7; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 13px; }
code { font-size: 13px; }
"#;

/// `<`, `>`, `&`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text, with `name` in backquotes set as code.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

fn is_number(cell: &str) -> bool {
    !cell.is_empty()
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '%' | '<' | '.'))
}

pub fn page(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>sluice report: {lake}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Game analytics</h1>\n<p class=\"meta\">From the lake at <code>{lake}</code>, {generated}. Made by <code>sluice report</code>; every chart's queries are below it and run as they are in <code>sluice sql</code>.</p>\n",
        lake = escape(&report.lake),
        generated = escape(&report.generated),
    );
    tables(&mut out, report);
    for (i, section) in report.sections.iter().enumerate() {
        self::section(&mut out, i + 1, section);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn tables(out: &mut String, report: &Report) {
    out.push_str("<section id=\"tables\">\n<h2>The lake</h2>\n");
    if report.tables.is_empty() {
        out.push_str("<p class=\"meaning missing\">The lake has no tables yet: no events have been written.</p>\n</section>\n");
        return;
    }
    let rows: Vec<Vec<String>> = report
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.kind.to_string(),
                thousands(t.rows),
                thousands(t.files as u64),
                size(t.bytes),
            ]
        })
        .collect();
    table(out, &["table", "kind", "rows", "files", "size"], &rows);
    out.push_str("</section>\n");
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1 << 20 => format!("{:.0} KiB", b as f64 / 1024.0),
        b if b < 1 << 30 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b => format!("{:.2} GiB", b as f64 / (1 << 30) as f64),
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table>\n<tr>");
    let numeric: Vec<bool> = (0..header.len())
        .map(|c| rows.iter().all(|r| r.get(c).is_some_and(|v| is_number(v))))
        .collect();
    for (h, n) in header.iter().zip(&numeric) {
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if *n { " class=\"n\"" } else { "" },
            escape(h)
        );
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (cell, n) in row.iter().zip(&numeric) {
            let _ = write!(
                out,
                "<td{}>{}</td>",
                if *n { " class=\"n\"" } else { "" },
                escape(cell)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn section(out: &mut String, number: usize, section: &Section) {
    let _ = write!(
        out,
        "<section class=\"chart\" id=\"chart-{number}\" data-points=\"{points}\">\n<h2>{number}. {title}</h2>\n<p class=\"question\">{question}</p>\n",
        points = section.chart.as_ref().map_or(0, |c| c.points),
        title = escape(section.title),
        question = escape(section.question),
    );
    match &section.chart {
        Some(chart) => {
            let _ = writeln!(out, "<figure>{}</figure>", chart.svg);
            let _ = writeln!(
                out,
                "<p class=\"meaning\"><strong>What this means:</strong> {}</p>",
                prose(&section.meaning)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"meaning missing\">{}</p>",
                prose(&section.meaning)
            );
        }
    }
    if !section.rows.is_empty() {
        table(out, &section.header, &section.rows);
    }
    if !section.queries.is_empty() {
        out.push_str("<details>\n<summary>The queries</summary>\n");
        for sql in &section.queries {
            let _ = writeln!(out, "<pre><code>{};</code></pre>", escape(sql));
        }
        out.push_str("</details>\n");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_lake_cannot_become_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(
            prose("`<b>` sells most"),
            "<code>&lt;b&gt;</code> sells most"
        );
    }
}
