//! The model catalog.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::id::Id;
use crate::money::TokenPrice;
use crate::validation::Validator;

pub const MAX_MODEL_NAME_CHARS: usize = 128;
pub const MAX_PROVIDER_CHARS: usize = 64;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_UPSTREAM_KEY_CHARS: usize = 4096;
pub const MAX_CONTEXT_LENGTH: u32 = 100_000_000;
/// Deployments one model may have.
pub const MAX_DEPLOYMENTS: usize = 16;
/// A deployment's share of its model's traffic is `weight / sum of weights`.
pub const MAX_WEIGHT: u32 = 1000;
/// The provider whose models Purser answers itself with canned text, for demos and tests.
pub const MOCK_PROVIDER: &str = "mock";

/// What a model can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    Chat,
    Completions,
    Embeddings,
    Vision,
    Tools,
    Reasoning,
}

impl Capability {
    pub const ALL: [Capability; 6] =
        [Self::Chat, Self::Completions, Self::Embeddings, Self::Vision, Self::Tools, Self::Reasoning];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Completions => "completions",
            Self::Embeddings => "embeddings",
            Self::Vision => "vision",
            Self::Tools => "tools",
            Self::Reasoning => "reasoning",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("unknown capability {s:?}"))
    }
}

/// How the gateway reaches a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Answered inside Purser with canned text; labelled as a mock wherever it appears.
    Mock,
    /// Any server that speaks the OpenAI API (vLLM, TGI, Ollama, OpenAI itself, ...).
    OpenAiCompatible,
}

impl ProviderKind {
    pub fn of(provider: &str) -> Self {
        if provider == MOCK_PROVIDER { Self::Mock } else { Self::OpenAiCompatible }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub id: Id,
    /// The public name clients send as `model`.
    pub name: String,
    pub provider: String,
    pub description: Option<String>,
    /// Where the gateway sends the model's requests; none for the mock provider.
    pub deployments: Vec<Deployment>,
    pub input_cost_per_token: TokenPrice,
    pub output_cost_per_token: TokenPrice,
    pub context_length: Option<u32>,
    pub capabilities: Vec<Capability>,
    pub restricted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Model {
    pub fn kind(&self) -> ProviderKind {
        ProviderKind::of(&self.provider)
    }
}

/// One server that answers a model's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: Id,
    pub model_id: Id,
    /// OpenAI-compatible base URL such as `http://vllm:8000/v1`.
    pub upstream_url: String,
    /// The model name this server expects.
    pub upstream_model: String,
    /// The server's API key, encrypted; never shown.
    pub upstream_api_key: Option<Vec<u8>>,
    /// Share of the model's traffic, relative to its other deployments (1 to 1000).
    pub weight: u32,
    /// This server's own limits, on top of the keys' and teams'.
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub fn is_model_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@')
}

pub fn is_provider_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

pub fn validate_name(v: &mut Validator, field: &str, name: &str) {
    v.token(field, name, MAX_MODEL_NAME_CHARS, is_model_name_char, "letters, digits and . _ - : / @");
}

pub fn validate_provider(v: &mut Validator, field: &str, provider: &str) {
    v.token(field, provider, MAX_PROVIDER_CHARS, is_provider_char, "lowercase letters, digits and . _ -");
}

/// An upstream base URL must be absolute http(s), without credentials, query or fragment
/// (credentials belong in `upstreamApiKey`, where they are encrypted). Returns the URL with
/// any trailing slash removed so paths can be appended.
pub fn normalize_upstream_url(v: &mut Validator, field: &str, raw: &str) -> Option<String> {
    if raw.chars().count() > MAX_URL_CHARS {
        v.error(field, format!("must be at most {MAX_URL_CHARS} characters"));
        return None;
    }
    let Ok(url) = url::Url::parse(raw.trim()) else {
        v.error(field, "must be an absolute URL such as http://vllm:8000/v1");
        return None;
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        v.error(field, "must be an http or https URL with a host");
        None
    } else if !url.username().is_empty() || url.password().is_some() {
        v.error(field, "must not contain credentials; put the key in upstreamApiKey");
        None
    } else if url.query().is_some() || url.fragment().is_some() {
        v.error(field, "must not contain a query or fragment");
        None
    } else {
        Some(url.as_str().trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_normalized_and_checked() {
        let mut v = Validator::new();
        assert_eq!(normalize_upstream_url(&mut v, "u", "http://vllm:8000/v1/").as_deref(), Some("http://vllm:8000/v1"));
        assert!(v.is_empty());
        for bad in ["vllm:8000", "ftp://x/v1", "http://user:pw@x/v1", "http://x/v1?key=1", "/v1", "http://"] {
            let mut v = Validator::new();
            assert!(normalize_upstream_url(&mut v, "u", bad).is_none(), "{bad}");
            assert!(!v.is_empty());
        }
    }

    #[test]
    fn capability_names() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
        }
        assert!("telepathy".parse::<Capability>().is_err());
    }

    #[test]
    fn names_and_providers() {
        let mut v = Validator::new();
        validate_name(&mut v, "name", "meta-llama/Llama-3.1-8B-Instruct");
        validate_provider(&mut v, "provider", "vllm");
        assert!(v.is_empty());
        validate_name(&mut v, "name", "has space");
        validate_provider(&mut v, "provider", "OpenAI");
        assert_eq!(v.finish().unwrap_err().len(), 2);
        assert_eq!(ProviderKind::of("mock"), ProviderKind::Mock);
        assert_eq!(ProviderKind::of("vllm"), ProviderKind::OpenAiCompatible);
    }
}
