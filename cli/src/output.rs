//! Printing results: readable tables and key/value blocks for people, JSON for scripts.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::args::OutputFormat;

/// Where results go, in which format.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub format: OutputFormat,
}

impl Out {
    /// Whether scripts are reading.
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `value` as JSON (pretty, one document).
    pub fn print_json(&self, value: &Value) -> Result<()> {
        let text = serde_json::to_string_pretty(value).context("cannot encode the result as JSON")?;
        write_stdout(&format!("{text}\n"))
    }

    /// JSON as is, or `render(value)` as text.
    pub fn emit(&self, value: &Value, render: impl FnOnce(&Value) -> String) -> Result<()> {
        if self.json() {
            self.print_json(value)
        } else {
            write_stdout(&render(value))
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// A JSON field as display text (`-` when absent or null).
pub fn field(value: &Value, key: &str) -> String {
    match value.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Some(other) => scalar(other),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Strips control characters so that server-provided text cannot drive the terminal.
pub fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A table of `items` with the given (header, key) columns; `empty` when there are none.
pub fn table(items: &[Value], columns: &[(&str, &str)], empty: &str) -> String {
    if items.is_empty() {
        return format!("{empty}\n");
    }
    let rows: Vec<Vec<String>> =
        items.iter().map(|item| columns.iter().map(|(_, key)| clean(&field(item, key))).collect()).collect();
    let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
    render_rows(&headers, &rows)
}

/// Aligned columns under a header line.
pub fn render_rows(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers);
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// `Label  value` lines for one object.
pub fn block(value: &Value, fields: &[(&str, &str)]) -> String {
    let width = fields.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    fields.iter().map(|(label, key)| format!("{label:<width$}  {}\n", clean(&field(value, key)))).collect()
}

/// The `items` of a list answer.
pub fn items(value: &Value) -> Vec<Value> {
    value.get("items").and_then(|v| v.as_array()).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_show_missing_values_as_dashes() {
        let items = vec![
            serde_json::json!({"id": "a", "status": "pending"}),
            serde_json::json!({"id": "longer", "status": null}),
        ];
        let text = table(&items, &[("ID", "id"), ("STATUS", "status")], "none");
        assert_eq!(text, "ID      STATUS\na       pending\nlonger  -\n");
        assert_eq!(table(&[], &[("ID", "id")], "no requests"), "no requests\n");
    }

    #[test]
    fn control_characters_from_the_server_are_neutralised() {
        assert_eq!(clean("evil\u{1b}[2Jtext\n"), "evil [2Jtext ");
    }
}
