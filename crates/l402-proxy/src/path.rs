//! Request paths that could leave the prefix they are forwarded under.
//!
//! A merchant's proxy (`/l402/proxy/{id}/...`) and a service with a
//! rewrite prefix put the request's path after a base the operator
//! chose. A `.` or `..` segment (raw, percent-encoded as `%2e`, or with an
//! encoded `/` or `\` around it) would let an upstream that normalises
//! paths resolve it outside that base, so such paths are refused with 400
//! `bad_path` before anything is forwarded.

/// Whether `path` has a `.` or `..` segment, once `%2e`/`%2E` is read as
/// `.` and `%2f`, `%5c` and `\` as `/`.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if !path.contains('.') && !path.contains('%') {
        return false;
    }
    let plain = path
        .to_ascii_lowercase()
        .replace("%2e", ".")
        .replace("%2f", "/")
        .replace("%5c", "/")
        .replace('\\', "/");
    plain
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_raw_or_encoded_are_found() {
        for bad in [
            "/..",
            "/../etc/passwd",
            "/v1/../../admin",
            "/./x",
            "/v1/.",
            "/%2e%2e/admin",
            "/%2E%2e/admin",
            "/.%2e/admin",
            "/%2e/x",
            "/v1/..%2fadmin",
            "/v1/..%5cadmin",
            "/v1\\..\\admin",
            "/v1/%2e%2e?q=1",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for good in [
            "/",
            "/v1/x",
            "/v1/file.txt",
            "/v1/..hidden",
            "/v1/a..b",
            "/v1/...",
            "/v1/%2e%2e%2e",
            "/v1/x?path=../y",
            "/v1/%41",
        ] {
            assert!(!has_dot_segment(good), "{good}");
        }
    }
}
