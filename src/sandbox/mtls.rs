//! The TLS front of the simulators that require a client certificate
//! (INSi, DMP): accept, handshake (the acceptor's verifier refuses a
//! missing or untrusted certificate), then HTTP/1.1 on the connection,
//! each request handed with the client's certificate; while `down()`,
//! connections are closed at once.

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub(crate) async fn serve<H, Fut, E>(
    name: &'static str,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    down: impl Fn() -> bool,
    handle: H,
) where
    H: Fn(Option<Arc<Vec<u8>>>, Request<hyper::body::Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        if down() {
            tracing::debug!(%peer, "bac à sable {name} en panne simulée : connexion fermée");
            drop(tcp);
            continue;
        }
        let acceptor = acceptor.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "bac à sable {name} : poignée de main TLS refusée");
                    return;
                }
            };
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Arc::new(c.to_vec()));
            let service = hyper::service::service_fn(move |req| {
                let handle = handle.clone();
                handle(certificate.clone(), req)
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "bac à sable {name} : connexion interrompue");
            }
        });
    }
}
