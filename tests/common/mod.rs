//! What the integration tests share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The data root: `$SIAMESE_DATA`, else `../shared/data` beside the repository.
pub fn data_root() -> PathBuf {
    std::env::var_os("SIAMESE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// One HTTP/1.1 request to `addr`: the status and the body.
#[allow(dead_code)]
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    (status, body.to_string())
}

/// `siamese serve ARGS` on a free port, from `dir`: the process and its address.
#[allow(dead_code)]
pub fn start_server(dir: &Path, args: &[&str]) -> (Child, String) {
    use std::io::BufRead;
    let mut server = Command::new(env!("CARGO_BIN_EXE_siamese"))
        .arg("serve")
        .args(args)
        .args(["--addr", "127.0.0.1:0", "--quiet"])
        .current_dir(dir)
        .env("SIAMESE_DATA", data_root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (server, addr)
}

/// Stop a server with SIGINT (Ctrl-C): it must exit cleanly.
#[allow(dead_code)]
pub fn stop_server(mut server: Child) {
    let stopped = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(server.wait().unwrap().success());
}
