//! A minimal reader of JSON's structure, for the few fields the gateway needs from request
//! and answer bodies it otherwise passes on untouched: it finds where members, strings and
//! values start and end, without decoding or copying them. Strings are skipped by looking
//! for their quotes only (an escaped quote has an odd run of backslashes before it), so a
//! long prompt or completion costs about a `memchr` pass over it, not a parse character by
//! character; only text dense with quotes (code, say) costs as much as parsing.
//!
//! It trusts the text to be JSON: what it cannot read is an error, but it does not check
//! what it skips (numbers, the contents of strings, matching bracket kinds).

/// The members of the JSON object whose `{` is at a given place: each key (as written,
/// between its quotes) with where its value starts and ends. A malformed object yields one
/// `Err` and ends; so does anything that is not an object.
pub(crate) struct Members<'a> {
    body: &'a [u8],
    /// Where the object (before the first member) or the next member begins; `None` once done.
    at: Option<usize>,
    opened: bool,
    /// Just past the object's `}`, once read to it.
    end: Option<usize>,
}

pub(crate) type Member<'a> = (&'a [u8], (usize, usize));

impl<'a> Members<'a> {
    pub(crate) fn of(body: &'a [u8], at: usize) -> Self {
        Self { body, at: Some(at), opened: false, end: None }
    }

    /// Just past the object's closing `}`, once every member has been read.
    pub(crate) fn end(&self) -> Option<usize> {
        self.end
    }

    fn next_member(&mut self, mut at: usize) -> Result<Option<(Member<'a>, usize)>, ()> {
        let body = self.body;
        let first = !std::mem::replace(&mut self.opened, true);
        if first {
            if body.get(at) != Some(&b'{') {
                return Err(());
            }
            at += 1;
        }
        at = skip_space(body, at);
        if body.get(at) == Some(&b'}') {
            self.end = Some(at + 1);
            return Ok(None);
        }
        if !first {
            if body.get(at) != Some(&b',') {
                return Err(());
            }
            at = skip_space(body, at + 1);
        }
        if body.get(at) != Some(&b'"') {
            return Err(());
        }
        let key_end = string_end(body, at).ok_or(())?;
        let key = &body[at + 1..key_end - 1];
        at = skip_space(body, key_end);
        if body.get(at) != Some(&b':') {
            return Err(());
        }
        let start = skip_space(body, at + 1);
        let end = value_end(body, start).ok_or(())?;
        Ok(Some(((key, (start, end)), end)))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<Member<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.at.take()?;
        match self.next_member(at) {
            Ok(Some((member, next))) => {
                self.at = Some(next);
                Some(Ok(member))
            }
            Ok(None) => None,
            Err(()) => Some(Err(())),
        }
    }
}

/// Whether a key (as written, between its quotes) is `name`. A key with escapes is decoded
/// first (`"mod\u0065l"` is `model` to the server that reads the body next).
pub(crate) fn key_is(key: &[u8], name: &str) -> bool {
    key_in(key, &[name]).is_some()
}

/// Which of `names` a key (as written, between its quotes) is, decoding a key with escapes
/// first; the key is looked at once however many names there are.
pub(crate) fn key_in(key: &[u8], names: &[&str]) -> Option<usize> {
    if !key.contains(&b'\\') {
        return names.iter().position(|name| key == name.as_bytes());
    }
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    let key = serde_json::from_slice::<String>(&quoted).ok()?;
    names.iter().position(|name| key == *name)
}

/// JSON's whitespace.
pub(crate) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body.get(at).copied().is_some_and(is_space) {
        at += 1;
    }
    at
}

/// Where the string whose opening quote is at `open` ends (just past its closing quote):
/// the first quote after it with an even run of backslashes before it. (Looking for
/// quotes alone, not for every backslash, keeps a text full of escaped newlines fast.)
fn string_end(body: &[u8], open: usize) -> Option<usize> {
    let mut from = open + 1;
    loop {
        let quote = from + memchr::memchr(b'"', body.get(from..)?)?;
        let backslashes = body[open + 1..quote].iter().rev().take_while(|b| **b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(quote + 1);
        }
        from = quote + 1;
    }
}

/// Where the value starting at `at` ends: strings by their quotes, objects and arrays by
/// their brackets (counting only those outside strings), anything else at the next
/// delimiter.
pub(crate) fn value_end(body: &[u8], mut at: usize) -> Option<usize> {
    match body.get(at)? {
        b'"' => string_end(body, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match body.get(at)? {
                    b'"' => {
                        at = string_end(body, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            while !matches!(body.get(at)?, b',' | b'}' | b']') && !is_space(body[at]) {
                at += 1;
            }
            Some(at)
        }
    }
}

pub(crate) fn skip_space_back(body: &[u8], mut end: usize) -> usize {
    while end > 0 && is_space(body[end - 1]) {
        end -= 1;
    }
    end
}

/// Where the string whose closing quote is at `close` opens: the nearest quote before it
/// that is not escaped (preceded by an even number of backslashes).
pub(crate) fn string_start_back(body: &[u8], close: usize) -> Option<usize> {
    let mut end = close;
    loop {
        let quote = memchr::memrchr(b'"', &body[..end])?;
        let backslashes = body[..quote].iter().rev().take_while(|b| **b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(quote);
        }
        end = quote;
    }
}

/// Where the value that ends just before `end` starts: strings by their quotes, objects
/// and arrays by their brackets (counting only those outside strings), anything else at
/// the previous delimiter.
pub(crate) fn value_start_back(body: &[u8], end: usize) -> Option<usize> {
    let last = end.checked_sub(1)?;
    match body[last] {
        b'"' => string_start_back(body, last),
        b'}' | b']' => {
            let mut depth = 0usize;
            let mut at = end;
            while at > 0 {
                at -= 1;
                match body[at] {
                    b'"' => at = string_start_back(body, at)?,
                    b'}' | b']' => depth += 1,
                    b'{' | b'[' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        _ => {
            let start = body[..end].iter().rposition(|b| matches!(b, b',' | b':' | b'[' | b'{') || is_space(*b))?;
            (start + 1 < end).then_some(start + 1)
        }
    }
}
