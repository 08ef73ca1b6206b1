//! The revenue chart, drawn on the server as SVG: one bar per bucket (hour,
//! day or month), its sats and payments in `data-` attributes and a
//! `<title>` tooltip; presentation attributes only (the CSP forbids inline
//! styles).

use crate::html::escape;

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Its label (`2026-11-30`, `2026-11`, `14:00`).
    pub label: String,
    /// Payments.
    pub payments: u64,
    /// Sats.
    pub sats: u64,
}

const W: u64 = 720;
const H: u64 = 220;
const PAD: u64 = 28;

/// The chart of `buckets` (oldest first) as an `<svg>` element.
///
/// ```
/// use l402_dashboard::chart::{Bucket, svg};
/// let s = svg(&[Bucket { label: "2026-11-30".into(), payments: 2, sats: 42 }]);
/// assert!(s.contains("data-sats=\"42\""));
/// ```
pub fn svg(buckets: &[Bucket]) -> String {
    let max = buckets.iter().map(|b| b.sats).max().unwrap_or(0).max(1);
    let n = u64::try_from(buckets.len()).unwrap_or(u64::MAX).max(1);
    let inner = W - 2 * PAD;
    let slot = (inner / n).max(1);
    let bar = slot.saturating_sub(slot / 5).max(1);
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"revenue per period\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#dfe3ea\"/>\
         <text x=\"{PAD}\" y=\"14\" font-size=\"12\" fill=\"#5b6475\">{max} sats</text>",
        H - PAD,
        W - PAD,
        H - PAD
    );
    let height = H - 2 * PAD - 10;
    for (i, b) in buckets.iter().enumerate() {
        let i = u64::try_from(i).unwrap_or(0);
        let h = if b.sats == 0 {
            0
        } else {
            (b.sats.saturating_mul(height) / max).max(2)
        };
        let x = PAD + i * slot + (slot - bar) / 2;
        let y = H - PAD - h;
        out.push_str(&format!(
            "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" rx=\"2\" fill=\"#f7931a\" \
             data-label=\"{label}\" data-sats=\"{sats}\" data-payments=\"{payments}\">\
             <title>{label}: {sats} sats, {payments} payments</title></rect>",
            label = escape(&b.label),
            sats = b.sats,
            payments = b.payments,
        ));
    }
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        out.push_str(&format!(
            "<text x=\"{PAD}\" y=\"{}\" font-size=\"12\" fill=\"#5b6475\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#5b6475\" text-anchor=\"end\">{}</text>",
            H - 8,
            escape(&first.label),
            W - PAD,
            H - 8,
            escape(&last.label)
        ));
    }
    out.push_str("</svg>");
    out
}
