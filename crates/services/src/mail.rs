//! Outgoing mail, as use cases see it: a message and something that delivers it.

use futures_util::future::BoxFuture;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail could not be delivered: {0}")]
pub struct MailError(pub String);

pub trait Mailer: Send + Sync + 'static {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>>;
}
