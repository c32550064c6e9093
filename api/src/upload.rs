//! CSV uploads (do-not-call imports, campaign recipients): a header line naming the columns, then
//! one record per line. Parsing is the `csv` crate's (quoted fields, embedded commas and newlines,
//! a BOM); this file only turns its records into rows that carry the line they started on, so a
//! bad row can be named the way a spreadsheet shows it (the header is line 1).

/// A parsed upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The header's column names, trimmed and lowercased.
    pub columns: Vec<String>,
    /// The records after the header, each with its line number.
    pub rows: Vec<Row>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line it starts on (the header is line 1).
    pub line: usize,
    /// Its fields, trimmed, as many as it had.
    pub fields: Vec<String>,
}

impl Table {
    /// Where a column is, by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Why an upload cannot be read at all (bad rows are the reader's caller's business).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// Nothing, not even a header.
    #[error("the upload is empty: it needs a header line naming the columns")]
    Empty,
    /// More rows than one upload may carry.
    #[error("the upload has more than {0} rows")]
    TooManyRows(usize),
    /// The CSV reader gave up (invalid UTF-8, say) at a line.
    #[error("line {line}: {message}")]
    Malformed {
        /// Where.
        line: usize,
        /// The reader's words.
        message: String,
    },
}

/// Reads `text` as CSV with a header line; at most `max_rows` records. Records may have fewer or
/// more fields than the header (the caller names such rows).
pub fn read(text: &str, max_rows: usize) -> Result<Table, UploadError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(UploadError::Empty),
        Some(Err(err)) => return Err(malformed(&err, 1)),
        Some(Ok(header)) => header,
    };
    let columns = header.iter().map(|c| c.trim().to_ascii_lowercase()).collect();
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|err| malformed(&err, 0))?;
        // The reader skips blank lines without counting them, so its own line numbers drift from
        // what an editor shows; counting from the record's byte offset does not.
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .and_then(|byte| {
                // The offset is where the reader began looking, before the blank lines it skipped.
                let rest = text.get(byte..)?;
                let blank = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
                text.get(..byte + blank)
            })
            .map_or(0, |before| before.matches('\n').count() + 1);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() == max_rows {
            return Err(UploadError::TooManyRows(max_rows));
        }
        rows.push(Row {
            line,
            fields: record.iter().map(str::to_owned).collect(),
        });
    }
    Ok(Table { columns, rows })
}

fn malformed(err: &csv::Error, fallback: usize) -> UploadError {
    let line = err
        .position()
        .and_then(|p| usize::try_from(p.line()).ok())
        .unwrap_or(fallback);
    UploadError::Malformed {
        line,
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_the_line_they_start_on() {
        let text =
            "\u{feff}Number,Name\n+15551230001,Sam\n\n\"+1 555 123 0002\",\"Lee, Jr.\"\n+15551230003\n";
        let table = read(text, 10).expect("reads");
        assert_eq!(table.columns, vec!["number", "name"]);
        assert_eq!(table.column("name"), Some(1));
        let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
        assert_eq!(
            lines,
            vec![2, 4, 5],
            "the blank line 3 is skipped, not renumbered"
        );
        assert_eq!(table.rows[1].fields, vec!["+1 555 123 0002", "Lee, Jr."]);
        assert_eq!(
            table.rows[2].fields.len(),
            1,
            "short rows are kept for the caller to name"
        );
    }

    #[test]
    fn empty_and_oversized_uploads_are_refused() {
        assert!(matches!(read("", 10), Err(UploadError::Empty)));
        assert!(matches!(
            read("number\n1\n2\n3\n", 2),
            Err(UploadError::TooManyRows(2))
        ));
    }
}
