//! A real Kafka-protocol broker for the event tests: `tansu` (an Apache Kafka compatible
//! broker, installed by scripts/need-kafka), in memory, on a port of the test's own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct KafkaBroker {
    pub address: String,
    child: Child,
}

impl KafkaBroker {
    pub async fn start() -> Self {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(std::env::var("PURSER_TEST_TANSU").unwrap_or_else(|_| "tansu".into()))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the tansu Kafka broker is installed (scripts/need-kafka)");
        let address = format!("127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return Self { address, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the Kafka broker did not start on {address}");
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
