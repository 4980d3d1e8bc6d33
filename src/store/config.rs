//! Connection settings and switches, read from the environment the way Thoth's storages read them.
//!
//! `DATABASE_URL` wins; when it is unset, the `KNOWLEDGE_GRAPH_*` variables Thoth's deployments already
//! carry are honoured; each missing one falls back to the default
//! `postgres://postgres:postgres@localhost:5432/thoth`.

use std::fmt;
use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::error::StoreError;

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_USER: &str = "postgres";
pub const DEFAULT_PASSWORD: &str = "postgres";
pub const DEFAULT_DATABASE: &str = "thoth";
pub const DEFAULT_MAX_CONNECTIONS: u32 = 20;

#[derive(Clone)]
pub struct StoreConfig {
    pub connect: PgConnectOptions,
    /// `THOTH_STORAGES_DEBUG_QUERIES=1`: log every statement with its duration.
    pub debug_queries: bool,
    /// `THOTH_STORAGES_LOG_STATS=1`: log query counts and timings per query at shutdown.
    pub log_stats: bool,
    /// `THOTH_STORE_MIGRATE=0` turns off migrating at start-up (the `migrate` subcommand still works).
    pub migrate_on_start: bool,
    /// `THOTH_STORE_MAX_CONNECTIONS`, default 20: above the default reconcile concurrency (16), so
    /// that reconciles do not queue for a connection while the consumer writes its batches.
    pub max_connections: u32,
}

/// Written by hand: the derived form would print the password held in the connect options.
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("connect", &self.describe())
            .field("ssl_mode", &self.connect.get_ssl_mode())
            .field("debug_queries", &self.debug_queries)
            .field("log_stats", &self.log_stats)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl StoreConfig {
    /// Settings for connecting with `connect`, everything else at its default: no statement
    /// log, no statistics, migrate at start-up, [`DEFAULT_MAX_CONNECTIONS`].
    pub fn new(connect: PgConnectOptions) -> Self {
        Self {
            connect,
            debug_queries: false,
            log_stats: false,
            migrate_on_start: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    pub fn from_env() -> Result<Self, StoreError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StoreError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let connect = match non_empty("DATABASE_URL") {
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
                return Err(StoreError::Config {
                    variable: "DATABASE_URL",
                    reason: "must start with postgres:// or postgresql://".into(),
                });
            }
            Some(url) => PgConnectOptions::from_str(&url).map_err(|e| StoreError::Config {
                variable: "DATABASE_URL",
                reason: format!("is not a PostgreSQL URL: {e}"),
            })?,
            None => {
                let port = match non_empty("KNOWLEDGE_GRAPH_PORT") {
                    Some(port) => port
                        .trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| StoreError::Config {
                            variable: "KNOWLEDGE_GRAPH_PORT",
                            reason: format!("{port:?} is not a port number (1 to 65535)"),
                        })?,
                    None => DEFAULT_PORT,
                };
                let ssl_disabled = flag(&non_empty, "KNOWLEDGE_GRAPH_SSL_DISABLED", false)?;
                PgConnectOptions::new_without_pgpass()
                    .host(&non_empty("KNOWLEDGE_GRAPH_HOST").unwrap_or(DEFAULT_HOST.into()))
                    .port(port)
                    .username(&non_empty("KNOWLEDGE_GRAPH_USER").unwrap_or(DEFAULT_USER.into()))
                    .password(
                        &non_empty("KNOWLEDGE_GRAPH_PASSWORD").unwrap_or(DEFAULT_PASSWORD.into()),
                    )
                    .database(
                        &non_empty("KNOWLEDGE_GRAPH_DATABASE").unwrap_or(DEFAULT_DATABASE.into()),
                    )
                    .ssl_mode(if ssl_disabled {
                        PgSslMode::Disable
                    } else {
                        PgSslMode::Prefer
                    })
            }
        };
        let max_connections = match non_empty("THOTH_STORE_MAX_CONNECTIONS") {
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| StoreError::Config {
                    variable: "THOTH_STORE_MAX_CONNECTIONS",
                    reason: format!("{raw:?} is not a positive number"),
                })?,
            None => DEFAULT_MAX_CONNECTIONS,
        };
        let debug_queries = flag(&non_empty, "THOTH_STORAGES_DEBUG_QUERIES", false)?;
        let mut connect = connect.application_name("thoth-operator");
        if debug_queries {
            // sqlx's own statement log covers what the query observer cannot see:
            // migrations, database creation and transaction control.
            connect = connect.log_statements(log::LevelFilter::Info);
        }
        Ok(Self {
            connect,
            debug_queries,
            log_stats: flag(&non_empty, "THOTH_STORAGES_LOG_STATS", false)?,
            migrate_on_start: flag(&non_empty, "THOTH_STORE_MIGRATE", true)?,
            max_connections,
        })
    }

    /// Where the store connects, without the password; safe to log.
    pub fn describe(&self) -> String {
        describe(&self.connect)
    }

    pub fn database_name(&self) -> &str {
        self.connect.get_database().unwrap_or(DEFAULT_DATABASE)
    }
}

pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

fn flag(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, StoreError> {
    let Some(raw) = lookup(variable) else {
        return Ok(default);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(StoreError::Config {
            variable,
            reason: format!("{raw:?} is not a switch (use 1 or 0)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<StoreConfig, StoreError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StoreConfig::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_match_thoth() {
        let c = config(&[]).unwrap();
        assert_eq!(c.describe(), "postgres://postgres@localhost:5432/thoth");
        assert!(!c.debug_queries && !c.log_stats && c.migrate_on_start);
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert!(matches!(c.connect.get_ssl_mode(), PgSslMode::Prefer));
    }

    #[test]
    fn knowledge_graph_variables_apply_when_database_url_is_unset() {
        let c = config(&[
            ("KNOWLEDGE_GRAPH_HOST", "pg.example"),
            ("KNOWLEDGE_GRAPH_PORT", "6432"),
            ("KNOWLEDGE_GRAPH_USER", "thoth"),
            ("KNOWLEDGE_GRAPH_DATABASE", "kg"),
            ("KNOWLEDGE_GRAPH_SSL_DISABLED", "1"),
            ("THOTH_STORAGES_DEBUG_QUERIES", "1"),
            ("THOTH_STORAGES_LOG_STATS", "1"),
            ("THOTH_STORE_MIGRATE", "0"),
        ])
        .unwrap();
        assert_eq!(c.describe(), "postgres://thoth@pg.example:6432/kg");
        assert!(matches!(c.connect.get_ssl_mode(), PgSslMode::Disable));
        assert!(c.debug_queries && c.log_stats && !c.migrate_on_start);
    }

    #[test]
    fn database_url_wins() {
        let c = config(&[
            ("DATABASE_URL", "postgres://u:p@db:5999/x"),
            ("KNOWLEDGE_GRAPH_HOST", "ignored"),
        ])
        .unwrap();
        assert_eq!(c.describe(), "postgres://u@db:5999/x");
    }

    #[test]
    fn the_password_is_never_printed() {
        let from_url = config(&[("DATABASE_URL", "postgres://u:s3cr3t@db:5999/x")]).unwrap();
        let from_variables = config(&[("KNOWLEDGE_GRAPH_PASSWORD", "s3cr3t")]).unwrap();
        for c in [from_url, from_variables] {
            assert!(!c.describe().contains("s3cr3t"), "{}", c.describe());
            let debug = format!("{c:?}");
            assert!(!debug.contains("s3cr3t"), "{debug}");
        }
        for url in [
            "postgres://u:s3cr3t@db:99999/x",
            "postgres://u:s3cr3t@db:port/x",
            "postgres://u:s3cr3t@db/x?sslmode=sometimes",
            "postgres://u:s3cr3t@[db/x",
        ] {
            let err = config(&[("DATABASE_URL", url)]).unwrap_err();
            assert!(!err.to_string().contains("s3cr3t"), "{err}");
            assert!(!format!("{err:?}").contains("s3cr3t"), "{err:?}");
            assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        }
    }

    #[test]
    fn ssl_disabled_and_port_are_checked() {
        let c = config(&[("KNOWLEDGE_GRAPH_SSL_DISABLED", "0")]).unwrap();
        assert!(matches!(c.connect.get_ssl_mode(), PgSslMode::Prefer));
        let err = config(&[("KNOWLEDGE_GRAPH_SSL_DISABLED", "2")]).unwrap_err();
        assert!(
            err.to_string().contains("KNOWLEDGE_GRAPH_SSL_DISABLED"),
            "{err}"
        );
        for port in ["0", "65536", "-1", "54 32"] {
            let err = config(&[("KNOWLEDGE_GRAPH_PORT", port)]).unwrap_err();
            assert!(
                err.to_string().contains("KNOWLEDGE_GRAPH_PORT"),
                "{port}: {err}"
            );
        }
        let c = config(&[("KNOWLEDGE_GRAPH_PORT", " 6432 ")]).unwrap();
        assert_eq!(c.connect.get_port(), 6432);
        // DATABASE_URL wins over every KNOWLEDGE_GRAPH_* variable, SSL included.
        let c = config(&[
            ("DATABASE_URL", "postgres://u@db/x?sslmode=require"),
            ("KNOWLEDGE_GRAPH_SSL_DISABLED", "1"),
            ("KNOWLEDGE_GRAPH_PORT", "not-a-port"),
        ])
        .unwrap();
        assert!(matches!(c.connect.get_ssl_mode(), PgSslMode::Require));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("KNOWLEDGE_GRAPH_PORT", "http")]).unwrap_err();
        assert!(err.to_string().contains("KNOWLEDGE_GRAPH_PORT"), "{err}");
        let err = config(&[("THOTH_STORAGES_LOG_STATS", "maybe")]).unwrap_err();
        assert!(
            err.to_string().contains("THOTH_STORAGES_LOG_STATS"),
            "{err}"
        );
        let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }
}
