//! The configuration's unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::producer::LOOPBACK_PROXIES;
use super::*;

fn load_str(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l402.toml");
    std::fs::write(&path, text).unwrap();
    load(Some(&path), &Overrides::default())
}

#[test]
fn defaults_are_zero_config() {
    let c = load(None, &Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.backend, Backend::Dev);
    assert!(c.demo);
}

#[test]
fn a_full_file() {
    let c = load_str(
        r#"
listen = "127.0.0.1:9000"
[backend]
kind = "lnbits"
url = "http://127.0.0.1:5000"
invoice_key = "abc"
[tokens]
lifetime_secs = 60
[demo]
enabled = false
[[routes]]
path = "/api/report"
price_sats = 100
body = "hello"
"#,
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert!(matches!(c.backend, Backend::Lnbits { .. }));
    assert_eq!(c.token_lifetime_secs, 60);
    assert!(!c.demo);
    assert_eq!(c.routes[0].price_sats, 100);
}

#[test]
fn errors_name_the_file_key_and_reason() {
    let e = load_str("listen = \"nowhere\"").unwrap_err();
    assert!(e.source.ends_with("l402.toml"));
    assert_eq!(e.key, "listen");
    let e = load_str("prce = 3").unwrap_err();
    assert_eq!(e.key, "prce");
    assert!(e.reason.contains("unknown field"), "{}", e.reason);
    let e = load_str("[[routes]]\npath = \"/a\"\nprice_sats = -5\nbody = \"x\"").unwrap_err();
    assert_eq!(e.key, "routes[0].price_sats");
    let e = load_str("[[routes]]\npath = \"/a\"\nprice_sats = \"ten\"\nbody = \"x\"").unwrap_err();
    assert!(e.reason.contains("invalid type"), "{}", e.reason);
    let e = load_str("[backend]\nkind = \"lnx\"").unwrap_err();
    assert_eq!(e.key, "backend.kind");
    let e = load_str("[backend]\nkind = \"lnd\"").unwrap_err();
    assert_eq!(e.key, "backend.url");
    let e = load_str("[backend]\nkind = \"lnbits\"").unwrap_err();
    assert_eq!(e.key, "backend.url");
    let e = load_str("[[routes]]\npath = \"/a\"\nprice_sats = 1").unwrap_err();
    assert_eq!(e.key, "routes[0].body");
    let e = load_str("listen = [").unwrap_err();
    assert!(e.to_string().contains("l402.toml"));
}

#[test]
fn trusted_proxies_list_string_env_and_the_deprecated_key() {
    let c = load_str("[producer]\ntrusted_proxies = [\"10.0.0.0/8\", \" ::1 \"]").unwrap();
    assert_eq!(c.producer.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert!(c.warnings.is_empty());
    let c = load_str("[producer]\ntrusted_proxies = \"10.0.0.1, fd00::/8\"").unwrap();
    assert_eq!(c.producer.trusted_proxies, ["10.0.0.1", "fd00::/8"]);
    assert!(
        load(None, &Overrides::default())
            .unwrap()
            .producer
            .trusted_proxies
            .is_empty()
    );
    let c = load_str("[producer]\ntrust_forwarded_for = true").unwrap();
    assert_eq!(c.producer.trusted_proxies, LOOPBACK_PROXIES);
    assert!(c.warnings[0].contains("deprecated"), "{:?}", c.warnings);
    assert!(
        load_str("[producer]\ntrust_forwarded_for = false")
            .unwrap()
            .producer
            .trusted_proxies
            .is_empty()
    );
    let e = load_str("[producer]\ntrusted_proxies = [\"10.0.0.0/33\"]").unwrap_err();
    assert!(e.source.ends_with("l402.toml"), "{e}");
    assert_eq!(e.key, "producer.trusted_proxies");
    assert!(e.reason.contains("10.0.0.0/33"), "{e}");
    // The environment replaces the file (and an empty value means none).
    let o = Overrides {
        trusted_proxies: Some(String::new()),
        ..Overrides::default()
    };
    let c = resolve(
        "test.toml",
        toml::from_str("[producer]\ntrusted_proxies = [\"10.0.0.1\"]").unwrap(),
        &o,
        None,
    )
    .unwrap();
    assert!(c.producer.trusted_proxies.is_empty());
    let o = Overrides {
        trusted_proxies: Some("10.0.0.1,,::1".into()),
        ..Overrides::default()
    };
    let e = load(None, &o).unwrap_err();
    assert_eq!(e.source, "--trusted-proxies / L402_TRUSTED_PROXIES");
}

#[test]
fn store_and_producer() {
    let c = load(None, &Overrides::default()).unwrap();
    assert_eq!(c.store.target, StoreTarget::Sqlite);
    assert!(c.producer.enabled);
    assert_eq!(c.producer.rate_limit_per_minute, 20);
    let c = load_str(
        "[store]\nurl = \"postgres://u@h/db\"\nschema = \"shop\"\n[producer]\nrate_limit_per_minute = 5",
    )
    .unwrap();
    assert_eq!(
        c.store.target,
        StoreTarget::Postgres {
            url: "postgres://u@h/db".into(),
            schema: Some("shop".into())
        }
    );
    assert_eq!(c.producer.rate_limit_per_minute, 5);
    assert_eq!(
        load_str("[store]\nurl = \"mysql://x\"").unwrap_err().key,
        "store.url"
    );
    assert_eq!(
        load_str("[store]\nurl = \"postgres://x\"\nschema = \"A-b\"")
            .unwrap_err()
            .key,
        "store.schema"
    );
    assert_eq!(load_str("[producer]\nrate = 1").unwrap_err().key, "rate");
    let e = load_str("[[routes]]\npath = \"/api/l402/challenges\"\nprice_sats = 1\nbody = \"x\"")
        .unwrap_err();
    assert_eq!(e.key, "routes[0].path");
    let o = Overrides {
        database_url: Some("postgres://env@h/db".into()),
        ..Overrides::default()
    };
    assert!(matches!(
        load(None, &o).unwrap().store.target,
        StoreTarget::Postgres { .. }
    ));
}

#[test]
fn route_paths_are_plain_and_not_the_servers_own() {
    for ok in [
        "/api/report",
        "/x/",
        "/a-b_c~d/e.f",
        "/v1/price(usd)",
        "/@me",
    ] {
        assert_eq!(check_route_path(ok, true), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "x",
        "/",
        "//",
        "/a//b",
        "/./a",
        "/a/..",
        "/a b",
        "/a\tb",
        "/é",
        "/x/{id}",
        "/x/:id",
        "/x/*",
        "/a?b",
        "/a#b",
        "/a%20",
        "/dev",
        "/dev/x",
        "/api/l402",
        "/api/l402/challenges",
        "/api/admin/x",
        "/api/invoice",
        "/api/verify",
        "/api/openapi.json",
        DEMO_PATH,
    ] {
        assert!(check_route_path(bad, true).is_err(), "{bad:?}");
    }
    // The demo's path is free when the demo is off; look-alikes always are.
    assert_eq!(check_route_path(DEMO_PATH, false), Ok(()));
    assert_eq!(check_route_path("/api/l402x", true), Ok(()));
    assert!(check_route_path(&format!("/{}", "a".repeat(600)), true).is_err());
    let c = load_str(&format!(
        "[demo]\nenabled = false\n[[routes]]\npath = \"{DEMO_PATH}\"\nprice_sats = 1\nbody = \"x\""
    ))
    .unwrap();
    assert_eq!(c.routes[0].path, DEMO_PATH);
}

#[test]
fn node_variables_win_over_the_file_and_are_named_in_errors() {
    let file = "[backend]\nkind = \"lnd\"\nurl = \"https://file:8080\"\nmacaroon_hex = \"aa\"";
    let vars = |pairs: &[(&str, &str)]| Overrides {
        env: EnvVars(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Overrides::default()
    };
    let resolve_with = |o: &Overrides| resolve("l402.toml", toml::from_str(file).unwrap(), o, None);
    // No variables: the file.
    let c = resolve_with(&Overrides::default()).unwrap();
    assert_eq!(c.backend.location().as_deref(), Some("https://file:8080"));
    // Lightning Enable's names replace the file's keys.
    let c = resolve_with(&vars(&[
        ("LND_REST_HOST", "le:8080"),
        ("LND_MACAROON_HEX", "bb"),
    ]))
    .unwrap();
    assert_eq!(c.backend.kind(), "lnd");
    assert_eq!(c.backend.location().as_deref(), Some("https://le:8080"));
    assert!(
        matches!(&c.backend, Backend::Node(NodeSpec::Lnd { macaroon_hex, .. })
        if macaroon_hex.0 == "bb")
    );
    // The L402_ names win over Lightning Enable's.
    let c = resolve_with(&vars(&[
        ("LND_REST_HOST", "le:8080"),
        ("L402_LND_URL", "https://ours:8080"),
    ]))
    .unwrap();
    assert_eq!(c.backend.location().as_deref(), Some("https://ours:8080"));
    // A bad value from a variable names the variable, not the file.
    let e = resolve_with(&vars(&[("L402_LND_MACAROON_HEX", "zz")])).unwrap_err();
    assert_eq!(e.source, "L402_LND_MACAROON_HEX");
    assert_eq!(e.key, "backend.macaroon_hex");
    // Other kinds' variables are not read; neither shows in Debug.
    let o = vars(&[
        ("L402_PHOENIXD_URL", "ftp://x"),
        ("L402_CLN_RUNE", "sekrit"),
    ]);
    assert!(resolve_with(&o).is_ok());
    assert!(!format!("{o:?}").contains("sekrit"));
    let c = resolve_with(&vars(&[("L402_LND_MACAROON_HEX", "0badc0de")])).unwrap();
    assert!(!format!("{c:?}").contains("0badc0de"), "{c:?}");
}

#[test]
fn overrides_win() {
    let o = Overrides {
        listen: Some("127.0.0.1:1234".into()),
        demo: Some(false),
        ..Overrides::default()
    };
    let c = load(None, &o).unwrap();
    assert_eq!(c.listen.port(), 1234);
    assert!(!c.demo);
    let bad = Overrides {
        listen: Some("x".into()),
        ..Overrides::default()
    };
    assert_eq!(
        load(None, &bad).unwrap_err().source,
        "--listen / L402_LISTEN"
    );
}

#[test]
fn the_public_url_is_checked_and_loses_its_trailing_slash() {
    let c = load_str("[producer]\npublic_url = \"https://pay.example.com/\"").unwrap();
    assert_eq!(
        c.producer.public_url.as_deref(),
        Some("https://pay.example.com")
    );
    assert_eq!(load_str("").unwrap().producer.public_url, None);
    for bad in [
        "pay.example.com",
        "ftp://pay.example.com",
        "https://pay.example.com/?x=1",
        "https://user:pw@pay.example.com",
    ] {
        let e = load_str(&format!("[producer]\npublic_url = \"{bad}\"")).unwrap_err();
        assert_eq!(e.key, "producer.public_url", "{bad}");
    }
}
