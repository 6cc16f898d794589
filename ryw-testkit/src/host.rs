//! What this machine offers: free loopback ports, installed binaries, system users.

use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::error::TestkitError;

/// A free loopback port (never the same twice in this process).
pub(crate) fn free_port() -> Result<u16, TestkitError> {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestkitError::io("bind 127.0.0.1:0 to find a free port", e))?;
        let port = l
            .local_addr()
            .map_err(|e| TestkitError::io("local_addr", e))?
            .port();
        drop(l);
        if let Ok(mut g) = given.lock()
            && g.insert(port)
        {
            return Ok(port);
        }
    }
    Err(TestkitError::Internal("no free port found".into()))
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
    fn free_ports_are_distinct() {
        let a = free_port().expect("port");
        let b = free_port().expect("port");
        assert_ne!(a, b);
    }
}
