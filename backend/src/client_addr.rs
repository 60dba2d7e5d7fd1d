//! The client's address: the TCP peer, or what a trusted reverse proxy says
//! the client was ([`ClientAddr`]). It keys the sign-in rate limit, fills
//! the request span's `client` field and is remembered with each connected
//! session.
//!
//! # Security
//! - A forwarding header (`X-Forwarded-For`, or RFC 7239 `Forwarded` when
//!   `BFF_FORWARDED_HEADER=forwarded`) is read only when the TCP peer is in
//!   `BFF_TRUSTED_PROXIES`; from anyone else it is ignored, so a client
//!   talking to the backend directly cannot name another address.
//! - The chain is walked right to left (the entry nearest to us first),
//!   skipping addresses that are themselves trusted proxies; the first
//!   untrusted address is the client. A client can put anything at the left
//!   of the header, but the trusted proxy appends the address it really saw,
//!   so what a client prepends is never reached (RFC 7239 §5.2, §8.1).
//! - Only the configured header is read: a proxy that sets
//!   `X-Forwarded-For` passes a client's own `Forwarded` header through
//!   untouched, so reading "whichever is present" would let a client choose.
//! - An entry that is not an address (`unknown`, an obfuscated RFC 7239 node,
//!   garbage) ends the walk at the last hop that can be vouched for: a
//!   trusted proxy's own address, never a client-chosen one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::AppState;
use crate::error::AppError;

/// `BFF_TRUSTED_PROXIES`: the peers whose forwarding header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// No proxy is trusted: the client is always the TCP peer.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// Parses a list of CIDR blocks or single addresses, separated by
    /// commas or spaces: `10.0.0.0/8, 192.168.1.10, fd00::/8`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for item in value.split([',', ' ']).filter(|s| !s.is_empty()) {
            let parsed = IpNet::from_str(item)
                .ok()
                .or_else(|| IpAddr::from_str(item).ok().map(IpNet::from));
            match parsed {
                // `10.1.2.3/8` means `10.0.0.0/8`.
                Some(net) => nets.push(net.trunc()),
                None => bad.push(item),
            }
        }
        if !bad.is_empty() {
            return Err(format!(
                "{} is not an address or CIDR block (e.g. 10.0.0.0/8, 192.168.1.10, fd00::/8)",
                bad.iter()
                    .map(|b| format!("{b:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `BFF_FORWARDED_HEADER`: which header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, Apache, HAProxy, Caddy,
    /// Traefik, cloud load balancers): the default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:443"`.
    Forwarded,
}

impl ForwardedHeader {
    /// Parses `x-forwarded-for` or `forwarded` (any case).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err(format!(
                "must be x-forwarded-for or forwarded (the header your proxy sets), got {value:?}"
            )),
        }
    }
}

/// The client's address, as [`resolve`] found it. Extract it in a handler
/// (or a middleware) instead of reading `ConnectInfo` or a header: it is
/// computed once per request by the router, and a handler cannot read the
/// forwarding headers the wrong way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        // Only a router not served by `listen::serve` (no peer address)
        // lacks it: a programming error, not the client's.
        parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .ok_or_else(|| AppError::internal("the request has no peer address"))
    }
}

/// Middleware (the router's outermost but the request id): stores the
/// request's [`ClientAddr`] for the span, the limiter and the handlers.
pub async fn resolve_client(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = resolve(
            peer.ip(),
            request.headers(),
            &state.config.trusted_proxies,
            state.config.forwarded_header,
        );
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

/// The client of a request from `peer` with `headers`: `peer` itself unless
/// it is a trusted proxy, else the right-most address of the forwarding
/// chain that is not a trusted proxy (see the module's `# Security`).
pub fn resolve(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    header: ForwardedHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let chain = match header {
        ForwardedHeader::XForwardedFor => forwarded_for_chain(headers),
        ForwardedHeader::Forwarded => forwarded_chain(headers),
    };
    let mut client = peer;
    for entry in chain.into_iter().rev() {
        let Some(ip) = entry else {
            return client;
        };
        client = ip.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    // Every hop is trusted: the request started on a proxy's own machine.
    client
}

/// The `X-Forwarded-For` entries of every such header line, in order
/// (`None` for one that is not an address).
fn forwarded_for_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    for line in headers.get_all("x-forwarded-for") {
        match line.to_str() {
            Ok(line) => chain.extend(line.split(',').map(node_address)),
            Err(_) => chain.push(None),
        }
    }
    chain
}

/// The `for=` node of each RFC 7239 element of every `Forwarded` line, in
/// order (`None` for an element without one, or with `unknown` or an
/// obfuscated identifier).
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    for line in headers.get_all(axum::http::header::FORWARDED) {
        let Ok(line) = line.to_str() else {
            chain.push(None);
            continue;
        };
        for element in split_unquoted(line, ',') {
            let node = split_unquoted(element, ';').into_iter().find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| unquote(value.trim()))
            });
            chain.push(node.as_deref().and_then(node_address));
        }
    }
    chain
}

/// `s` split on `separator` outside double-quoted strings.
fn split_unquoted(s: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A token or an RFC 7230 quoted-string, unquoted.
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            out
        }
        None => value.to_owned(),
    }
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, port) = rest.split_once(']')?;
        if !(port.is_empty() || port.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (v4, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(s: &str) -> bool {
    s.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The client `peer` sends with `headers`, given `trusted` and `header`.
    fn client(
        trusted: &str,
        header: ForwardedHeader,
        peer: &str,
        lines: &[(&str, &str)],
    ) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let trusted = TrustedProxies::parse(trusted).unwrap();
        resolve(ip(peer), &headers, &trusted, header).to_string()
    }

    /// Trusted proxies, the header read, the peer, the header lines, the
    /// client expected.
    type Case<'a> = (
        &'a str,
        ForwardedHeader,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
    );

    #[test]
    fn forwarding_headers_count_only_from_trusted_peers() {
        use ForwardedHeader::{Forwarded, XForwardedFor as Xff};
        let xff = "x-forwarded-for";
        let fwd = "forwarded";
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // No trusted proxy, or an untrusted peer: the header is ignored.
            ("", Xff, "203.0.113.9", &[(xff, "10.1.1.1")], "203.0.113.9"),
            ("10.0.0.0/8", Xff, "203.0.113.9", &[(xff, "10.1.1.1")], "203.0.113.9"),
            ("10.0.0.1", Forwarded, "10.0.0.2", &[(fwd, "for=192.0.2.7")], "10.0.0.2"),
            // A trusted peer: the right-most untrusted entry.
            ("10.0.0.1", Xff, "10.0.0.1", &[(xff, "192.0.2.7")], "192.0.2.7"),
            ("10.0.0.0/8", Xff, "10.0.0.1", &[(xff, "192.0.2.7, 10.0.0.5")], "192.0.2.7"),
            // What the client prepends is never reached.
            ("10.0.0.1", Xff, "10.0.0.1", &[(xff, "1.1.1.1, 8.8.8.8, 192.0.2.7")], "192.0.2.7"),
            // Several header lines are one list, in order.
            ("10.0.0.0/8", Xff, "10.0.0.1", &[(xff, "1.1.1.1"), (xff, "192.0.2.7, 10.0.0.9")], "192.0.2.7"),
            // Ports and IPv6, with and without brackets.
            ("10.0.0.1", Xff, "10.0.0.1", &[(xff, "192.0.2.7:4711")], "192.0.2.7"),
            ("10.0.0.1", Xff, "10.0.0.1", &[(xff, "2001:db8::17")], "2001:db8::17"),
            ("10.0.0.1", Xff, "10.0.0.1", &[(xff, "[2001:db8::17]:4711")], "2001:db8::17"),
            // An IPv6 proxy, and an IPv4 peer seen through an IPv6 socket.
            ("fd00::/8", Xff, "fd00::1", &[(xff, "192.0.2.7")], "192.0.2.7"),
            ("127.0.0.1", Xff, "::ffff:127.0.0.1", &[(xff, "::ffff:192.0.2.7")], "192.0.2.7"),
            // Not an address: the walk ends at the last trusted hop.
            ("10.0.0.0/8", Xff, "10.0.0.1", &[(xff, "192.0.2.7, unknown")], "10.0.0.1"),
            ("10.0.0.0/8", Xff, "10.0.0.1", &[(xff, "192.0.2.7, nonsense, 10.0.0.3")], "10.0.0.3"),
            // Every hop trusted: the left-most.
            ("10.0.0.0/8", Xff, "10.0.0.1", &[(xff, "10.0.0.7, 10.0.0.3")], "10.0.0.7"),
            ("10.0.0.1", Xff, "10.0.0.1", &[], "10.0.0.1"),
            // RFC 7239, its own examples (§4, §7.4).
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "for=192.0.2.60;proto=http;by=203.0.113.43")], "192.0.2.60"),
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "for=192.0.2.43, for=198.51.100.17")], "198.51.100.17"),
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "For=\"[2001:db8:cafe::17]:4711\"")], "2001:db8:cafe::17"),
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "for=\"_gazonk\"")], "10.0.0.1"),
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "for=unknown, for=192.0.2.9")], "192.0.2.9"),
            // A quoted comma does not split an element.
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(fwd, "for=192.0.2.1;x=\"a,b\", for=192.0.2.2")], "192.0.2.2"),
            // Only the configured header: X-Forwarded-For is ignored when
            // Forwarded is expected, and the other way round.
            ("10.0.0.1", Forwarded, "10.0.0.1", &[(xff, "192.0.2.7")], "10.0.0.1"),
            ("10.0.0.1", Xff, "10.0.0.1", &[(fwd, "for=192.0.2.7"), (xff, "198.51.100.1")], "198.51.100.1"),
        ];
        for (trusted, header, peer, lines, want) in cases {
            assert_eq!(
                client(trusted, *header, peer, lines),
                *want,
                "trusted {trusted:?}, {header:?}, peer {peer}, {lines:?}"
            );
        }
    }

    #[test]
    fn trusted_proxies_parse_blocks_and_addresses_and_name_bad_ones() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.10 fd00::/8,::1").unwrap();
        for (addr, trusted) in [
            ("10.200.3.4", true),
            ("192.168.1.10", true),
            ("192.168.1.11", false),
            ("fd12::1", true),
            ("::1", true),
            ("::ffff:10.0.0.1", true),
            ("11.0.0.1", false),
        ] {
            assert_eq!(t.contains(ip(addr)), trusted, "{addr}");
        }
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let err = TrustedProxies::parse("10.0.0.0/8, 10.0.0.0/33, proxy.local").unwrap_err();
        assert!(
            err.contains("\"10.0.0.0/33\"") && err.contains("\"proxy.local\""),
            "{err}"
        );
        assert!(ForwardedHeader::parse("Forwarded").is_ok());
        assert!(ForwardedHeader::parse("x-real-ip").is_err());
    }
}
