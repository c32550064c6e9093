//! A child process in its own process group, logging to a file, stopped when dropped; and free ports.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Result, TestbedError};

/// How often the synchronous stop path polls for the child's exit.
const POLL: Duration = Duration::from_millis(10);

/// A child we started, leader of its own process group, with stdout and stderr in one log file.
///
/// Dropping it sends SIGTERM to the group, waits up to the grace period, then sends SIGKILL. Signals go
/// only to the group of a child that has not been reaped yet, so its id cannot belong to anyone else.
#[derive(Debug)]
pub(crate) struct Supervised {
    program: &'static str,
    child: Child,
    log_path: PathBuf,
    grace: Duration,
    reaped: bool,
}

impl Supervised {
    /// Spawns `command` (for `program`) in a new process group, its output appended to `log_path`.
    pub(crate) fn spawn(
        program: &'static str,
        mut command: Command,
        log_path: &Path,
        grace: Duration,
    ) -> Result<Self> {
        let write_err = |source| TestbedError::WriteFile {
            path: log_path.to_owned(),
            source,
        };
        let log = File::create(log_path).map_err(write_err)?;
        let log_for_stdout = log.try_clone().map_err(write_err)?;
        command
            .stdin(Stdio::null())
            .stdout(log_for_stdout)
            .stderr(log)
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|source| TestbedError::Spawn { program, source })?;
        tracing::debug!(program, pid = child.id(), log = %log_path.display(), "started");
        Ok(Self {
            program,
            child,
            log_path: log_path.to_owned(),
            grace,
            reaped: false,
        })
    }

    /// The child's exit status if it has exited (reaping it).
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(status)
            }
            Ok(None) | Err(_) => None,
        }
    }

    /// Everything the child has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last lines of the log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log(), 25)
    }

    /// Builds the error for a child that exited during start-up.
    pub(crate) fn exited_early(&self, status: ExitStatus) -> TestbedError {
        TestbedError::ExitedEarly {
            program: self.program,
            status,
            log_tail: self.log_tail(),
        }
    }

    /// Builds the error for a child that was not ready in time.
    pub(crate) fn not_ready(&self, waited: Duration) -> TestbedError {
        TestbedError::NotReady {
            program: self.program,
            waited,
            log_tail: self.log_tail(),
        }
    }

    /// Waits (blocking, polling) up to `timeout` for the child to exit; true if it did.
    pub(crate) fn wait_blocking(&mut self, timeout: Duration) -> bool {
        let steps = timeout.as_millis() / POLL.as_millis();
        for step in 0..=steps {
            if self.reaped || self.exit_status().is_some() {
                return true;
            }
            if step < steps {
                std::thread::sleep(POLL);
            }
        }
        false
    }

    /// Stops the process group: SIGTERM, the grace period, then SIGKILL. Blocks for at most the grace
    /// period plus a moment.
    pub(crate) fn stop(&mut self) {
        if self.wait_blocking(Duration::ZERO) {
            return;
        }
        self.signal_group(Signal::SIGTERM);
        if self.wait_blocking(self.grace) {
            return;
        }
        tracing::warn!(
            program = self.program,
            pid = self.child.id(),
            "did not stop on SIGTERM; killing"
        );
        self.signal_group(Signal::SIGKILL);
        if self.child.wait().is_ok() {
            self.reaped = true;
        }
    }

    fn signal_group(&self, signal: Signal) {
        // Only while unreaped: the group id is our child's pid, which the kernel cannot reuse yet.
        if self.reaped {
            return;
        }
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        if let Err(err) = killpg(Pid::from_raw(pid), signal) {
            tracing::debug!(program = self.program, pid, %err, ?signal, "killpg");
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log. baresip redraws a status line with `\r`; only the text after the last
/// `\r` of a line is kept, and very long lines are cut.
pub(crate) fn tail(log: &str, lines: usize) -> String {
    const MAX_LINE: usize = 400;
    let all: Vec<&str> = log.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = String::new();
    for line in &all[start..] {
        let line = strip_ansi(line.rsplit('\r').next().unwrap_or(line));
        out.extend(line.chars().take(MAX_LINE));
        out.push('\n');
    }
    out
}

/// Removes terminal colour codes (`ESC [ ... m`), which baresip writes around errors.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip the escape sequence up to and including its final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_udp_port() -> Result<u16> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(TestbedError::FreePort)?;
    Ok(socket.local_addr().map_err(TestbedError::FreePort)?.port())
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_tcp_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(TestbedError::FreePort)?;
    Ok(listener.local_addr().map_err(TestbedError::FreePort)?.port())
}

/// A port on 127.0.0.1 free for both UDP and TCP a moment ago (baresip's `sip_listen` binds both).
pub(crate) fn free_udp_and_tcp_port() -> Result<u16> {
    let mut last_err = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(TestbedError::FreePort)?;
        let port = udp.local_addr().map_err(TestbedError::FreePort)?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(_) => return Ok(port),
            Err(err) => last_err = Some(err),
        }
    }
    Err(TestbedError::FreePort(
        last_err.unwrap_or_else(|| std::io::Error::other("no port")),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_the_text_after_carriage_returns() {
        let log = "one\ntwo\n[0:01] audio\r[0:02] audio\rthree\nfour\n";
        assert_eq!(tail(log, 2), "three\nfour\n");
        assert_eq!(tail(log, 10), "one\ntwo\nthree\nfour\n");
        assert_eq!(tail("\u{1b}[31mreg: 401\n\u{1b}[;m\n", 5), "reg: 401\n\n");
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_udp_and_tcp_port().unwrap();
        assert_ne!(port, 0);
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
