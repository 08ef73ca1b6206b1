//! The two text formats: OpenMetrics (what `prometheus-client` writes) and
//! the Prometheus text format 0.0.4 (what `promtool check metrics` and older
//! scrapers read). They differ, for what this crate exports, in three
//! things: a counter family is named without `_total` in OpenMetrics and
//! with it in 0.0.4 (the samples are `_total` in both), OpenMetrics has
//! `# UNIT` lines, and it ends with `# EOF`.

/// The `Content-Type` of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which text format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (the default).
    Prometheus,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Format {
    /// The format for an `Accept` header: OpenMetrics when it names
    /// `application/openmetrics-text`, else Prometheus text.
    ///
    /// ```
    /// use l402_metrics::Format;
    /// assert_eq!(Format::from_accept(None), Format::Prometheus);
    /// assert_eq!(
    ///     Format::from_accept(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")),
    ///     Format::OpenMetrics
    /// );
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Rewrites an OpenMetrics exposition as Prometheus text 0.0.4.
pub(crate) fn to_prometheus(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let lines: Vec<&str> = openmetrics.lines().collect();
    let counters: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix("# TYPE ")?;
            let (name, kind) = rest.split_once(' ')?;
            (kind == "counter").then_some(name)
        })
        .collect();
    for line in lines {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        if let Some((prefix, rest)) = meta
            && let Some((name, tail)) = rest.split_once(' ')
            && counters.contains(name)
        {
            out.push_str(prefix);
            out.push_str(name);
            out.push_str("_total ");
            out.push_str(tail);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_renamed_units_and_eof_dropped() {
        let om = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{route=\"/x\"} 1\n\
                  # HELP a_seconds Time.\n# TYPE a_seconds histogram\n# UNIT a_seconds seconds\n\
                  a_seconds_sum 0.5\na_seconds_count 1\na_seconds_bucket{le=\"+Inf\"} 1\n# EOF\n";
        let text = to_prometheus(om);
        assert_eq!(
            text,
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{route=\"/x\"} 1\n\
             # HELP a_seconds Time.\n# TYPE a_seconds histogram\n\
             a_seconds_sum 0.5\na_seconds_count 1\na_seconds_bucket{le=\"+Inf\"} 1\n"
        );
    }
}
