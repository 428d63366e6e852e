//! Per-container networking: none, or NAT from a network namespace.
//!
//! A container is started by libcontainer, which joins a network namespace by
//! path (`linux.namespaces[type=network].path` in the OCI spec). This module
//! prepares that namespace on the host and tears it down again:
//!
//! - [`NetworkMode::None`]: nothing is prepared; libcontainer gives the
//!   container a fresh namespace with only a loopback interface.
//! - [`NetworkMode::Nat`]: a named namespace `fog-<id>` (`/run/netns/fog-<id>`)
//!   holding one end of a veth pair as `eth0`, with an address from a private
//!   /30 out of the pool (default `10.89.0.0/16`) and a default route via the
//!   host end. The host forwards (`net.ipv4.ip_forward=1`) and masquerades
//!   the container's outbound traffic. Requested ports are forwarded from the
//!   host's addresses to the container (DNAT in `PREROUTING` for traffic from
//!   elsewhere, in `OUTPUT` for the host's own traffic to its non-loopback
//!   addresses).
//!
//! Isolation: a container reaches neither another container (forwarding
//! between fog veths is rejected) nor any service on the host (everything
//! the host receives from a fog veth is rejected except replies), unless
//! [`NatConfig::allow_host`] is set. A container's `127.0.0.1` is its own
//! loopback, so the host's loopback services are out of reach by
//! construction: `route_localnet` is never enabled, and forwarded ports are
//! not reachable through the host's `127.0.0.0/8` either. IPv6 is disabled on
//! the host end of every veth, so the container cannot reach the host over a
//! link-local address. A container cannot reach its own forwarded port
//! through the host (hairpin traffic counts as container to container), nor
//! IPv4 link-local addresses (`169.254.0.0/16`, where clouds serve instance
//! metadata and credentials). Everything else outside the host (the LAN
//! included) is reachable.
//!
//! Firewall rules live in dedicated chains (`FOG-INPUT`, `FOG-FORWARD`,
//! `FOG-PREROUTING`, `FOG-OUTPUT`, `FOG-POSTROUTING`), each jumped to once from
//! its built-in chain, and every rule carries `-m comment --comment fog:<id>`
//! so that [`Network::detach`] removes exactly that container's rules. Each
//! container's rules match only its own veth, so their order among other
//! containers' rules never matters.
//!
//! The module shells out to `ip` (iproute2) and `iptables` rather than
//! talking netlink or nftables itself: both commands are stable interfaces
//! that every distribution ships, their error messages are what an operator
//! would search for, and doing the same over netlink (veths across
//! namespaces, addresses, routes) plus nftables (NAT, conntrack, comments)
//! would be far more code to get right. The iptables backend (nf_tables or
//! legacy) is detected at runtime: see [`check`].
//!
//! Address allocations are kept in `<state_dir>/network.json`, written
//! atomically, so a restarted daemon keeps them; [`Network::inventory`] and
//! [`Network::clean_orphans`] find and remove what a crash left behind. One
//! [`Network`] is meant to manage a host: namespaces and rules are host-wide,
//! so `clean_orphans` removes every fog-tagged id not in the live list, even
//! ones another state directory allocated.

use std::{
    collections::BTreeMap,
    fmt,
    fs::{self, File},
    io::{self, Write},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    sync::Mutex,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Where `ip netns add` puts named namespaces.
const NETNS_DIR: &str = "/run/netns";
/// Prefix of the namespaces this module creates (`fog-<id>`).
const NETNS_PREFIX: &str = "fog-";
/// Prefix of the host ends of container veths.
const VETH_PREFIX: &str = "fv";
/// Prefix of the rule comments and veth aliases (`fog:<id>`).
const TAG_PREFIX: &str = "fog:";
/// The address allocations, in the state directory.
const STATE_FILE: &str = "network.json";
/// Locked while the allocations are read and written, across processes.
const LOCK_FILE: &str = "network.lock";
/// Longest accepted container id.
const MAX_ID_LEN: usize = 64;

/// Our chains: (table, built-in chain that jumps to it, our chain).
const CHAINS: [(&str, &str, &str); 5] = [
    ("filter", "INPUT", "FOG-INPUT"),
    ("filter", "FORWARD", "FOG-FORWARD"),
    ("nat", "PREROUTING", "FOG-PREROUTING"),
    ("nat", "OUTPUT", "FOG-OUTPUT"),
    ("nat", "POSTROUTING", "FOG-POSTROUTING"),
];

/// Serialises creating the chains and jumps within this process, so that
/// two attaches never both insert a jump.
static CHAIN_SETUP: Mutex<()> = Mutex::new(());

/// How a container is networked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// No network: libcontainer creates an empty namespace (loopback only).
    /// The default: a task reaches the network only when its deal says so.
    #[default]
    None,
    /// A private address behind the host's NAT.
    Nat(NatConfig),
}

/// What a NAT container may reach and which ports the host forwards to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatConfig {
    /// Whether the container may open connections to the host's own
    /// addresses (never its loopback, see the module docs).
    pub allow_host: bool,
    /// Host ports forwarded to the container.
    pub ports: Vec<PortForward>,
}

/// A host port forwarded to a container port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    /// The port on the host's addresses.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a container joins, as [`Network::attach`] prepared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The namespace to put in the OCI spec's `linux.namespaces[type=network].path`,
    /// or `None` for a fresh empty one.
    pub netns: Option<PathBuf>,
    /// The container's address on its `eth0`.
    pub container_ip: Option<Ipv4Addr>,
    /// The host end of the veth: the container's default gateway.
    pub host_ip: Option<Ipv4Addr>,
}

/// The IPv4 range containers' /30 subnets are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Pool {
    /// A pool from its network address and prefix length (at most 30, since
    /// every container takes a /30; host bits must be zero).
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Self, NetworkError> {
        if prefix_len > 30 {
            return Err(NetworkError::InvalidPool(format!(
                "{network}/{prefix_len}: the prefix must be at most /30, each container takes a /30"
            )));
        }
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0);
        if u32::from(network) & !mask != 0 {
            return Err(NetworkError::InvalidPool(format!(
                "{network}/{prefix_len}: host bits are set, did you mean {}/{prefix_len}?",
                Ipv4Addr::from(u32::from(network) & mask)
            )));
        }
        Ok(Self {
            network,
            prefix_len,
        })
    }

    /// How many /30 subnets (containers) the pool holds.
    pub fn capacity(&self) -> u32 {
        1u32 << (30 - u32::from(self.prefix_len))
    }

    /// The `index`th /30's network address.
    fn subnet(&self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + index * 4)
    }
}

impl Default for Pool {
    /// `10.89.0.0/16`: 16384 containers.
    fn default() -> Self {
        Self {
            network: Ipv4Addr::new(10, 89, 0, 0),
            prefix_len: 16,
        }
    }
}

impl FromStr for Pool {
    type Err = NetworkError;

    /// Parses `a.b.c.d/len`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || NetworkError::InvalidPool(format!("{s:?}: expected an IPv4 CIDR like 10.89.0.0/16"));
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr = addr.parse().map_err(|_| bad())?;
        let len = len.parse().map_err(|_| bad())?;
        Self::new(addr, len)
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// How a [`Network`] allocates and which iptables it uses.
#[derive(Debug, Clone, Default)]
pub struct NetworkConfig {
    /// Where containers' subnets come from.
    pub pool: Pool,
    /// The iptables command to use (e.g. `iptables-legacy`); `None` detects
    /// one: `iptables`, then `iptables-nft`, then `iptables-legacy`.
    pub iptables: Option<String>,
}

/// Why networking could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A container id unfit for namespace names and rule tags.
    #[error("invalid container id {id:?}: {why}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The address pool is not a usable CIDR.
    #[error("invalid address pool {0}")]
    InvalidPool(String),
    /// A port forward is malformed.
    #[error("invalid port forward: {0}")]
    InvalidPorts(String),
    /// Another container already has this host port.
    #[error(
        "host port {host_port}/{protocol} is already forwarded to container {owner}: pick another port or detach {owner} first"
    )]
    PortInUse {
        /// The port.
        host_port: u16,
        /// Its protocol.
        protocol: Protocol,
        /// The container holding it.
        owner: String,
    },
    /// Every /30 in the pool is taken.
    #[error(
        "address pool {pool} is exhausted ({allocated} containers attached): detach containers, run clean_orphans, or configure a larger pool"
    )]
    PoolExhausted {
        /// The pool.
        pool: Pool,
        /// How many allocations there are.
        allocated: usize,
    },
    /// The container already has a network.
    #[error("container {0} is already attached to the network: detach it first")]
    AlreadyAttached(String),
    /// A command is not installed.
    #[error("`{program}` is not installed or not on PATH: install it (apt-get install {package})")]
    MissingTool {
        /// The command.
        program: String,
        /// The Debian package providing it.
        package: &'static str,
    },
    /// No iptables command works here.
    #[error(
        "no working iptables ({tried}): install it (apt-get install iptables); if the kernel lacks nf_tables, run `update-alternatives --set iptables /usr/sbin/iptables-legacy` or set NetworkConfig::iptables to \"iptables-legacy\"; networking needs root"
    )]
    NoIptables {
        /// Each command tried and why it failed.
        tried: String,
    },
    /// A command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The allocations file is unreadable.
    #[error(
        "network state {path} is corrupt ({why}): move it aside, then run clean_orphans to remove what it described"
    )]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// The parse error.
        why: String,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetworkError {
    let what = what.into();
    move |source| NetworkError::Io { what, source }
}

/// Runs `program args…`, returning its stdout; any failure names the command
/// and carries its stderr.
fn run<S: AsRef<str>>(program: &str, args: &[S]) -> Result<String, NetworkError> {
    let line = std::iter::once(program)
        .chain(args.iter().map(AsRef::as_ref))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!(command = %line, "network: running");
    let output = Command::new(program)
        .args(args.iter().map(AsRef::as_ref))
        .output()
        .map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                NetworkError::MissingTool {
                    program: program.to_owned(),
                    package: if program.starts_with("iptables") {
                        "iptables"
                    } else {
                        "iproute2"
                    },
                }
            } else {
                NetworkError::Io {
                    what: format!("running `{line}`"),
                    source,
                }
            }
        })?;
    if !output.status.success() {
        return Err(NetworkError::Command {
            command: line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The iptables command in use.
#[derive(Debug, Clone)]
struct Iptables {
    program: String,
}

impl Iptables {
    /// The configured command, or the first of `iptables`, `iptables-nft`,
    /// `iptables-legacy` that can list the nat table.
    fn detect(configured: Option<&str>) -> Result<Self, NetworkError> {
        let candidates: Vec<&str> = match configured {
            Some(p) => vec![p],
            None => vec!["iptables", "iptables-nft", "iptables-legacy"],
        };
        let mut tried = Vec::new();
        for program in candidates {
            match run(program, &["-w", "-t", "nat", "-S", "POSTROUTING"]) {
                Ok(_) => {
                    tracing::debug!(program, "network: using this iptables");
                    return Ok(Self {
                        program: program.to_owned(),
                    });
                }
                Err(e) => tried.push(format!("{program}: {e}")),
            }
        }
        Err(NetworkError::NoIptables {
            tried: tried.join("; "),
        })
    }

    fn run<S: AsRef<str>>(&self, table: &str, args: &[S]) -> Result<String, NetworkError> {
        let mut full = vec!["-w", "-t", table];
        full.extend(args.iter().map(AsRef::as_ref));
        run(&self.program, &full)
    }

    /// Creates our chains and the jumps to them, where missing.
    fn ensure_chains(&self) -> Result<(), NetworkError> {
        // A poisoned lock only means another attach panicked; the chains are
        // checked afresh below, so carry on.
        let _guard = CHAIN_SETUP.lock().unwrap_or_else(|p| p.into_inner());
        for (table, builtin, ours) in CHAINS {
            if self.run(table, &["-S", ours]).is_err()
                && let Err(e) = self.run(table, &["-N", ours])
                // Another process may have created it meanwhile.
                && self.run(table, &["-S", ours]).is_err()
            {
                return Err(e);
            }
            if self.run(table, &["-C", builtin, "-j", ours]).is_err() {
                self.run(table, &["-I", builtin, "1", "-j", ours])?;
            }
        }
        Ok(())
    }

    /// The rules in our chains that carry a `fog:<id>` tag.
    fn tagged_rules(&self) -> Result<Vec<TaggedRule>, NetworkError> {
        let mut found = Vec::new();
        for table in ["filter", "nat"] {
            for line in self.run(table, &["-S"])?.lines() {
                // Our rules never contain spaces inside an argument (ids are
                // checked), so splitting on whitespace and dropping the quotes
                // iptables puts around comments gives back the arguments.
                let tokens: Vec<String> = line
                    .split_whitespace()
                    .map(|t| t.trim_matches('"').to_owned())
                    .collect();
                let [append, chain, ..] = tokens.as_slice() else {
                    continue;
                };
                if append != "-A" || !CHAINS.iter().any(|(_, _, ours)| ours == chain) {
                    continue;
                }
                let id = tokens
                    .windows(2)
                    .find(|w| w[0] == "--comment")
                    .and_then(|w| w[1].strip_prefix(TAG_PREFIX))
                    .map(str::to_owned);
                if let Some(id) = id {
                    found.push(TaggedRule {
                        table,
                        id,
                        rule: tokens[1..].to_vec(),
                    });
                }
            }
        }
        Ok(found)
    }
}

/// A rule of one of our chains, as listed by `iptables -S`.
#[derive(Debug)]
struct TaggedRule {
    table: &'static str,
    /// The container id in its tag.
    id: String,
    /// `<chain> <arguments…>`, what followed `-A`.
    rule: Vec<String>,
}

/// One allocation, as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Allocation {
    subnet: Ipv4Addr,
    host_ip: Ipv4Addr,
    container_ip: Ipv4Addr,
    veth: String,
    allow_host: bool,
    ports: Vec<PortForward>,
}

/// The allocations file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    allocations: BTreeMap<String, Allocation>,
}

/// What of a container's network exists on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The container id.
    pub id: String,
    /// It has an address allocation in the state file.
    pub allocated: bool,
    /// Its namespace `/run/netns/fog-<id>` exists.
    pub netns: bool,
    /// Its host-side veth exists.
    pub veth: bool,
    /// How many iptables rules carry its tag.
    pub rules: usize,
}

/// Prepares and removes containers' network namespaces on this host.
#[derive(Debug)]
pub struct Network {
    state_dir: PathBuf,
    pool: Pool,
    iptables: Iptables,
    /// Serialises reading and writing the allocations within this process
    /// (the lock file does it across processes).
    state_lock: Mutex<()>,
}

impl Network {
    /// Opens the network manager keeping its allocations in `state_dir`
    /// (created if missing). Detects the iptables command, so it fails on a
    /// host where NAT networking cannot work.
    pub fn open(state_dir: &Path, config: NetworkConfig) -> Result<Self, NetworkError> {
        fs::create_dir_all(state_dir)
            .map_err(io_err(format!("creating {}", state_dir.display())))?;
        let network = Self {
            state_dir: state_dir.to_owned(),
            pool: config.pool,
            iptables: Iptables::detect(config.iptables.as_deref())?,
            state_lock: Mutex::new(()),
        };
        network.with_state(|_| Ok(((), false)))?;
        Ok(network)
    }

    /// The iptables command in use (`iptables`, `iptables-nft`, …).
    pub fn iptables(&self) -> &str {
        &self.iptables.program
    }

    /// Prepares the network of container `id` (up to 64 of `[A-Za-z0-9_.-]`).
    /// On any failure, whatever was set up is removed again.
    pub fn attach(&self, id: &str, mode: &NetworkMode) -> Result<Attachment, NetworkError> {
        validate_id(id)?;
        let nat = match mode {
            NetworkMode::None => {
                return Ok(Attachment {
                    netns: None,
                    container_ip: None,
                    host_ip: None,
                });
            }
            NetworkMode::Nat(nat) => nat,
        };
        validate_ports(&nat.ports)?;
        let allocation = self.allocate(id, nat)?;
        if let Err(e) = self.set_up(id, &allocation) {
            if let Err(cleanup) = self.detach(id) {
                tracing::warn!(id, error = %cleanup, "network: cleaning up a failed attach failed");
            }
            return Err(e);
        }
        tracing::info!(
            id,
            container_ip = %allocation.container_ip,
            host_ip = %allocation.host_ip,
            veth = %allocation.veth,
            "network: attached"
        );
        Ok(Attachment {
            netns: Some(netns_path(id)),
            container_ip: Some(allocation.container_ip),
            host_ip: Some(allocation.host_ip),
        })
    }

    /// Removes the network of container `id`: its rules, veth, namespace and
    /// allocation. Succeeds if some or all of them are already gone.
    pub fn detach(&self, id: &str) -> Result<(), NetworkError> {
        validate_id(id)?;
        for tagged in self.iptables.tagged_rules()? {
            if tagged.id != id {
                continue;
            }
            let mut args = vec!["-D".to_owned()];
            args.extend(tagged.rule);
            if let Err(e) = self.iptables.run(tagged.table, &args) {
                // A concurrent detach of the same id may have removed it.
                let still_there = self
                    .iptables
                    .run(tagged.table, &[&["-C".to_owned()][..], &args[1..]].concat());
                if still_there.is_ok() {
                    return Err(e);
                }
            }
        }
        // Deleting the host end deletes the pair, even while a container
        // process still holds the namespace.
        let veth = veth_name(id);
        remove_if_present(|| veth_exists(&veth), &["link", "del", "dev", &veth])?;
        let ns = netns_path(id);
        remove_if_present(|| ns.exists(), &["netns", "del", &netns_name(id)])?;
        self.with_state(|state| Ok(((), state.allocations.remove(id).is_some())))?;
        tracing::info!(id, "network: detached");
        Ok(())
    }

    /// Every container id with some network footprint on this host (an
    /// allocation, a `fog-` namespace, a tagged veth or rule), live or not.
    pub fn inventory(&self) -> Result<Vec<Footprint>, NetworkError> {
        let mut found: BTreeMap<String, Footprint> = BTreeMap::new();
        fn entry<'a>(found: &'a mut BTreeMap<String, Footprint>, id: &str) -> &'a mut Footprint {
            found.entry(id.to_owned()).or_insert_with(|| Footprint {
                id: id.to_owned(),
                ..Footprint::default()
            })
        }
        let state = self.with_state(|state| Ok((std::mem::take(state), false)))?;
        for id in state.allocations.keys() {
            entry(&mut found, id).allocated = true;
        }
        for name in dir_names(Path::new(NETNS_DIR))? {
            if let Some(id) = name.strip_prefix(NETNS_PREFIX) {
                entry(&mut found, id).netns = true;
            }
        }
        for name in dir_names(Path::new("/sys/class/net"))? {
            if !name.starts_with(VETH_PREFIX) {
                continue;
            }
            let alias = fs::read_to_string(Path::new("/sys/class/net").join(&name).join("ifalias"))
                .unwrap_or_default();
            if let Some(id) = alias.trim().strip_prefix(TAG_PREFIX) {
                entry(&mut found, id).veth = true;
            }
        }
        for tagged in self.iptables.tagged_rules()? {
            entry(&mut found, &tagged.id).rules += 1;
        }
        Ok(found.into_values().collect())
    }

    /// Detaches every container with a footprint whose id is not in
    /// `live_ids` (recovery after a crash). Returns the ids removed.
    pub fn clean_orphans(&self, live_ids: &[String]) -> Result<Vec<String>, NetworkError> {
        let mut removed = Vec::new();
        for footprint in self.inventory()? {
            if live_ids.contains(&footprint.id) {
                continue;
            }
            if let Err(e) = validate_id(&footprint.id) {
                tracing::warn!(error = %e, "network: leaving a fog-named leftover alone");
                continue;
            }
            tracing::info!(id = %footprint.id, "network: removing orphan");
            self.detach(&footprint.id)?;
            removed.push(footprint.id);
        }
        Ok(removed)
    }

    /// Takes a free /30 for `id` and persists it.
    fn allocate(&self, id: &str, nat: &NatConfig) -> Result<Allocation, NetworkError> {
        self.with_state(|state| {
            if state.allocations.contains_key(id) {
                return Err(NetworkError::AlreadyAttached(id.to_owned()));
            }
            for port in &nat.ports {
                for (owner, other) in &state.allocations {
                    if other
                        .ports
                        .iter()
                        .any(|p| p.host_port == port.host_port && p.protocol == port.protocol)
                    {
                        return Err(NetworkError::PortInUse {
                            host_port: port.host_port,
                            protocol: port.protocol,
                            owner: owner.clone(),
                        });
                    }
                }
            }
            let taken: std::collections::HashSet<Ipv4Addr> =
                state.allocations.values().map(|a| a.subnet).collect();
            let subnet = (0..self.pool.capacity())
                .map(|i| self.pool.subnet(i))
                .find(|s| !taken.contains(s))
                .ok_or(NetworkError::PoolExhausted {
                    pool: self.pool,
                    allocated: state.allocations.len(),
                })?;
            let base = u32::from(subnet);
            let allocation = Allocation {
                subnet,
                host_ip: Ipv4Addr::from(base + 1),
                container_ip: Ipv4Addr::from(base + 2),
                veth: veth_name(id),
                allow_host: nat.allow_host,
                ports: nat.ports.clone(),
            };
            state.allocations.insert(id.to_owned(), allocation.clone());
            Ok((allocation, true))
        })
    }

    /// Creates the namespace, veth, addresses, route and rules.
    fn set_up(&self, id: &str, a: &Allocation) -> Result<(), NetworkError> {
        enable_ip_forward()?;
        self.iptables.ensure_chains()?;
        let ns = netns_name(id);
        let host_cidr = format!("{}/30", a.host_ip);
        let container_cidr = format!("{}/30", a.container_ip);
        let host_ip = a.host_ip.to_string();
        run("ip", &["netns", "add", &ns])?;
        run(
            "ip",
            &[
                "link", "add", &a.veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ],
        )?;
        let alias = format!("{TAG_PREFIX}{id}");
        run("ip", &["link", "set", "dev", &a.veth, "alias", &alias])?;
        disable_ipv6(&a.veth)?;
        for (table, chain, rule) in rules(id, a) {
            let mut args = vec!["-A".to_owned(), chain.to_owned()];
            args.extend(rule);
            self.iptables.run(table, &args)?;
        }
        run("ip", &["addr", "add", &host_cidr, "dev", &a.veth])?;
        run("ip", &["link", "set", "dev", &a.veth, "up"])?;
        run("ip", &["-n", &ns, "link", "set", "dev", "lo", "up"])?;
        run(
            "ip",
            &["-n", &ns, "addr", "add", &container_cidr, "dev", "eth0"],
        )?;
        run("ip", &["-n", &ns, "link", "set", "dev", "eth0", "up"])?;
        run(
            "ip",
            &["-n", &ns, "route", "add", "default", "via", &host_ip],
        )?;
        Ok(())
    }

    /// Runs `f` on the allocations under the state locks; writes them back
    /// (atomically) when `f` says it changed them.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<(T, bool), NetworkError>,
    ) -> Result<T, NetworkError> {
        // A poisoned lock only means a panic elsewhere; the file on disk is
        // always whole (atomic writes), so it is safe to go on.
        let _guard = self.state_lock.lock().unwrap_or_else(|p| p.into_inner());
        let lock_path = self.state_dir.join(LOCK_FILE);
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(format!("opening {}", lock_path.display())))?;
        let _flock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| NetworkError::Io {
                what: format!("locking {}", lock_path.display()),
                source: io::Error::from(errno),
            })?;
        let path = self.state_dir.join(STATE_FILE);
        let mut state = match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| NetworkError::CorruptState {
                    path: path.clone(),
                    why: e.to_string(),
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        let (result, changed) = f(&mut state)?;
        if changed {
            let bytes = serde_json::to_vec_pretty(&state).map_err(|e| NetworkError::Io {
                what: "encoding the network state".into(),
                source: io::Error::other(e),
            })?;
            let what = format!("writing {}", path.display());
            let mut tmp =
                tempfile::NamedTempFile::new_in(&self.state_dir).map_err(io_err(&what))?;
            tmp.write_all(&bytes).map_err(io_err(&what))?;
            tmp.as_file().sync_all().map_err(io_err(&what))?;
            tmp.persist(&path).map_err(|e| io_err(&what)(e.error))?;
        }
        Ok(result)
    }
}

/// The container's rules as (table, chain, arguments), each tagged.
fn rules(id: &str, a: &Allocation) -> Vec<(&'static str, &'static str, Vec<String>)> {
    let v = a.veth.as_str();
    let cip = a.container_ip.to_string();
    let any_fog = format!("{VETH_PREFIX}+");
    let tag = format!("{TAG_PREFIX}{id}");
    let args = |s: &[&str]| -> Vec<String> {
        s.iter()
            .map(|x| (*x).to_owned())
            .chain(["-m", "comment", "--comment", &tag].map(str::to_owned))
            .collect()
    };
    let reject = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"];
    let mut out = Vec::new();
    // What the host receives from the container: replies always; anything
    // else only with allow_host.
    out.push((
        "filter",
        "FOG-INPUT",
        args(&[
            "-i",
            v,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ]),
    ));
    if a.allow_host {
        out.push((
            "filter",
            "FOG-INPUT",
            args(&["-i", v, "-s", &cip, "-j", "ACCEPT"]),
        ));
    }
    out.push((
        "filter",
        "FOG-INPUT",
        args(&[&["-i", v][..], &reject].concat()),
    ));
    // Forwarding. Packets from the container are decided here: out to
    // anything but another fog veth (from its own address) or rejected.
    // Packets to the container are only considered when they do not come
    // from a fog veth, so the source's rules decide those regardless of order.
    // Link-local destinations are refused: on clouds 169.254.169.254 is the
    // instance metadata service, which holds the host's credentials.
    out.push((
        "filter",
        "FOG-FORWARD",
        args(&[&["-i", v, "-d", "169.254.0.0/16"][..], &reject].concat()),
    ));
    out.push((
        "filter",
        "FOG-FORWARD",
        args(&["-i", v, "-s", &cip, "!", "-o", &any_fog, "-j", "ACCEPT"]),
    ));
    out.push((
        "filter",
        "FOG-FORWARD",
        args(&[&["-i", v][..], &reject].concat()),
    ));
    out.push((
        "filter",
        "FOG-FORWARD",
        args(&[
            "!",
            "-i",
            &any_fog,
            "-o",
            v,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ]),
    ));
    for p in &a.ports {
        let cport = p.container_port.to_string();
        out.push((
            "filter",
            "FOG-FORWARD",
            args(&[
                "!",
                "-i",
                &any_fog,
                "-o",
                v,
                "-d",
                &cip,
                "-p",
                p.protocol.as_str(),
                "--dport",
                &cport,
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "ACCEPT",
            ]),
        ));
    }
    out.push((
        "filter",
        "FOG-FORWARD",
        args(&["!", "-i", &any_fog, "-o", v, "-j", "DROP"]),
    ));
    // Port forwards: traffic from elsewhere to any host address, and the
    // host's own traffic to its non-loopback addresses.
    for p in &a.ports {
        let hport = p.host_port.to_string();
        let to = format!("{cip}:{}", p.container_port);
        let proto = p.protocol.as_str();
        let dnat = [
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "-p",
            proto,
            "--dport",
            &hport,
            "-j",
            "DNAT",
            "--to-destination",
            &to,
        ];
        out.push(("nat", "FOG-PREROUTING", args(&dnat)));
        let not_loopback = ["!", "-d", "127.0.0.0/8"];
        out.push((
            "nat",
            "FOG-OUTPUT",
            args(&[&not_loopback[..], &dnat].concat()),
        ));
    }
    out.push((
        "nat",
        "FOG-POSTROUTING",
        args(&["-s", &cip, "!", "-o", v, "-j", "MASQUERADE"]),
    ));
    out
}

/// Runs `ip args…` if `exists()`; a failure counts only if the thing is
/// still there afterwards (something else may have removed it meanwhile).
fn remove_if_present(exists: impl Fn() -> bool, args: &[&str]) -> Result<(), NetworkError> {
    if !exists() {
        return Ok(());
    }
    match run("ip", args) {
        Err(e) if exists() => Err(e),
        _ => Ok(()),
    }
}

/// Ids become namespace names, rule comments and interface aliases.
fn validate_id(id: &str) -> Result<(), NetworkError> {
    let bad = |why| {
        Err(NetworkError::InvalidId {
            id: id.to_owned(),
            why,
        })
    };
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return bad("it must be 1 to 64 characters long");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return bad("only ASCII letters, digits, '_', '.' and '-' are allowed");
    }
    if id.starts_with('.') || id.starts_with('-') {
        return bad("it must not start with '.' or '-'");
    }
    Ok(())
}

fn validate_ports(ports: &[PortForward]) -> Result<(), NetworkError> {
    for (i, p) in ports.iter().enumerate() {
        if p.host_port == 0 || p.container_port == 0 {
            return Err(NetworkError::InvalidPorts(format!(
                "{}:{}/{}: port 0 cannot be forwarded",
                p.host_port, p.container_port, p.protocol
            )));
        }
        if ports[..i]
            .iter()
            .any(|q| q.host_port == p.host_port && q.protocol == p.protocol)
        {
            return Err(NetworkError::InvalidPorts(format!(
                "host port {}/{} is forwarded twice",
                p.host_port, p.protocol
            )));
        }
    }
    Ok(())
}

/// `fog-<id>`.
fn netns_name(id: &str) -> String {
    format!("{NETNS_PREFIX}{id}")
}

/// `/run/netns/fog-<id>`.
fn netns_path(id: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns_name(id))
}

/// `fv` + the first 10 hex digits of sha256(id): 12 characters, within
/// the kernel's 15 for interface names.
fn veth_name(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    format!("{VETH_PREFIX}{}", hex::encode(&digest[..5]))
}

fn veth_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Entry names of `dir`; none if it does not exist.
fn dir_names(dir: &Path) -> Result<Vec<String>, NetworkError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(format!("listing {}", dir.display()))(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns on IPv4 forwarding on the host (needed for NAT), if it is off.
fn enable_ip_forward() -> Result<(), NetworkError> {
    let current =
        fs::read_to_string(IP_FORWARD).map_err(io_err(format!("reading {IP_FORWARD}")))?;
    if current.trim() != "1" {
        tracing::info!("network: enabling net.ipv4.ip_forward");
        fs::write(IP_FORWARD, "1").map_err(io_err(format!(
            "enabling forwarding in {IP_FORWARD} (run as root in the host network namespace with /proc/sys writable)"
        )))?;
    }
    Ok(())
}

/// Keeps the host end IPv6-free, so the container has no link-local path
/// to the host. A kernel without IPv6 needs nothing.
fn disable_ipv6(veth: &str) -> Result<(), NetworkError> {
    let path = format!("/proc/sys/net/ipv6/conf/{veth}/disable_ipv6");
    if Path::new(&path).exists() {
        fs::write(&path, "1").map_err(io_err(format!("disabling IPv6 in {path}")))?;
    }
    Ok(())
}

/// One item of the networking self-test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// What was found, or what is wrong and how to fix it.
    pub result: Result<String, String>,
}

impl Check {
    /// Whether the item passed.
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// The self-test behind `fog worker check`: whether this host can give
/// containers NAT networking. Touches nothing on the host but a scratch
/// namespace (and writes `ip_forward` back unchanged to see that it can).
pub fn check() -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(Check {
        name: "root",
        result: if nix::unistd::geteuid().is_root() {
            Ok("running as root".into())
        } else {
            Err("not root: networking needs root (CAP_NET_ADMIN); run the worker as root".into())
        },
    });
    checks.push(Check {
        name: "ip (iproute2)",
        result: run("ip", &["-V"])
            .map(|v| v.trim().to_owned())
            .map_err(|e| e.to_string()),
    });
    let iptables = Iptables::detect(None);
    checks.push(Check {
        name: "iptables",
        result: match &iptables {
            Ok(ipt) => run(&ipt.program, &["--version"])
                .map(|v| format!("using {}: {}", ipt.program, v.trim()))
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
    });
    checks.push(Check {
        name: "network namespaces and netfilter matches",
        result: match &iptables {
            Ok(ipt) => scratch_namespace_check(ipt),
            Err(_) => Err("skipped: no working iptables".into()),
        },
    });
    checks.push(Check {
        name: "ip_forward",
        result: ip_forward_check(),
    });
    checks
}

/// Creates a scratch namespace and, inside it, the kinds of rules
/// [`Network::attach`] installs, so a missing kernel module shows up here.
fn scratch_namespace_check(ipt: &Iptables) -> Result<String, String> {
    let ns = format!("fogcheck-{}", std::process::id());
    run("ip", &["netns", "add", &ns]).map_err(|e| {
        format!("{e}; network namespaces need root and a kernel with CONFIG_NET_NS")
    })?;
    let exec = |table: &str, rule: &[&str]| {
        let mut args = vec!["netns", "exec", &ns, &ipt.program, "-w", "-t", table];
        args.extend(rule);
        run("ip", &args).map(|_| ())
    };
    let comment = ["-m", "comment", "--comment", "fog:check"];
    let result = (|| {
        exec("filter", &["-N", "FOG-CHECK"])?;
        exec("nat", &["-N", "FOG-CHECK"])?;
        let filter: [&[&str]; 3] = [
            &[
                "-m",
                "conntrack",
                "--ctstate",
                "RELATED,ESTABLISHED",
                "-j",
                "ACCEPT",
            ],
            &[
                "-i",
                "fv+",
                "-j",
                "REJECT",
                "--reject-with",
                "icmp-admin-prohibited",
            ],
            &[
                "-p",
                "tcp",
                "--dport",
                "1",
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "ACCEPT",
            ],
        ];
        for rule in filter {
            exec(
                "filter",
                &[&["-A", "FOG-CHECK"][..], rule, &comment].concat(),
            )?;
        }
        let nat: [&[&str]; 2] = [
            &[
                "-m",
                "addrtype",
                "--dst-type",
                "LOCAL",
                "-p",
                "udp",
                "--dport",
                "1",
                "-j",
                "DNAT",
                "--to-destination",
                "10.0.0.2:1",
            ],
            &["-s", "10.0.0.2", "-j", "MASQUERADE"],
        ];
        for rule in nat {
            exec("nat", &[&["-A", "FOG-CHECK"][..], rule, &comment].concat())?;
        }
        Ok::<(), NetworkError>(())
    })();
    let removed = run("ip", &["netns", "del", &ns]);
    result.map_err(|e| {
        format!(
            "{e}; the kernel may lack a netfilter module (xt_comment, xt_conntrack, xt_addrtype, nf_nat, REJECT): load it with modprobe, or try the other iptables backend (update-alternatives --config iptables)"
        )
    })?;
    removed.map_err(|e| e.to_string())?;
    Ok(format!(
        "created a namespace and NAT/filter rules in it with {}",
        ipt.program
    ))
}

/// Whether forwarding is on, or at least can be turned on.
fn ip_forward_check() -> Result<String, String> {
    let current = fs::read_to_string(IP_FORWARD)
        .map_err(|e| format!("reading {IP_FORWARD}: {e}; is /proc mounted?"))?;
    let current = current.trim();
    if current == "1" {
        return Ok("net.ipv4.ip_forward is 1".into());
    }
    // Writing the current value back changes nothing but proves attach can
    // turn forwarding on.
    fs::write(IP_FORWARD, current).map_err(|e| {
        format!(
            "net.ipv4.ip_forward is {current} and {IP_FORWARD} is not writable ({e}): run the worker as root in the host network namespace, or enable it yourself (sysctl -w net.ipv4.ip_forward=1)"
        )
    })?;
    Ok(format!(
        "net.ipv4.ip_forward is {current}; attaching a NAT container turns it on"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_in_an_interface_name_and_differ_per_id() {
        let a = veth_name(&"a".repeat(64));
        let b = veth_name(&"b".repeat(64));
        assert_eq!(a.len(), 12);
        assert!(a.len() <= 15);
        assert_ne!(a, b);
    }

    #[test]
    fn pools_parse_and_refuse_misaligned_or_too_small_ranges() {
        let pool: Pool = "10.89.4.0/24".parse().unwrap();
        assert_eq!(pool.capacity(), 64);
        assert_eq!(pool.subnet(1), Ipv4Addr::new(10, 89, 4, 4));
        assert_eq!(pool.to_string(), "10.89.4.0/24");
        assert!("10.89.4.1/24".parse::<Pool>().is_err());
        assert!("10.89.4.0/31".parse::<Pool>().is_err());
        assert!("10.89.4.0".parse::<Pool>().is_err());
        assert_eq!(Pool::default().to_string(), "10.89.0.0/16");
    }

    #[test]
    fn ids_unfit_for_names_are_refused() {
        assert!(validate_id("abc-DEF_1.2").is_ok());
        assert!(validate_id(&"a".repeat(64)).is_ok());
        assert!(validate_id(&"a".repeat(65)).is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("a b").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("-x").is_err());
    }

    #[test]
    fn duplicate_or_zero_ports_are_refused() {
        let p = |h, c, protocol| PortForward {
            host_port: h,
            container_port: c,
            protocol,
        };
        assert!(validate_ports(&[p(80, 80, Protocol::Tcp), p(80, 80, Protocol::Udp)]).is_ok());
        assert!(validate_ports(&[p(80, 80, Protocol::Tcp), p(80, 81, Protocol::Tcp)]).is_err());
        assert!(validate_ports(&[p(0, 80, Protocol::Tcp)]).is_err());
    }
}
