//! Helpers shared by benchmarks (`#[path = "support/mod.rs"] mod support;`):
//! a PostgreSQL database of their own, latency percentiles.
#![allow(dead_code)] // each bench uses what it needs

use sqlx::{Connection, PgConnection};

/// Creates a fresh database on the server of `admin_url`; returns its URL and name.
pub async fn create_database(admin_url: &str) -> (String, String) {
    let name = format!("escale_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin_url).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    (format!("{base}/{name}"), name)
}

/// Drops a database made by [`create_database`], best effort.
pub async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = PgConnection::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// Prints p50/p95/p99/max of latencies in milliseconds.
pub fn percentiles(label: &str, what: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q) as usize];
    println!(
        "{label}: {} {what}, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        at(0.50),
        at(0.95),
        at(0.99),
        at(1.0)
    );
}
