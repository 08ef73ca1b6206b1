//! `Authorization` parsing (header and gRPC metadata forms): never panics; a
//! parsed credential round-trips through its wire form; the allocation-free
//! `TokenIdentity::read` agrees with the full parse.
#![no_main]

use l402::{Credential, Identifier, Keyring, RequestContext, TokenIdentity, Verifier};
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
    if let Some(identity) = TokenIdentity::read(s, "lsat") {
        let credential: Credential = s.parse().expect("a value with an identity parses in full");
        assert_eq!(credential.macaroons().len(), 1);
        let macaroon = credential.macaroon();
        assert_eq!(macaroon.location(), "lsat");
        let id = Identifier::from_bytes(macaroon.identifier()).expect("an L402 identifier");
        assert_eq!(identity.token_id, id.token_id);
        assert_eq!(&identity.signature, macaroon.signature());
        assert_eq!(&identity.preimage, credential.preimage());
    }
    let _ = Credential::from_grpc_metadata(s);
});
