//! CSV cells (RFC 4180 quoting) with a guard against formula injection: a
//! cell starting with `=`, `+`, `-`, `@`, tab or carriage return is
//! prefixed with `'` so spreadsheets show it as text.

/// One CSV cell, quoted when it must be and defused if it looks like a formula.
///
/// ```
/// use l402_dashboard::csv_cell;
/// assert_eq!(csv_cell("plain"), "plain");
/// assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
/// assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
/// assert_eq!(csv_cell("-1+2,3"), "\"'-1+2,3\"");
/// ```
pub fn csv_cell(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// One CSV line (CRLF-terminated) of `cells`.
pub(crate) fn line(cells: &[&str]) -> String {
    let mut out = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    out
}
