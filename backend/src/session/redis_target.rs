//! What `BFF_SESSION_STORE` names when it names Redis: one server, a
//! Cluster's seed nodes, or the Sentinels of a primary; with TLS or not; and
//! the ACL user and password.
//!
//! The forms (the password percent-encoded, as in any URL):
//!
//! - `redis://[user:password@]host:port[/db]`: one server (or a managed
//!   service's single endpoint);
//! - `rediss://...`: the same over TLS, the server certificate verified
//!   against the system's roots, or only against `BFF_REDIS_CA_FILE`;
//! - `redis+cluster://[user:password@]host1:port1,host2:port2,...`: Redis
//!   Cluster, any reachable seed node finds the others (`rediss+cluster://`
//!   over TLS); database 0 only, as Cluster has no other;
//! - `redis+sentinel://[user:password@]sentinel1:port,sentinel2:port/primary-name[/db]`:
//!   the primary Sentinel names `primary-name`, followed across failovers
//!   (`rediss+sentinel://` over TLS, to the Sentinels and to Redis alike);
//!   the user and password are those of Redis, the Sentinels are asked
//!   without.
//!
//! # Security
//! Nothing here ever prints the password: a parse error names what is
//! wrong, never the value it read, and [`RedisTarget`]'s `Debug` redacts.
//! A URL fragment (redis-rs reads `#insecure` as "do not verify the
//! certificate") and a query string are refused.

use percent_encoding::percent_decode_str;

use crate::types::Secret;

/// How the Redis nodes are organised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisShape {
    /// One server (its replicas, if any, are not ours to find).
    Standalone,
    /// Redis Cluster: the nodes are seeds.
    Cluster,
    /// A primary behind Sentinels: the nodes are the Sentinels.
    Sentinel {
        /// The name Sentinel monitors the primary under.
        primary: String,
    },
}

/// A parsed Redis location.
#[derive(Clone)]
pub struct RedisTarget {
    /// Single server, Cluster or Sentinel.
    pub shape: RedisShape,
    /// TLS (`rediss`).
    pub tls: bool,
    /// Host and port of each node (seeds, Sentinels).
    pub nodes: Vec<(String, u16)>,
    /// The ACL user, if any.
    pub username: Option<String>,
    /// The password, if any.
    pub password: Option<Secret>,
    /// The database number.
    pub db: i64,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("shape", &self.shape)
            .field("tls", &self.tls)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

/// Whether `value` is meant as a Redis location (and not a SQLite path).
pub fn is_redis(value: &str) -> bool {
    SCHEMES
        .iter()
        .any(|(s, ..)| value.starts_with(&format!("{s}://")))
}

const SCHEMES: [(&str, bool, Kind); 6] = [
    ("redis", false, Kind::Standalone),
    ("rediss", true, Kind::Standalone),
    ("redis+cluster", false, Kind::Cluster),
    ("rediss+cluster", true, Kind::Cluster),
    ("redis+sentinel", false, Kind::Sentinel),
    ("rediss+sentinel", true, Kind::Sentinel),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standalone,
    Cluster,
    Sentinel,
}

const FORMS: &str = "redis://[user:password@]host:port[/db], rediss://... (TLS), \
     redis+cluster://[user:password@]host1:port1,host2:port2 or \
     redis+sentinel://[user:password@]host1:port1,host2:port2/primary-name[/db]";

impl RedisTarget {
    /// Parses a location; the error says what is wrong without repeating
    /// the value (it may hold a password).
    pub fn parse(value: &str) -> Result<RedisTarget, String> {
        let (scheme, rest) = value
            .split_once("://")
            .ok_or_else(|| format!("is not a Redis URL (expected {FORMS})"))?;
        let (_, tls, kind) = SCHEMES
            .iter()
            .find(|(s, ..)| *s == scheme)
            .copied()
            .ok_or_else(|| format!("has an unknown scheme {scheme:?} (expected {FORMS})"))?;
        if rest.contains('#') {
            return Err(
                "must not have a #fragment (certificate checks cannot be turned off)".into(),
            );
        }
        if rest.contains('?') {
            return Err("must not have a ?query: write the settings into the URL itself".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        // The password may contain '@' only percent-encoded; the last '@'
        // ends the user information either way.
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let decode = |s: &str, what: &str| {
                    percent_decode_str(s)
                        .decode_utf8()
                        .map(|c| c.into_owned())
                        .map_err(|_| format!("has a {what} that is not UTF-8 once decoded"))
                };
                let user = decode(user, "user name")?;
                let pass = pass.map(|p| decode(p, "password")).transpose()?;
                (
                    (!user.is_empty()).then_some(user),
                    pass.filter(|p| !p.is_empty()).map(Secret::new),
                )
            }
        };
        let mut nodes = Vec::new();
        for node in hosts.split(',') {
            nodes.push(parse_node(node)?);
        }
        if kind == Kind::Standalone && nodes.len() > 1 {
            return Err(format!(
                "names {} servers: a list of nodes needs redis+cluster:// or redis+sentinel://",
                nodes.len()
            ));
        }
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let shape = match kind {
            Kind::Standalone => RedisShape::Standalone,
            Kind::Cluster => RedisShape::Cluster,
            Kind::Sentinel => RedisShape::Sentinel {
                primary: segments
                    .next()
                    .ok_or("needs the primary's name after the Sentinels (…/primary-name)")?
                    .to_owned(),
            },
        };
        let db = match segments.next() {
            None => 0,
            Some(n) => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or("has a database that is not a number (…/0)")?,
        };
        if segments.next().is_some() {
            return Err(format!("has more path than expected ({FORMS})"));
        }
        if kind == Kind::Cluster && db != 0 {
            return Err("names a database other than 0, which Redis Cluster does not have".into());
        }
        Ok(RedisTarget {
            shape,
            tls,
            nodes,
            username,
            password,
            db,
        })
    }

    /// The redis-rs URL of the node `host:port`, with this target's TLS,
    /// credentials and database.
    pub(crate) fn node_url(&self, host: &str, port: u16, with_credentials: bool) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let userinfo = match (&self.username, &self.password, with_credentials) {
            (_, _, false) | (None, None, _) => String::new(),
            (user, pass, true) => format!(
                "{}{}@",
                user.as_deref().map(enc).unwrap_or_default(),
                pass.as_ref()
                    .map(|p| format!(":{}", enc(p.expose())))
                    .unwrap_or_default()
            ),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        format!("{scheme}://{userinfo}{host}:{port}/{}", self.db)
    }
}

fn parse_node(node: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = node.strip_prefix('[') {
        let (host, port) = v6
            .split_once(']')
            .ok_or("has an IPv6 address without its closing ']'")?;
        (host, port.strip_prefix(':'))
    } else {
        match node.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (node, None),
        }
    };
    if host.is_empty() {
        return Err(format!("has an empty host ({FORMS})"));
    }
    let port = match port {
        None => 6379,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("has a port that is not a number for host {host:?}"))?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_operators_write() {
        let t = RedisTarget::parse("rediss://gx-bff:s3cr%40t@redis.example:6380/2").unwrap();
        assert_eq!(t.shape, RedisShape::Standalone);
        assert!(t.tls);
        assert_eq!(t.nodes, vec![("redis.example".to_owned(), 6380)]);
        assert_eq!(t.username.as_deref(), Some("gx-bff"));
        assert_eq!(t.password.as_ref().unwrap().expose(), "s3cr@t");
        assert_eq!(t.db, 2);
        assert!(!format!("{t:?}").contains("s3cr"));
        assert_eq!(
            t.node_url("redis.example", 6380, true),
            "rediss://gx%2Dbff:s3cr%40t@redis.example:6380/2"
        );

        let t = RedisTarget::parse("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
            .unwrap();
        assert_eq!(t.shape, RedisShape::Cluster);
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.nodes[2], ("::1".to_owned(), 7002));
        assert_eq!(t.username, None);
        assert_eq!(t.db, 0);

        let t = RedisTarget::parse("redis+sentinel://s1:26379,s2/gx-primary/1").unwrap();
        assert_eq!(
            t.shape,
            RedisShape::Sentinel {
                primary: "gx-primary".into()
            }
        );
        assert_eq!(t.nodes[1], ("s2".to_owned(), 6379));
        assert_eq!(t.db, 1);
        assert!(is_redis("redis://localhost"));
        assert!(is_redis("rediss+cluster://a:1"));
        assert!(!is_redis("var/sessions.sqlite3"));
    }

    #[test]
    fn mistakes_are_named_without_the_password() {
        for (value, says) in [
            ("rediss://u:hunter2@h:6380/#insecure", "fragment"),
            ("redis://u:hunter2@h:6380/0?timeout=1", "query"),
            ("redis://u:hunter2@h:port", "port"),
            ("redis://u:hunter2@a:1,b:2", "redis+cluster"),
            ("redis+cluster://u:hunter2@a:1/3", "database"),
            ("redis+sentinel://u:hunter2@a:1", "primary"),
            ("redis://u:hunter2@h:1/zero", "database"),
            ("redis://u:hunter2@:1", "empty host"),
            ("memcached://u:hunter2@h:1", "unknown scheme"),
        ] {
            let e = RedisTarget::parse(value).unwrap_err();
            assert!(e.contains(says), "{value}: {e}");
            assert!(!e.contains("hunter2"), "{value}: {e}");
        }
    }
}
