//! What the sandboxes' web pages share (the DMP's « vu du patient », the
//! MSSanté mailboxes): the page shell, links with a query, serving them.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use tokio::task::JoinHandle;

use super::SandboxError;

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#1a1a1a}\
main{max-width:60rem;margin:1rem auto;padding:0 1rem}\
.banner{margin:0;padding:.5rem 1rem;background:#fff3cd;color:#3d2e00}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #ccc}\
a{color:#0b4f8a}";

/// A page of `site`, under the sandbox banner; never cached (test data,
/// but about patients all the same).
pub(crate) fn page(title: &str, site: &str, banner: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (site) " (bac à sable)" }
                style { (STYLE) }
            }
            body {
                header { p.banner { (banner) } }
                main { (body) }
            }
        }
    };
    let mut r = markup.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `path?key=value`, the value form-encoded.
pub(crate) fn query_path(path: &str, key: &str, value: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    format!("{path}?{query}")
}

/// Serves `router` on `bind` over plain HTTP: its URL and its task.
pub(crate) async fn serve(
    bind: SocketAddr,
    router: Router,
) -> Result<(String, JoinHandle<()>), SandboxError> {
    let (listener, addr) = super::insi::listen(bind).await?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}"), task))
}
