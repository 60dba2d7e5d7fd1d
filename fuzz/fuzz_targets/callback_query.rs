//! Parsing of the provider's redirect back: never panics, and what it
//! understood survives re-encoding.
#![no_main]

use giponext_bff_core::CallbackParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(params) = CallbackParams::parse(Some(query)) else {
        return;
    };
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("code", &params.code),
        ("state", &params.state),
        ("iss", &params.iss),
        ("error", &params.error),
    ] {
        if let Some(v) = value {
            out.append_pair(name, v);
        }
    }
    let encoded = out.finish();
    let back = CallbackParams::parse(Some(&encoded)).expect("re-encoded query parses");
    assert_eq!(back.code, params.code);
    assert_eq!(back.state, params.state);
    assert_eq!(back.iss, params.iss);
    assert_eq!(back.error, params.error);
});
