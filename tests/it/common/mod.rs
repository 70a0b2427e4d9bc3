//! Helpers shared by the integration test modules.

pub mod app;
pub mod db;
pub mod mail_servers;
pub mod mss;
pub mod tools;
/// The generator lives in the library (`escale dev seed` uses it too).
pub mod synthetic {
    pub use escale::sandbox::generator::*;
}

/// In scope in every test module (`#[macro_use] mod common;` in main.rs).
/// Runs `async fn $name(db: TestDb)` once per backend:
/// `both_backends!(name);` generates `mod name { sqlite(), postgres() }`.
/// The PostgreSQL test is skipped (with a message) when
/// `ESCALE_TEST_POSTGRES_URL` is unset, and fails when `CI` is set.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::common::db::test_store($crate::common::db::TestBackend::Sqlite)
                        .await
                        .expect("a SQLite test database");
                    super::$name(db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) =
                        $crate::common::db::test_store($crate::common::db::TestBackend::Postgres).await
                    {
                        super::$name(db).await;
                    }
                }
            }
        )+
    };
}
