//! Macaroon decoding: binary and base64. Whatever decodes must re-encode to
//! something that decodes to the same macaroon.
#![no_main]

use l402::Macaroon;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mac) = Macaroon::from_bytes(data) {
        let again = Macaroon::from_bytes(&mac.to_bytes()).expect("re-encoded macaroon decodes");
        assert_eq!(again, mac);
        let text: Macaroon = mac.to_string().parse().expect("base64 form decodes");
        assert_eq!(text, mac);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(mac) = s.parse::<Macaroon>() {
            let _ = l402::Identifier::from_bytes(mac.identifier());
        }
    }
});
