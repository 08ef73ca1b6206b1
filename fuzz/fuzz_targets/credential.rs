//! `Authorization` parsing (header and gRPC metadata forms): never panics; a
//! parsed credential round-trips through its wire form.
#![no_main]

use l402::{Credential, Keyring, RequestContext, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(credential) = s.parse::<Credential>() {
        let again: Credential = credential.to_string().parse().expect("emitted credential parses");
        assert_eq!(again, credential);
        // Nothing a fuzzer can write verifies against a secret it never saw.
        let verifier = Verifier::new(Keyring::new(0, [0x5a; 32]));
        assert!(verifier.verify(&credential, &RequestContext::new(0)).is_err());
    }
    let _ = Credential::from_grpc_metadata(s);
});
