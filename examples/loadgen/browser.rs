//! The load generator's browser: HTTP/1.1 over plain TCP with keep-alive connections and a cookie
//! jar, nothing else. A general HTTP client (reqwest) spent about 0.4 ms of CPU per flow on URL
//! handling, header maps and pooling on the same two cores as the service; this one spends a fraction
//! of that, so more of the machine measures the service. It speaks only what the service and the
//! mock broker answer on the loopback: `Content-Length` and chunked bodies, `Set-Cookie` with `Path`
//! and `Max-Age`, no TLS, no redirects followed.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer head or body read; anything larger is an error.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    /// The answer was cut off or not HTTP.
    Read,
    /// The URL cannot be requested (not `http://host:port/…`).
    Url,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Connect => "connection failed",
            Failure::Timeout => "timed out",
            Failure::Read => "reading the answer failed",
            Failure::Url => "request failed",
        })
    }
}

/// An answer, read whole. Header names are lowercase.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
}

struct Connection {
    /// `host:port`
    authority: String,
    stream: TcpStream,
    /// Bytes read past the previous answer (none with a well-behaved server).
    buffer: Vec<u8>,
}

/// One person's browser: its own cookies and connections.
#[derive(Default)]
pub struct Browser {
    cookies: Vec<Cookie>,
    connections: Vec<Connection>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser::default()
    }

    pub async fn get(&mut self, url: &Url) -> Result<Answer, Failure> {
        self.request("GET", url, None, &[]).await
    }

    /// Posts `fields` as `application/x-www-form-urlencoded`, with `Origin` when given.
    pub async fn post_form(
        &mut self,
        url: &Url,
        origin: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Result<Answer, Failure> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request("POST", url, origin, body.as_bytes()).await
    }

    async fn request(
        &mut self,
        method: &str,
        url: &Url,
        origin: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, Failure> {
        if url.scheme() != "http" {
            return Err(Failure::Url);
        }
        let host = url.host_str().ok_or(Failure::Url)?;
        let port = url.port_or_known_default().ok_or(Failure::Url)?;
        let authority = format!("{host}:{port}");
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(cookies) = self.cookie_header(host, url.path()) {
            head.push_str(&format!("Cookie: {cookies}\r\n"));
        }
        if let Some(origin) = origin {
            head.push_str(&format!("Origin: {origin}\r\n"));
        }
        if method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body);

        let answer = tokio::time::timeout(TIMEOUT, self.exchange(&authority, &message))
            .await
            .map_err(|_| Failure::Timeout)??;
        for (name, value) in &answer.headers {
            if name == "set-cookie" {
                self.store_cookie(host, url.path(), value);
            }
        }
        Ok(answer)
    }

    /// Sends `message` on a kept-alive connection to `authority`, or a new one. A kept connection
    /// the server closed while idle is replaced once.
    async fn exchange(&mut self, authority: &str, message: &[u8]) -> Result<Answer, Failure> {
        if let Some(index) = self
            .connections
            .iter()
            .position(|c| c.authority == authority)
        {
            let mut kept = self.connections.swap_remove(index);
            match send(&mut kept, message).await {
                Ok((answer, keep)) => {
                    if keep {
                        self.connections.push(kept);
                    }
                    return Ok(answer);
                }
                Err(Sent::Nothing) => {}
                Err(Sent::Failed(failure)) => return Err(failure),
            }
        }
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let mut fresh = Connection {
            authority: authority.to_owned(),
            stream,
            buffer: Vec::new(),
        };
        match send(&mut fresh, message).await {
            Ok((answer, keep)) => {
                if keep {
                    self.connections.push(fresh);
                }
                Ok(answer)
            }
            Err(Sent::Nothing) => Err(Failure::Read),
            Err(Sent::Failed(failure)) => Err(failure),
        }
    }

    fn cookie_header(&self, host: &str, path: &str) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| c.host == host && path_matches(path, &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps (or, with `Max-Age` ≤ 0, removes) the cookie of one `Set-Cookie` value. Cookies belong
    /// to the host, whatever the port, as in a browser.
    fn store_cookie(&mut self, host: &str, request_path: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        let mut path = default_path(request_path).to_owned();
        let mut expired = false;
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "path" if val.trim().starts_with('/') => path = val.trim().to_owned(),
                "max-age" => expired = val.trim().parse::<i64>().is_ok_and(|age| age <= 0),
                _ => {}
            }
        }
        self.cookies
            .retain(|c| !(c.host == host && c.path == path && c.name == name));
        if !expired {
            self.cookies.push(Cookie {
                host: host.to_owned(),
                path,
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
}

/// RFC 6265 §5.1.4: the request path is under the cookie path.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4: a cookie without `Path` belongs to the request path's directory.
fn default_path(request: &str) -> &str {
    match request.rfind('/') {
        Some(0) | None => "/",
        Some(last) => &request[..last],
    }
}

/// How sending on a connection went wrong.
enum Sent {
    /// Not a byte of an answer came back: the request may be sent again on a new connection.
    Nothing,
    Failed(Failure),
}

/// Writes `message` and reads the whole answer; also says whether the connection stays open.
async fn send(connection: &mut Connection, message: &[u8]) -> Result<(Answer, bool), Sent> {
    if connection.stream.write_all(message).await.is_err() {
        return Err(Sent::Nothing);
    }
    let buffer = &mut connection.buffer;
    let (status, headers, head_length) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let status = parsed.code.ok_or(Sent::Failed(Failure::Read))?;
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (status, headers, length);
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_ANSWER => {
                match read_more(&mut connection.stream, buffer).await {
                    Ok(0) if buffer.is_empty() => return Err(Sent::Nothing),
                    Ok(0) => return Err(Sent::Failed(Failure::Read)),
                    Ok(_) => {}
                    Err(_) if buffer.is_empty() => return Err(Sent::Nothing),
                    Err(_) => return Err(Sent::Failed(Failure::Read)),
                }
            }
            _ => return Err(Sent::Failed(Failure::Read)),
        }
    };
    buffer.drain(..head_length);
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let close = find("connection").is_some_and(|v| v.contains("close"));
    let body = if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(&mut connection.stream, buffer).await?
    } else if let Some(length) = find("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| Sent::Failed(Failure::Read))?;
        read_exactly(&mut connection.stream, buffer, length).await?
    } else {
        // Until the server closes the connection.
        while read_more(&mut connection.stream, buffer)
            .await
            .map_err(|_| Sent::Failed(Failure::Read))?
            > 0
        {
            if buffer.len() > MAX_ANSWER {
                return Err(Sent::Failed(Failure::Read));
            }
        }
        let body = std::mem::take(buffer);
        return Ok((answer(status, headers, body), false));
    };
    Ok((answer(status, headers, body), !close))
}

fn answer(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Answer {
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    buffer.reserve(16 * 1024);
    stream.read_buf(buffer).await
}

/// The first `length` bytes of what `buffer` holds and the stream sends next.
async fn read_exactly(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    length: usize,
) -> Result<Vec<u8>, Sent> {
    if length > MAX_ANSWER {
        return Err(Sent::Failed(Failure::Read));
    }
    while buffer.len() < length {
        match read_more(stream, buffer).await {
            Ok(0) | Err(_) => return Err(Sent::Failed(Failure::Read)),
            Ok(_) => {}
        }
    }
    Ok(buffer.drain(..length).collect())
}

/// A chunked body (RFC 9112 §7.1), without trailers.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<Vec<u8>, Sent> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = buffer.windows(2).position(|w| w == b"\r\n") {
                break end;
            }
            match read_more(stream, buffer).await {
                Ok(n) if n > 0 && buffer.len() < MAX_ANSWER => {}
                _ => return Err(Sent::Failed(Failure::Read)),
            }
        };
        let size_text =
            std::str::from_utf8(&buffer[..line_end]).map_err(|_| Sent::Failed(Failure::Read))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| Sent::Failed(Failure::Read))?;
        buffer.drain(..line_end + 2);
        if body.len() + size > MAX_ANSWER {
            return Err(Sent::Failed(Failure::Read));
        }
        let chunk = read_exactly(stream, buffer, size + 2).await?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request read with the next of `answers` on one connection and
    /// returns the requests it read.
    async fn serve(answers: Vec<&'static str>) -> (Url, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut requests = Vec::new();
            for answer in answers {
                let mut buffer = vec![0; 8192];
                let n = socket.read(&mut buffer).await.unwrap();
                requests.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            requests
        });
        (url, server)
    }

    #[tokio::test]
    async fn bodies_cookies_and_forms_go_over_one_kept_connection() {
        let (url, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1; Path=/; HttpOnly\r\nSet-Cookie: b=2; Path=/x\r\n\r\nhello",
            "HTTP/1.1 303 See Other\r\nLocation: /next\r\nSet-Cookie: a=; Path=/; Max-Age=0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ])
        .await;
        let mut browser = Browser::new();
        let first = browser
            .get(&url.join("/x/page?q=1").unwrap())
            .await
            .unwrap();
        assert_eq!((first.status, first.body.as_str()), (200, "hello"));
        let second = browser
            .post_form(
                &url.join("/form").unwrap(),
                Some("http://o"),
                &[("k", "a b&c")],
            )
            .await
            .unwrap();
        assert_eq!(second.status, 303);
        assert_eq!(second.header("location"), Some("/next"));
        assert_eq!(second.body, "abcde");
        browser.get(&url.join("/x/y").unwrap()).await.unwrap();

        let requests = server.await.unwrap();
        assert!(
            requests[0].starts_with("GET /x/page?q=1 HTTP/1.1\r\n"),
            "{}",
            requests[0]
        );
        assert!(!requests[0].contains("Cookie:"));
        assert!(requests[1].starts_with("POST /form HTTP/1.1\r\n"));
        assert!(
            requests[1].contains("\r\nCookie: a=1\r\n"),
            "{}",
            requests[1]
        );
        assert!(requests[1].contains("\r\nOrigin: http://o\r\n"));
        assert!(requests[1].contains("\r\nContent-Length: 9\r\n"));
        assert!(requests[1].ends_with("\r\n\r\nk=a+b%26c"));
        // `a` was removed by Max-Age=0; `b` belongs to /x.
        assert!(
            requests[2].contains("\r\nCookie: b=2\r\n"),
            "{}",
            requests[2]
        );
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buffer = vec![0; 8192];
                let _ = socket.read(&mut buffer).await.unwrap();
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                // Dropped: the kept connection is closed before the next request.
            }
        });
        let mut browser = Browser::new();
        assert_eq!(browser.get(&url).await.unwrap().body, "ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(browser.get(&url).await.unwrap().body, "ok");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_cut_off_answer_is_a_read_failure() {
        let (url, _server) =
            serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]).await;
        let mut browser = Browser::new();
        assert_eq!(browser.get(&url).await.err(), Some(Failure::Read));
        let https = Url::parse("https://127.0.0.1:1/").unwrap();
        assert_eq!(browser.get(&https).await.err(), Some(Failure::Url));
    }

    #[test]
    fn cookie_paths_match_as_in_rfc_6265() {
        assert!(path_matches("/", "/"));
        assert!(path_matches("/account", "/"));
        assert!(path_matches("/x/y", "/x"));
        assert!(!path_matches("/xy", "/x"));
        assert_eq!(default_path("/a/b"), "/a");
        assert_eq!(default_path("/a"), "/");
    }
}
