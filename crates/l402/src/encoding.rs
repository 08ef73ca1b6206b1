//! Base64 as L402 peers use it: emit standard padded (Aperture, go-macaroon),
//! accept both the standard and the URL-safe alphabet, padded or not.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);

const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes base64 in either alphabet, with or without padding.
///
/// Returns `None` for anything else, including a mix of both alphabets.
pub(crate) fn decode_base64_any(input: &str) -> Option<Vec<u8>> {
    engine_for(input)?.decode(input.as_bytes()).ok()
}

/// [`decode_base64_any`] into `out`, for callers that must not allocate:
/// the decoded length, or `None` when the input is not base64 or does not
/// fit.
pub(crate) fn decode_base64_any_into(input: &str, out: &mut [u8]) -> Option<usize> {
    engine_for(input)?.decode_slice(input.as_bytes(), out).ok()
}

/// The alphabet `input` is written in; `None` for a mix of both.
fn engine_for(input: &str) -> Option<&'static GeneralPurpose> {
    let bytes = input.as_bytes();
    let url_safe = bytes.iter().any(|&b| b == b'-' || b == b'_');
    let standard = bytes.iter().any(|&b| b == b'+' || b == b'/');
    match (url_safe, standard) {
        (true, true) => None,
        (true, false) => Some(&URL_SAFE_LENIENT),
        (false, _) => Some(&STANDARD_LENIENT),
    }
}

/// Encodes standard padded base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_forms_decode() {
        let want = b"Ou?T\xff\xfe".to_vec();
        for form in ["T3U/VP/+", "T3U_VP_-", "T3U/VP/+", "T3U_VP_-"] {
            assert_eq!(decode_base64_any(form), Some(want.clone()), "{form}");
        }
        assert_eq!(decode_base64_any("YQ"), Some(b"a".to_vec()));
        assert_eq!(decode_base64_any("YQ=="), Some(b"a".to_vec()));
        assert_eq!(decode_base64_any("T3U/VP_-"), None, "mixed alphabets");
        assert_eq!(decode_base64_any("!!!!"), None);
        assert_eq!(encode_base64(b"a"), "YQ==");
    }
}
