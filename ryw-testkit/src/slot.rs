//! The process slot of a server node.

use crate::error::TestkitError;
use crate::procfs::children_of;
use crate::supervisor::Proc;
use crate::sys;

/// The process a server node currently runs as, if any: taken to kill it, set when
/// (re)started. Shared by every node type.
#[derive(Debug, Default)]
pub(crate) struct ProcSlot(std::sync::Mutex<Option<Proc>>);

impl ProcSlot {
    /// Takes the process out (to kill or wait on it).
    pub(crate) fn take(&self) -> Option<Proc> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }

    /// Records a (re)started process.
    pub(crate) fn set(&self, p: Proc) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(p);
        }
    }

    /// The recorded process's pid, unless it exited.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.0.lock().ok().and_then(|g| {
            g.as_ref()
                .and_then(|p| p.exited().is_none().then_some(p.pid))
        })
    }

    /// Sends `sig` to the recorded process and to its children (a Postgres server is a
    /// postmaster with one child per backend and helper); `false` when none runs.
    pub(crate) fn signal_tree(&self, sig: i32) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        let children = children_of(pid);
        if sig == sys::SIGCONT {
            // Children first, so a thawed postmaster finds its children running.
            for c in &children {
                sys::kill(*c, sig);
            }
            sys::kill(pid, sig);
        } else {
            sys::kill(pid, sig);
            for c in &children {
                sys::kill(*c, sig);
            }
        }
        true
    }

    /// Whether a process is recorded and has not exited.
    pub(crate) fn running(&self) -> bool {
        self.0
            .lock()
            .map(|g| g.as_ref().is_some_and(|p| p.exited().is_none()))
            .unwrap_or(false)
    }

    /// The error describing the recorded process's exit, if it exited.
    pub(crate) fn exit_error(&self, port: u16) -> Option<TestkitError> {
        self.0.lock().ok().and_then(|g| {
            g.as_ref()
                .and_then(|p| p.exited().map(|st| p.exited_error(port, st)))
        })
    }
}
