//! The client's address: the socket's peer, or the address a trusted reverse proxy reports.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::Extensions;
use axum::http::request::Parts;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::config::IpNet;

/// The shortest time between two warnings about `X-Forwarded-For` from an untrusted peer.
const UNTRUSTED_FORWARDING_WARNING_INTERVAL: time::Duration = time::Duration::hours(1);

/// The address of the person's browser, as far as it can be trusted.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Ok(ClientIp(client_ip(
            peer(&parts.extensions),
            &forwarded,
            &state.settings.server.trusted_proxies,
        )))
    }
}

/// The socket's peer (unspecified when the request did not come over a socket, as in unit tests).
fn peer(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Warns when a request carries `X-Forwarded-For` from a peer outside `server.trusted_proxies`
/// (see [`UntrustedForwarding`]). Called for every request by the page middleware.
pub fn notice_untrusted_forwarding(state: &AppState, request: &Request) {
    if !request.headers().contains_key("x-forwarded-for") {
        return;
    }
    let peer = peer(request.extensions());
    if !is_trusted(peer, &state.settings.server.trusted_proxies) {
        state
            .untrusted_forwarding
            .warn(peer, state.public_url.as_str(), state.clock.now());
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// Walks `X-Forwarded-For` from the right while the hop is a trusted proxy; the first untrusted
/// address is the client. Without a trusted peer the header is ignored, since anyone can send it.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',').take(16) {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// The address of one `X-Forwarded-For` entry. Proxies write a bare address (`192.0.2.1`,
/// `2001:db8::1`), some with the client's port (`192.0.2.1:5678`, `[2001:db8::1]:443`) or an IPv6
/// address in brackets without one; the port is dropped. Anything else (`unknown`, obfuscated
/// names) is `None`.
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// Warns, at most once an hour, that requests carry `X-Forwarded-For` from a peer outside
/// `server.trusted_proxies`. Behind a proxy that is not listed, every person shares the proxy's
/// address and so the per-address limit; on a service reached directly, someone sends the header
/// on their own, and the warning is harmless.
#[derive(Debug, Default)]
pub struct UntrustedForwarding {
    last_warned: Mutex<Option<OffsetDateTime>>,
}

impl UntrustedForwarding {
    /// Logs the warning about `peer` unless it was logged within the last hour.
    pub fn warn(&self, peer: IpAddr, public_url: &str, now: OffsetDateTime) {
        {
            let mut last = self
                .last_warned
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|at| now - at < UNTRUSTED_FORWARDING_WARNING_INTERVAL) {
                return;
            }
            *last = Some(now);
        }
        tracing::warn!(
            %peer,
            public_url,
            "requests carry X-Forwarded-For from {peer}, which is not in server.trusted_proxies: \
             the header is ignored and every client behind that peer shares its address and its \
             rate limits. If {peer} is your reverse proxy, add it to server.trusted_proxies \
             (logged at most once an hour)"
        );
    }
}

/// Who is asking, for the use cases' [`crate::account::Context`]: the client's address (also as
/// text for the audit trail), the request's id and the page's language. Saves every handler
/// taking and joining the three.
pub struct Caller {
    pub ip: std::net::IpAddr,
    pub lang: crate::i18n::Lang,
    client: String,
    request_id: String,
}

impl Caller {
    /// The context of this request, in the page's language.
    pub fn context(&self) -> crate::account::Context<'_> {
        crate::account::Context {
            client_ip: &self.client,
            request_id: &self.request_id,
            lang: self.lang,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        // The middleware sets both on every request; the fallbacks only keep this total.
        let lang = parts
            .extensions
            .get::<crate::i18n::Lang>()
            .copied()
            .unwrap_or(crate::i18n::Lang::Fi);
        let request_id = parts
            .extensions
            .get::<super::middleware::RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        Ok(Caller {
            ip,
            lang,
            client: ip.to_string(),
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(peer, "198.51.100.1", &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(peer, "1.2.3.4, 198.51.100.7, 10.0.0.3", &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(peer, "garbage", &trusted),
            peer,
            "an unreadable header leaves the proxy's own address"
        );
    }

    #[test]
    fn forwarded_hops_are_read_with_or_without_a_port() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        for (hop, expected) in [
            ("192.0.2.1", "192.0.2.1"),
            (" 192.0.2.1 ", "192.0.2.1"),
            ("192.0.2.1:5678", "192.0.2.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ] {
            assert_eq!(parse_hop(hop), Some(ip(expected)), "{hop}");
        }
        for hop in [
            "",
            "unknown",
            "_hidden",
            "192.0.2.1:",
            "192.0.2.1:99999",
            "[192.0.2.1]:80",
            "2001:db8::1:443x",
            "[2001:db8::1",
        ] {
            assert_eq!(parse_hop(hop), None, "{hop}");
        }
    }

    #[test]
    fn hops_with_ports_are_walked_like_bare_addresses() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(
            client_ip(peer, "198.51.100.7:5678, 10.0.0.3:443", &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(peer, "[2001:db8::1]:443,[fd00::5]:8443", &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
