//! Real containers on the network: `none` has no route; NAT reaches an
//! outside host (a network namespace this test creates, 198.18.<n>.0/24,
//! never a real address); the host's own services only when allowed; a
//! forwarded port serves a request from outside.
//!
//! Needs root, busybox-static, iproute2 and iptables (scripts/setup). One
//! runtime is shared by all tests here: a runtime owns the host's fog
//! networks and, when it opens, removes those of containers it does not know.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use fog_runtime::image::Image;
use fog_runtime::network::{NatConfig, NetworkMode, PortForward, Protocol};
use fog_runtime::runtime::{
    ContainerRequest, ContainerStatus, Runtime, RuntimeConfig, ShimCommand,
};
use fog_runtime::spec::TaskSpec;

struct Shared {
    _dir: tempfile::TempDir,
    runtime: Runtime,
    image: Image,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let shim = ShimCommand::fog(env!("CARGO_BIN_EXE_fog"));
        let mut config = RuntimeConfig::new(dir.path().join("runtime"), shim);
        config.cgroup_parent = "fog-test-net".into();
        let (runtime, _) = Runtime::open(config).unwrap();
        let image = fog_runtime::busybox::image(runtime.store()).unwrap();
        Shared {
            _dir: dir,
            runtime,
            image,
        }
    })
}

/// A host outside the machine: a network namespace joined to the host by a
/// veth, 198.18.<n>.1 on the host side and 198.18.<n>.2 inside.
struct Outside {
    netns: String,
    n: u32,
    servers: Vec<Child>,
}

impl Outside {
    fn new(n: u32) -> Self {
        let netns = format!("fogct-{}-{n}", std::process::id());
        let host_veth = format!("fct{}h{n}", std::process::id() % 100_000);
        let peer = format!("fct{}p{n}", std::process::id() % 100_000);
        sh(&format!("ip netns add {netns}"));
        let outside = Self {
            netns: netns.clone(),
            n,
            servers: Vec::new(),
        };
        sh(&format!(
            "ip link add {host_veth} type veth peer name {peer}"
        ));
        sh(&format!("ip link set {peer} netns {netns}"));
        sh(&format!("ip addr add 198.18.{n}.1/24 dev {host_veth}"));
        sh(&format!("ip link set {host_veth} up"));
        sh(&format!(
            "ip -n {netns} addr add 198.18.{n}.2/24 dev {peer}"
        ));
        sh(&format!("ip -n {netns} link set {peer} up"));
        sh(&format!("ip -n {netns} link set lo up"));
        outside
    }

    fn host_ip(&self) -> String {
        format!("198.18.{}.1", self.n)
    }

    fn ip(&self) -> String {
        format!("198.18.{}.2", self.n)
    }

    /// Serves `body` over HTTP on `port` inside the outside namespace.
    fn serve(&mut self, port: u16, body: &str) {
        let www = tempfile::tempdir().unwrap().keep();
        std::fs::write(www.join("index.html"), body).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "busybox", "httpd", "-f", "-p"])
            .arg(port.to_string())
            .arg("-h")
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.servers.push(child);
        wait_for_port(&self.ip(), port);
    }

    /// Fetches `http://ip:port/` from inside the outside namespace.
    fn fetch(&self, ip: &str, port: u16) -> Option<String> {
        let script = format!("{HTTP_GET} get {ip} {port}");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "busybox", "sh", "-c", &script])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && body.contains("200 OK")).then_some(body)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

fn sh(command: &str) {
    let status = Command::new("sh").args(["-c", command]).status().unwrap();
    assert!(status.success(), "{command} failed");
}

/// Waits until something accepts connections on `ip:port` (the host
/// reaches the outside namespace directly over the test's veth).
fn wait_for_port(ip: &str, port: u16) {
    for _ in 0..500 {
        let addr = format!("{ip}:{port}").parse().unwrap();
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {ip}:{port}");
}

/// A shell snippet fetching `http://$1:$2/` with busybox nc (busybox's wget
/// crashes when a connection fails, so tests never use it).
const HTTP_GET: &str = "get() { printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 \"$1\" \"$2\"; }; ";

fn run(id: &str, script: &str, network: NetworkMode) -> (ContainerStatus, String) {
    let s = shared();
    let request = ContainerRequest {
        id: id.into(),
        task: TaskSpec {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..TaskSpec::default()
        },
        network,
        ..Default::default()
    };
    s.runtime.create(&request, &s.image).unwrap();
    s.runtime.start(id).unwrap();
    let status = s.runtime.wait(id, Duration::from_secs(60)).unwrap();
    let log = std::fs::read_to_string(s.runtime.log_path(id).unwrap()).unwrap();
    s.runtime.delete(id).unwrap();
    (status, log)
}

fn nat(allow_host: bool) -> NetworkMode {
    NetworkMode::Nat(NatConfig {
        allow_host,
        ports: Vec::new(),
    })
}

fn id(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[test]
fn a_container_without_network_has_only_loopback_and_no_route() {
    let outside = Outside::new(201);
    let script = format!(
        "{HTTP_GET} ip -o link | grep -v ' lo:' | wc -l; ip route | wc -l; \
         get {} 80 >/dev/null 2>&1 && echo reached || echo unreachable",
        outside.ip()
    );
    let (_, log) = run(&id("none"), &script, NetworkMode::None);
    let lines: Vec<&str> = log.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(lines, vec!["0", "0", "unreachable"], "{log}");
}

#[test]
fn a_nat_container_reaches_an_outside_host() {
    let mut outside = Outside::new(202);
    outside.serve(8080, "hello from outside");
    let script = format!("{HTTP_GET} get {} 8080", outside.ip());
    let (status, log) = run(&id("nat-out"), &script, nat(false));
    assert_eq!(
        status,
        ContainerStatus::Exited {
            code: Some(0),
            signal: None,
            oom_killed: false
        }
    );
    assert!(log.contains("hello from outside"), "{log}");
}

#[test]
fn the_hosts_own_services_are_reachable_only_when_allowed() {
    let port = 20_000 + (std::process::id() % 10_000) as u16;
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "host service").unwrap();
    let mut server = Command::new("busybox")
        .args(["httpd", "-f", "-p"])
        .arg(format!("0.0.0.0:{port}"))
        .arg("-h")
        .arg(www.path())
        .spawn()
        .unwrap();
    wait_for_port("127.0.0.1", port);
    // The gateway is the host's end of the container's veth.
    let script = format!(
        "{HTTP_GET} gw=$(ip route | awk '/default/ {{print $3}}'); \
         get $gw {port} || echo refused"
    );
    let (_, denied) = run(&id("host-denied"), &script, nat(false));
    let (_, allowed) = run(&id("host-allowed"), &script, nat(true));
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        denied.contains("refused") && !denied.contains("host service"),
        "{denied}"
    );
    assert!(allowed.contains("host service"), "{allowed}");
}

#[test]
fn a_forwarded_port_serves_a_request_from_outside() {
    let outside = Outside::new(203);
    let s = shared();
    let container = id("forward");
    let host_port = 30_000 + (std::process::id() % 10_000) as u16;
    let request = ContainerRequest {
        id: container.clone(),
        task: TaskSpec {
            command: Some(vec![
                "sh".into(),
                "-c".into(),
                "mkdir -p /www && echo served from the container > /www/index.html && \
                 exec httpd -f -p 80 -h /www"
                    .into(),
            ]),
            ..TaskSpec::default()
        },
        network: NetworkMode::Nat(NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
        }),
        ..Default::default()
    };
    s.runtime.create(&request, &s.image).unwrap();
    s.runtime.start(&container).unwrap();
    let mut body = None;
    for _ in 0..100 {
        body = outside.fetch(&outside.host_ip(), host_port);
        if body.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    s.runtime.delete(&container).unwrap();
    let body = body.expect("the forwarded port never answered");
    assert!(body.ends_with("served from the container\n"), "{body}");
}

#[test]
fn delete_leaves_no_network_namespace_or_rule_behind() {
    let s = shared();
    let container = id("net-delete");
    let request = ContainerRequest {
        id: container.clone(),
        task: TaskSpec {
            command: Some(vec!["sleep".into(), "1000".into()]),
            ..TaskSpec::default()
        },
        network: NetworkMode::Nat(NatConfig {
            allow_host: false,
            ports: vec![PortForward {
                host_port: 40_000 + (std::process::id() % 10_000) as u16,
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
        }),
        ..Default::default()
    };
    s.runtime.create(&request, &s.image).unwrap();
    s.runtime.start(&container).unwrap();
    let netns = PathBuf::from("/var/run/netns").join(format!("fog-{container}"));
    let tag = format!("fog:{container}");
    let rules = || {
        let out = Command::new("iptables-save").output().unwrap();
        String::from_utf8_lossy(&out.stdout).matches(&tag).count()
    };
    assert!(netns.exists());
    assert!(rules() > 0);
    s.runtime.delete(&container).unwrap();
    assert!(!netns.exists());
    assert_eq!(rules(), 0);
}
