//! Who is asking: the client's address, from the socket or, behind a
//! configured reverse proxy, from the header that proxy sets. A header is
//! believed only when the connection comes from one of the trusted proxies,
//! and only its last entries (the ones those proxies appended).

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use crate::config::HttpConfig;

/// The client's address (unspecified when the request did not come through
/// a socket, as in a router called directly).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientAddr(client_address(
            peer,
            &parts.headers,
            &st.config.http,
        )))
    }
}

/// `peer` itself, or the address the trusted proxies name in their header.
pub fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap, http: &HttpConfig) -> IpAddr {
    let Some(name) = &http.trusted_proxy_header else {
        return peer;
    };
    let proxies = http.proxies().unwrap_or_default();
    let trusted = |ip: &IpAddr| proxies.contains(&ip.to_canonical());
    if !trusted(&peer) {
        return peer;
    }
    // Right to left: the first entry that is not one of our proxies is the
    // client as the outermost trusted proxy saw it.
    let mut client = peer;
    for value in headers.get_all(name.as_str()).iter().rev() {
        let Ok(value) = value.to_str() else {
            return client;
        };
        for entry in value.rsplit(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut http = HttpConfig::default();
        // Without a configured header: the socket, whatever is sent.
        assert_eq!(
            client_address(ip("127.0.0.1"), &headers(&["203.0.113.5"]), &http),
            ip("127.0.0.1")
        );
        http.trusted_proxy_header = Some("X-Forwarded-For".into());
        http.trusted_proxies = "127.0.0.1, 10.0.0.2".into();
        let h = headers(&["198.51.100.1, 203.0.113.5", "10.0.0.2"]);
        // The client forged the first entry; the proxies appended the others.
        assert_eq!(
            client_address(ip("127.0.0.1"), &h, &http),
            ip("203.0.113.5")
        );
        // From anywhere else the header is ignored.
        assert_eq!(client_address(ip("192.0.2.8"), &h, &http), ip("192.0.2.8"));
        // Garbage: the last trusted hop.
        assert_eq!(
            client_address(ip("127.0.0.1"), &headers(&["pas une adresse"]), &http),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &headers(&["2001:db8::7"]), &http),
            ip("2001:db8::7")
        );
    }
}
