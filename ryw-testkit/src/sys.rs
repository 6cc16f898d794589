//! The only place in the crate that calls into libc.
//!
//! `unsafe` is denied workspace-wide. This module needs it for exactly four things, none of
//! which has a safe std equivalent:
//! * `CommandExt::pre_exec` (unsafe because the closure runs between `fork` and `exec`): we only
//!   call the async-signal-safe `prctl(PR_SET_PDEATHSIG)` and `getppid` there, so that servers
//!   die with the test process even when a static topology is never dropped;
//! * `kill(2)` to deliver SIGKILL / SIGTERM / SIGINT to server processes we spawned (or that a
//!   crashed earlier run recorded), with the pid checked to fit in `pid_t`;
//! * `geteuid(2)`, to decide whether Postgres must be run as the `postgres` user;
//! * `atexit(3)`, to kill shared (static, never dropped) topologies' servers and delete their
//!   directories when the test binary exits.
#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the spawned child receive SIGKILL when the spawning thread exits.
pub(crate) fn set_pdeathsig(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid) and does not
    // allocate: `from_raw_os_error` builds an io::Error without heap allocation.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would kill us.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Sends `sig` to `pid`. Returns false if the process does not exist (or pid is invalid).
pub(crate) fn kill(pid: u32, sig: i32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill has no memory-safety preconditions; pid > 0 targets a single process.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Whether we run as root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `hook` when the process exits normally (`atexit(3)`).
pub(crate) fn at_exit(hook: extern "C" fn()) {
    // SAFETY: `hook` is a plain extern "C" fn with no arguments; the crate's only hook never
    // unwinds across the FFI boundary (it only does best-effort I/O and ignores all errors).
    unsafe {
        libc::atexit(hook);
    }
}

pub(crate) const SIGKILL: i32 = libc::SIGKILL;
pub(crate) const SIGTERM: i32 = libc::SIGTERM;
pub(crate) const SIGINT: i32 = libc::SIGINT;
pub(crate) const SIGQUIT: i32 = libc::SIGQUIT;
pub(crate) const SIGSTOP: i32 = libc::SIGSTOP;
pub(crate) const SIGCONT: i32 = libc::SIGCONT;
