//! The sandbox's PostgreSQL, in order of preference:
//!
//! 1. the `--database-url` given (used as it is, left as it is);
//! 2. the local default server (127.0.0.1:5432, user `postgres`) when it answers: a fresh
//!    database of the sandbox's own is created there and dropped at shutdown;
//! 3. a throwaway cluster (`initdb` + `pg_ctl`) in a temporary directory, when PostgreSQL's
//!    server binaries are installed (Debian: `/usr/lib/postgresql/*/bin`), stopped and removed
//!    at shutdown;
//! 4. otherwise an error saying how to get one.
//!
//! The SQL here is server administration (create and drop a database), not the knowledge
//! store's: the store's own tables stay with `crate::store`, which migrates them.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use tokio::process::Command;

/// The local default server the sandbox tries before starting one of its own.
pub const LOCAL_DEFAULT_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";
/// How long the local default may take to answer before it is taken as absent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("--database-url is not a PostgreSQL URL")]
    Url(#[source] crate::store::StoreError),
    #[error("the local default URL is not a PostgreSQL URL")]
    LocalUrl(#[source] sqlx::Error),
    #[error(
        "no PostgreSQL for the sandbox: none answers on 127.0.0.1:5432 and no server binaries \
         (initdb, pg_ctl) were found in /usr/lib/postgresql/*/bin or PATH. Pass \
         --database-url postgres://USER:PASSWORD@HOST:PORT/DATABASE, start a server on \
         127.0.0.1:5432 (user postgres), or install one (Debian/Ubuntu: apt-get install \
         postgresql; Fedora: dnf install postgresql-server)"
    )]
    NoneAvailable,
    #[error("failed to {action} database {database} on the local PostgreSQL")]
    Database {
        action: &'static str,
        database: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("failed to prepare the throwaway PostgreSQL cluster's directory")]
    Directory(#[source] std::io::Error),
    #[error("failed to run {command} for the throwaway PostgreSQL cluster")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({status}) for the throwaway PostgreSQL cluster: {output}")]
    Command {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("no free TCP port for the throwaway PostgreSQL cluster")]
    Port(#[source] std::io::Error),
}

/// Where the sandbox's database lives, and what shutdown must undo.
#[derive(Debug)]
enum Origin {
    /// Given by the user; left alone.
    Given,
    /// A database of ours on the local default server; dropped at shutdown.
    LocalDatabase {
        // Boxed: the connect options are ten times the size of the other variants.
        admin: Box<PgConnectOptions>,
        name: String,
    },
    /// A cluster of ours; stopped and its directory removed at shutdown.
    Throwaway {
        bin: PathBuf,
        dir: tempfile::TempDir,
        as_postgres: bool,
    },
}

/// The sandbox's database: its URL and what to clean up.
#[derive(Debug)]
pub struct SandboxDatabase {
    url: String,
    origin: Origin,
}

impl SandboxDatabase {
    /// Finds or makes a database as the module documentation describes; `given` is
    /// `--database-url`; `own_cluster` skips the local default server (`--own-postgres`).
    pub async fn provision(given: Option<&str>, own_cluster: bool) -> Result<Self, PostgresError> {
        if let Some(url) = given {
            // Checked as the operator will read it from DATABASE_URL.
            crate::store::StoreConfig::from_lookup(|name| {
                (name == "DATABASE_URL").then(|| url.to_string())
            })
            .map_err(PostgresError::Url)?;
            return Ok(Self {
                url: url.to_string(),
                origin: Origin::Given,
            });
        }
        let admin = PgConnectOptions::from_str(LOCAL_DEFAULT_URL)
            .map_err(PostgresError::LocalUrl)?
            // CREATE and DROP DATABASE take a second or two on a busy machine: expected, not
            // worth sqlx's slow-statement warning at every start and exit.
            .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(60));
        if !own_cluster && answers(&admin).await {
            return local_database(admin).await;
        }
        match server_binaries() {
            Some(bin) => throwaway_cluster(bin).await,
            None => Err(PostgresError::NoneAvailable),
        }
    }

    /// `DATABASE_URL` for the operator and for `psql`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where it came from, for the start-up message.
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Given => "the --database-url given".to_string(),
            Origin::LocalDatabase { name, .. } => {
                format!("database {name} on the local PostgreSQL (dropped at exit)")
            }
            Origin::Throwaway { dir, .. } => format!(
                "a throwaway PostgreSQL cluster in {} (removed at exit)",
                dir.path().display()
            ),
        }
    }

    /// Undoes what [`SandboxDatabase::provision`] made: drops the database or stops and removes
    /// the cluster. Failures are logged; there is nothing more to do about them at exit.
    pub async fn release(self) {
        match self.origin {
            Origin::Given => {}
            Origin::LocalDatabase { admin, name } => {
                if let Err(error) = drop_database(&admin, &name).await {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "sandbox database left behind");
                }
            }
            Origin::Throwaway {
                bin,
                dir,
                as_postgres,
            } => {
                let data = dir.path().join("data");
                let mut stop = pg_command(&bin, "pg_ctl", as_postgres);
                stop.arg("-D")
                    .arg(&data)
                    .args(["-m", "fast", "-w", "-t", "30", "stop"]);
                if let Err(error) = run(stop, "pg_ctl stop").await {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "throwaway PostgreSQL did not stop cleanly");
                }
                // Dropping the TempDir removes the cluster's files.
                drop(dir);
            }
        }
    }
}

async fn answers(admin: &PgConnectOptions) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, admin.connect()).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            true
        }
        _ => false,
    }
}

/// A database name no other sandbox on this server uses: the process id and the time.
fn fresh_database_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("thoth_sandbox_{}_{nanos:08x}", std::process::id())
}

async fn local_database(admin: PgConnectOptions) -> Result<SandboxDatabase, PostgresError> {
    let name = fresh_database_name();
    let failed = |action, source| PostgresError::Database {
        action,
        database: name.clone(),
        source,
    };
    let mut conn = admin
        .connect()
        .await
        .map_err(|e| failed("connect for", e))?;
    let statement = format!("CREATE DATABASE {}", quote_identifier(&name));
    // The only dynamic part is the generated name, quoted as an identifier.
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .map_err(|e| failed("create", e))?;
    let _ = conn.close().await;
    let url = format!(
        "postgres://{}:postgres@{}:{}/{name}",
        admin.get_username(),
        admin.get_host(),
        admin.get_port()
    );
    Ok(SandboxDatabase {
        url,
        origin: Origin::LocalDatabase {
            admin: Box::new(admin),
            name,
        },
    })
}

async fn drop_database(admin: &PgConnectOptions, name: &str) -> Result<(), PostgresError> {
    let failed = |action, source| PostgresError::Database {
        action,
        database: name.to_string(),
        source,
    };
    let mut conn = admin
        .connect()
        .await
        .map_err(|e| failed("connect to drop", e))?;
    // FORCE ends the operator's pooled connections that may still be closing.
    let statement = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(name)
    );
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .map_err(|e| failed("drop", e))?;
    let _ = conn.close().await;
    Ok(())
}

/// The newest `/usr/lib/postgresql/N/bin` holding `initdb` and `pg_ctl`, else the directory of
/// an `initdb` on PATH that has a `pg_ctl` beside it.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|dir| has_both(dir)))
}

fn is_root() -> bool {
    // /proc/self is owned by the process's effective user.
    std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata("/proc/self") {
        Ok(meta) => meta,
        Err(_) => return false,
    }) == 0
}

/// A PostgreSQL server binary, run as user `postgres` when we are root (initdb refuses root).
fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    let path = bin.join(program);
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    };
    command.kill_on_drop(true);
    command
}

async fn run(mut command: Command, name: &str) -> Result<(), PostgresError> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| PostgresError::Spawn {
            command: name.to_string(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(PostgresError::Command {
            command: name.to_string(),
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// `name` as a quoted SQL identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn free_port() -> Result<u16, PostgresError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(PostgresError::Port)?;
    Ok(listener.local_addr().map_err(PostgresError::Port)?.port())
}

async fn throwaway_cluster(bin: PathBuf) -> Result<SandboxDatabase, PostgresError> {
    let dir = tempfile::Builder::new()
        .prefix("thoth-sandbox-pg.")
        .tempdir()
        .map_err(PostgresError::Directory)?;
    let as_postgres = is_root();
    if as_postgres {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(dir.path());
        run(chown, "chown postgres:").await?;
    }
    let data = dir.path().join("data");
    let mut initdb = pg_command(&bin, "initdb", as_postgres);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
    ]);
    run(initdb, "initdb").await?;
    let port = free_port()?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off",
        dir.path().display()
    );
    let mut start = pg_command(&bin, "pg_ctl", as_postgres);
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.path().join("server.log"))
        .args(["-w", "-t", "60", "-o", &options, "start"]);
    let database = SandboxDatabase {
        url: format!("postgres://postgres:postgres@127.0.0.1:{port}/thoth"),
        origin: Origin::Throwaway {
            bin,
            dir,
            as_postgres,
        },
    };
    if let Err(error) = run(start, "pg_ctl start").await {
        database.release().await;
        return Err(error);
    }
    // The store creates the `thoth` database itself when it migrates.
    Ok(database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_are_identifiers_of_this_process() {
        let name = fresh_database_name();
        assert!(name.starts_with(&format!("thoth_sandbox_{}_", std::process::id())));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(
            name.len() < 63,
            "PostgreSQL truncates identifiers at 63 bytes"
        );
    }

    #[tokio::test]
    async fn a_given_url_is_used_as_it_is_and_a_bad_one_is_refused() {
        let db = SandboxDatabase::provision(Some("postgres://u:p@db.example:5433/x"), false)
            .await
            .unwrap();
        assert_eq!(db.url(), "postgres://u:p@db.example:5433/x");
        db.release().await;
        let err = SandboxDatabase::provision(Some("mysql://nope"), false).await;
        assert!(matches!(err, Err(PostgresError::Url(_))), "{err:?}");
    }
}
