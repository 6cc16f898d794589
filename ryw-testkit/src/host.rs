//! What this machine offers: free loopback ports, installed binaries, system users.

use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::error::TestkitError;

/// A free loopback port (never the same twice in this process), below the kernel's range of
/// ephemeral ports: a port from that range (what binding port 0 hands out) can be taken as the
/// local end of any outgoing connection between the pick and a server's restart on it, and
/// the server then fails with "address already in use".
pub(crate) fn free_port() -> Result<u16, TestkitError> {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    let (low, high) = (LOWEST_PORT, first_ephemeral_port());
    let span = u32::from(high.saturating_sub(low).max(1));
    // Where this process starts looking: processes started at once look in different places.
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    for i in 0..span {
        let port = low + u16::try_from((start + i * 7919) % span).unwrap_or(0);
        let fresh = given.lock().is_ok_and(|mut g| g.insert(port));
        if fresh && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(TestkitError::Internal(format!(
        "no free port in {low}..{high}"
    )))
}

/// The lowest port handed out (well above the ports of installed services).
const LOWEST_PORT: u16 = 20_000;

/// The first port of the kernel's ephemeral range (`ip_local_port_range`), 32768 if unknown.
fn first_ephemeral_port() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p: &u16| p > LOWEST_PORT + 1_000)
        .unwrap_or(32_768)
}

/// Finds `name` in `dirs` then in `$PATH`.
pub(crate) fn find_binary(
    name: &str,
    dirs: &[PathBuf],
    package: &str,
) -> Result<PathBuf, TestkitError> {
    let mut searched: Vec<PathBuf> = dirs.to_vec();
    if let Some(path) = std::env::var_os("PATH") {
        searched.extend(std::env::split_paths(&path));
    }
    for d in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        searched.push(PathBuf::from(d));
    }
    for d in &searched {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(TestkitError::BinaryNotFound {
        binary: name.to_owned(),
        searched: searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":"),
        package: package.to_owned(),
    })
}

/// uid and gid of a system user, from /etc/passwd.
pub(crate) fn lookup_user(name: &str) -> Result<(u32, u32), TestkitError> {
    let passwd =
        fs::read_to_string("/etc/passwd").map_err(|e| TestkitError::io("read /etc/passwd", e))?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3
            && f[0] == name
            && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
        {
            return Ok((uid, gid));
        }
    }
    Err(TestkitError::UserNotFound(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_says_what_to_install() {
        let err =
            find_binary("ryw-no-such-binary", &[], "some-package").expect_err("must not be found");
        let msg = err.to_string();
        assert!(msg.starts_with("ryw-no-such-binary not found"), "{msg}");
        assert!(msg.ends_with("— install some-package"), "{msg}");
    }

    #[test]
    fn free_ports_are_distinct_and_below_the_ephemeral_range() {
        let a = free_port().expect("port");
        let b = free_port().expect("port");
        assert_ne!(a, b);
        for p in [a, b] {
            assert!((LOWEST_PORT..first_ephemeral_port()).contains(&p), "{p}");
        }
    }
}
