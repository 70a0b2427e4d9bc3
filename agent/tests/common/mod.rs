//! What the agent's tests share: plain HTTP/1.1 over a real socket (so that a
//! test controls every header sent) and the shared key.

#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use escale_agent::token::SharedKey;
use serde_json::Value;

pub const ORIGIN: &str = "https://escale.example";

pub fn key() -> SharedKey {
    SharedKey::parse("cle-partagee-des-tests-de-l-agent-0123456789").unwrap()
}

pub fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

/// What the Escale page sends: a token of a session that ends in an hour.
pub fn session_token() -> String {
    key().issue(b"session de test", unix_now() + 3600)
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` as the Escale page sends it: its origin and a session token.
pub async fn get_as_escale(addr: SocketAddr, path: &str) -> Reply {
    let token = session_token();
    request(
        addr,
        "GET",
        path,
        &[("Origin", ORIGIN), (escale_agent::token::HEADER, &token)],
    )
    .await
}

/// One exchange; `Connection: close` is added, and `Host` unless given.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    })
    .await
    .unwrap()
}
