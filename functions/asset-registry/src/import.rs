//! Reading an import body into registrations: JSON lines (one object per line) or CSV with a header row, by
//! Content-Type. Each row is checked on its own; a bad row is reported with its number and reason and the
//! others still count. Only what makes the whole body unreadable (unknown format, unknown CSV column, too many
//! rows) refuses the request.

use std::collections::HashMap;

use s1_core::registry::{AssetRegistration, PlatformAsset, MAX_IMPORT_ROWS};
use serde::Serialize;

/// The body formats an import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// The format a Content-Type names (parameters such as `charset` ignored); `None` for any other type.
    pub fn from_content_type(value: &str) -> Option<Format> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(Format::Csv),
            "application/x-ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// One refused row: its number (1-based, data rows only: a CSV header is not a row) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedRow {
    pub row: usize,
    pub reason: String,
}

/// Why a body cannot be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the import has more than {MAX_IMPORT_ROWS} rows; send at most {MAX_IMPORT_ROWS} rows per request")]
    TooManyRows,
    #[error("the import has no rows")]
    Empty,
    #[error("the body is not UTF-8 text")]
    NotText,
    #[error("the CSV header has no computerName column")]
    NoNameColumn,
    #[error("the CSV header names an unknown column {0:?}; known columns: computerName, serialNumber, macAddresses, ipAddresses, osName")]
    UnknownColumn(String),
    #[error("the CSV header names the column {0:?} twice")]
    RepeatedColumn(String),
}

/// The rows of one import: the accepted registrations (with their row numbers) and the refused rows.
#[derive(Debug, Default)]
pub struct Parsed {
    pub accepted: Vec<(usize, PlatformAsset)>,
    pub rejected: Vec<RejectedRow>,
}

/// Reads and checks every row. A row naming an asset an earlier row already named is refused (one request
/// registers each asset once, so the outcome never depends on the order writes land in).
pub fn parse(body: &[u8], format: Format) -> Result<Parsed, ImportError> {
    let text = std::str::from_utf8(body).map_err(|_| ImportError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = match format {
        Format::JsonLines => json_lines(text)?,
        Format::Csv => csv_rows(text)?,
    };
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    let mut parsed = Parsed::default();
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    for (row, registration) in rows {
        let checked = registration.and_then(|r| r.check(None).map_err(|e| e.to_string()));
        match checked {
            Ok(asset) => match first_row_of.get(asset.key.as_str()) {
                Some(first) => parsed.rejected.push(RejectedRow {
                    row,
                    reason: format!("computerName names the same asset as row {first}"),
                }),
                None => {
                    first_row_of.insert(asset.key.as_str().to_string(), row);
                    parsed.accepted.push((row, asset));
                }
            },
            Err(reason) => parsed.rejected.push(RejectedRow { row, reason }),
        }
    }
    Ok(parsed)
}

type Row = (usize, Result<AssetRegistration, String>);

fn json_lines(text: &str) -> Result<Vec<Row>, ImportError> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let row = rows.len() + 1;
        // serde_json's message names the field and column, never the value.
        let parsed = serde_json::from_str::<AssetRegistration>(line)
            .map_err(|e| format!("not a valid asset object: {e}"));
        rows.push((row, parsed));
    }
    Ok(rows)
}

#[derive(Clone, Copy)]
enum Column {
    Name,
    Serial,
    Macs,
    Ips,
    Os,
}

fn column(header: &str) -> Option<Column> {
    let h: String = header
        .trim()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match h.as_str() {
        "computername" => Some(Column::Name),
        "serialnumber" => Some(Column::Serial),
        "macaddresses" => Some(Column::Macs),
        "ipaddresses" => Some(Column::Ips),
        "osname" => Some(Column::Os),
        _ => None,
    }
}

/// Several addresses in one cell, separated by `;`, `|` or whitespace.
fn list(cell: &str) -> Vec<String> {
    cell.split(|c: char| c == ';' || c == '|' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn csv_rows(text: &str) -> Result<Vec<Row>, ImportError> {
    let mut records = CsvRecords::new(text);
    let Some(header) = records.next() else {
        return Err(ImportError::Empty);
    };
    let header = header.map_err(|_| ImportError::NoNameColumn)?;
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = Vec::new();
    for h in &header {
        let c =
            column(h).ok_or_else(|| ImportError::UnknownColumn(h.chars().take(40).collect()))?;
        let id = c as usize;
        if seen.contains(&id) {
            return Err(ImportError::RepeatedColumn(h.trim().to_string()));
        }
        seen.push(id);
        columns.push(c);
    }
    if !columns.iter().any(|c| matches!(c, Column::Name)) {
        return Err(ImportError::NoNameColumn);
    }
    let mut rows = Vec::new();
    for record in records {
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let row = rows.len() + 1;
        let parsed = record.and_then(|cells| {
            if cells.len() != columns.len() {
                return Err(format!(
                    "has {} fields but the header has {}",
                    cells.len(),
                    columns.len()
                ));
            }
            let mut r = AssetRegistration::default();
            for (c, cell) in columns.iter().zip(cells) {
                let value = Some(cell.trim().to_string()).filter(|v| !v.is_empty());
                match c {
                    Column::Name => r.computer_name = value,
                    Column::Serial => r.serial_number = value,
                    Column::Os => r.os_name = value,
                    Column::Macs => r.mac_addresses = list(&cell),
                    Column::Ips => r.ip_addresses = list(&cell),
                }
            }
            Ok(r)
        });
        rows.push((row, parsed));
    }
    Ok(rows)
}

/// RFC 4180 records: fields separated by commas, optionally quoted (`""` is a quote inside quotes), records by
/// CRLF or LF. Blank lines are skipped. A record with an unterminated quote is an error for that record alone.
struct CsvRecords<'a> {
    rest: &'a str,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        Self { rest: text }
    }
}

impl Iterator for CsvRecords<'_> {
    type Item = Result<Vec<String>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            let mut at_field_start = true;
            let mut chars = self.rest.char_indices().peekable();
            let mut end = self.rest.len();
            let mut unterminated = false;
            while let Some((i, c)) = chars.next() {
                if quoted {
                    if c == '"' {
                        if chars.peek().map(|(_, n)| *n) == Some('"') {
                            field.push('"');
                            chars.next();
                        } else {
                            quoted = false;
                        }
                    } else {
                        field.push(c);
                    }
                    continue;
                }
                match c {
                    '"' if at_field_start => {
                        quoted = true;
                        at_field_start = false;
                    }
                    ',' => {
                        fields.push(std::mem::take(&mut field));
                        at_field_start = true;
                    }
                    '\n' => {
                        end = i + 1;
                        break;
                    }
                    '\r' if chars.peek().map(|(_, n)| *n) == Some('\n') => {}
                    _ => {
                        field.push(c);
                        at_field_start = false;
                    }
                }
            }
            if quoted {
                unterminated = true;
            }
            fields.push(field);
            let line = &self.rest[..end];
            self.rest = &self.rest[end..];
            if line.trim().is_empty() {
                continue;
            }
            return Some(if unterminated {
                Err("has a quoted field that is never closed".to_string())
            } else {
                Ok(fields)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_pick_the_format() {
        assert_eq!(
            Format::from_content_type("text/csv; charset=utf-8"),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_content_type("application/x-ndjson"),
            Some(Format::JsonLines)
        );
        assert_eq!(Format::from_content_type("application/json"), None);
    }

    #[test]
    fn csv_rows_are_read_and_each_bad_row_is_named() {
        let body = "computerName,serialNumber,macAddresses\r\n\
                    host-a,SN1,00:00:5e:00:53:01;00-00-5E-00-53-02\r\n\
                    \"host, b\",\"SN \"\"2\"\"\",\r\n\
                    ,SN3,\n\
                    host-d,SN4,zz\n\
                    HOST-A,SN5,\n\
                    only-two,fields\n";
        let parsed = parse(body.as_bytes(), Format::Csv).unwrap();
        let names: Vec<_> = parsed
            .accepted
            .iter()
            .map(|(r, a)| (*r, a.name.as_str()))
            .collect();
        assert_eq!(names, [(1, "host-a"), (2, "host, b")]);
        assert_eq!(parsed.accepted[0].1.mac_addresses.len(), 2);
        assert_eq!(parsed.accepted[1].1.serial.as_deref(), Some("SN \"2\""));
        let rejected: Vec<_> = parsed.rejected.iter().map(|r| r.row).collect();
        assert_eq!(rejected, [3, 4, 5, 6]);
        assert!(
            parsed.rejected[0].reason.contains("computerName"),
            "{:?}",
            parsed.rejected[0]
        );
        assert!(
            parsed.rejected[1].reason.contains("MAC"),
            "{:?}",
            parsed.rejected[1]
        );
        assert!(
            parsed.rejected[2].reason.contains("row 1"),
            "{:?}",
            parsed.rejected[2]
        );
        assert!(
            parsed.rejected[3].reason.contains("fields"),
            "{:?}",
            parsed.rejected[3]
        );
    }

    #[test]
    fn csv_headers_must_be_known_and_name_the_computer() {
        assert_eq!(
            parse(b"computerName,owner\na,b\n", Format::Csv).unwrap_err(),
            ImportError::UnknownColumn("owner".into())
        );
        assert_eq!(
            parse(b"serialNumber\nx\n", Format::Csv).unwrap_err(),
            ImportError::NoNameColumn
        );
        assert_eq!(
            parse(b"computerName\n", Format::Csv).unwrap_err(),
            ImportError::Empty
        );
    }

    #[test]
    fn json_lines_are_read_row_by_row() {
        let body = "{\"computerName\":\"a\",\"ipAddresses\":[\"10.0.0.1\"]}\n\n{\"computerName\":\"b\",\"extra\":1}\nnot json\n";
        let parsed = parse(body.as_bytes(), Format::JsonLines).unwrap();
        assert_eq!(parsed.accepted.len(), 1);
        let rows: Vec<_> = parsed.rejected.iter().map(|r| r.row).collect();
        assert_eq!(rows, [2, 3]);
        assert!(parsed.rejected[0].reason.contains("extra"));
    }

    #[test]
    fn more_than_the_limit_is_refused_whole() {
        let mut body = String::from("computerName\n");
        for i in 0..=MAX_IMPORT_ROWS {
            body.push_str(&format!("h{i}\n"));
        }
        assert_eq!(
            parse(body.as_bytes(), Format::Csv).unwrap_err(),
            ImportError::TooManyRows
        );
        let at_limit: String = (0..MAX_IMPORT_ROWS)
            .map(|i| format!("{{\"computerName\":\"h{i}\"}}\n"))
            .collect();
        assert_eq!(
            parse(at_limit.as_bytes(), Format::JsonLines)
                .unwrap()
                .accepted
                .len(),
            MAX_IMPORT_ROWS
        );
    }
}
