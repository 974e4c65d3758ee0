//! Documents kept in an organization's own database, each a name for one stored file;
//! a file's bytes are stored once per organization, found by their SHA-256.

use std::str::FromStr;

use crate::{Id, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: Id,
    pub name: String,
    pub mime_type: String,
    /// Of the bytes, hex: the file's identity within the organization.
    pub sha256: String,
    /// Of the bytes, hex: a checksum for clients, never an identity (collisions are easy).
    pub md5: String,
    pub size: u64,
    pub owner_id: Id,
    /// When a time-stamping authority attested the bytes existed (RFC 3161), if one did.
    pub timestamped_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The bytes behind documents, stored once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
    /// Where the bytes are in blob storage.
    pub object_key: String,
    pub created_at: Timestamp,
    /// When the last document naming it went; `None` while one does.
    pub orphaned_at: Option<Timestamp>,
}

/// How a document list is ordered; ties go to the id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocumentSort {
    #[default]
    Newest,
    Oldest,
    NameAsc,
    NameDesc,
    Largest,
    Smallest,
}

impl DocumentSort {
    pub const ALL: [&str; 6] = ["-createdAt", "createdAt", "name", "-name", "-size", "size"];
}

impl FromStr for DocumentSort {
    type Err = String;

    /// `createdAt`, `name` or `size`, descending with a leading `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "-createdAt" => Self::Newest,
            "createdAt" => Self::Oldest,
            "name" => Self::NameAsc,
            "-name" => Self::NameDesc,
            "-size" => Self::Largest,
            "size" => Self::Smallest,
            _ => return Err(format!("must be one of {}", Self::ALL.join(", "))),
        })
    }
}

/// Which documents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentQuery {
    /// Case-insensitive text in the name.
    pub search: Option<String>,
    pub mime_type: Option<String>,
    pub sort: DocumentSort,
}

/// What an organization stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    pub documents: u64,
    pub files: u64,
    /// The stored files' bytes, each counted once.
    pub bytes_stored: u64,
    /// What storing each document's bytes again would have added.
    pub bytes_saved: u64,
}

/// A document's name: what a download is saved as.
pub const MAX_DOCUMENT_NAME_CHARS: usize = 255;

/// A name is a label (visible, no control characters) that is also a safe file name: no
/// path separators, and not `.` or `..`.
pub fn check_document_name(name: &str) -> Result<(), String> {
    crate::validation::check_label(name, MAX_DOCUMENT_NAME_CHARS)?;
    if name.contains(['/', '\\']) {
        return Err("must not contain / or \\".into());
    }
    if matches!(name.trim(), "." | "..") {
        return Err("must not be . or ..".into());
    }
    Ok(())
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// What an organization accepts unless it chose its own list.
pub const DEFAULT_DOCUMENT_TYPES: &[&str] = &[
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    DOCX,
    XLSX,
    PPTX,
];

/// Types that have no signature: their bytes are checked to be text instead.
fn is_text_type(mime: &str) -> bool {
    mime.starts_with("text/") || matches!(mime, "application/json" | "application/xml")
}

/// Types stored in a zip container, whose signature is the zip's.
fn is_zip_container(mime: &str) -> bool {
    matches!(mime, DOCX | XLSX | PPTX | "application/zip")
}

/// A MIME type as given (`Text/Plain; charset=utf-8`) reduced to what is compared
/// (`text/plain`), if it is one: `type/subtype` of token characters.
pub fn normalize_mime(given: &str) -> Option<String> {
    let essence = given.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(kind) && token(sub)).then_some(essence)
}

/// What the first bytes of a file say it is: a type known by its signature, text, or
/// neither (`None`).
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.mime_type());
    }
    looks_like_text(head).then_some("text/plain")
}

/// UTF-8 without NUL bytes; a character cut at the end of the sample is fine.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    valid && !head.contains(&0)
}

/// Checks a declared type (already normalized) against a file's first bytes. A type with
/// a signature must have it; a text type must be text and carry no other type's signature.
pub fn check_content(declared: &str, head: &[u8]) -> Result<(), String> {
    let found = infer::get(head).map(|k| k.mime_type());
    let matches = match found {
        Some(found) => found == declared || (found == "application/zip" && is_zip_container(declared)),
        None => is_text_type(declared) && looks_like_text(head),
    };
    if matches {
        Ok(())
    } else {
        let what = found.unwrap_or_else(|| if looks_like_text(head) { "text" } else { "unrecognised binary data" });
        Err(format!("the content is {what}, not {declared}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_are_read_from_their_names_and_nothing_else() {
        for name in DocumentSort::ALL {
            assert!(name.parse::<DocumentSort>().is_ok(), "{name}");
        }
        assert_eq!("-createdAt".parse(), Ok(DocumentSort::Newest));
        assert_eq!("-size".parse(), Ok(DocumentSort::Largest));
        for bad in ["", "created_at", "-", "name ", "NAME", "size;drop"] {
            assert!(bad.parse::<DocumentSort>().is_err(), "{bad:?}");
        }
    }
    #[test]
    fn names_are_visible_labels_that_are_safe_file_names() {
        for good in ["report.pdf", "Q3 — résumé (final).docx", ".env.example", "a..b"] {
            assert_eq!(check_document_name(good), Ok(()), "{good}");
        }
        for bad in ["", "  ", "../etc/passwd", "a/b", "a\\b", "a\0b", "..", ".", "tab\there", &"x".repeat(256)] {
            assert!(check_document_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mime_types_are_normalized_or_refused() {
        assert_eq!(normalize_mime("Text/Plain; charset=utf-8").as_deref(), Some("text/plain"));
        assert_eq!(normalize_mime("application/vnd.ms-excel").as_deref(), Some("application/vnd.ms-excel"));
        for bad in ["", "text", "text/", "/plain", "text/pla in", "text/plain\r\nx: y", "a/b/c"] {
            assert_eq!(normalize_mime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn content_must_match_the_declared_type() {
        let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj";
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert_eq!(check_content("application/pdf", pdf), Ok(()));
        assert_eq!(check_content("image/png", png), Ok(()));
        assert_eq!(check_content("text/plain", "héllo, wörld\n".as_bytes()), Ok(()));
        assert_eq!(check_content("application/json", b"{\"a\": 1}"), Ok(()));
        assert_eq!(check_content(DOCX, zip), Ok(()));
        // A character cut by the end of the sample is still text.
        assert_eq!(check_content("text/csv", &"a,é".as_bytes()[..4]), Ok(()));

        assert!(check_content("text/plain", pdf).unwrap_err().contains("application/pdf"));
        assert!(check_content("image/jpeg", png).is_err());
        assert!(check_content("image/png", b"just text").unwrap_err().contains("text"));
        assert!(check_content("text/plain", b"a\0b").is_err());
        assert!(check_content("text/plain", b"\xff\xfe\xfd garbage").is_err());
        assert!(check_content("application/pdf", zip).is_err());
        assert_eq!(sniff(pdf), Some("application/pdf"));
        assert_eq!(sniff(b"plain"), Some("text/plain"));
        assert_eq!(sniff(b"\x01\xff\0"), None);
    }
}
