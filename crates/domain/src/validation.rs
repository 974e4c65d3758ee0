//! Input rules shared by every use case. A [`Validator`] collects all problems with a
//! request so the caller learns about every bad field at once, each by name.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The offending field as a JSON path, e.g. `modelIds[2]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) {
        if !ok {
            self.error(field, message);
        }
    }

    /// A human-entered label (a name): not blank, at most `max` characters, no control
    /// characters. Markup and any other Unicode is allowed and stored as given; JSON
    /// encoding makes it safe to return.
    pub fn label(&mut self, field: &str, value: &str, max: usize) {
        if let Err(message) = check_label(value, max) {
            self.error(field, message);
        }
    }

    /// Free text such as a description: line breaks and tabs are fine, other control
    /// characters are not; at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        } else if value.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)) {
            self.error(field, "must not contain control characters");
        }
    }

    /// An identifier-like string: 1..=max characters from `allowed`.
    pub fn token(&mut self, field: &str, value: &str, max: usize, allowed: fn(char) -> bool, what: &str) {
        let count = value.chars().count();
        if count == 0 {
            self.error(field, "must not be empty");
        } else if count > max {
            self.error(field, format!("must be at most {max} characters"));
        } else if !value.chars().all(allowed) {
            self.error(field, format!("may contain only {what}"));
        }
    }

    pub fn range<T: PartialOrd + std::fmt::Display>(&mut self, field: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.error(field, format!("must be between {min} and {max}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

/// Characters that reorder how text is displayed; in a name they serve only to disguise it.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Characters that show nothing by themselves: white space, controls, format characters
/// (zero-width spaces and joiners, the byte-order mark, bidi marks, tags), fillers, blank
/// patterns and variation selectors.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{034f}'
                | '\u{061c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180b}'..='\u{180f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff0}'..='\u{fff8}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e007f}'
                | '\u{e0100}'..='\u{e01ef}'
        )
}

/// Combining marks, which show only on a character before them.
fn is_combining_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}'
    )
}

/// Whether the text shows anything: at least one character that is neither invisible nor
/// a combining mark.
pub fn has_visible(value: &str) -> bool {
    value.chars().any(|c| !is_invisible(c) && !is_combining_mark(c))
}

pub fn check_label(value: &str, max: usize) -> Result<(), String> {
    let count = value.chars().count();
    if value.trim().is_empty() {
        Err("must not be blank".into())
    } else if !has_visible(value) {
        Err("must contain a visible character".into())
    } else if count > max {
        Err(format!("must be at most {max} characters"))
    } else if value.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_markup_and_unicode_but_refuse_control_characters() {
        assert!(check_label("<b>Ops</b> & \"team\" 🚀 Zoë", 100).is_ok());
        assert!(check_label("   ", 100).is_err());
        assert!(check_label("a\u{0}b", 100).is_err());
        assert!(check_label("line\nbreak", 100).is_err());
        assert!(check_label("evil\u{202e}gnp.exe", 100).is_err(), "right-to-left override");
        for invisible in
            ["\u{200b}", "\u{200b}\u{200d}\u{feff}", "\u{3164}", "\u{2800}\u{2800}", "\u{301}\u{302}", "\u{e0041}"]
        {
            assert_eq!(check_label(invisible, 100), Err("must contain a visible character".into()), "{invisible:?}");
        }
        assert!(check_label("e\u{301}", 100).is_ok(), "a mark on a letter shows");
        assert!(check_label("\u{200b}x", 100).is_ok());
        assert!(check_label("ééé", 3).is_ok());
        assert!(check_label("éééé", 3).is_err());
    }

    #[test]
    fn collects_every_problem() {
        let mut v = Validator::new();
        v.label("name", "", 10);
        v.range("rpmLimit", 0, 1, 100);
        v.token("provider", "Bad Name", 20, |c| c.is_ascii_lowercase(), "lowercase letters");
        let errors = v.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "rpmLimit", "provider"]);
    }
}
