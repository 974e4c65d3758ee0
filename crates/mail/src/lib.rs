//! Delivering Purser's mail: over SMTP when configured, otherwise into a file under the
//! data directory (one JSON object per line) so that verification, reset and invitation
//! flows work on a machine with no mail server.

use std::path::PathBuf;

use futures_util::future::BoxFuture;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use purser_services::mail::{Mail, MailError, Mailer};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// Whether `text` is a usable sender such as `Purser <purser@example.com>`.
pub fn is_mailbox(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// Appends each mail to a JSON-lines file.
pub struct FileMailer {
    path: PathBuf,
    // One writer at a time so lines never interleave.
    lock: Mutex<()>,
}

impl FileMailer {
    pub fn new(path: PathBuf) -> Self {
        Self { path, lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }
}

impl Mailer for FileMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            let line = serde_json::json!({ "to": mail.to, "subject": mail.subject, "text": mail.text }).to_string();
            let _guard = self.lock.lock().await;
            // The outbox holds live links (password resets): Purser's user alone reads it.
            if let Some(dir) = self.path.parent() {
                let mut builder = tokio::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                builder.mode(0o700);
                builder.create(dir).await.map_err(|e| MailError(e.to_string()))?;
            }
            let mut options = tokio::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            options.mode(0o600);
            let mut file =
                options.open(&self.path).await.map_err(|e| MailError(format!("{}: {e}", self.path.display())))?;
            file.write_all(format!("{line}\n").as_bytes()).await.map_err(|e| MailError(e.to_string()))?;
            // tokio writes in the background: without this a mail could be lost on drop.
            file.flush().await.map_err(|e| MailError(e.to_string()))?;
            tracing::info!(to = %mail.to, subject = %mail.subject, file = %self.path.display(), "mail written to the outbox file");
            Ok(())
        })
    }
}

/// Sends mail through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url` is `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it is
    /// not forced), `smtps://...` (TLS), or `smtp://...?tls=required` (STARTTLS required).
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError(format!("mail.smtp_url: {e}")))?
            .build();
        let from = from.parse().map_err(|e| MailError(format!("mail.from: {e}")))?;
        Ok(Self { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>> {
        Box::pin(async move {
            let to: Mailbox = mail.to.parse().map_err(|e| MailError(format!("recipient {}: {e}", mail.to)))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(&mail.subject)
                .body(mail.text)
                .map_err(|e| MailError(e.to_string()))?;
            self.transport.send(message).await.map_err(|e| MailError(e.to_string()))?;
            tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent");
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_mailer_appends_one_json_line_per_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(dir.path().join("mail").join("outbox.jsonl"));
        for n in 0..3 {
            let mail =
                Mail { to: format!("u{n}@example.com"), subject: "Hi".into(), text: "line one\nline two".into() };
            mailer.send(mail).await.unwrap();
        }
        let text = std::fs::read_to_string(mailer.path()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["to"], "u2@example.com");
        assert_eq!(lines[0]["text"], "line one\nline two");
    }

    // The transport's connection pool lives on the Tokio runtime.
    #[tokio::test]
    async fn bad_smtp_settings_are_refused() {
        assert!(SmtpMailer::new("http://not-smtp", "purser@example.com").is_err());
        assert!(SmtpMailer::new("smtp://localhost:2525", "not an address").is_err());
        assert!(SmtpMailer::new("smtp://user:pw@localhost:2525", "Purser <purser@example.com>").is_ok());
    }
}
