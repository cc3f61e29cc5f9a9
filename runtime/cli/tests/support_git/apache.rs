//! Debian's Apache 2.4 running `git http-backend` as CGI, set up as `man git-http-backend` does
//! it (mod_cgi, mod_alias, mod_env: `ScriptAlias /git/`, `GIT_PROJECT_ROOT`,
//! `GIT_HTTP_EXPORT_ALL`), the set-up most self-hosted git servers start from.
//!
//! The test's own `apache2`, not the system service: in the foreground, with a config written
//! into a temp dir, on a free 127.0.0.1 port; it stops when the [`Apache`] is dropped. Without
//! apache2 it panics saying what to install: these tests never skip.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Serves;

pub const INSTALL: &str = "apt-get install -y apache2";
const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
const BACKEND_DIR: &str = "/usr/lib/git-core";

/// A running apache2 serving `<root>/<name>.git` at `<origin>/git/<name>.git`.
pub struct Apache {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Serves for Apache {
    fn url(&self, name: &str) -> String {
        format!("{}/git/{name}.git", self.origin)
    }
}

impl Apache {
    /// Serve the bare repositories under `root`.
    pub fn start(root: &Path) -> Apache {
        let modules = ["mpm_prefork", "authz_core", "alias", "env", "cgi"];
        for path in std::iter::once(APACHE.to_string())
            .chain(modules.iter().map(|m| format!("{MODULES}/mod_{m}.so")))
            .chain(std::iter::once(format!("{BACKEND_DIR}/git-http-backend")))
        {
            assert!(
                Path::new(&path).exists(),
                "{path} is missing: install apache2 and git with `{INSTALL} git`"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        // Apache does not serve as root: started by root, its children run as www-data. They
        // must be able to read the repositories (a temp dir is 0700), and git serves
        // repositories that another user owns only with `safe.directory` (set in the config;
        // a real server's repositories belong to its own user).
        let as_root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
        if as_root {
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // A port can be taken between finding it free and apache binding it: try again then.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let conf = dir.path().join("httpd.conf");
            std::fs::write(&conf, config(dir.path(), root, port, as_root)).unwrap();
            let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
            let mut child = Command::new(APACHE)
                // Its own process group: stopping, apache signals its whole group, which would
                // otherwise be the test's.
                .process_group(0)
                .arg("-f")
                .arg(&conf)
                .arg("-DFOREGROUND")
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {APACHE} ({e}); install it: {INSTALL}"));
            let deadline = Instant::now() + Duration::from_secs(20);
            let exited = loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Apache { origin: format!("http://127.0.0.1:{port}"), child, dir };
                }
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "apache2 did not listen on {port} within 20 s");
                std::thread::sleep(Duration::from_millis(20));
            };
            let output = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            if !output.contains("could not bind") && !output.contains("Address already in use") {
                panic!("apache2 exited ({exited}):\n{output}\n{}", read(&dir.path().join("error.log")));
            }
        }
        panic!("apache2 found no free port on 127.0.0.1");
    }

    /// Apache's error log: the CGI's stderr lands there (what git http-backend complained of).
    pub fn error_log(&self) -> String {
        read(&self.dir.path().join("error.log"))
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // SIGTERM: the parent stops its children before it exits (SIGKILL would orphan them).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The whole configuration: only the modules git's documentation names (and the MPM that
/// mod_cgi needs); nothing of /etc/apache2 is read.
fn config(dir: &Path, root: &Path, port: u16, as_root: bool) -> String {
    let (dir, root) = (dir.display(), root.display());
    let user = if as_root { "User www-data\nGroup www-data\n" } else { "" };
    format!(
        "ServerRoot {dir}\n\
         ServerName 127.0.0.1\n\
         Listen 127.0.0.1:{port}\n\
         PidFile {dir}/httpd.pid\n\
         DefaultRuntimeDir {dir}\n\
         ErrorLog {dir}/error.log\n\
         LogLevel warn\n\
         {user}\
         LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so\n\
         LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
         LoadModule alias_module {MODULES}/mod_alias.so\n\
         LoadModule env_module {MODULES}/mod_env.so\n\
         LoadModule cgi_module {MODULES}/mod_cgi.so\n\
         SetEnv GIT_PROJECT_ROOT {root}\n\
         SetEnv GIT_HTTP_EXPORT_ALL\n\
         SetEnv GIT_CONFIG_COUNT 1\n\
         SetEnv GIT_CONFIG_KEY_0 safe.directory\n\
         SetEnv GIT_CONFIG_VALUE_0 *\n\
         ScriptAlias /git/ {BACKEND_DIR}/git-http-backend/\n\
         <Directory \"{BACKEND_DIR}\">\n    Require all granted\n</Directory>\n"
    )
}
