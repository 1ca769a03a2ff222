//! Who may open the console. It shows ledger data to whoever reaches it, so it
//! listens on loopback unless told otherwise, and then answers only requests
//! addressed to a loopback name (a web page elsewhere cannot rebind its own name
//! to 127.0.0.1 and read the console). Beyond this machine it needs TLS, and every
//! request must carry the access token it prints at start: a cookie set by opening
//! the printed `?token=` link once, or an `Authorization: Bearer` header.

use http::{HeaderMap, Uri, header};
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;

/// The cookie that carries the access token after the first visit.
pub const TOKEN_COOKIE: &str = "dbond_console_token";
/// The query parameter of the link printed at start.
pub const TOKEN_PARAM: &str = "token";
/// Random bytes in an access token (printed as 64 hex digits).
const TOKEN_BYTES: usize = 32;

/// Why the console refuses to start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error(
        "--listen {addr} is not a loopback address, and the console shows ledger data to whoever reaches it: \
         beyond this machine it serves only over TLS (give --tls-cert and --tls-key), and then every request \
         must carry the access token it prints at start"
    )]
    NeedsTls { addr: SocketAddr },
}

/// A secret every request to a console reachable from the network must carry.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn generate() -> AccessToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        AccessToken(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in constant time, so the answer's timing says nothing about how
    /// much of a guess was right.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// How far the console is reachable, and so what a request must show.
#[derive(Clone, Debug)]
pub enum Exposure {
    /// Bound to a loopback address: requests must name a loopback host.
    Loopback,
    /// Bound beyond loopback (over TLS): requests must carry the token.
    Network(AccessToken),
}

/// Decides how a console listening on `addr` is exposed, or refuses a
/// non-loopback address without TLS.
pub fn exposure(addr: SocketAddr, tls: bool) -> Result<Exposure, AccessError> {
    if addr.ip().is_loopback() {
        Ok(Exposure::Loopback)
    } else if tls {
        Ok(Exposure::Network(AccessToken::generate()))
    } else {
        Err(AccessError::NeedsTls { addr })
    }
}

/// What to do with one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// The token came in the link's query: set it as a cookie and send the
    /// browser to the same place without it (so it leaves the address bar and
    /// the history).
    SetCookieAndRedirect {
        cookie: String,
        location: String,
    },
    /// Refused with 401 (no or a wrong token) or 421 (a name that is not
    /// loopback); the message says why and what to do.
    Refuse {
        status: u16,
        message: String,
    },
}

/// Judges a request's headers and address against the console's exposure.
pub fn verdict(exposure: &Exposure, headers: &HeaderMap, uri: &Uri) -> Verdict {
    match exposure {
        Exposure::Loopback => {
            // HTTP/1.1 names the host in the Host header, HTTP/2 (which browsers
            // speak over TLS) in the request's authority.
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or("");
            if is_loopback_host(host) {
                Verdict::Allow
            } else {
                Verdict::Refuse {
                    status: 421,
                    message: format!(
                        "this console listens on loopback and answers only requests addressed to \
                         127.0.0.1, [::1] or localhost; this one was addressed to {host:?}"
                    ),
                }
            }
        }
        Exposure::Network(token) => {
            if let Some(candidate) = query_token(uri) {
                if token.matches(&candidate) {
                    return Verdict::SetCookieAndRedirect {
                        cookie: format!(
                            "{TOKEN_COOKIE}={}; Path=/; HttpOnly; Secure; SameSite=Strict",
                            token.as_str()
                        ),
                        location: without_token(uri),
                    };
                }
                return refuse_token("the token in the link is not this console's");
            }
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "));
            let cookie = cookie_token(headers);
            match bearer.or(cookie.as_deref()) {
                Some(candidate) if token.matches(candidate.trim()) => Verdict::Allow,
                Some(_) => refuse_token("the token this request carries is not this console's"),
                None => refuse_token("this request carries no access token"),
            }
        }
    }
}

fn refuse_token(why: &str) -> Verdict {
    Verdict::Refuse {
        status: 401,
        message: format!(
            "{why}: open the link `dbond console` printed when it started (it ends in ?token=...), \
             or send the header Authorization: Bearer <token>"
        ),
    }
}

/// Whether a Host header names this machine: 127.0.0.0/8, ::1 or localhost, with
/// or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8080
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == TOKEN_PARAM).then(|| v.to_string())
    })
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == TOKEN_COOKIE).then(|| v.to_string())
        })
}

/// The request's path and query with the token parameter taken out.
fn without_token(uri: &Uri) -> String {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(TOKEN_PARAM))
        .collect();
    if rest.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn status(v: &Verdict) -> u16 {
        match v {
            Verdict::Allow => 200,
            Verdict::SetCookieAndRedirect { .. } => 303,
            Verdict::Refuse { status, .. } => *status,
        }
    }

    #[test]
    fn a_non_loopback_address_needs_tls() {
        let addr: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let err = exposure(addr, false).unwrap_err();
        assert_eq!(err, AccessError::NeedsTls { addr });
        let message = err.to_string();
        assert!(message.contains("--tls-cert and --tls-key"), "{message}");
        assert!(message.contains("access token"), "{message}");
        assert!(matches!(exposure(addr, true), Ok(Exposure::Network(_))));
        for loopback in ["127.0.0.1:8080", "[::1]:0", "127.3.4.5:1"] {
            let a: SocketAddr = loopback.parse().unwrap();
            assert!(matches!(exposure(a, false), Ok(Exposure::Loopback)), "{a}");
            assert!(matches!(exposure(a, true), Ok(Exposure::Loopback)), "{a}");
        }
        let lan: SocketAddr = "192.168.1.20:8080".parse().unwrap();
        assert!(exposure(lan, false).is_err());
    }

    #[test]
    fn loopback_consoles_answer_only_loopback_names() {
        let check = |host: Option<&str>, expected: u16| {
            let h = match host {
                Some(host) => headers(&[("host", host)]),
                None => HeaderMap::new(),
            };
            let v = verdict(&Exposure::Loopback, &h, &uri("/api/me"));
            assert_eq!(status(&v), expected, "host {host:?}: {v:?}");
        };
        check(Some("127.0.0.1:8080"), 200);
        check(Some("127.0.0.1"), 200);
        check(Some("localhost:8080"), 200);
        check(Some("LOCALHOST"), 200);
        check(Some("[::1]:8080"), 200);
        check(Some("127.9.9.9:1"), 200);
        // A page elsewhere whose name was rebound to 127.0.0.1.
        check(Some("evil.example:8080"), 421);
        check(Some("localhost.evil.example"), 421);
        check(Some("10.0.0.1:8080"), 421);
        check(None, 421);
        // HTTP/2: no Host header, the authority is in the request's URI.
        let h2 = |u: &str| status(&verdict(&Exposure::Loopback, &HeaderMap::new(), &uri(u)));
        assert_eq!(h2("https://127.0.0.1:8443/api/me"), 200);
        assert_eq!(h2("https://rebound.example:8443/api/me"), 421);
    }

    #[test]
    fn network_consoles_need_the_token() {
        let token = AccessToken::generate();
        assert_eq!(token.as_str().len(), 64);
        let good = token.as_str().to_string();
        let e = Exposure::Network(token);
        let check = |h: HeaderMap, u: &str, expected: u16| {
            let v = verdict(&e, &h, &uri(u));
            assert_eq!(status(&v), expected, "{u}: {v:?}");
            v
        };
        let refused = check(HeaderMap::new(), "/", 401);
        let Verdict::Refuse { message, .. } = refused else {
            unreachable!()
        };
        assert!(message.contains("carries no access token"), "{message}");
        assert!(message.contains("?token="), "{message}");
        check(
            headers(&[("authorization", &format!("Bearer {good}"))]),
            "/api/me",
            200,
        );
        check(
            headers(&[("cookie", &format!("a=b; {TOKEN_COOKIE}={good}; c=d"))]),
            "/api/me",
            200,
        );
        check(headers(&[("authorization", "Bearer 00")]), "/api/me", 401);
        check(
            headers(&[("cookie", &format!("{TOKEN_COOKIE}={}", "0".repeat(64)))]),
            "/",
            401,
        );
        // The host does not matter once the token is right.
        check(
            headers(&[
                ("host", "console.example"),
                ("authorization", &format!("Bearer {good}")),
            ]),
            "/",
            200,
        );
        // The link sets the cookie and drops the token from the address.
        let v = check(HeaderMap::new(), &format!("/?token={good}"), 303);
        assert_eq!(
            v,
            Verdict::SetCookieAndRedirect {
                cookie: format!("{TOKEN_COOKIE}={good}; Path=/; HttpOnly; Secure; SameSite=Strict"),
                location: "/".into(),
            }
        );
        let v = check(HeaderMap::new(), &format!("/x?a=1&token={good}&b=2"), 303);
        assert!(
            matches!(v, Verdict::SetCookieAndRedirect { location, .. } if location == "/x?a=1&b=2")
        );
        let v = check(HeaderMap::new(), "/?token=nope", 401);
        assert!(
            matches!(v, Verdict::Refuse { message, .. } if message.contains("not this console's"))
        );
    }

    #[test]
    fn tokens_differ_and_do_not_print() {
        let (a, b) = (AccessToken::generate(), AccessToken::generate());
        assert_ne!(a.as_str(), b.as_str());
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
