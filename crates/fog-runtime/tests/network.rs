//! Container networking on this host (needs root). No container is run: a
//! process in the namespace `fog-<id>` (`ip netns exec` with busybox, or a
//! listener opened there) acts as the container. The "outside world" is a
//! namespace each test creates, `fogtest-inet-<pid>-<n>`, wired to the host by
//! a veth with 198.18.<n>.1 (host) and 198.18.<n>.2 (outside); nothing else is
//! ever contacted. Every test uses its own ids, pool, subnet and ports, and
//! cleans up in `Drop`, so the tests run in parallel and survive failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs::File,
    io::Write,
    net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket},
    path::Path,
    process::{Command, Stdio},
    sync::{
        RwLock, RwLockReadGuard,
        atomic::{AtomicU8, Ordering},
    },
    thread,
    time::Duration,
};

use fog_runtime::network::{
    Attachment, NatConfig, Network, NetworkConfig, NetworkError, NetworkMode, PortForward,
    Protocol, check,
};

/// `clean_orphans` removes every fog id it is not told is live, so tests
/// calling it take this for writing while every other test holds it for
/// reading.
static ORPHAN_SWEEP: RwLock<()> = RwLock::new(());
/// Makes subnets, pools, ports and names unique per test.
static NEXT: AtomicU8 = AtomicU8::new(1);

/// One test's world: a Network on its own state dir and pool, an outside
/// namespace, and the ids it attached (all removed on drop).
struct World {
    n: u8,
    net: Network,
    state: tempfile::TempDir,
    outside: String,
    outside_veth: String,
    ids: Vec<String>,
    _sweep: Option<RwLockReadGuard<'static, ()>>,
}

impl World {
    fn new() -> Self {
        Self::build(Some(ORPHAN_SWEEP.read().unwrap_or_else(|p| p.into_inner())))
    }

    /// For tests that take the sweep lock themselves.
    fn without_sweep_lock() -> Self {
        Self::build(None)
    }

    fn build(sweep: Option<RwLockReadGuard<'static, ()>>) -> Self {
        assert!(
            nix::unistd::geteuid().is_root(),
            "network tests need root (they create namespaces, veths and iptables rules)"
        );
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < 250, "too many tests for 198.18.<n>.0/24 subnets");
        let state = tempfile::tempdir().unwrap();
        let config = NetworkConfig {
            pool: format!("10.89.{n}.0/24").parse().unwrap(),
            iptables: None,
        };
        let net = Network::open(state.path(), config).unwrap();
        let pid = std::process::id();
        let world = Self {
            n,
            net,
            state,
            outside: format!("fogtest-inet-{pid}-{n}"),
            outside_veth: format!("ft{pid}x{n}"),
            ids: Vec::new(),
            _sweep: sweep,
        };
        let ns = world.outside.as_str();
        let veth = world.outside_veth.as_str();
        sh("ip", &["netns", "add", ns]);
        sh(
            "ip",
            &[
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        );
        sh(
            "ip",
            &["addr", "add", &format!("198.18.{n}.1/24"), "dev", veth],
        );
        sh("ip", &["link", "set", "dev", veth, "up"]);
        sh(
            "ip",
            &[
                "-n",
                ns,
                "addr",
                "add",
                &format!("198.18.{n}.2/24"),
                "dev",
                "eth0",
            ],
        );
        sh("ip", &["-n", ns, "link", "set", "dev", "eth0", "up"]);
        sh("ip", &["-n", ns, "link", "set", "dev", "lo", "up"]);
        world
    }

    /// A container id unique to this test and process.
    fn id(&mut self, name: &str) -> String {
        let id = format!("t{}-{}-{name}", std::process::id(), self.n);
        self.ids.push(id.clone());
        id
    }

    fn attach(&mut self, name: &str, nat: NatConfig) -> (String, Attachment) {
        let id = self.id(name);
        let attachment = self.net.attach(&id, &NetworkMode::Nat(nat)).unwrap();
        (id, attachment)
    }

    /// The host's address towards the outside namespace.
    fn host_outside_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n, 1)
    }

    /// The outside namespace's address.
    fn outside_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.n, 2)
    }

    /// A host port no other test forwards.
    fn host_port(&self) -> u16 {
        40000 + u16::from(self.n)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for id in &self.ids {
            if let Err(e) = self.net.detach(id) {
                eprintln!("cleanup: detaching {id}: {e}");
            }
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.outside])
            .status();
    }
}

/// Runs a setup command, panicking with its stderr if it fails.
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nat() -> NatConfig {
    NatConfig::default()
}

/// Runs `f` in namespace `netns` (`/run/netns/<netns>`), on a thread of
/// its own; sockets stay in the namespace they were created in.
fn in_netns<T: Send + 'static>(netns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(netns);
    thread::spawn(move || {
        let ns = File::open(&path).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// A TCP listener opened inside namespace `netns`.
fn listen_in(netns: &str, addr: SocketAddr) -> TcpListener {
    in_netns(netns, move || TcpListener::bind(addr).unwrap())
}

/// Answers every connection with the address it came from.
fn serve_peer_address(listener: TcpListener) {
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if let Ok(peer) = stream.peer_addr() {
                let _ = writeln!(stream, "{}", peer.ip());
            }
        }
    });
}

/// Connects with busybox nc from `netns` (or the host for `None`) and returns
/// what the server said, or nc's error.
fn connect(netns: Option<&str>, ip: Ipv4Addr, port: u16) -> Result<String, String> {
    let target = [ip.to_string(), port.to_string()];
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "/usr/bin/busybox"]);
            c
        }
        None => Command::new("/usr/bin/busybox"),
    };
    let out = command
        .args(["nc", "-w", "5"])
        .args(&target)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Answers every datagram with the address it came from.
fn serve_peer_address_udp(socket: UdpSocket) {
    thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((_, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(peer.ip().to_string().as_bytes(), peer);
        }
    });
}

fn netns_of(id: &str) -> String {
    format!("fog-{id}")
}

/// Whether the connection was refused by fog's firewall (REJECT with
/// icmp-admin-prohibited, which connect reports as EHOSTUNREACH).
fn is_rejected(result: &Result<String, String>) -> bool {
    matches!(result, Err(e) if e.contains("No route to host"))
}

#[test]
fn nat_container_reaches_the_outside_masqueraded_as_the_host() {
    let mut w = World::new();
    let (id, attachment) = w.attach("out", nat());
    assert_eq!(
        attachment.netns.as_deref(),
        Some(Path::new(&format!("/run/netns/fog-{id}")))
    );
    serve_peer_address(listen_in(
        &w.outside,
        SocketAddr::new(w.outside_ip().into(), 8080),
    ));

    let seen = connect(Some(&netns_of(&id)), w.outside_ip(), 8080);

    assert_eq!(seen, Ok(w.host_outside_ip().to_string()));
}

#[test]
fn host_services_are_unreachable_from_a_container_without_allow_host() {
    let mut w = World::new();
    let (id, attachment) = w.attach("nohost", nat());
    let host_ip = attachment.host_ip.unwrap();
    for ip in [host_ip, w.host_outside_ip()] {
        serve_peer_address(TcpListener::bind((ip, 8081)).unwrap());
        assert!(
            connect(None, ip, 8081).is_ok(),
            "the host's own server at {ip} is up"
        );

        let result = connect(Some(&netns_of(&id)), ip, 8081);

        assert!(is_rejected(&result), "{ip}: {result:?}");
    }
}

#[test]
fn host_services_are_reachable_from_a_container_with_allow_host() {
    let mut w = World::new();
    let (id, attachment) = w.attach(
        "host",
        NatConfig {
            allow_host: true,
            ports: vec![],
        },
    );
    let host_ip = attachment.host_ip.unwrap();
    let container_ip = attachment.container_ip.unwrap();
    for ip in [host_ip, w.host_outside_ip()] {
        serve_peer_address(TcpListener::bind((ip, 8082)).unwrap());

        let seen = connect(Some(&netns_of(&id)), ip, 8082);

        assert_eq!(seen, Ok(container_ip.to_string()), "{ip}");
    }
}

#[test]
fn forwarded_port_serves_requests_from_the_outside() {
    let mut w = World::new();
    let host_port = w.host_port();
    let (id, _) = w.attach(
        "fwd",
        NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
        },
    );
    serve_peer_address(listen_in(&netns_of(&id), "0.0.0.0:80".parse().unwrap()));

    let seen = connect(Some(&w.outside), w.host_outside_ip(), host_port);

    // The container sees the real client.
    assert_eq!(seen, Ok(w.outside_ip().to_string()));
}

#[test]
fn forwarded_udp_port_serves_datagrams_from_the_outside() {
    let mut w = World::new();
    let host_port = w.host_port();
    let (id, _) = w.attach(
        "udp",
        NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port,
                container_port: 53,
                protocol: Protocol::Udp,
            }],
        },
    );
    serve_peer_address_udp(in_netns(&netns_of(&id), || {
        UdpSocket::bind("0.0.0.0:53").unwrap()
    }));
    let client = in_netns(&w.outside, || UdpSocket::bind("0.0.0.0:0").unwrap());
    // Only a guard against hanging forever if the reply never comes.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    client
        .send_to(b"ping", (w.host_outside_ip(), host_port))
        .unwrap();
    let mut reply = [0u8; 64];
    let (len, from) = client.recv_from(&mut reply).unwrap();

    assert_eq!(&reply[..len], w.outside_ip().to_string().as_bytes());
    assert_eq!(from, SocketAddr::new(w.host_outside_ip().into(), host_port));
}

#[test]
fn forwarded_port_serves_the_hosts_own_requests_to_its_non_loopback_address() {
    let mut w = World::new();
    let host_port = w.host_port();
    let (id, _) = w.attach(
        "fwdlocal",
        NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
        },
    );
    serve_peer_address(listen_in(&netns_of(&id), "0.0.0.0:80".parse().unwrap()));

    let seen = connect(None, w.host_outside_ip(), host_port);

    assert_eq!(seen, Ok(w.host_outside_ip().to_string()));
}

#[test]
fn a_container_cannot_reach_another_container() {
    let mut w = World::new();
    let (a, _) = w.attach("a", nat());
    let (b, b_attachment) = w.attach("b", nat());
    let b_ip = b_attachment.container_ip.unwrap();
    serve_peer_address(listen_in(&netns_of(&b), "0.0.0.0:8083".parse().unwrap()));
    assert!(connect(None, b_ip, 8083).is_ok(), "b's server is up");

    let result = connect(Some(&netns_of(&a)), b_ip, 8083);

    assert!(is_rejected(&result), "{result:?}");
}

#[test]
fn a_container_cannot_reach_another_containers_forwarded_port_through_the_host() {
    let mut w = World::new();
    let host_port = w.host_port();
    let (a, _) = w.attach("a", nat());
    let (b, _) = w.attach(
        "b",
        NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
        },
    );
    serve_peer_address(listen_in(&netns_of(&b), "0.0.0.0:80".parse().unwrap()));
    assert!(connect(Some(&w.outside), w.host_outside_ip(), host_port).is_ok());

    let result = connect(Some(&netns_of(&a)), w.host_outside_ip(), host_port);

    assert!(is_rejected(&result), "{result:?}");
}

#[test]
fn link_local_addresses_such_as_cloud_metadata_are_unreachable_from_a_container() {
    let mut w = World::new();
    let (id, _) = w.attach("metadata", nat());
    // A fake metadata service in the outside namespace, routed from the host.
    let metadata = Ipv4Addr::new(169, 254, w.n, 254);
    sh(
        "ip",
        &[
            "-n",
            &w.outside,
            "addr",
            "add",
            &format!("{metadata}/32"),
            "dev",
            "eth0",
        ],
    );
    sh(
        "ip",
        &[
            "route",
            "add",
            &format!("{metadata}/32"),
            "dev",
            &w.outside_veth,
        ],
    );
    serve_peer_address(listen_in(&w.outside, SocketAddr::new(metadata.into(), 80)));
    assert!(
        connect(None, metadata, 80).is_ok(),
        "the fake metadata service is up"
    );

    let result = connect(Some(&netns_of(&id)), metadata, 80);

    assert!(is_rejected(&result), "{result:?}");
}

/// Everything on the host that mentions `id`.
fn traces_of(w: &World, id: &str) -> Vec<String> {
    let mut traces = Vec::new();
    let tag = format!("fog:{id}");
    if Path::new("/run/netns").join(netns_of(id)).exists() {
        traces.push("netns".to_owned());
    }
    if sh("ip", &["-d", "-o", "link", "show"]).contains(&tag) {
        traces.push("veth".to_owned());
    }
    for table in ["filter", "nat"] {
        let program = w.net.iptables().to_owned();
        for line in sh(&program, &["-w", "-t", table, "-S"]).lines() {
            if line.contains(&tag) {
                traces.push(line.to_owned());
            }
        }
    }
    let state = std::fs::read_to_string(w.state.path().join("network.json")).unwrap_or_default();
    if state.contains(&format!("\"{id}\"")) {
        traces.push("allocation".to_owned());
    }
    traces
}

#[test]
fn detach_leaves_no_namespace_veth_rule_or_allocation() {
    let mut w = World::new();
    let host_port = w.host_port();
    let (id, _) = w.attach(
        "gone",
        NatConfig {
            allow_host: true,
            ports: vec![PortForward {
                host_port,
                container_port: 53,
                protocol: Protocol::Udp,
            }],
        },
    );
    let before = traces_of(&w, &id);
    for what in ["netns", "veth", "allocation"] {
        assert!(before.iter().any(|t| t == what), "{what} in {before:?}");
    }
    assert!(before.iter().any(|t| t.contains("DNAT")), "{before:?}");

    w.net.detach(&id).unwrap();

    assert_eq!(traces_of(&w, &id), Vec::<String>::new());
    assert!(w.net.inventory().unwrap().iter().all(|f| f.id != id));
}

#[test]
fn detach_is_idempotent_and_accepts_unknown_ids() {
    let mut w = World::new();
    let (id, _) = w.attach("twice", nat());
    w.net.detach(&id).unwrap();
    w.net.detach(&id).unwrap();
    let never = w.id("never");
    w.net.detach(&never).unwrap();
}

#[test]
fn none_mode_prepares_nothing() {
    let mut w = World::new();
    let id = w.id("none");

    let attachment = w.net.attach(&id, &NetworkMode::None).unwrap();

    assert_eq!(attachment.netns, None);
    assert_eq!(attachment.container_ip, None);
    assert!(traces_of(&w, &id).is_empty());
}

#[test]
fn attaching_an_attached_container_again_is_refused() {
    let mut w = World::new();
    let (id, first) = w.attach("again", nat());

    let second = w.net.attach(&id, &NetworkMode::Nat(nat()));

    assert!(
        matches!(second, Err(NetworkError::AlreadyAttached(_))),
        "{second:?}"
    );
    // The first attachment is untouched.
    serve_peer_address(listen_in(&netns_of(&id), "0.0.0.0:8084".parse().unwrap()));
    assert_eq!(
        connect(None, first.container_ip.unwrap(), 8084),
        Ok(first.host_ip.unwrap().to_string())
    );
}

#[test]
fn a_host_port_is_forwarded_to_one_container_only() {
    let mut w = World::new();
    let port = PortForward {
        host_port: w.host_port(),
        container_port: 80,
        protocol: Protocol::Tcp,
    };
    let with_port = NatConfig {
        allow_host: false,
        ports: vec![port],
    };
    w.attach("first", with_port.clone());
    let second = w.id("second");

    let result = w.net.attach(&second, &NetworkMode::Nat(with_port));

    assert!(
        matches!(result, Err(NetworkError::PortInUse { .. })),
        "{result:?}"
    );
    assert!(traces_of(&w, &second).is_empty());
}

#[test]
fn containers_get_distinct_addresses_from_the_pool() {
    let mut w = World::new();
    let (_, a) = w.attach("a", nat());
    let (_, b) = w.attach("b", nat());
    let n = w.n;
    for att in [&a, &b] {
        let ip = att.container_ip.unwrap().octets();
        assert_eq!(&ip[..3], &[10, 89, n], "{att:?} is in the test's pool");
    }
    assert_ne!(a.container_ip, b.container_ip);
    assert_ne!(a.host_ip, b.host_ip);
}

#[test]
fn allocations_survive_reopening_the_state_dir() {
    let mut w = World::new();
    let (a, first) = w.attach("a", nat());
    let config = NetworkConfig {
        pool: format!("10.89.{}.0/24", w.n).parse().unwrap(),
        iptables: None,
    };
    let reopened = Network::open(w.state.path(), config).unwrap();
    let b = w.id("b");

    let second = reopened.attach(&b, &NetworkMode::Nat(nat())).unwrap();

    assert_ne!(second.container_ip, first.container_ip);
    let a_footprint = reopened
        .inventory()
        .unwrap()
        .into_iter()
        .find(|f| f.id == a)
        .unwrap();
    assert!(a_footprint.allocated && a_footprint.netns && a_footprint.veth);
    reopened.detach(&a).unwrap();
    assert!(traces_of(&w, &a).is_empty());
}

#[test]
fn clean_orphans_removes_ids_not_in_the_live_list() {
    let _sweep = ORPHAN_SWEEP.write().unwrap_or_else(|p| p.into_inner());
    let mut w = World::without_sweep_lock();
    let (orphan, _) = w.attach("orphan", nat());
    let (live, live_attachment) = w.attach("live", nat());

    let removed = w.net.clean_orphans(std::slice::from_ref(&live)).unwrap();

    assert!(removed.contains(&orphan), "{removed:?}");
    assert!(!removed.contains(&live));
    assert!(traces_of(&w, &orphan).is_empty());
    serve_peer_address(listen_in(&netns_of(&live), "0.0.0.0:8085".parse().unwrap()));
    assert_eq!(
        connect(None, live_attachment.container_ip.unwrap(), 8085),
        Ok(live_attachment.host_ip.unwrap().to_string()),
        "the live container still works"
    );
}

#[test]
fn clean_orphans_finds_leftovers_after_the_state_file_is_lost() {
    let _sweep = ORPHAN_SWEEP.write().unwrap_or_else(|p| p.into_inner());
    let mut w = World::without_sweep_lock();
    let (orphan, _) = w.attach("lost", nat());
    let fresh_state = tempfile::tempdir().unwrap();
    let fresh = Network::open(fresh_state.path(), NetworkConfig::default()).unwrap();
    let footprint = fresh
        .inventory()
        .unwrap()
        .into_iter()
        .find(|f| f.id == orphan)
        .unwrap();
    assert!(!footprint.allocated && footprint.netns && footprint.veth && footprint.rules > 0);

    let removed = fresh.clean_orphans(&[]).unwrap();

    assert!(removed.contains(&orphan), "{removed:?}");
    let traces = traces_of(&w, &orphan);
    assert_eq!(
        traces,
        vec!["allocation".to_owned()],
        "only the lost file's entry is left"
    );
}

#[test]
fn self_check_passes_on_this_host() {
    for item in check() {
        assert!(item.ok(), "{}: {:?}", item.name, item.result);
    }
}
