//! HTML without a template engine: one escaping function every dynamic
//! value goes through, the page frame, and the security headers every
//! dashboard answer carries.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The Content-Security-Policy of every dashboard answer: nothing inline
/// runs (scripts are same-origin files), nothing is framed or posted
/// elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'none'; object-src 'none'";

/// Escapes text for HTML content and attribute values: l402-server's one
/// escape, shared with the 402 page.
///
/// ```
/// assert_eq!(l402_dashboard::escape("<a href=\"x\">'&'</a>"),
///     "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub use l402_server::page::escape;

/// Adds the security headers to a response.
pub(crate) fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page: its title, the tab it belongs to, and its body (already escaped).
pub(crate) struct Page<'a> {
    pub(crate) title: &'a str,
    pub(crate) tab: &'a str,
    /// `(merchant label, csrf, is_admin, merchants to switch to)` when signed in.
    pub(crate) nav: Option<Nav<'a>>,
    pub(crate) scripts: &'a [&'a str],
    pub(crate) body: String,
}

/// The signed-in header.
pub(crate) struct Nav<'a> {
    pub(crate) merchant: String,
    pub(crate) csrf: &'a str,
    pub(crate) switch: Option<String>,
}

impl Page<'_> {
    pub(crate) fn render(&self, status: StatusCode) -> Response {
        let mut out = String::with_capacity(self.body.len() + 2048);
        out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
        out.push_str("<title>");
        out.push_str(&escape(self.title));
        out.push_str(
            " · l402</title><link rel=\"stylesheet\" href=\"/dashboard/assets/style.css\">",
        );
        for s in self.scripts {
            out.push_str("<script defer src=\"/dashboard/assets/");
            out.push_str(&escape(s));
            out.push_str("\"></script>");
        }
        out.push_str("</head><body><header><a class=\"brand\" href=\"/dashboard\">l402</a>");
        if let Some(nav) = &self.nav {
            for (tab, href, label) in [
                ("overview", "/dashboard", "Overview"),
                ("payments", "/dashboard/payments", "Payments"),
                ("routes", "/dashboard/routes", "Routes"),
                ("keys", "/dashboard/keys", "Keys"),
                ("webhooks", "/dashboard/webhooks", "Webhooks"),
                ("directory", "/dashboard/directory", "Directory"),
                ("danger", "/dashboard/danger", "Danger zone"),
            ] {
                let on = if tab == self.tab { " class=\"on\"" } else { "" };
                out.push_str(&format!("<a{on} href=\"{href}\">{label}</a>"));
            }
            out.push_str("<form method=\"post\" action=\"/dashboard/logout\">");
            if let Some(switch) = &nav.switch {
                out.push_str(switch);
            } else {
                out.push_str(&format!("<span>{}</span>", escape(&nav.merchant)));
            }
            out.push_str(&csrf_field(nav.csrf));
            out.push_str("<button class=\"quiet\" type=\"submit\">Sign out</button></form>");
        }
        out.push_str("</header><main>");
        out.push_str(&self.body);
        out.push_str("</main></body></html>");
        let response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            out,
        )
            .into_response();
        secure(response)
    }
}

/// The hidden CSRF field of a form.
pub(crate) fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub(crate) fn when(secs: u64) -> String {
    let t = l402_server::rfc3339(secs);
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => t,
    }
}
