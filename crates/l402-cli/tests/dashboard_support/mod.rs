//! A signed-in dashboard client over real HTTP: reads the sign-in form's
//! CSRF token, signs in, keeps the session cookie, posts forms.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};

pub struct Dash {
    pub base: String,
    pub http: Client,
    pub cookie: String,
}

/// The value of `name="..."`'s hidden field (or any `value` after `marker`).
pub fn field(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    let end = rest[v..].find('"').unwrap();
    rest[v..v + end].to_owned()
}

/// The `name=value` of a `Set-Cookie` named `name`.
pub fn set_cookie(resp: &Response, name: &str) -> Option<(String, String)> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().unwrap().to_owned();
        text.starts_with(&format!("{name}="))
            .then(|| (text.split(';').next().unwrap().to_owned(), text))
    })
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Dash {
    /// Signs in with `secret` (API key or admin token) through the form.
    pub async fn sign_in(base: &str, secret: &str) -> Dash {
        let http = client();
        let login = http
            .get(format!("{base}/dashboard/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        let (pre, _) = set_cookie(&login, "l402_dashboard_login").expect("login cookie");
        let html = login.text().await.unwrap();
        let csrf = field(&html, "name=\"csrf\"");
        let resp = http
            .post(format!("{base}/dashboard/login"))
            .header(COOKIE, &pre)
            .form(&[("csrf", csrf.as_str()), ("secret", secret)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "sign in");
        let (cookie, full) = set_cookie(&resp, "l402_dashboard").expect("session cookie");
        assert!(
            full.contains("HttpOnly") && full.contains("SameSite=Strict"),
            "{full}"
        );
        assert!(full.contains("Path=/dashboard"), "{full}");
        Dash {
            base: base.to_owned(),
            http,
            cookie,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        resp.text().await.unwrap()
    }

    /// The session's CSRF token, from a page's forms.
    pub async fn csrf(&self) -> String {
        field(&self.page("/dashboard/keys").await, "name=\"csrf\"")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}
