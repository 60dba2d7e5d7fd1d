//! `return_to` validation: whatever passes stays on this site, under any
//! base URL, also after one more percent-decoding.
#![no_main]

use giponext_bff_core::ReturnTo;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ok) = ReturnTo::parse(input) else {
        return;
    };
    let value = ok.as_str();
    assert_eq!(value, input);
    assert!(value.starts_with('/') && !value.starts_with("//"), "{value:?}");
    assert!(!value.contains('\\'), "{value:?}");
    let once = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
    for base in [
        "http://bff.example/",
        "https://bff.example:8443/console/page?x=1",
        "http://127.0.0.1:8080/auth/callback",
    ] {
        let base = Url::parse(base).expect("constant");
        for candidate in [value, once.as_ref()] {
            if let Ok(joined) = base.join(candidate) {
                assert_eq!(joined.origin(), base.origin(), "{candidate:?} leaves {base}");
            }
        }
    }
    // It survives a JSON round trip (it is kept in the pre-login state).
    let json = serde_json::to_string(&ok).expect("serialises");
    let back: ReturnTo = serde_json::from_str(&json).expect("re-validates");
    assert_eq!(back, ok);
});
