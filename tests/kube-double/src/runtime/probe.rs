//! Probes, answered as the kubelet answers them: HTTP and TCP to the container's own address
//! (the pod IP), exec through `docker exec`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::docker::{PodRuntime, docker};
use super::{Container, Probe};

/// The double does not read `timeoutSeconds`; the kubelet's default is 1 s, doubled here since
/// the two cores these tests share can be busy.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(2);
/// `docker exec` alone takes a few hundred milliseconds on a busy machine.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough of a response for its status line.
const STATUS_LINE_MAX: usize = 1024;

impl PodRuntime {
    /// Whether `probe` passes on `container` now. Http: a GET whose status is 200..400; Tcp: a
    /// connection accepted; Exec: the command exits 0. Each attempt is bounded (2 s for the
    /// network ones, 10 s for exec) and a timeout fails it.
    pub async fn probe(&self, container: &Container, probe: &Probe) -> bool {
        match probe {
            Probe::Http { path, port } => match address(container, *port) {
                Some(address) => http_ok(address, path).await,
                None => false,
            },
            Probe::Tcp { port } => match address(container, *port) {
                Some(address) => {
                    let connect = TcpStream::connect(address);
                    matches!(tokio::time::timeout(NETWORK_TIMEOUT, connect).await, Ok(Ok(_)))
                }
                None => false,
            },
            Probe::Exec { command } => {
                if command.is_empty() {
                    return false;
                }
                let mut args = vec!["exec", container.id.as_str()];
                args.extend(command.iter().map(String::as_str));
                let run = tokio::time::timeout(EXEC_TIMEOUT, docker(&args));
                matches!(run.await, Ok(Ok(output)) if output.status.success())
            }
        }
    }
}

/// Where the container's `port` answers: its bridge address, as the kubelet probes the pod IP
/// (the published port is no use for TCP: docker-proxy accepts there even with nothing behind
/// it); without one, the published port when it is that port.
fn address(container: &Container, port: u16) -> Option<SocketAddr> {
    match (container.ip, container.host_port) {
        (Some(ip), _) => Some(SocketAddr::new(ip, port)),
        (None, Some(host_port)) if container.port == Some(port) => {
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), host_port))
        }
        _ => None,
    }
}

async fn http_ok(address: SocketAddr, path: &str) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: kube-probe/kube-double\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut buffer = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < STATUS_LINE_MAX {
            let n = stream.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..n]);
        }
        std::io::Result::Ok(status_of(&head))
    };
    matches!(
        tokio::time::timeout(NETWORK_TIMEOUT, exchange).await,
        Ok(Ok(Some(status))) if (200..400).contains(&status)
    )
}

/// The status code of an HTTP/1.x status line at the start of `head`.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|version| version.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(status_of(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_of(b""), None);
    }

    #[test]
    fn probes_go_to_the_container_address_first() {
        let ip: IpAddr = "172.17.0.2".parse().expect("ip");
        let mut container =
            Container { id: "c".into(), host_port: Some(32768), ip: Some(ip), port: Some(8080) };
        assert_eq!(address(&container, 9090), Some(SocketAddr::new(ip, 9090)));
        container.ip = None;
        assert_eq!(address(&container, 8080), Some("127.0.0.1:32768".parse().expect("addr")));
        assert_eq!(address(&container, 9090), None);
    }

    #[tokio::test]
    async fn http_probe_reads_the_status_of_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            for status in ["204 No Content", "302 Found", "500 Internal Server Error"] {
                let (mut stream, _) = listener.accept().await.expect("accept");
                let mut request = [0u8; 1024];
                let n = stream.read(&mut request).await.expect("read");
                assert!(request[..n].starts_with(b"GET /healthz HTTP/1.1\r\n"));
                let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(reply.as_bytes()).await.expect("write");
            }
        });
        assert!(http_ok(address, "/healthz").await);
        assert!(http_ok(address, "healthz").await);
        assert!(!http_ok(address, "/healthz").await);
        server.await.expect("server");
        assert!(!http_ok(address, "/healthz").await, "nothing listens any more");
    }
}
