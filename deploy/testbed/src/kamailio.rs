//! The trunk: a kamailio registrar and proxy on its own UDP port (and TCP and TLS ports when asked).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::process::{self, Supervised};
use crate::{Result, TestbedError, template};

const CFG_TEMPLATE: &str = include_str!("../kamailio.cfg.in");

/// How often the start-up probe sends OPTIONS.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// How many ports to try when the port is picked for us and kamailio cannot bind it.
const PORT_ATTEMPTS: u32 = 3;

/// How long kamailio may take to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How to start a [`Kamailio`].
#[derive(Debug, Clone)]
pub struct KamailioOptions {
    /// The address to listen on: 127.0.0.1 by default; another one of the network namespace the
    /// caller runs in (see [`netns`](crate::netns)).
    pub ip: Ipv4Addr,
    /// UDP port; `None` picks a free one.
    pub port: Option<u16>,
    /// Also listen on this IPv6 address, same UDP port (a dual-stack trunk); see
    /// [`Kamailio::addr6`].
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Act as a carrier's SIP edge without a media relay: an INVITE whose SDP names a private
    /// address gets its `c=` and `o=` rewritten to the address it came from (nathelper
    /// `fix_nated_sdp`), and the call is logged as `NAT-SDP <from ip>`.
    pub nat_sdp: bool,
    /// Act as a carrier's SIP edge in front of a media relay: every SDP offer and answer goes
    /// through the [`Rtpengine`](crate::Rtpengine) whose ng control socket this is (kamailio's
    /// `rtpengine` module, `rtpengine_manage`), so each side sees the relay's address, and the call is
    /// logged as `MEDIA-EDGE offer from <ip>` and `MEDIA-EDGE answer from <ip>`.
    pub rtpengine: Option<SocketAddr>,
    /// A customer authenticated by its source address, as carriers do for IP-authenticated trunks:
    /// INVITEs from it are not challenged (logged `IP-AUTH INVITE from <ip>`).
    pub trusted: Option<std::net::IpAddr>,
    /// How long to wait for kamailio to answer OPTIONS before giving up.
    pub ready_timeout: Duration,
    /// Also listen on TCP (a free port of 127.0.0.1), see [`Kamailio::tcp_addr`].
    pub tcp: bool,
    /// Also listen on TLS (a free port, a certificate from a CA made for this instance), see
    /// [`Kamailio::tls_addr`] and [`Kamailio::certificates`].
    pub tls: bool,
}

impl Default for KamailioOptions {
    fn default() -> Self {
        Self {
            ip: Ipv4Addr::LOCALHOST,
            port: None,
            ip6: None,
            nat_sdp: false,
            rtpengine: None,
            trusted: None,
            ready_timeout: Duration::from_secs(10),
            tcp: false,
            tls: false,
        }
    }
}

/// A running kamailio acting as the SIP trunk, listening on UDP `127.0.0.1:<port>`, and on TCP and TLS
/// ports of its own when asked.
///
/// Users `agent`/`agentpw`, `alice`/`alicepw` and `bob`/`bobpw` in realm `trunk.test`; REGISTER is
/// challenged with 401, INVITE with 407, and both are logged as `AUTH-CHALLENGE <method> from <user>` and
/// `AUTH-OK <method> from <user>` (see [`count`](Self::count)). `+1555...` numbers ring the registered
/// `alice`, except `+15550000486` (486), `+15550000603` (603), `+15550000480` (480), `+15550000404`
/// (404) and `+15550000408` (rings, never answers); `+1556...` numbers ring `bob` (the human a call
/// is handed to); `+1777...` numbers are DIDs delivered to the registered `agent` (Ringback) with the
/// number kept in the Request-URI; unregistered users and other numbers get 404.
///
/// Dropping it stops kamailio (SIGTERM to its process group, SIGKILL after 3 s) and removes its run dir.
#[derive(Debug)]
pub struct Kamailio {
    addr: SocketAddr,
    addr6: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    certificates: Option<crate::TestCertificates>,
    // Field order matters: the process stops before its run dir is removed.
    process: Supervised,
    run_dir: tempfile::TempDir,
}

impl Kamailio {
    /// Renders the config into a fresh run dir, starts `kamailio -DD -E` in its own process group and
    /// waits until it answers an OPTIONS request with 200.
    pub async fn start(options: KamailioOptions) -> Result<Self> {
        let mut attempt = 1;
        loop {
            let port = match options.port {
                Some(port) => port,
                None => process::free_udp_port()?,
            };
            match Self::start_on(port, &options).await {
                // Another process may have taken the port between our probe and kamailio's bind.
                Err(err @ TestbedError::ExitedEarly { .. })
                    if options.port.is_none() && attempt < PORT_ATTEMPTS =>
                {
                    tracing::warn!(port, %err, "kamailio failed to start; trying another port");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn start_on(port: u16, options: &KamailioOptions) -> Result<Self> {
        let ready_timeout = options.ready_timeout;
        let started = Instant::now();
        let addr = SocketAddr::from((options.ip, port));
        let run_dir = tempfile::Builder::new()
            .prefix("ringback-kamailio-")
            .tempdir()
            .map_err(|source| TestbedError::CreateDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let run_path = config_path(run_dir.path())?;
        let tcp_addr = match options.tcp {
            true => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, process::free_tcp_port()?))),
            false => None,
        };
        let tls_addr = match options.tls {
            true => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, process::free_tcp_port()?))),
            false => None,
        };
        let certificates = match options.tls {
            true => Some(crate::certs::generate(run_dir.path())?),
            false => None,
        };
        let cfg = template::render(
            "kamailio.cfg.in",
            CFG_TEMPLATE,
            &[
                ("ip", &options.ip.to_string()),
                ("port", &port.to_string()),
                ("nat_module", nat_module(options.nat_sdp)),
                ("nat_route", nat_route(options.nat_sdp)),
                ("listen6", &listen6(options.ip6, port)),
                ("alias6", &alias6(options.ip6, port)),
                ("media_module", &media_module(options.rtpengine)),
                (
                    "trusted",
                    &options.trusted.map(|ip| ip.to_string()).unwrap_or_default(),
                ),
                ("media_in_dialog", media_in_dialog(options.rtpengine)),
                ("media_route", media_route(options.rtpengine)),
                ("media_reply_route", media_reply_route(options.rtpengine)),
                ("run_dir", run_path),
                ("stream_listeners", &stream_listeners(tcp_addr, tls_addr)),
                ("tls_module", &tls_module(certificates.as_ref())?),
            ],
        )?;
        let cfg_path = run_dir.path().join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).map_err(|source| TestbedError::WriteFile {
            path: cfg_path.clone(),
            source,
        })?;

        let mut command = Command::new("kamailio");
        command
            .args(["-DD", "-E", "-f"])
            .arg(&cfg_path)
            .arg("-Y")
            .arg(run_dir.path())
            .args(["-m", "64", "-M", "8"]);
        let mut process = Supervised::spawn(
            "kamailio",
            command,
            &run_dir.path().join("kamailio.log"),
            STOP_GRACE,
        )?;

        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| TestbedError::Probe { addr, source })?;
        let mut seq = 0u32;
        loop {
            if let Some(status) = process.exit_status() {
                return Err(process.exited_early(status));
            }
            if started.elapsed() >= ready_timeout {
                return Err(process.not_ready(started.elapsed()));
            }
            seq += 1;
            if options_round(&probe, addr, seq, PROBE_INTERVAL).await? == Some(200) {
                break;
            }
        }
        tracing::info!(%addr, elapsed = ?started.elapsed(), "kamailio ready");
        Ok(Self {
            addr,
            addr6: options.ip6.map(|ip| SocketAddr::from((ip, port))),
            tcp_addr,
            tls_addr,
            certificates,
            process,
            run_dir,
        })
    }

    /// The UDP address kamailio listens on (`127.0.0.1:<port>`): the registrar, proxy and outbound proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The IPv6 UDP address, when started with [`KamailioOptions::ip6`].
    pub fn addr6(&self) -> Option<SocketAddr> {
        self.addr6
    }

    /// The TCP address, when started with [`KamailioOptions::tcp`].
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The TLS address, when started with [`KamailioOptions::tls`].
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The CA (for clients to trust) and the server certificate, when started with TLS. The
    /// certificate names `127.0.0.1`, `localhost` and `trunk.test`.
    pub fn certificates(&self) -> Option<&crate::TestCertificates> {
        self.certificates.as_ref()
    }

    /// The per-instance run dir (rendered config, log, ctl socket `kamailio_ctl`).
    pub fn run_dir(&self) -> &Path {
        self.run_dir.path()
    }

    /// Everything kamailio has logged so far (its stderr).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// How many times `pattern` occurs in the log, e.g. `count("AUTH-OK REGISTER from alice")`.
    pub fn count(&self, pattern: &str) -> usize {
        self.log().matches(pattern).count()
    }

    /// Sends one OPTIONS request to kamailio and returns the status code of its answer.
    pub async fn ping(&self, timeout: Duration) -> Result<u16> {
        let addr = self.addr;
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| TestbedError::Probe { addr, source })?;
        options_round(&socket, addr, 1, timeout)
            .await?
            .ok_or_else(|| TestbedError::Probe {
                addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer in {timeout:?}"),
                ),
            })
    }
}

/// The IPv6 listener, for [`KamailioOptions::ip6`].
fn listen6(ip6: Option<std::net::Ipv6Addr>, port: u16) -> String {
    ip6.map(|ip| format!("listen=udp:[{ip}]:{port}"))
        .unwrap_or_default()
}

/// The IPv6 listener's alias (requests to it are for us), for [`KamailioOptions::ip6`].
fn alias6(ip6: Option<std::net::Ipv6Addr>, port: u16) -> String {
    ip6.map(|ip| format!("alias=\"[{ip}]:{port}\""))
        .unwrap_or_default()
}

/// nathelper, for [`KamailioOptions::nat_sdp`].
fn nat_module(nat_sdp: bool) -> &'static str {
    if nat_sdp {
        "loadmodule \"nathelper.so\""
    } else {
        ""
    }
}

/// The rewrite of private SDP addresses, for [`KamailioOptions::nat_sdp`]: `nat_uac_test("8")` is
/// an SDP that names an RFC 1918 address; `fix_nated_sdp("10")` rewrites `c=` (2) and `o=` (8) to
/// the source address.
fn nat_route(nat_sdp: bool) -> &'static str {
    if nat_sdp {
        "    if (is_method(\"INVITE\") && has_body(\"application/sdp\") && nat_uac_test(\"8\")) {\n        \
         xlog(\"L_NOTICE\", \"NAT-SDP $si\\n\");\n        fix_nated_sdp(\"10\");\n    }"
    } else {
        ""
    }
}

/// The rtpengine module, for [`KamailioOptions::rtpengine`]. Every `rtpengine_manage` below has the
/// same flags: the relay's address replaces the sender's in `o=` and `c=`.
fn media_module(ng: Option<SocketAddr>) -> String {
    match ng {
        Some(ng) => {
            format!("loadmodule \"rtpengine.so\"\nmodparam(\"rtpengine\", \"rtpengine_sock\", \"udp:{ng}\")")
        }
        None => String::new(),
    }
}

/// In-dialog requests: a re-INVITE's SDP goes through the relay, a BYE ends the relay's session.
fn media_in_dialog(ng: Option<SocketAddr>) -> &'static str {
    match ng {
        Some(_) => {
            "        if (has_body(\"application/sdp\") || is_method(\"BYE\")) {\n            \
             rtpengine_manage(\"replace-origin replace-session-connection\");\n            \
             t_on_reply(\"MEDIA_EDGE\");\n        }"
        }
        None => "",
    }
}

/// A new INVITE's offer goes through the relay, and its answer on the way back.
fn media_route(ng: Option<SocketAddr>) -> &'static str {
    match ng {
        Some(_) => {
            "    if (is_method(\"INVITE\") && has_body(\"application/sdp\")) {\n        \
             xlog(\"L_NOTICE\", \"MEDIA-EDGE offer from $si\\n\");\n        \
             rtpengine_manage(\"replace-origin replace-session-connection\");\n        \
             t_on_reply(\"MEDIA_EDGE\");\n    }"
        }
        None => "",
    }
}

/// Answers (and failures, which end the relay's session) on their way back.
fn media_reply_route(ng: Option<SocketAddr>) -> &'static str {
    match ng {
        Some(_) => {
            "onreply_route[MEDIA_EDGE] {\n    \
             if (has_body(\"application/sdp\") || status =~ \"^[3-6]\") {\n        \
             if (has_body(\"application/sdp\")) { xlog(\"L_NOTICE\", \"MEDIA-EDGE answer from $si\\n\"); }\n        \
             rtpengine_manage(\"replace-origin replace-session-connection\");\n    }\n}"
        }
        None => "",
    }
}

/// The config lines for TCP and TLS: listeners, or TCP switched off when there are none.
fn stream_listeners(tcp: Option<SocketAddr>, tls: Option<SocketAddr>) -> String {
    let mut lines = Vec::new();
    if let Some(addr) = tcp {
        lines.push(format!("listen=tcp:{addr}"));
    }
    if let Some(addr) = tls {
        lines.push("enable_tls=yes".to_owned());
        lines.push(format!("listen=tls:{addr}"));
    }
    if lines.is_empty() {
        lines.push("disable_tcp=yes".to_owned());
    }
    lines.join("\n")
}

/// The tls module with the instance's certificate (no client certificates asked for), or nothing.
fn tls_module(certificates: Option<&crate::TestCertificates>) -> Result<String> {
    let Some(certs) = certificates else {
        return Ok(String::new());
    };
    let cert = config_path(&certs.cert)?;
    let key = config_path(&certs.key)?;
    Ok(format!(
        "loadmodule \"tls.so\"\n\
         modparam(\"tls\", \"certificate\", \"{cert}\")\n\
         modparam(\"tls\", \"private_key\", \"{key}\")\n\
         modparam(\"tls\", \"tls_method\", \"TLSv1.2+\")\n\
         modparam(\"tls\", \"verify_certificate\", 0)\n\
         modparam(\"tls\", \"require_certificate\", 0)"
    ))
}

/// The run dir as it goes into the config: absolute, UTF-8, no whitespace.
fn config_path(path: &Path) -> Result<&str> {
    match path.to_str() {
        Some(s) if path.is_absolute() && !s.chars().any(char::is_whitespace) => Ok(s),
        _ => Err(TestbedError::UnusablePath(PathBuf::from(path))),
    }
}

/// Sends an OPTIONS to `target` and waits up to `wait` for a response; its status code, if any.
async fn options_round(
    socket: &UdpSocket,
    target: SocketAddr,
    seq: u32,
    wait: Duration,
) -> Result<Option<u16>> {
    let probe_err = |source| TestbedError::Probe { addr: target, source };
    let local = socket.local_addr().map_err(probe_err)?;
    let request = options_request(target, local, seq);
    socket
        .send_to(request.as_bytes(), target)
        .await
        .map_err(probe_err)?;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            Err(_elapsed) => return Ok(None),
            // kamailio not listening yet: ICMP port unreachable surfaces as ConnectionRefused.
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                tokio::time::sleep_until(deadline).await;
                return Ok(None);
            }
            Ok(Err(err)) => return Err(probe_err(err)),
            Ok(Ok((len, from))) if from == target => {
                if let Some(status) = status_code(&buf[..len]) {
                    return Ok(Some(status));
                }
            }
            Ok(Ok(_)) => {}
        }
    }
}

fn options_request(target: SocketAddr, local: SocketAddr, seq: u32) -> String {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-ringback-probe-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag=probe{seq}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: ringback-probe-{seq}-{port}@127.0.0.1\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port(),
    )
}

/// The status code of a SIP response (`SIP/2.0 200 OK`), or `None` for anything else.
fn status_code(message: &[u8]) -> Option<u16> {
    let line = message.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if parts.next()? != "SIP/2.0" {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(status_code(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), Some(200));
        assert_eq!(status_code(b"SIP/2.0 486 Busy Here\r\n"), Some(486));
        assert_eq!(status_code(b"OPTIONS sip:x SIP/2.0\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn template_renders_without_leftovers() {
        /// The config with nathelper (`nat`), rtpengine at `ng` and a trusted address as given.
        fn render(ip: &str, nat: bool, ng: Option<SocketAddr>, trusted: &str) -> String {
            template::render(
                "kamailio.cfg.in",
                CFG_TEMPLATE,
                &[
                    ("ip", ip),
                    ("port", "5099"),
                    ("nat_module", nat_module(nat)),
                    ("nat_route", nat_route(nat)),
                    ("media_module", &media_module(ng)),
                    ("media_in_dialog", media_in_dialog(ng)),
                    ("media_route", media_route(ng)),
                    ("media_reply_route", media_reply_route(ng)),
                    ("trusted", trusted),
                    ("listen6", &listen6(None, 5099)),
                    ("alias6", &alias6(None, 5099)),
                    ("run_dir", "/tmp/x"),
                    ("stream_listeners", &stream_listeners(None, None)),
                    ("tls_module", ""),
                ],
            )
            .unwrap()
        }
        let cfg = render("127.0.0.1", false, None, "");
        assert!(cfg.contains("listen=udp:127.0.0.1:5099\n"));
        assert!(!cfg.contains("nathelper") && !cfg.contains("rtpengine.so"));
        assert!(cfg.contains("$si == \"\")"), "nobody is trusted by default");
        let nat = render("198.51.100.10", true, None, "");
        assert!(nat.contains("listen=udp:198.51.100.10:5099\n"));
        assert!(nat.contains("loadmodule \"nathelper.so\"\n"));
        assert!(nat.contains("        fix_nated_sdp(\"10\");\n"));
        assert!(cfg.contains("unix:/tmp/x/kamailio_ctl"));
        assert!(cfg.contains("disable_tcp=yes\n"));
        let both = stream_listeners(
            Some("127.0.0.1:5100".parse().unwrap()),
            Some("127.0.0.1:5101".parse().unwrap()),
        );
        assert_eq!(
            both,
            "listen=tcp:127.0.0.1:5100\nenable_tls=yes\nlisten=tls:127.0.0.1:5101"
        );
        let edge = render(
            "198.51.100.10",
            false,
            Some("127.0.0.1:2223".parse().unwrap()),
            "127.0.0.2",
        );
        assert!(edge.contains("modparam(\"rtpengine\", \"rtpengine_sock\", \"udp:127.0.0.1:2223\")"));
        assert!(edge.contains("onreply_route[MEDIA_EDGE]"));
        assert!(edge.contains("$si == \"127.0.0.2\")"));
        assert_eq!(
            listen6(Some("fd00:77::10".parse().unwrap()), 5099),
            "listen=udp:[fd00:77::10]:5099"
        );
    }
}
