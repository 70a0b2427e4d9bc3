//! A real mail server nobody here wrote, for the MSSanté clients: Debian's
//! postfix (submission with STARTTLS, a client certificate of the test CA
//! required, relaying only for such certificates, recipients checked at RCPT)
//! delivering over LMTP to Debian's dovecot (IMAP with STARTTLS, the client
//! certificate required, SASL EXTERNAL: the certificate's CN is the mailbox),
//! configured in a temporary directory and started on free loopback ports.
//! The servers run as root (postfix's master and dovecot drop privileges to
//! their own users); without them or without root the tests say plainly
//! that they did NOT run, and fail instead under
//! `ESCALE_TEST_MAIL_SERVERS_REQUIRED=1` (`.ci/run` sets it).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use escale::sandbox::pki::{TestPki, write_pair};

const POSTFIX: &str = "/usr/sbin/postfix";
const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";

/// Why the servers cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    for (program, package) in [
        (POSTFIX, "postfix"),
        (DOVECOT, "dovecot-imapd"),
        (DOVEADM, "dovecot-core"),
    ] {
        if !Path::new(program).exists() {
            return Some(format!(
                "{program} is not installed (Debian package {package})"
            ));
        }
    }
    if !Path::new("/usr/lib/dovecot/lmtp").exists() {
        return Some("dovecot's LMTP is not installed (Debian package dovecot-lmtpd)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("postfix and dovecot need root to start".into());
    }
    None
}

/// Says that a test did not run (on stderr, shown by `cargo test` even for
/// a passing test), or fails when the servers are required.
pub fn not_run(test: &str, reason: &str) {
    let line = format!("{test} did NOT run: {reason}");
    if std::env::var_os("ESCALE_TEST_MAIL_SERVERS_REQUIRED").is_some() {
        panic!("{line} (ESCALE_TEST_MAIL_SERVERS_REQUIRED is set)");
    }
    let _ = writeln!(std::io::stderr(), "{line}");
}

pub struct MailServers {
    dir: tempfile::TempDir,
    pub host: String,
    pub smtp_port: u16,
    pub imap_port: u16,
    /// The test CA (trusted for the servers' certificate).
    pub ca: PathBuf,
    postfix_started: bool,
    dovecot_started: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    run_logged(program, args, None)
}

/// Runs `program`; with `log`, its output goes there: a daemon it starts
/// keeps the output open, so no pipe is read to its end.
fn run_logged(program: &str, args: &[&str], log: Option<&Path>) -> Result<(), String> {
    let mut command = Command::new(program);
    command.args(args).stdin(std::process::Stdio::null());
    let status = match log {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
            let err = file.try_clone().map_err(|e| e.to_string())?;
            command.stdout(file).stderr(err).status()
        }
        None => command.output().map(|out| {
            if !out.status.success() {
                let _ = writeln!(
                    std::io::stderr(),
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            out.status
        }),
    }
    .map_err(|e| format!("{program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        let said = log.and_then(|p| std::fs::read_to_string(p).ok());
        Err(format!(
            "{program} {args:?}: {status}\n{}",
            said.unwrap_or_default()
        ))
    }
}

impl MailServers {
    /// Postfix accepts mail for `accepted` (all in `domain`); dovecot holds
    /// a mailbox for each of `mailboxes` (an address postfix accepts but
    /// dovecot does not know is refused at delivery: postfix bounces it).
    pub async fn start(
        pki: &TestPki,
        domains: &[&str],
        accepted: &[&str],
        mailboxes: &[&str],
    ) -> Result<MailServers, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path().to_path_buf();
        let io = |e: std::io::Error| e.to_string();
        // Postfix's and dovecot's own users read under it.
        run("chmod", &["755", &d.to_string_lossy()])?;
        let ca = d.join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).map_err(io)?;
        let server = pki.server_cert(&["localhost"]).map_err(|e| e.to_string())?;
        write_pair(&d.join("server.pem"), &d.join("server.key"), &server)
            .map_err(|e| e.to_string())?;
        for sub in ["mail", "dovecot/run", "postfix/queue", "postfix/data"] {
            std::fs::create_dir_all(d.join(sub)).map_err(io)?;
        }
        run("chown", &["mail:mail", &d.join("mail").to_string_lossy()])?;
        run(
            "chown",
            &["postfix", &d.join("postfix/data").to_string_lossy()],
        )?;
        let (smtp_port, imap_port, lmtp_port) = (free_port(), free_port(), free_port());
        let p = |rel: &str| d.join(rel).to_string_lossy().into_owned();

        let users: String = mailboxes
            .iter()
            .map(|m| format!("{m}:::::::nopassword\n"))
            .collect();
        std::fs::write(d.join("dovecot/users"), users).map_err(io)?;
        std::fs::write(
            d.join("dovecot/dovecot.conf"),
            format!(
                r#"base_dir = {run}
state_dir = {state}
log_path = {log}
protocols = imap lmtp
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_ca = <{ca}
ssl_min_protocol = TLSv1.2
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_require_client_cert = yes
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
auth_mechanisms = external
disable_plaintext_auth = yes
first_valid_uid = 1
mail_uid = mail
mail_gid = mail
mail_location = maildir:{mail}/%d/%n
passdb {{
  driver = passwd-file
  args = {users}
}}
userdb {{
  driver = passwd-file
  args = {users}
  default_fields = home={mail}/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"#,
                run = p("dovecot/run"),
                state = p("dovecot"),
                log = p("dovecot/dovecot.log"),
                cert = p("server.pem"),
                key = p("server.key"),
                ca = p("ca.pem"),
                mail = p("mail"),
                users = p("dovecot/users"),
            ),
        )
        .map_err(io)?;

        let map: Vec<String> = accepted.iter().map(|a| format!("{a}=ok")).collect();
        std::fs::write(
            d.join("postfix/main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file_prefixes = {dir}
maillog_file = {log}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.escale.test
mydomain = escale.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtputf8_enable = no
biff = no
virtual_mailbox_domains = {domains}
virtual_mailbox_maps = inline:{{ {map} }}
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_CAfile = {ca}
smtpd_tls_security_level = encrypt
smtpd_tls_req_ccert = yes
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtpd_relay_restrictions = permit_tls_all_clientcerts, reject
smtpd_recipient_restrictions = reject_unlisted_recipient
",
                queue = p("postfix/queue"),
                data = p("postfix/data"),
                dir = d.display(),
                log = p("postfix/maillog"),
                domains = domains.join(", "),
                map = map.join(", "),
                cert = p("server.pem"),
                key = p("server.key"),
                ca = p("ca.pem"),
            ),
        )
        .map_err(io)?;
        // master.cf: the services of Debian's default, none chrooted, and
        // submission on the test's port.
        let mut master = format!("127.0.0.1:{smtp_port} inet n - n - - smtpd\n");
        for line in [
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ] {
            master.push_str(line);
            master.push('\n');
        }
        std::fs::write(d.join("postfix/master.cf"), master).map_err(io)?;

        let mut servers = MailServers {
            dir,
            host: "localhost".into(),
            smtp_port,
            imap_port,
            ca,
            postfix_started: false,
            dovecot_started: false,
        };
        let started = d.join("started.log");
        run_logged(DOVECOT, &["-c", &p("dovecot/dovecot.conf")], Some(&started))
            .map_err(|e| servers.with_logs(e))?;
        servers.dovecot_started = true;
        run_logged(POSTFIX, &["-c", &p("postfix"), "start"], Some(&started))
            .map_err(|e| servers.with_logs(e))?;
        servers.postfix_started = true;
        for port in [smtp_port, imap_port, lmtp_port] {
            servers.wait_for(port).await?;
        }
        Ok(servers)
    }

    async fn wait_for(&self, port: u16) -> Result<(), String> {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.with_logs(format!("nothing listens on 127.0.0.1:{port}")))
    }

    /// `error`, then what both servers logged (for a failing test).
    pub fn with_logs(&self, error: String) -> String {
        let read =
            |rel: &str| std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default();
        format!(
            "{error}\n--- postfix ---\n{}\n--- dovecot ---\n{}",
            read("postfix/maillog"),
            read("dovecot/dovecot.log")
        )
    }

    /// A certificate of the test CA whose CN is `mailbox` (dovecot's
    /// EXTERNAL user), written under the servers' directory: (cert, key).
    pub fn certificate(&self, pki: &TestPki, mailbox: &str, ou: &str) -> (PathBuf, PathBuf) {
        let cert = self.dir.path().join(format!("{mailbox}.pem"));
        let key = self.dir.path().join(format!("{mailbox}.key"));
        write_pair(&cert, &key, &pki.client_cert(mailbox, ou).unwrap()).unwrap();
        (cert, key)
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        let p = |rel: &str| self.dir.path().join(rel).to_string_lossy().into_owned();
        let stopped = self.dir.path().join("stopped.log");
        if self.postfix_started {
            let _ = run_logged(POSTFIX, &["-c", &p("postfix"), "stop"], Some(&stopped));
        }
        if self.dovecot_started {
            let _ = run_logged(
                DOVEADM,
                &["-c", &p("dovecot/dovecot.conf"), "stop"],
                Some(&stopped),
            );
        }
    }
}
