//! Caveat parsing and checking: never panics, for any list and context.
#![no_main]

use l402::{Caveat, RequestContext, check_caveats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut lines = s.split('\n');
    let resource = lines.next().unwrap_or_default();
    let caveats: Vec<Caveat> = lines.filter_map(|l| l.parse().ok()).collect();
    let ctx = RequestContext::new(1_800_000_000)
        .resource(resource)
        .method("GET")
        .amount_sats(10)
        .merchant("m")
        .service("svc")
        .capability("read");
    let _ = check_caveats(caveats.iter(), &ctx);
});
