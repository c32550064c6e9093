//! `ringback serve` as a child process, for tests whose faults must be real: a SIGKILL sent to its
//! pid, a disk that fills or fails under it. Its stderr goes to a file the test reads (log lines,
//! and the `RINGBACK_FAULT_POINT` announcements of `api/src/fault.rs`).
//!
//! A server may run in a mount namespace of its own (`unshare --mount`) with a small disk mounted
//! over one of its directories: a tmpfs that fills, or an ext4 image on a loop device that the
//! kernel turns read-only when the test reports an error on it (as a failing disk does). The mount
//! exists only in that namespace and goes away with the process (the loop device with it), so the
//! host never sees it, even when a test panics. The test reaches inside through
//! `/proc/<pid>/root` (to fill the disk, read files) and `nsenter` (to run commands there).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringback");

/// A free TCP port on 127.0.0.1 (for the HTTP API, which the test must know before start-up).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A small disk the server sees over one directory.
#[derive(Debug, Clone)]
pub enum SmallDisk {
    /// A tmpfs of this many bytes: [`Serve::fill_disk`] fills it.
    Tmpfs {
        /// Its size.
        bytes: u64,
    },
    /// An ext4 file system of this many bytes in an image file (made here, in `image`), mounted
    /// through a loop device with `errors=remount-ro`: [`Serve::fail_disk`] reports an error on it
    /// and the kernel turns it read-only under the open files.
    Ext4 {
        /// Where the image file goes.
        image: PathBuf,
        /// Its size.
        bytes: u64,
    },
}

/// Where a [`SmallDisk`] is mounted.
#[derive(Debug)]
struct Mounted {
    at: PathBuf,
    disk: SmallDisk,
}

/// A running `ringback serve`; SIGKILLed when dropped.
#[derive(Debug)]
pub struct Serve {
    child: Child,
    log: PathBuf,
    mounted: Option<Mounted>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        // std's Child::kill is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `ringback serve --config <config>` with `env` added, its stderr in `log`, and waits
    /// until its HTTP API listens on `port`. With `disk`, the server runs in a mount namespace of
    /// its own with that disk mounted over the directory (which must exist).
    pub async fn start(
        config: &Path,
        port: u16,
        log: &Path,
        env: &[(&str, &str)],
        disk: Option<(&Path, SmallDisk)>,
    ) -> Self {
        let stderr = std::fs::File::create(log).expect("server log");
        let mut command = match &disk {
            None => Command::new(BIN),
            Some((at, disk)) => in_namespace_with(at, disk),
        };
        command
            .args(["serve", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().expect("serve starts");
        let mut server = Serve {
            child,
            log: log.to_owned(),
            mounted: disk.map(|(at, disk)| Mounted {
                at: at.to_owned(),
                disk,
            }),
        };
        for _ in 0..600 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "ringback serve exited ({status}) during start-up:\n{}",
                    server.log()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server never listened on {port}:\n{}", server.log());
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, by pid: nothing is flushed, no call is hung up, no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its log has a line containing `needle`; false after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// `path` as the server sees it (inside its mount namespace, if it has one).
    pub fn path_inside(&self, path: &Path) -> PathBuf {
        match &self.mounted {
            None => path.to_owned(),
            Some(_) => {
                let relative = path.strip_prefix("/").unwrap_or(path);
                PathBuf::from(format!("/proc/{}/root", self.pid())).join(relative)
            }
        }
    }

    /// Runs the binary with `args` where the server runs (in its mount namespace, if any), e.g.
    /// `keys create` against a database only the server's namespace can see.
    pub fn run_beside(&self, args: &[&std::ffi::OsStr]) -> Output {
        let mut command = match &self.mounted {
            None => Command::new(BIN),
            Some(_) => {
                let mut nsenter = Command::new("nsenter");
                nsenter
                    .arg("--target")
                    .arg(self.pid().to_string())
                    .args(["--mount", "--"])
                    .arg(BIN);
                nsenter
            }
        };
        command.args(args).output().expect("runs")
    }

    /// Fills the small disk: writes zeros into a file on it until the disk refuses more.
    /// Returns the bytes written.
    pub fn fill_disk(&self) -> u64 {
        let mounted = self.mounted.as_ref().expect("a server with a small disk");
        let mut file = std::fs::File::create(self.filler(mounted)).expect("filler");
        let block = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // What the page cache took must reach the disk's accounting too (tmpfs: already there).
        let _ = file.sync_all();
        written
    }

    /// Frees what [`fill_disk`](Self::fill_disk) took.
    pub fn free_disk(&self) {
        let mounted = self.mounted.as_ref().expect("a server with a small disk");
        std::fs::remove_file(self.filler(mounted)).expect("filler removed");
    }

    /// Reports an error on the ext4 disk (`/sys/fs/ext4/<device>/trigger_fs_error`): mounted
    /// `errors=remount-ro`, it turns read-only at once, as a failing disk does, and writes to
    /// files already open fail from then on.
    pub fn fail_disk(&self) {
        let mounted = self.mounted.as_ref().expect("a server with a small disk");
        assert!(
            matches!(mounted.disk, SmallDisk::Ext4 { .. }),
            "only an ext4 disk can fail"
        );
        let mountinfo =
            std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid())).expect("mountinfo");
        let at = mounted.at.to_string_lossy();
        // "<id> <parent> <major:minor> <root> <mount point> <options> ... - <type> <source> <options>"
        let device = mountinfo
            .lines()
            .find(|line| line.split(' ').nth(4) == Some(&*at))
            .and_then(|line| line.split(" - ").nth(1))
            .and_then(|tail| tail.split(' ').nth(1))
            .and_then(|source| source.rsplit('/').next())
            .unwrap_or_else(|| panic!("no mount at {at} in:\n{mountinfo}"))
            .to_owned();
        std::fs::write(format!("/sys/fs/ext4/{device}/trigger_fs_error"), "1").expect("ext4 error reported");
    }

    fn filler(&self, mounted: &Mounted) -> PathBuf {
        self.path_inside(&mounted.at.join("filler"))
    }
}

/// `unshare --mount` running a shell that mounts `disk` over `at` and then becomes the server
/// (`exec`, so the server keeps the pid the test kills).
fn in_namespace_with(at: &Path, disk: &SmallDisk) -> Command {
    let mount = match disk {
        SmallDisk::Tmpfs { bytes } => format!("mount -t tmpfs -o size={bytes} ringback-test \"$0\""),
        SmallDisk::Ext4 { image, bytes } => {
            let made = Command::new("truncate")
                .arg(format!("--size={bytes}"))
                .arg(image)
                .status()
                .expect("truncate")
                .success()
                && Command::new("mkfs.ext4")
                    .args(["-q", "-F"])
                    .arg(image)
                    .status()
                    .expect("mkfs.ext4 (e2fsprogs)")
                    .success();
            assert!(made, "cannot make an ext4 image at {}", image.display());
            format!("mount -o loop,errors=remount-ro '{}' \"$0\"", image.display())
        }
    };
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("set -e; {mount}; exec \"$@\""))
        .arg(at)
        .arg(BIN);
    command
}
