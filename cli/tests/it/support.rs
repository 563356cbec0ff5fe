//! Test support: running the real binary with a clean environment, and a tiny HTTP stub of the
//! API on 127.0.0.1 that answers canned JSON and records what it was sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sentinel"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// `sentinel` with an environment holding only PATH, a throwaway HOME and fake AWS keys, so
/// the caller's own configuration never leaks into a test.
pub fn sentinel() -> Command {
    let mut command = Command::new(bin());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDCALLERSOWNKEY")
        .env("AWS_SECRET_ACCESS_KEY", "caller-secret-never-leaks")
        .env("AWS_REGION", "us-east-1");
    command
}

/// Runs a command and returns its output.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("the sentinel binary runs")
}

/// Text of a stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One canned answer.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Canned {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Canned {
        Canned { status, headers: Vec::new(), body: body.to_string() }
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the stub was sent.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// The stub API: `METHOD /path` (query ignored, any stage prefix allowed) → canned answer;
/// a route written `/path?query` matches only that exact query; the first route that matches
/// answers; anything else 404 in our error shape.
pub struct Stub {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    /// Starts serving on an ephemeral port until the test process ends.
    pub fn start(routes: Vec<(&str, &str, Canned)>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stub port");
        let url = format!("http://{}", listener.local_addr().expect("stub address"));
        let routes: Vec<(String, String, Canned)> =
            routes.into_iter().map(|(m, p, c)| (m.to_owned(), p.to_owned(), c)).collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = routes.clone();
                let log = log.clone();
                std::thread::spawn(move || serve(stream, &routes, &log));
            }
        });
        Stub { url, seen }
    }

    /// Requests seen so far for `path` (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().expect("stub log");
        seen.iter().filter(|s| s.target.split('?').next().is_some_and(|p| p.ends_with(path))).cloned().collect()
    }
}

fn serve(stream: TcpStream, routes: &[(String, String, Canned)], log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = target.split('?').next().unwrap_or_default().to_owned();
    log.lock().expect("stub log").push(Seen {
        method: method.clone(),
        target: target.clone(),
        headers,
        body: text(&body),
    });
    let canned = routes
        .iter()
        .find(|(m, p, _)| {
            let against = if p.contains('?') { &target } else { &path };
            *m == method && (against == p || (p != "/" && against.ends_with(p.as_str())))
        })
        .map(|(_, _, c)| c.clone())
        .unwrap_or_else(|| Canned::json(404, serde_json::json!({"Code": "NOT_FOUND", "Message": "Not found."})));
    let reason = match canned.status {
        200 => "OK",
        201 => "Created",
        _ => "Status",
    };
    let mut response = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        canned.status,
        canned.body.len()
    );
    for (k, v) in &canned.headers {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&canned.body);
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Fake container credentials as the API returns them.
pub fn fake_credentials(key: &str) -> serde_json::Value {
    serde_json::json!({
        "AccessKeyId": key,
        "SecretAccessKey": "vended-secret",
        "Token": "vended-token",
        "Expiration": "2099-01-01T00:00:00Z",
    })
}
