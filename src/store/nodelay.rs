//! `TCP_NODELAY` on the store's connections.
//!
//! sqlx 0.9.0 stopped disabling Nagle's algorithm on its TCP sockets (transact-rs/sqlx#4335; the fix,
//! transact-rs/sqlx#4336, is merged but not released). A batched statement's Bind message spans several
//! TCP segments; with Nagle on, its last, partial segment is held back until the server acknowledges the
//! ones before it, and the server delays that acknowledgement by up to 40 ms (Linux's minimum). Measured
//! in the server's log: 45 ms between a batch's BEGIN and its Bind on every other batch, around 5 ms of
//! actual work. sqlx offers no hook on its socket, so once a connection is up we ask the server which
//! client port it sees and set `TCP_NODELAY` on this process's socket bound to that port and connected
//! to the server's port. Remove this module once sqlx sets `TCP_NODELAY` itself.

use sqlx::postgres::PgConnection;

/// Turns Nagle's algorithm off on the TCP socket under `conn`; a no-op over a Unix socket, and only
/// logged when the socket cannot be found (say, behind a proxy that rewrites the client port).
pub(super) async fn disable_nagle(
    conn: &mut PgConnection,
    server_port: u16,
) -> Result<(), sqlx::Error> {
    let (client_port,): (Option<i32>,) = sqlx::query_as("SELECT inet_client_port()")
        .fetch_one(&mut *conn)
        .await?;
    let Some(client_port) = client_port.and_then(|p| u16::try_from(p).ok()) else {
        return Ok(());
    };
    match set_nodelay(client_port, server_port) {
        Ok(true) => {}
        Ok(false) => tracing::debug!(
            client_port,
            server_port,
            "no socket of this process matches the store connection; Nagle's algorithm stays on"
        ),
        Err(err) => tracing::debug!(
            client_port,
            server_port,
            error = %err,
            "could not set TCP_NODELAY on the store connection"
        ),
    }
    Ok(())
}

fn set_nodelay(client_port: u16, server_port: u16) -> std::io::Result<bool> {
    Ok(with_socket(client_port, server_port, |socket| {
        socket.set_tcp_nodelay(true)
    })?
    .is_some())
}

/// Runs `action` on this process's TCP socket bound to `client_port` and connected to `server_port`,
/// if there is one.
///
/// One of the crate's two `unsafe` blocks (the workspace denies `unsafe_code`; the other is in
/// `sandbox/kafka.rs`, test substrate): sqlx hands out no socket,
/// so the descriptor is found by number under `/proc/self/fd` and borrowed for a few calls; the
/// SAFETY comment below says why a descriptor closed or reused meanwhile does no harm.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn with_socket<T>(
    client_port: u16,
    server_port: u16,
    action: impl FnOnce(socket2::SockRef<'_>) -> std::io::Result<T>,
) -> std::io::Result<Option<T>> {
    use std::os::fd::{BorrowedFd, RawFd};

    use socket2::SockRef;

    let port_of = |addr: std::io::Result<socket2::SockAddr>| {
        addr.ok().and_then(|a| a.as_socket()).map(|a| a.port())
    };
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is only used for the few calls below. Another thread may close it
        // meanwhile; then the calls fail with EBADF, or reach whatever reused the number, which must
        // still be a TCP socket with exactly these two ports before `action` touches it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        if port_of(socket.local_addr()) == Some(client_port)
            && port_of(socket.peer_addr()) == Some(server_port)
        {
            return action(socket).map(Some);
        }
    }
    Ok(None)
}

#[cfg(not(target_os = "linux"))]
fn with_socket<T>(
    _client_port: u16,
    _server_port: u16,
    _action: impl FnOnce(socket2::SockRef<'_>) -> std::io::Result<T>,
) -> std::io::Result<Option<T>> {
    Ok(None)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use sqlx::postgres::PgConnectOptions;

    use super::*;
    use crate::store::{Store, StoreConfig};
    use testkit::TestDatabase;

    #[test]
    fn finds_the_socket_by_both_ports_and_sets_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nodelay(false).unwrap();
        let client_port = client.local_addr().unwrap().port();
        let server_port = listener.local_addr().unwrap().port();
        assert!(!set_nodelay(client_port, server_port.wrapping_add(1)).unwrap());
        assert!(!client.nodelay().unwrap());
        assert!(set_nodelay(client_port, server_port).unwrap());
        assert!(client.nodelay().unwrap());
    }

    /// The same server over loopback TCP when `DATABASE_URL` names a Unix socket (where there is no
    /// Nagle to turn off), so that the test below always looks at a TCP socket. The password, which
    /// the options do not give back, is not carried over: such a server must trust loopback or take
    /// the password from `PGPASSWORD`.
    fn over_tcp(options: &PgConnectOptions) -> PgConnectOptions {
        if options.get_socket().is_none() && !options.get_host().starts_with('/') {
            return options.clone();
        }
        let tcp = PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(options.get_port())
            .username(options.get_username());
        match options.get_database() {
            Some(database) => tcp.database(database),
            None => tcp,
        }
    }

    #[tokio::test]
    async fn store_connections_have_nagle_off() {
        let db = TestDatabase::create().await.unwrap();
        let config = StoreConfig::new(over_tcp(&db.options));
        let store = Store::open(&config).await.unwrap_or_else(|err| {
            panic!(
                "this test needs the server over TCP ({}): {err:?}",
                config.describe()
            )
        });
        let mut conn = store.pool().acquire().await.unwrap();
        let (client_port,): (Option<i32>,) = sqlx::query_as("SELECT inet_client_port()")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let client_port = client_port.unwrap_or_else(|| {
            panic!(
                "the store's connection to {} is not over TCP",
                config.describe()
            )
        });
        let nodelay = with_socket(
            u16::try_from(client_port).unwrap(),
            config.connect.get_port(),
            |socket| socket.tcp_nodelay(),
        )
        .unwrap();
        assert_eq!(nodelay, Some(true));
        drop(conn);
        store.close().await;
    }
}
