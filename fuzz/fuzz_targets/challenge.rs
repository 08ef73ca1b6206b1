//! `WWW-Authenticate` parsing: never panics; a usable challenge re-emitted in
//! Aperture's form parses back to the same macaroon and invoice.
#![no_main]

use l402::{Challenge, Challenges};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let values: Vec<&str> = s.split('\n').collect();
    let parsed = Challenges::parse(values.iter().copied());
    if let Ok(challenge) = parsed.l402() {
        let emitted = Challenge::new(challenge.macaroon.clone(), challenge.invoice.clone()).to_string();
        let again = Challenges::parse([emitted.as_str()]);
        let back = again.l402().expect("emitted challenge parses");
        assert_eq!(back.macaroon, challenge.macaroon);
        assert_eq!(back.invoice, challenge.invoice);
        let _ = challenge.decode_macaroon();
    }
});
