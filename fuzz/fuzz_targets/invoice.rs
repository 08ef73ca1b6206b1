//! The BOLT11 wrapper: never panics, whatever the text.
#![no_main]

use l402::invoice::{Invoice, InvoiceRequirements};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(invoice) = s.parse::<Invoice>() {
        let _ = invoice.check(&InvoiceRequirements::new().max_amount_msat(1000).at_unix_secs(0));
        let _ = invoice.description();
        let _ = invoice.to_string();
    }
});
