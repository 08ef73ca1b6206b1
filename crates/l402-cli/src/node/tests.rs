//! The node configuration's unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn lightning_enable_names_work_and_l402_names_win() {
    let e = EnvFields::read(
        "lnd",
        env(&[
            ("LND_REST_HOST", "127.0.0.1:8080"),
            ("LND_MACAROON_HEX", "0201"),
        ]),
    );
    assert_eq!(e.name_of("url"), Some("LND_REST_HOST"));
    let spec = NodeSpec::resolve("lnd", &e.over(&NodeFields::default()), None).unwrap();
    assert_eq!(spec.location(), "https://127.0.0.1:8080");
    assert!(matches!(&spec, NodeSpec::Lnd { macaroon_hex, .. } if macaroon_hex.0 == "0201"));
    let e = EnvFields::read(
        "lnd",
        env(&[
            ("LND_REST_HOST", "https://le:8080"),
            ("L402_LND_URL", "https://ours:8080"),
            ("LND_MACAROON_HEX", "aa"),
            ("L402_LND_MACAROON_HEX", "bb"),
        ]),
    );
    assert_eq!(e.fields.url.as_deref(), Some("https://ours:8080"));
    assert_eq!(e.fields.macaroon_hex.as_deref(), Some("bb"));
    assert_eq!(e.name_of("macaroon_hex"), Some("L402_LND_MACAROON_HEX"));
    // Empty values are unset; other kinds' variables are not read.
    let e = EnvFields::read(
        "lnd",
        env(&[("L402_LND_URL", " "), ("L402_PHOENIXD_URL", "x")]),
    );
    assert!(!e.is_set());
}

#[test]
fn the_environment_wins_key_by_key() {
    let file = NodeFields {
        url: Some("http://file:9740".into()),
        password_file: Some("/nonexistent".into()),
        timeout_secs: Some(5),
        ..NodeFields::default()
    };
    let e = EnvFields::read("phoenixd", env(&[("L402_PHOENIXD_PASSWORD", "pw")]));
    let merged = e.over(&file);
    // The env password replaces the file's password_file (not "both set").
    let spec = NodeSpec::resolve("phoenixd", &merged, None).unwrap();
    assert_eq!(spec.location(), "http://file:9740");
    assert!(
        matches!(&spec, NodeSpec::Phoenixd { password, timeouts, .. }
        if password.0 == "pw" && timeouts.call == Duration::from_secs(5))
    );
    assert!(!format!("{spec:?}").contains("pw\""));
    // An env socket replaces the file's clnrest url (and the reverse).
    let file = NodeFields {
        url: Some("https://rest:3010".into()),
        rune: Some("r".into()),
        ..NodeFields::default()
    };
    let e = EnvFields::read("cln", env(&[("L402_CLN_SOCKET", "/run/cln/lightning-rpc")]));
    let spec = NodeSpec::resolve("cln", &e.over(&file), None).unwrap();
    assert_eq!(spec.location(), "/run/cln/lightning-rpc");
    assert!(matches!(spec, NodeSpec::ClnSocket { .. }));
}

#[test]
fn bad_values_name_their_key() {
    let f = |text: &str| toml::from_str::<NodeFields>(text).unwrap();
    let cases = [
        ("phoenixd", "", "url"),
        ("phoenixd", "url = \"ftp://x\"\npassword = \"p\"", "url"),
        ("phoenixd", "url = \"http://x\"", "password"),
        (
            "phoenixd",
            "url = \"http://x\"\npassword = \"p\"\npassword_file = \"f\"",
            "password",
        ),
        (
            "phoenixd",
            "url = \"http://x\"\npassword = \"p\"\nrune = \"r\"",
            "rune",
        ),
        (
            "phoenixd",
            "url = \"http://x\"\npassword = \"p\"\ntimeout_secs = 0",
            "timeout_secs",
        ),
        (
            "lnd",
            "url = \"https://x\"\nmacaroon_hex = \"zz\"",
            "macaroon_hex",
        ),
        (
            "lnd",
            "url = \"https://x\"\nmacaroon_file = \"/nonexistent\"",
            "macaroon_file",
        ),
        (
            "lnd",
            "url = \"https://x\"\nmacaroon_hex = \"00\"\ntls_cert_file = \"/nonexistent\"",
            "tls_cert_file",
        ),
        ("cln", "", "socket"),
        ("cln", "url = \"https://x\"", "rune"),
        (
            "cln",
            "url = \"https://x\"\nsocket = \"/s\"\nrune = \"r\"",
            "socket",
        ),
    ];
    for (kind, text, key) in cases {
        assert_eq!(
            NodeSpec::resolve(kind, &f(text), None).unwrap_err().0,
            key,
            "{kind}: {text}"
        );
    }
}

#[test]
fn nwc_from_lightning_enables_variable_with_relay_timeouts_and_no_secret_shown() {
    let secret = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c";
    let uri = format!(
        "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4\
         ?relay=wss%3A%2F%2Frelay.example.com&secret={secret}"
    );
    let e = EnvFields::read("nwc", env(&[("NWC_CONNECTION_STRING", &uri)]));
    assert_eq!(e.name_of("connection"), Some("NWC_CONNECTION_STRING"));
    let spec = NodeSpec::resolve("nwc", &e.over(&NodeFields::default()), None).unwrap();
    assert_eq!(spec.kind(), "nwc");
    assert_eq!(spec.location(), "wss://relay.example.com/");
    assert!(matches!(&spec, NodeSpec::Nwc { timeouts, .. }
        if timeouts.call == Duration::from_secs(30) && timeouts.pay == Duration::from_secs(120)));
    assert!(!format!("{spec:?}").contains(secret));
    assert!(spec.build().is_ok());
    // L402_NWC_CONNECTION wins; a file's connection is replaced.
    let e = EnvFields::read(
        "nwc",
        env(&[
            ("NWC_CONNECTION_STRING", "x"),
            ("L402_NWC_CONNECTION", &uri),
        ]),
    );
    let file = NodeFields {
        connection_file: Some("/nonexistent".into()),
        timeout_secs: Some(5),
        ..NodeFields::default()
    };
    let spec = NodeSpec::resolve("nwc", &e.over(&file), None).unwrap();
    assert!(
        matches!(&spec, NodeSpec::Nwc { timeouts, .. } if timeouts.call == Duration::from_secs(5))
    );
    let bad = NodeFields {
        connection: Some(format!("nostr+walletconnect://zz?secret={secret}")),
        ..NodeFields::default()
    };
    let (key, reason) = NodeSpec::resolve("nwc", &bad, None).unwrap_err();
    assert_eq!(key, "connection");
    assert!(!reason.contains(secret));
}

#[test]
fn a_macaroon_file_is_hex_encoded_on_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin.macaroon"), [0x02, 0x01, 0xff]).unwrap();
    let f = NodeFields {
        url: Some("https://127.0.0.1:8080".into()),
        macaroon_file: Some("admin.macaroon".into()),
        ..NodeFields::default()
    };
    let spec = NodeSpec::resolve("lnd", &f, Some(dir.path())).unwrap();
    assert!(matches!(&spec, NodeSpec::Lnd { macaroon_hex, .. } if macaroon_hex.0 == "0201ff"));
    assert!(!format!("{spec:?}").contains("0201ff"));
}
