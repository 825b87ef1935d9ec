//! Connections over real sockets: clients that stall in their request head are cut off, and no more
//! than `server.max_connections` are open at once.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Options, TestApp, captured_logs};

/// An upper bound for "eventually": far beyond any timeout the tests set.
const DEADLINE: Duration = Duration::from_secs(30);

fn with(toml: &str) -> Options {
    Options {
        service_toml: toml.to_owned(),
        ..Options::default()
    }
}

/// A connection that has sent half a request line and then nothing.
async fn stalled(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(address(app)).await.unwrap();
    stream.write_all(b"GET /healthz HT").await.unwrap();
    stream
}

fn address(app: &TestApp) -> String {
    format!(
        "{}:{}",
        app.url.host_str().unwrap(),
        app.url.port().unwrap()
    )
}

/// Reads until the service closes the connection; what it sent before closing.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the service kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

/// A complete request on a connection of its own; the status line of the answer.
async fn complete_request(app: &TestApp) -> String {
    let mut stream = TcpStream::connect(address(app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tunnus\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_client_stalling_in_its_request_head_is_cut_off_while_others_are_served() {
    let app = TestApp::spawn_with(with("[server]\nheader_read_timeout = \"2s\"")).await;
    let mut slow = stalled(&app).await;
    app.browser()
        .get_path("/healthz")
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(complete_request(&app).await, "HTTP/1.1 200 OK");
    let answer = until_closed(&mut slow).await;
    assert!(
        !answer.contains("200 OK"),
        "the half request was answered: {answer}"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(with("[server]\nheader_read_timeout = \"1s\"")).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tunnus\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_stalled_ones_are_cut_off() {
    let app = TestApp::spawn_with(with(
        "[server]\nmax_connections = 2\nheader_read_timeout = \"2s\"",
    ))
    .await;
    let mut first = stalled(&app).await;
    let mut second = stalled(&app).await;
    // A third connection waits for a free one; it is answered once a stalled one is cut off.
    assert_eq!(complete_request(&app).await, "HTTP/1.1 200 OK");
    until_closed(&mut first).await;
    until_closed(&mut second).await;
    let address = format!("\"address\":\"{}\"", address(&app));
    let warnings: Vec<String> = captured_logs()
        .lines()
        .filter(|line| line.contains("server.max_connections") && line.contains(&address))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    // With the stalled ones gone the service answers as usual.
    app.browser()
        .get_path("/healthz")
        .await
        .assert_status(StatusCode::OK);
}

/// A client that sends its head and then drips its body is answered 408 and cut off once
/// `server.body_read_timeout` has passed, however steadily it drips; the form is never handled.
#[tokio::test]
async fn a_client_dripping_its_request_body_is_cut_off_and_its_form_not_handled() {
    let app = TestApp::spawn_with(with("[server]\nbody_read_timeout = \"1s\"")).await;
    let mut stream = TcpStream::connect(address(&app)).await.unwrap();
    let host = address(&app);
    stream
        .write_all(
            format!(
                "POST /login HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ncs"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // A byte every 300 ms: each arrives well within any per-read timeout, the whole never does.
    let dripping = tokio::spawn(async move {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream.write_all(b"r").await.is_err() {
                break;
            }
        }
        stream
    });
    let mut stream = dripping.await.unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "the dripped request was answered: {answer}"
    );
    // Nothing reached the login handler: no transaction, no broker redirect.
    app.assert_no_state();
    assert_eq!(
        app.state
            .metrics
            .counter("tunnus_flows_total", &[("stage", "started")]),
        0
    );
    app.browser()
        .get_path("/healthz")
        .await
        .assert_status(StatusCode::OK);
}
