//! Connection settings and switches, read from the environment the way Thoth's storages read them.
//!
//! `DATABASE_URL` wins; when it is unset, the `KNOWLEDGE_GRAPH_*` variables Thoth's deployments already
//! carry are honoured; each missing one falls back to the default
//! `postgres://postgres:postgres@localhost:5432/thoth`.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::error::StoreError;

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_USER: &str = "postgres";
pub const DEFAULT_PASSWORD: &str = "postgres";
pub const DEFAULT_DATABASE: &str = "thoth";
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub connect: PgConnectOptions,
    /// `THOTH_STORAGES_DEBUG_QUERIES=1`: log every statement with its duration.
    pub debug_queries: bool,
    /// `THOTH_STORAGES_LOG_STATS=1`: log query counts and timings per query at shutdown.
    pub log_stats: bool,
    /// `THOTH_STORE_MIGRATE=0` turns off migrating at start-up (the `migrate` subcommand still works).
    pub migrate_on_start: bool,
    /// `THOTH_STORE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
}

impl StoreConfig {
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
                    Some(port) => port.trim().parse::<u16>().map_err(|_| StoreError::Config {
                        variable: "KNOWLEDGE_GRAPH_PORT",
                        reason: format!("{port:?} is not a port number"),
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
