//! The JSON lexer under the table decoder: steps through one event's bytes,
//! checking them as JSON, and says where and why they are not.
//!
//! Bytes enter as one event already checked to be UTF-8; a [`Scan`] holds
//! the position. What leaves is tokens (a [`Str`]'s span, a number's end,
//! a literal), skipped values, or a [`RejectReason::NotJson`] with the
//! byte where the event stopped being JSON, or [`RejectReason::TooDeep`].
//! `project.rs` drives it to fill a table's columns; nothing here knows
//! about columns or types.

use std::borrow::Cow;

use super::project::RejectReason;

/// The longest value quoted in a reason; dead letters keep the whole event.
const QUOTE_CHARS: usize = 60;

/// Boxed, so the happy path moves a pointer-sized result around.
pub(super) type Reject = Box<RejectReason>;
pub(super) type Step = Result<(), Reject>;

/// Bytes that end the fast scan through a string: the quote, the escape and
/// the control characters JSON forbids inside strings.
pub(super) const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The first byte at or after `i` that ends the fast scan through a
/// string, or the end: eight bytes at a time (the classic SWAR tests for
/// "a byte equals" and "a byte is less than"), as strings are most of an
/// event's bytes.
pub(super) fn string_stop(src: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    const SPACES: u64 = ONES * 0x20;
    while let Some(chunk) = src.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = x ^ QUOTES;
        let backslash = x ^ BACKSLASHES;
        // The lowest flagged byte is always a true match; only bytes above
        // a match can be flagged falsely.
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(SPACES) & !x)
            & HIGHS;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + src[i..]
        .iter()
        .position(|&b| STRING_STOP[usize::from(b)])
        .unwrap_or(src.len() - i)
}

/// A string token: `start..end` is its content, without the quotes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Str {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) escaped: bool,
}

/// A position in one event, and how deep objects and arrays may nest.
pub(super) struct Scan<'a> {
    pub(super) src: &'a [u8],
    pub(super) pos: usize,
    pub(super) max_depth: usize,
}

impl<'a> Scan<'a> {
    pub(super) fn new(src: &'a [u8], max_depth: usize) -> Scan<'a> {
        Scan {
            src,
            pos: 0,
            max_depth,
        }
    }

    /// At the start of an event: leaves the scan at its opening `{`, or
    /// says what the event is instead, once it is known to be JSON at all
    /// (`[1,` is not JSON, rather than an array).
    pub(super) fn expect_object(&mut self) -> Step {
        self.skip_ws();
        let found = match self.peek() {
            Some(b'{') => return Ok(()),
            Some(b'[') => "array",
            Some(b'"') => "string",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            Some(b'-' | b'0'..=b'9') => "number",
            None => return Err(self.syntax("the event is empty")),
            Some(_) => return Err(self.syntax("expected a JSON value")),
        };
        self.skip_value(1)?;
        self.expect_end()?;
        Err(RejectReason::NotAnObject { found }.into())
    }

    /// An object's key and the `:` after it, up to the value. With the key,
    /// its text for matching names: unescaped when it holds escapes
    /// (`\u0048ost`), which is rare.
    pub(super) fn key(&mut self) -> Result<(Str, Cow<'a, [u8]>), Reject> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a key in quotes"));
        }
        let key = self.string()?;
        self.skip_ws();
        if !self.eat(b':') {
            return Err(self.syntax("expected `:` after a key"));
        }
        self.skip_ws();
        let src: &'a [u8] = self.src;
        if !key.escaped {
            return Ok((key, Cow::Borrowed(&src[key.start..key.end])));
        }
        let decoded: String = serde_json::from_slice(&src[key.start - 1..key.end + 1])
            .map_err(|_| self.syntax("invalid escape in a key"))?;
        Ok((key, Cow::Owned(decoded.into_bytes())))
    }

    pub(super) fn expect_end(&mut self) -> Step {
        self.skip_ws();
        if self.pos == self.src.len() {
            Ok(())
        } else {
            Err(self.syntax("more data after the end of the JSON value"))
        }
    }

    /// Checks any JSON value and steps over it; keys here name no column.
    pub(super) fn skip_value(&mut self, depth: usize) -> Step {
        match self.peek() {
            Some(b'{') => {
                self.enter(depth)?;
                self.skip_ws();
                if self.eat(b'}') {
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.syntax("expected a key in quotes"));
                    }
                    self.string()?;
                    self.skip_ws();
                    if !self.eat(b':') {
                        return Err(self.syntax("expected `:` after a key"));
                    }
                    self.skip_ws();
                    self.skip_value(depth + 1)?;
                    self.skip_ws();
                    match self.bump() {
                        Some(b',') => {}
                        Some(b'}') => return Ok(()),
                        _ => return Err(self.syntax_before("expected `,` or `}` in an object")),
                    }
                }
            }
            Some(b'[') => {
                self.enter(depth)?;
                self.skip_ws();
                if self.eat(b']') {
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    self.skip_value(depth + 1)?;
                    self.skip_ws();
                    match self.bump() {
                        Some(b',') => {}
                        Some(b']') => return Ok(()),
                        _ => return Err(self.syntax_before("expected `,` or `]` in an array")),
                    }
                }
            }
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            None => Err(self.syntax("unexpected end of the event")),
            Some(_) => Err(self.syntax("expected a JSON value")),
        }
    }

    /// Steps into an object or array at `depth`, refusing past the limit
    /// before anything recurses further.
    pub(super) fn enter(&mut self, depth: usize) -> Step {
        if depth > self.max_depth {
            return Err(RejectReason::TooDeep {
                limit: self.max_depth,
            }
            .into());
        }
        self.pos += 1;
        Ok(())
    }

    pub(super) fn string(&mut self) -> Result<Str, Reject> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = string_stop(self.src, i);
            match self.src.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    match self.src.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u')
                            if self
                                .src
                                .get(i + 2..i + 6)
                                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            i += 6;
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.syntax("invalid escape in a string"));
                        }
                    }
                }
                Some(_) => {
                    self.pos = i;
                    return Err(self.syntax("control character in a string"));
                }
                None => {
                    self.pos = start - 1;
                    return Err(self.syntax("unterminated string"));
                }
            }
        }
        self.pos = i + 1;
        Ok(Str {
            start,
            end: i,
            escaped,
        })
    }

    /// Steps over a number; says whether it is an integer (no `.`, no `e`).
    pub(super) fn number(&mut self) -> Result<bool, Reject> {
        match number_end(self.src, self.pos) {
            Some((end, integer)) => {
                self.pos = end;
                Ok(integer)
            }
            None => Err(self.syntax("invalid number")),
        }
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> Step {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax("invalid literal"))
        }
    }

    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.src.get(self.pos) {
            self.pos += 1;
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    pub(super) fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn syntax(&self, message: &'static str) -> Reject {
        Box::new(RejectReason::NotJson {
            position: self.pos,
            message,
        })
    }

    /// A syntax error at the byte just consumed by [`Scan::bump`].
    pub(super) fn syntax_before(&self, message: &'static str) -> Reject {
        Box::new(RejectReason::NotJson {
            position: self.pos.saturating_sub(1),
            message,
        })
    }
}

/// The end of the JSON number at `start`, and whether it is an integer.
pub(super) fn number_end(src: &[u8], start: usize) -> Option<(usize, bool)> {
    let digit = |i: usize| src.get(i).is_some_and(u8::is_ascii_digit);
    let mut i = start;
    if src.get(i) == Some(&b'-') {
        i += 1;
    }
    match src.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while digit(i) {
                i += 1;
            }
        }
        _ => return None,
    }
    let mut integer = true;
    if src.get(i) == Some(&b'.') {
        integer = false;
        i += 1;
        if !digit(i) {
            return None;
        }
        while digit(i) {
            i += 1;
        }
    }
    if let Some(b'e' | b'E') = src.get(i) {
        integer = false;
        i += 1;
        if let Some(b'+' | b'-') = src.get(i) {
            i += 1;
        }
        if !digit(i) {
            return None;
        }
        while digit(i) {
            i += 1;
        }
    }
    Some((i, integer))
}

/// Whether `text` is exactly one JSON number.
pub(super) fn is_number(text: &[u8]) -> bool {
    number_end(text, 0).is_some_and(|(end, _)| end == text.len())
}

/// An integer written `-?[0-9]+`, if it fits an i64.
pub(super) fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

/// The start of a value for a reason, cut at a character boundary.
pub(super) fn quote(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_stop_finds_the_first_stop_byte_like_a_plain_scan() {
        let plain = |src: &[u8], i: usize| {
            i + src[i..]
                .iter()
                .position(|&b| STRING_STOP[usize::from(b)])
                .unwrap_or(src.len() - i)
        };
        let fillers: [&[u8]; 3] = [
            b"abcdefghijklmnopqrstuvwxyz0123",
            "éèà€𝄞ü".as_bytes(),
            b"~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
        ];
        for filler in fillers {
            for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                for at in 0..filler.len() {
                    for start in 0..=at {
                        let mut src = filler.to_vec();
                        src[at] = stop;
                        // A second stop after the first must not confuse it.
                        if at + 3 < src.len() {
                            src[at + 3] = b'"';
                        }
                        assert_eq!(
                            string_stop(&src, start),
                            plain(&src, start),
                            "{src:?} from {start}"
                        );
                    }
                }
                assert_eq!(string_stop(filler, 0), filler.len());
            }
        }
    }
}
