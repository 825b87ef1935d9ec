//! Ports for the servers the tests start as child processes.
//!
//! `redis-server` and `slapd` cannot be handed a bound socket, so a port is chosen free (bound to
//! port 0 and closed again) and the server binds it a moment later; on a busy machine another
//! process can take the port in between. [`start_retrying`] therefore starts the server again on
//! another port when it says its port was taken, a few times, and ends the test with the server's
//! own words for any other failure. In-process servers (the service, the mock broker) bind port 0
//! themselves and need none of this.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, TcpListener};

/// Ports tried before a server is given up on.
pub const ATTEMPTS: usize = 5;

/// Why a server did not start.
#[derive(Debug)]
pub enum StartFailure {
    /// Another process had one of the server's ports, as the server's log says: worth another.
    PortTaken(String),
    /// Anything else; the text carries the server's log.
    Other(String),
}

/// Where a server's ports come from: any a test wants tried first, then free ones.
pub struct Ports {
    first: VecDeque<u16>,
    /// Every port's cluster bus port (10000 above it) must be free too.
    cluster_bus: bool,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            first: VecDeque::new(),
            cluster_bus: false,
        }
    }

    /// Free ports whose cluster bus port is free too (Redis Cluster nodes).
    pub fn free_with_cluster_bus() -> Ports {
        Ports {
            cluster_bus: true,
            ..Ports::free()
        }
    }

    /// `ports` first, in order, then free ones: lets a test hand a server a port it holds.
    pub fn trying_first(mut self, ports: &[u16]) -> Ports {
        self.first.extend(ports);
        self
    }

    /// The next port to try.
    pub fn next(&mut self) -> u16 {
        if let Some(port) = self.first.pop_front() {
            return port;
        }
        loop {
            let port = free_port();
            if !self.cluster_bus {
                return port;
            }
            if let Some(bus_port) = port.checked_add(10000)
                && TcpListener::bind((Ipv4Addr::LOCALHOST, bus_port)).is_ok()
            {
                return port;
            }
        }
    }
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Starts a server with `start`, which takes its ports from `ports`: again, with fresh ports, when
/// it reports a port taken, up to [`ATTEMPTS`] times. Panics with the server's words otherwise.
pub fn start_retrying<T>(
    what: &str,
    mut ports: Ports,
    mut start: impl FnMut(&mut Ports) -> Result<T, StartFailure>,
) -> T {
    let mut taken = Vec::new();
    for _ in 0..ATTEMPTS {
        match start(&mut ports) {
            Ok(server) => return server,
            Err(StartFailure::PortTaken(detail)) => taken.push(detail),
            Err(StartFailure::Other(detail)) => panic!("{what} did not start: {detail}"),
        }
    }
    panic!(
        "{what} did not start: another process took its port each of the {ATTEMPTS} times it \
         was started (between choosing a free port and the server binding it):\n{}",
        taken.join("\n")
    );
}

#[test]
fn a_taken_port_is_tried_again_with_another_and_other_failures_are_not() {
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let held_port = held.local_addr().unwrap().port();
    let mut tried = Vec::new();
    let port = start_retrying(
        "a server",
        Ports::free().trying_first(&[held_port]),
        |ports| {
            let port = ports.next();
            tried.push(port);
            match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
                Ok(_) => Ok(port),
                Err(error) => Err(StartFailure::PortTaken(error.to_string())),
            }
        },
    );
    assert_eq!(tried[0], held_port);
    assert_ne!(port, held_port);

    let other = std::panic::catch_unwind(|| {
        start_retrying("a server", Ports::free(), |_| -> Result<(), _> {
            Err(StartFailure::Other("its configuration is wrong".to_owned()))
        })
    })
    .unwrap_err();
    let message = other.downcast_ref::<String>().unwrap();
    assert!(message.contains("its configuration is wrong"), "{message}");
}

/// A port this test holds (bound and listening), so that no server can have it.
fn held_port() -> (TcpListener, u16) {
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    (held, port)
}

#[test]
fn redis_server_offered_a_taken_port_starts_on_another() {
    let (_held, taken) = held_port();
    let server = crate::redis::RedisServer::start_trying_first(taken);
    assert_ne!(server.port(), taken);
    let mut conn = redis::Client::open(server.url())
        .and_then(|client| client.get_connection_with_timeout(std::time::Duration::from_secs(5)))
        .unwrap();
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn slapd_offered_a_taken_port_starts_on_others() {
    let (_held, taken) = held_port();
    let slapd = crate::slapd::Slapd::start_trying_first(taken);
    assert_ne!(slapd.ldap_url.port(), Some(taken));
    assert_ne!(slapd.ldaps_url.port(), Some(taken));
    assert!(
        slapd
            .can_bind(crate::slapd::ROOT_DN, crate::slapd::ROOT_PASSWORD)
            .await
    );
}
