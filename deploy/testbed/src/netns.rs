//! Real networks on one host: network namespaces joined by veth pairs, with a NAT router, made and
//! removed by the test that uses them.
//!
//! [`NatNet`] builds the smallest network where addresses lie as they do on the internet:
//!
//! ```text
//!   lan (10.77.0.0/24)            router                        carrier (198.51.100.0/24)
//!   ringback   10.77.0.2  ----  10.77.0.1 | 198.51.100.1  ----  trunk     198.51.100.10
//!   intruder   10.77.0.66                   (masquerade)        phone     198.51.100.20
//!                                                               attacker  198.51.100.66
//! ```
//!
//! The carrier side has no route to 10.77.0.0/24, so a private address in a Contact or SDP is as
//! unreachable there as on a real trunk; traffic from the LAN leaves with the router's address.
//! Addresses exist only inside the namespaces, so instances never collide with each other or with the
//! host; names carry the process id and a counter, so tests run side by side. Each namespace is
//! deleted when its handle drops (also when a test panics), which removes its interfaces too.
//!
//! Namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN). Without it, creation fails with an error
//! that says so: a test of real networks never skips.
//!
//! Code runs inside a namespace by [`Netns::enter`] (this thread only: sockets it opens and processes
//! it spawns live there) or [`Netns::spawn`] (a new thread).

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Result, TestbedError};

/// Where `ip netns add` puts a namespace's handle.
const NETNS_DIR: &str = "/run/netns";

/// Numbers the namespaces of this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace of our own, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates an empty namespace named `name` with its loopback up.
    pub fn create(name: &str) -> Result<Self> {
        ip(&["netns", "add", name])?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <name> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `program args` inside the namespace (`ip netns exec`), with `stdin` as its input.
    pub fn exec(&self, program: &'static str, args: &[&str], stdin: Option<&str>) -> Result<()> {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all, stdin)
    }

    /// Moves the calling thread into the namespace: sockets it opens from now on, and processes it
    /// spawns, live there. Other threads are not affected.
    pub fn enter(&self) -> Result<()> {
        let path = PathBuf::from(NETNS_DIR).join(&self.name);
        let file = std::fs::File::open(&path).map_err(|source| TestbedError::ReadFile {
            path: path.clone(),
            source,
        })?;
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| {
            TestbedError::Netns {
                step: format!("setns into {}", self.name),
                detail: errno.to_string(),
            }
        })
    }

    /// Runs `f` on a new thread inside the namespace (a tokio runtime built there has its sockets
    /// there, as long as it is a current-thread one or its workers start from that thread).
    pub fn spawn<T, F>(&self, f: F) -> Result<std::thread::JoinHandle<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let path = PathBuf::from(NETNS_DIR).join(&self.name);
        let name = self.name.clone();
        std::thread::Builder::new()
            .name(format!("netns-{name}"))
            .spawn(move || {
                let ns = Netns { name };
                let entered = ns.enter();
                // This handle only borrowed the name: the owner deletes the namespace.
                std::mem::forget(ns);
                entered?;
                f()
            })
            .map_err(|source| TestbedError::ReadFile { path, source })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(err) = ip(&["netns", "delete", &self.name]) {
            tracing::warn!(netns = %self.name, %err, "could not delete network namespace");
        }
    }
}

/// The LAN, the NAT router and the carrier network, as drawn in the [module docs](self).
#[derive(Debug)]
pub struct NatNet {
    /// Where Ringback runs, behind the NAT.
    pub lan: Netns,
    /// The router, masquerading the LAN behind [`NatNet::PUBLIC`].
    pub router: Netns,
    /// The carrier side: trunk, phone and attacker.
    pub carrier: Netns,
    /// The router's interface towards the carrier side.
    wan_if: String,
}

impl NatNet {
    /// Ringback's address on the LAN.
    pub const RINGBACK: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
    /// A hostile host on the LAN.
    pub const INTRUDER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 66);
    /// The router's LAN address (the LAN's default route).
    pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    /// The router's public address: what the carrier side sees the LAN as.
    pub const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    /// The trunk's address on the carrier side.
    pub const TRUNK: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    /// The phone's address on the carrier side.
    pub const PHONE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
    /// An attacker's address on the carrier side.
    pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 66);

    /// Creates the three namespaces, their links and the NAT. Fails, saying why, when namespaces
    /// cannot be made (not root) or a tool is missing (`ip`, `nft`: run deploy/setup).
    pub fn create() -> Result<Self> {
        let id = format!(
            "rb{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lan = Netns::create(&format!("{id}-lan"))?;
        let router = Netns::create(&format!("{id}-rtr"))?;
        let carrier = Netns::create(&format!("{id}-car"))?;
        // Interface names are at most 15 bytes; these are made in their namespaces, so they only
        // need to be unique while both ends are still on the host during `link add`.
        let (lan_if, gw_if) = (format!("{id}l"), format!("{id}g"));
        let (wan_if, car_if) = (format!("{id}w"), format!("{id}c"));
        veth(&lan, &lan_if, &router, &gw_if)?;
        veth(&router, &wan_if, &carrier, &car_if)?;
        for (ns, dev, addrs) in [
            (&lan, &lan_if, vec![Self::RINGBACK, Self::INTRUDER]),
            (&router, &gw_if, vec![Self::GATEWAY]),
            (&router, &wan_if, vec![Self::PUBLIC]),
            // The phone's address first: it is the carrier side's primary, the source of sockets
            // bound to no address (baresip's RTP); kamailio and attackers bind theirs.
            (&carrier, &car_if, vec![Self::PHONE, Self::TRUNK, Self::ATTACKER]),
        ] {
            for addr in addrs {
                ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev])?;
            }
            ns.ip(&["link", "set", dev, "up"])?;
        }
        lan.ip(&["route", "add", "default", "via", &Self::GATEWAY.to_string()])?;
        router.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
        // Masquerade, and drop what nobody on the LAN asked for before conntrack confirms it: a
        // stray packet to the router's public address must not hold the tuple a LAN host's later
        // outgoing flow would be mapped to (as home routers' firewalls do).
        let rules = format!(
            "table ip nat {{\n chain postrouting {{\n  type nat hook postrouting priority 100;\n  \
             oifname \"{wan_if}\" masquerade\n }}\n}}\n\
             table ip filter {{\n chain input {{\n  type filter hook input priority 0;\n  \
             iifname \"{wan_if}\" ct state new drop\n }}\n}}\n"
        );
        router.exec("nft", &["-f", "-"], Some(&rules))?;
        Ok(Self {
            lan,
            router,
            carrier,
            wan_if,
        })
    }

    /// Forwards these UDP ports of [`NatNet::PUBLIC`] to the same ports of [`NatNet::RINGBACK`], as
    /// an operator does for a server behind a NAT with a static public address: anyone on the
    /// carrier side can then reach them, and replies leave with the public address and the same port.
    pub fn forward_udp(&self, ports: &[u16]) -> Result<()> {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let rules = format!(
            "table ip forward {{\n chain prerouting {{\n  type nat hook prerouting priority -100;\n  \
             iifname \"{wan}\" udp dport {{ {ports} }} dnat to {to}\n }}\n}}\n",
            wan = self.wan_if,
            ports = ports.join(", "),
            to = Self::RINGBACK,
        );
        self.router.exec("nft", &["-f", "-"], Some(&rules))
    }
}

/// Two hosts on one dual-stack link, no NAT: Ringback and the carrier, each with an IPv4 and an
/// IPv6 address (a unique local /64), for trunks reached over IPv6 or both.
#[derive(Debug)]
pub struct DualStackNet {
    /// Where Ringback runs.
    pub ours: Netns,
    /// The carrier: trunk (and anything else the test starts there).
    pub carrier: Netns,
}

impl DualStackNet {
    /// Ringback's IPv4 address.
    pub const OURS_V4: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 2);
    /// Ringback's IPv6 address.
    pub const OURS_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd00, 0x88, 0, 0, 0, 0, 0, 2);
    /// The trunk's IPv4 address.
    pub const TRUNK_V4: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 10);
    /// The trunk's IPv6 address.
    pub const TRUNK_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xfd00, 0x88, 0, 0, 0, 0, 0, 0x10);

    /// Creates both namespaces and the link. IPv6 addresses skip duplicate address detection, so
    /// they are usable at once.
    pub fn create() -> Result<Self> {
        let id = format!(
            "rb{}y{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let ours = Netns::create(&format!("{id}-us"))?;
        let carrier = Netns::create(&format!("{id}-car"))?;
        let (our_if, car_if) = (format!("{id}u"), format!("{id}c"));
        veth(&ours, &our_if, &carrier, &car_if)?;
        for (ns, dev, v4, v6) in [
            (&ours, &our_if, Self::OURS_V4, Self::OURS_V6),
            (&carrier, &car_if, Self::TRUNK_V4, Self::TRUNK_V6),
        ] {
            ns.ip(&["addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ns.ip(&["-6", "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        Ok(Self { ours, carrier })
    }
}

/// A veth pair with one end in each namespace.
fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<()> {
    ip(&[
        "link",
        "add",
        a_if,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])
}

fn ip(args: &[&str]) -> Result<()> {
    run("ip", args, None)
}

/// Runs a tool to completion; a failure carries what it said, and a hint when it looks like a
/// missing privilege.
fn run(program: &'static str, args: &[&str], stdin: Option<&str>) -> Result<()> {
    use std::io::Write as _;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|source| TestbedError::Spawn { program, source })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| TestbedError::Spawn { program, source })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| TestbedError::Spawn { program, source })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let hint = if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        " (network namespaces need root: CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    } else {
        ""
    };
    Err(TestbedError::Netns {
        step: format!("{program} {}", args.join(" ")),
        detail: format!("{stderr}{hint}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the network, checks the NAT rewrites the LAN's source address, and that everything is
    /// gone after the drop.
    #[test]
    fn the_nat_network_translates_and_cleans_up() {
        let net = NatNet::create().expect("network namespaces (run as root)");
        let names: Vec<String> = [&net.lan, &net.router, &net.carrier]
            .iter()
            .map(|ns| ns.name().to_owned())
            .collect();
        let server = net
            .carrier
            .spawn(|| {
                let socket = std::net::UdpSocket::bind((NatNet::TRUNK, 0)).expect("bind");
                socket
                    .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .expect("timeout");
                Ok(socket)
            })
            .expect("thread")
            .join()
            .expect("join")
            .expect("socket");
        let to = server.local_addr().expect("addr");
        net.lan
            .spawn(move || {
                let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
                socket.send_to(b"hello", to).expect("send");
                Ok(())
            })
            .expect("thread")
            .join()
            .expect("join")
            .expect("sent");
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).expect("datagram through the NAT");
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from.ip(), std::net::IpAddr::V4(NatNet::PUBLIC));
        drop(net);
        for name in names {
            assert!(
                !PathBuf::from(NETNS_DIR).join(&name).exists(),
                "{name} left behind"
            );
        }
    }
}
