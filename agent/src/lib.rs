//! `escale-agent`: a workstation helper that reads the beneficiaries of the
//! Carte Vitale in a PC/SC reader and serves them to the Escale page on a
//! loopback-only HTTP endpoint.
//!
//! - [`vitale`]: the card layout and its pure parsing (sourced facts and
//!   assumptions are listed there);
//! - [`card`]: the APDU sequence over any transport;
//! - `pcsc_reader` (feature `pcsc`, on by default): the reader over PC/SC
//!   (`pcsc` crate, pcscd on Linux); the Escale server never links it;
//! - [`server`]: the HTTP API, CORS restricted to one origin, card reads
//!   for the Escale page's session token only, at a limited rate;
//! - [`token`]: that token, issued by Escale and checked here under a key
//!   both share.
//!
//! Its own crate so that the server and its test suite build without
//! libpcsclite; the `escale-agent` binary wires it to a command line.

pub mod card;
#[cfg(feature = "pcsc")]
pub mod pcsc_reader;
pub mod server;
pub mod token;
pub mod vitale;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::http::HeaderValue;
use tokio::net::TcpListener;

use card::CardReader;
pub use server::ReadLimit;
use token::SharedKey;

/// `127.0.0.1:8765`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8765));

/// What `escale-agent` needs (no clap here: the caller parses its own CLI).
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Must be a loopback address ([`DEFAULT_LISTEN`] by default).
    pub listen: SocketAddr,
    /// Exact origin of the Escale site allowed to read the card
    /// (`https://escale.example`, no path, no trailing slash).
    pub origin: String,
    /// Exact PC/SC reader name; `None`: the first reader holding a Vitale.
    pub reader: Option<String>,
    /// The key Escale signs its session tokens with (`card_agent_key`).
    pub key: SharedKey,
    pub read_limit: ReadLimit,
}

impl AgentConfig {
    pub fn new(origin: impl Into<String>, key: SharedKey) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            origin: origin.into(),
            reader: None,
            key,
            read_limit: ReadLimit::default(),
        }
    }
}

/// Binds `cfg.listen` and serves the PC/SC reader until Ctrl-C.
#[cfg(feature = "pcsc")]
pub async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    check_loopback(cfg.listen)?;
    check_origin(&cfg.origin)?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("impossible d'écouter sur {}", cfg.listen))?;
    let reader = Arc::new(pcsc_reader::PcscReader {
        reader: cfg.reader.clone(),
    });
    serve(listener, cfg, reader, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves on an already bound listener (tests bind port 0) until `shutdown`
/// completes. `cfg.listen` is ignored; the listener's address must be a
/// loopback one.
pub async fn serve(
    listener: TcpListener,
    cfg: AgentConfig,
    reader: Arc<dyn CardReader>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    check_loopback(addr)?;
    let origin = check_origin(&cfg.origin)?;
    tracing::info!(%addr, origine = cfg.origin, "agent Carte Vitale prêt");
    let access = server::Access {
        origin,
        key: cfg.key,
        limit: cfg.read_limit,
    };
    axum::serve(listener, server::router(access, reader))
        .with_graceful_shutdown(shutdown)
        .await
        .context("le serveur de l'agent s'est arrêté sur une erreur")
}

fn check_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!(
            "adresse d'écoute {addr} refusée : l'agent Carte Vitale n'écoute que sur la boucle locale (127.0.0.1 ou [::1])"
        );
    }
    Ok(())
}

/// `http(s)://host[:port]` in lowercase, as browsers send it in `Origin`.
fn check_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let hint = "attendu : l'origine exacte du site Escale, par exemple https://escale.example";
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        bail!("origine « {origin} » refusée : {hint}");
    };
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@', '*'])
        || authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!("origine « {origin} » refusée (pas de chemin ni de / final) : {hint}");
    }
    if origin != origin.to_ascii_lowercase() {
        bail!("origine « {origin} » refusée : les navigateurs l'envoient en minuscules");
    }
    HeaderValue::from_str(origin).with_context(|| format!("origine « {origin} » refusée : {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "pcsc")]
    fn key() -> SharedKey {
        SharedKey::parse("cle-de-test-partagee-0123456789abcdef").unwrap()
    }

    #[cfg(feature = "pcsc")]
    #[tokio::test]
    async fn refuses_non_loopback_addresses() {
        for listen in ["0.0.0.0:8765", "192.168.1.2:8765", "[::]:8765"] {
            let mut cfg = AgentConfig::new("https://escale.example", key());
            cfg.listen = listen.parse().unwrap();
            let err = run(cfg).await.unwrap_err().to_string();
            assert!(err.contains("n'écoute que sur la boucle locale"), "{err}");
        }
        let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let reader = Arc::new(pcsc_reader::PcscReader::default());
        let err = serve(
            listener,
            AgentConfig::new("https://escale.example", key()),
            reader,
            async {},
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("refusée"));
    }

    #[test]
    fn origins() {
        for ok in [
            "https://escale.example",
            "http://localhost:3000",
            "https://[::1]:8443",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "escale.example",
            "https://escale.example/",
            "https://escale.example/dossier",
            "https://Escale.example",
            "*",
            "null",
            "https://",
            "https://user@escale.example",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_listen() {
        assert_eq!(DEFAULT_LISTEN.to_string(), "127.0.0.1:8765");
    }
}
