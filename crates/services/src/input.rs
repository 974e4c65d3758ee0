//! A request's input, read only once the caller is authorized.
//!
//! The HTTP layer hands each use case its body and query as an [`Input`]: bytes not yet
//! judged. Reading one takes the [`Authorized`] proof that only the policy module gives, so
//! a use case cannot answer "malformed", "unsupported media type" or "invalid field" to
//! someone before it has decided whether they may act at all; strangers are told 404 and
//! the unauthorized 403, whatever they sent.

use purser_domain::Authorized;

use crate::error::Result;

pub struct Input<T>(Box<dyn FnOnce() -> Result<T> + Send>);

impl<T: 'static> Input<T> {
    /// Input that `read` parses and checks when the use case asks for it.
    pub fn new(read: impl FnOnce() -> Result<T> + Send + 'static) -> Self {
        Self(Box::new(read))
    }

    /// Input already at hand (from a caller that is not HTTP, such as the CLI or a test).
    pub fn ready(value: T) -> Self
    where
        T: Send,
    {
        Self::new(move || Ok(value))
    }

    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Input<U> {
        Input::new(move || (self.0)().map(f))
    }

    /// Converts the input once it is read, with a check of its own.
    pub fn and_then<U: 'static>(self, f: impl FnOnce(T) -> Result<U> + Send + 'static) -> Input<U> {
        Input::new(move || (self.0)().and_then(f))
    }

    /// Reads the input; `_proof` says the caller is allowed to act.
    pub fn read(self, _proof: Authorized) -> Result<T> {
        (self.0)()
    }
}

impl<T> std::fmt::Debug for Input<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input(unread)")
    }
}

#[cfg(test)]
mod tests {
    use purser_domain::policy::{Action, authorize};
    use purser_domain::{Id, PlatformRole, Principal};

    use super::*;
    use crate::Error;

    #[test]
    fn input_is_judged_only_when_read() {
        let input: Input<u32> = Input::new(|| Err(Error::invalid_field("n", "is bad")));
        let mapped = input.map(|n| n + 1);
        // Nothing has been judged yet: a refusal here would come from authorization.
        let user = Principal { user_id: Id::from_i64(1), role: PlatformRole::User, session_id: Id::from_i64(2) };
        assert!(authorize(&user, Action::ManageModels).is_err());
        let proof = authorize(&user, Action::UseModels).unwrap();
        assert_eq!(mapped.read(proof).unwrap_err().code, "validation_failed");
        let ready =
            Input::ready(2).and_then(|n| if n > 1 { Ok(n * 10) } else { Err(Error::invalid_field("n", "small")) });
        assert_eq!(ready.read(proof).unwrap(), 20);
    }
}
