use super::*;

fn cav(s: &str) -> Caveat {
    s.parse().unwrap()
}

fn check(caveats: &[&str], ctx: &RequestContext<'_>) -> Result<(), CaveatError> {
    let caveats: Vec<Caveat> = caveats.iter().map(|s| cav(s)).collect();
    check_caveats(caveats.iter(), ctx)
}

#[test]
fn parse_and_display() {
    let c = cav(" services = meme:0 ");
    assert_eq!(c.condition(), "services");
    assert_eq!(c.value(), "meme:0");
    assert_eq!(c.to_string(), "services=meme:0");
    assert_eq!(cav("a=b=c").value(), "b=c");
    assert!(matches!(
        "novalue".parse::<Caveat>(),
        Err(CaveatParseError::NoEquals(_))
    ));
    assert!(matches!(
        "=x".parse::<Caveat>(),
        Err(CaveatParseError::EmptyCondition(_))
    ));
    assert_eq!(
        Caveat::from_bytes(&[0xff, b'=']),
        Err(CaveatParseError::NotUtf8)
    );
}

#[test]
fn aperture_services_and_capabilities() {
    let ctx = RequestContext::new(0).service("meme");
    assert!(check(&["services=meme:0", "meme_capabilities="], &ctx).is_ok());
    let other = RequestContext::new(0).service("loop");
    assert!(matches!(
        check(&["services=meme:0"], &other),
        Err(CaveatError::WrongService { .. })
    ));
    // a service-less context cannot check a services caveat
    assert_eq!(
        check(&["services=meme:0"], &RequestContext::new(0)),
        Err(CaveatError::Unverifiable("services".into()))
    );
    let cap = RequestContext::new(0).service("meme").capability("upload");
    assert!(matches!(
        check(&["services=meme:0", "meme_capabilities=read"], &cap),
        Err(CaveatError::MissingCapability { .. })
    ));
    assert!(check(&["services=meme:0", "meme_capabilities=read,upload"], &cap).is_ok());
    assert!(matches!(
        check(&["services=meme:0", "services=meme:0,loop:1"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
    assert!(matches!(
        check(&["services=meme"], &ctx),
        Err(CaveatError::BadValue { .. })
    ));
}

#[test]
fn expiry_narrows_and_expires() {
    let ctx = RequestContext::new(100);
    assert!(check(&["valid_until=200", "valid_until=150"], &ctx).is_ok());
    assert!(matches!(
        check(&["valid_until=150", "valid_until=200"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
    assert!(matches!(
        check(&["valid_until=100"], &ctx),
        Err(CaveatError::Expired { .. })
    ));
    assert!(matches!(
        check(&["expiration=100000"], &ctx),
        Err(CaveatError::Expired { .. })
    ));
    assert!(check(&["expiration=100001"], &ctx).is_ok());
    // a service's own expiry applies to that service only, as in Aperture
    let meme = RequestContext::new(100).service("meme");
    assert!(matches!(
        check(&["meme_valid_until=50"], &meme),
        Err(CaveatError::Expired { .. })
    ));
    assert!(check(&["loop_valid_until=50"], &meme).is_ok());
}

#[test]
fn resource_method_amount_merchant() {
    let ctx = RequestContext::new(0)
        .resource("/api/a")
        .method("GET")
        .amount_sats(10)
        .merchant("m1");
    assert!(
        check(
            &[
                "resource=/api/a",
                "method=GET,HEAD",
                "amount_sats=10",
                "merchant=m1"
            ],
            &ctx
        )
        .is_ok()
    );
    assert!(check(&["resource_prefix=/api/", "resource=/api/a"], &ctx).is_ok());
    assert!(check(&["resource_prefix=/", "resource_prefix=/api/"], &ctx).is_ok());
    assert!(matches!(
        check(&["resource=/api/b"], &ctx),
        Err(CaveatError::WrongResource { .. })
    ));
    assert!(matches!(
        check(&["resource_prefix=/api/b"], &ctx),
        Err(CaveatError::WrongResource { .. })
    ));
    // A literal '*' is not a wildcard: a request for "/api/*" cannot buy
    // a token that opens all of /api/.
    assert!(matches!(
        check(&["resource=/api/*"], &ctx),
        Err(CaveatError::WrongResource { .. })
    ));
    assert!(matches!(
        check(&["resource=/api/a", "resource=/api/b"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
    assert!(matches!(
        check(&["resource_prefix=/api/", "resource_prefix=/"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
    assert!(matches!(
        check(&["method=POST"], &ctx),
        Err(CaveatError::WrongMethod { .. })
    ));
    assert!(matches!(
        check(&["method=GET", "method=GET,POST"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
    assert_eq!(
        check(&["amount_sats=11"], &ctx),
        Err(CaveatError::WrongAmount {
            paid: 11,
            price: 10
        })
    );
    assert!(matches!(
        check(&["merchant=m2"], &ctx),
        Err(CaveatError::WrongMerchant { .. })
    ));
    assert!(matches!(
        check(&["merchant=m1", "merchant=m2"], &ctx),
        Err(CaveatError::Widens { .. })
    ));
}

#[test]
fn many_distinct_conditions_spill_past_the_inline_slots() {
    let ctx = RequestContext::new(0).service("a").resource("/r");
    let mut caveats: Vec<String> = (0..12).map(|i| format!("s{i}_valid_until=100")).collect();
    caveats.push("services=a:0".into());
    caveats.push("resource=/r".into());
    caveats.push("s11_valid_until=50".into());
    caveats.push("a_valid_until=10".into());
    let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
    assert!(check(&refs, &ctx).is_ok());
    caveats.push("s11_valid_until=60".into()); // widens the spilled s11
    let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
    assert!(matches!(
        check(&refs, &ctx),
        Err(CaveatError::Widens { .. })
    ));
    let late = RequestContext::new(20).service("a").resource("/r");
    caveats.pop();
    let refs: Vec<&str> = caveats.iter().map(String::as_str).collect();
    assert!(matches!(
        check(&refs, &late),
        Err(CaveatError::Expired { .. })
    ));
}

#[test]
fn unknown_and_unverifiable_are_refused_unless_ignored() {
    let ctx = RequestContext::new(0);
    assert_eq!(
        check(&["color=blue"], &ctx),
        Err(CaveatError::UnknownCondition("color".into()))
    );
    assert_eq!(
        check(&["_capabilities=x"], &ctx),
        Err(CaveatError::UnknownCondition("_capabilities".into()))
    );
    assert_eq!(
        check(&["resource=/a"], &ctx),
        Err(CaveatError::Unverifiable("resource".into()))
    );
    assert!(check(&["resource=/a"], &ctx.clone().ignore(Ignorable::Resource)).is_ok());
    assert!(check(&["preimage=00"], &ctx).is_ok());
}
