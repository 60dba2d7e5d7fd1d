//! Scope parsing: known and unknown names are told apart, and the wire form
//! of what was understood parses back to the same set.
#![no_main]

use giponext_shared::{Scope, ScopeSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = ScopeSet::parse(input);
    for name in &parsed.unknown {
        assert!(!name.is_empty() && !name.contains(' '), "{name:?}");
        assert!(Scope::from_wire(name).is_none(), "{name:?} is known");
    }
    let mut seen = parsed.unknown.clone();
    seen.dedup();
    assert_eq!(seen.len(), parsed.unknown.len());
    let wire = parsed.known.to_wire();
    let again = ScopeSet::parse(&wire);
    assert_eq!(again.known, parsed.known);
    assert!(again.unknown.is_empty());
    for scope in parsed.known.iter() {
        assert!(input.split(' ').any(|n| n == scope.as_str()));
    }
});
