//! Images the tests run: built locally, since no registry is reachable to pull from.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The repository of [`web_image`]; the tag is a digest of the build context.
pub const WEB_REPOSITORY: &str = "kube-double/web";
/// The port the web image serves on unless `PORT` says otherwise.
pub const WEB_PORT: u16 = 8080;
/// What the web image prints to stdout when it starts, before the version: `web v1 starting`.
pub const WEB_START_LINE: &str = "web ";

const BUSYBOX: &str = "/bin/busybox";
const INSTALL_BUSYBOX: &str = "apt-get install -y busybox-static";

/// The startup script, run by busybox sh: writes the site, says so, and becomes httpd.
const WEB_SCRIPT: &str = r#"#!/bin/sh
# kube-double's test web server (busybox httpd on a FROM-scratch image).
#   /         "$VERSION\n" (VERSION defaults to v1)
#   /pod      the hostname, which is the pod's name
#   /healthz  200 "ok", or 404 when FAIL_READINESS=1 (a readiness probe never passes)
set -e
VERSION="${VERSION:-v1}"
PORT="${PORT:-8080}"
mkdir -p /www
printf '%s\n' "$VERSION" > /www/index.html
hostname > /www/pod
rm -f /www/healthz
if [ "$FAIL_READINESS" != "1" ]; then
    printf 'ok\n' > /www/healthz
fi
echo "web $VERSION starting on :$PORT in $(hostname) (FAIL_READINESS=${FAIL_READINESS:-0})"
# -f: in the foreground; -v: a line per request, on stderr. The shell stays the container's
# PID 1 to end on SIGTERM: httpd as PID 1 ignores it, holding a stop for its whole grace period.
httpd -f -v -p "$PORT" -h /www &
trap 'echo "web $VERSION stopping (SIGTERM)"; kill $!; exit 0' TERM INT
wait $!
"#;

const WEB_DOCKERFILE: &str = r#"FROM scratch
COPY rootfs/ /
ENV PATH=/bin
EXPOSE 8080
CMD ["/bin/web"]
"#;

/// The test web image, as `kube-double/web:<digest of its build context>`: busybox on
/// `scratch`, serving HTTP on port 8080 with busybox httpd. `/` answers `"$VERSION\n"`
/// (env `VERSION`, default `v1`), `/pod` the hostname (the pod's name), `/healthz` 200 — or 404
/// with env `FAIL_READINESS=1`, so a readiness probe on it never passes. Each start prints a
/// line beginning [`WEB_START_LINE`] to stdout; httpd logs a line per request to stderr. SIGTERM
/// ends it at once (exit 0, after a `web v1 stopping` line), so a graceful stop is quick.
///
/// Built once per process, and not at all when dockerd already has the tag. Blocks the thread
/// for the build (a second or two; nothing runs in a container to build it).
pub fn web_image() -> anyhow::Result<String> {
    static BUILT: Mutex<Option<String>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(tag) = built.as_ref() {
        return Ok(tag.clone());
    }
    let busybox = static_busybox()?;
    let applets = applets(&busybox)?;
    let busybox_bytes = std::fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?;

    let mut digest = Sha256::new();
    for part in
        [WEB_DOCKERFILE.as_bytes(), WEB_SCRIPT.as_bytes(), &busybox_bytes, applets.join("\n").as_bytes()]
    {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part);
    }
    let tag = format!("{WEB_REPOSITORY}:{}", &hex::encode(digest.finalize())[..16]);

    if !image_exists(&tag)? {
        let context = tempfile::tempdir().context("a temporary build context")?;
        write_context(context.path(), &busybox_bytes, &applets)?;
        let output = Command::new("docker")
            .args(["build", "--quiet", "--tag", &tag])
            .arg(context.path())
            .stdin(Stdio::null())
            .output()
            .context("cannot run the docker CLI")?;
        if !output.status.success() {
            bail!("docker build of {tag} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
    }
    *built = Some(tag.clone());
    Ok(tag)
}

fn image_exists(tag: &str) -> anyhow::Result<bool> {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .stdin(Stdio::null())
        .output()
        .context("cannot run the docker CLI")?;
    if output.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No such") {
        return Ok(false);
    }
    bail!(
        "the test's dockerd does not answer ({}); start it: {}",
        stderr.trim(),
        super::docker::START_DOCKERD
    )
}

/// `rootfs/bin/busybox`, a symlink per applet beside it, `rootfs/bin/web`, the Dockerfile. The
/// symlinks are copied as they are, so the build runs nothing (no `RUN busybox --install`).
fn write_context(dir: &Path, busybox: &[u8], applets: &[String]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin)?;
    let executable = |path: &Path, bytes: &[u8]| -> std::io::Result<()> {
        std::fs::write(path, bytes)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
    };
    executable(&bin.join("busybox"), busybox)?;
    executable(&bin.join("web"), WEB_SCRIPT.as_bytes())?;
    for applet in applets {
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    std::fs::write(dir.join("Dockerfile"), WEB_DOCKERFILE)?;
    Ok(())
}

/// The applets `busybox` has, that can be links in /bin (not `busybox` itself or `web`).
fn applets(busybox: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new(busybox)
        .arg("--list")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --list", busybox.display()))?;
    if !output.status.success() {
        bail!("{} --list failed", busybox.display());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/') && *a != "busybox" && *a != "web")
        .map(String::from)
        .collect())
}

/// The host's busybox, if it is the statically linked one (a dynamic one cannot run on
/// `scratch`: there is no loader there).
fn static_busybox() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(BUSYBOX);
    let bytes = std::fs::read(&path)
        .map_err(|e| anyhow::anyhow!("no busybox at {BUSYBOX} ({e}); install it: {INSTALL_BUSYBOX}"))?;
    if has_interpreter(&bytes) {
        bail!(
            "{BUSYBOX} is dynamically linked and cannot run on a scratch image; install the static one: {INSTALL_BUSYBOX}"
        );
    }
    Ok(path)
}

/// Whether a little-endian ELF64 file names a program interpreter (PT_INTERP), that is, whether
/// it is dynamically linked. Anything else is taken as static: the build will say otherwise.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let mut offset = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (entry_size, entries) = (u16_at(0x36), u16_at(0x38));
    for _ in 0..entries {
        let Some(header) = elf.get(offset..offset + 4) else { return false };
        if u32::from_le_bytes(header.try_into().unwrap_or_default()) == PT_INTERP {
            return true;
        }
        offset += entry_size;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_static_busybox_has_no_interpreter_and_a_dynamic_binary_has_one() {
        let busybox = std::fs::read(BUSYBOX).expect("busybox-static is installed");
        assert!(!has_interpreter(&busybox));
        let ls = std::fs::read("/bin/ls").expect("a dynamically linked binary");
        assert!(has_interpreter(&ls));
        assert!(!has_interpreter(b"#!/bin/sh\n"));
    }
}
