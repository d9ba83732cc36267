//! Finds one top-level key of a JSON object by skipping over everything else,
//! without building a single value: a filter that reads `event_type` pays for
//! the bytes up to that key, not for parsing the whole event. A write
//! ([`find_unique`]) reads on to the end instead, to know the key is there
//! only once.
//!
//! The scanner checks the grammar of everything it skips (it is a validator
//! that builds nothing), but not what lies after the key it stops at, nor
//! that strings are UTF-8: the host validated each event before sending it,
//! and a string that is lent out is checked then. Anything it cannot answer
//! with certainty — an escaped key, broken input, nesting deeper than
//! [`MAX_DEPTH`] — is [`GiveUp`]: the caller then parses the event for real,
//! and that parse is the judge. It never panics, and every step moves
//! forward, so it always ends.

/// Nesting the scanner follows inside a skipped value; serde_json refuses the
/// same depth (its recursion limit is 128), so giving up here costs nothing.
pub(crate) const MAX_DEPTH: u32 = 128;

/// The scanner could not answer; parse the event instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GiveUp;

/// A value found under the key asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found<'j> {
    /// The value's JSON text, quotes included for a string.
    pub(crate) json: &'j [u8],
    /// Whether that text is a string with escapes, which cannot be lent out
    /// as it stands.
    escaped: bool,
}

impl<'j> Found<'j> {
    /// The contents of a string value without escapes, between its quotes.
    pub(crate) fn plain_str(&self) -> Option<&'j [u8]> {
        if self.escaped {
            return None;
        }
        match self.json {
            [b'"', inner @ .., b'"'] => Some(inner),
            _ => None,
        }
    }
}

/// Looks `key` up among the top-level members of the JSON object `json`.
///
/// `Ok(None)` means the object has no such key. Keys match byte for byte. Of
/// duplicated keys the first wins here and the last in the full parse: JSON
/// leaves duplicates undefined, so events should not have them.
pub(crate) fn find<'j>(json: &'j [u8], key: &str) -> Result<Option<Found<'j>>, GiveUp> {
    let mut c = Cursor { s: json, i: 0 };
    c.skip_ws();
    c.eat(b'{')?;
    c.skip_ws();
    if c.peek() == Some(b'}') {
        return Ok(None);
    }
    loop {
        let is_key = if c.key_is_next(key) {
            true
        } else {
            let (name, name_escaped) = c.string()?;
            if name_escaped {
                // `"event\u005ftype"` is `event_type`: only a real parse can tell.
                return Err(GiveUp);
            }
            name == key.as_bytes()
        };
        c.skip_ws();
        c.eat(b':')?;
        c.skip_ws();
        let start = c.i;
        let escaped = c.value()?;
        if is_key {
            let json = c.s.get(start..c.i).ok_or(GiveUp)?;
            return Ok(Some(Found { json, escaped }));
        }
        c.skip_ws();
        match c.bump() {
            Some(b',') => c.skip_ws(),
            Some(b'}') => return Ok(None),
            _ => return Err(GiveUp),
        }
    }
}

/// Looks `key` up like [`find`], but reads the whole object and gives up if
/// `key` is there twice: for a write, which must agree with the full parse
/// (where the last of duplicates wins) rather than with the first match.
pub(crate) fn find_unique<'j>(json: &'j [u8], key: &str) -> Result<Option<Found<'j>>, GiveUp> {
    let mut members = Members::new(json);
    let mut found = None;
    while let Some(member) = members.next_member()? {
        if member.key == key.as_bytes() {
            if found.is_some() {
                return Err(GiveUp);
            }
            found = Some(member.value);
        }
    }
    Ok(found)
}

/// One top-level member of an object: its key, which has no escapes (so its
/// raw bytes are the key itself), and its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'j> {
    pub(crate) key: &'j [u8],
    pub(crate) value: Found<'j>,
}

/// Walks the top-level members of a JSON object in order, checking the
/// grammar of all of it, up to the closing brace and the whitespace after.
/// Gives up on an escaped key: its raw bytes are not the key.
pub(crate) struct Members<'j> {
    c: Cursor<'j>,
    opened: bool,
    closed: bool,
}

impl<'j> Members<'j> {
    pub(crate) fn new(json: &'j [u8]) -> Members<'j> {
        Members {
            c: Cursor { s: json, i: 0 },
            opened: false,
            closed: false,
        }
    }

    /// The next member, or `Ok(None)` once the object is closed and nothing
    /// but whitespace follows it.
    pub(crate) fn next_member(&mut self) -> Result<Option<Member<'j>>, GiveUp> {
        if self.closed {
            return Ok(None);
        }
        let c = &mut self.c;
        c.skip_ws();
        if self.opened {
            match c.bump() {
                Some(b',') => c.skip_ws(),
                Some(b'}') => return self.close(),
                _ => return Err(GiveUp),
            }
        } else {
            c.eat(b'{')?;
            self.opened = true;
            c.skip_ws();
            if c.peek() == Some(b'}') {
                c.i += 1;
                return self.close();
            }
        }
        let (key, escaped) = c.string()?;
        if escaped {
            return Err(GiveUp);
        }
        c.skip_ws();
        c.eat(b':')?;
        c.skip_ws();
        let start = c.i;
        let escaped = c.value()?;
        let json = c.s.get(start..c.i).ok_or(GiveUp)?;
        Ok(Some(Member {
            key,
            value: Found { json, escaped },
        }))
    }

    fn close(&mut self) -> Result<Option<Member<'j>>, GiveUp> {
        self.c.skip_ws();
        if self.c.i != self.c.s.len() {
            return Err(GiveUp);
        }
        self.closed = true;
        Ok(None)
    }
}

/// A read position in the JSON text.
struct Cursor<'j> {
    s: &'j [u8],
    i: usize,
}

impl<'j> Cursor<'j> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Result<(), GiveUp> {
        match self.bump() {
            Some(b) if b == want => Ok(()),
            _ => Err(GiveUp),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Steps over the string at the cursor if it is exactly `key`, unescaped:
    /// one comparison instead of a scan, for the key a plugin looks for.
    fn key_is_next(&mut self, key: &str) -> bool {
        let Some(rest) = self.s.get(self.i..) else {
            return false;
        };
        let matches = rest.first() == Some(&b'"')
            && rest.get(1..=key.len()) == Some(key.as_bytes())
            && rest.get(key.len() + 1) == Some(&b'"')
            // A key holding `"` or `\` cannot be compared as raw bytes.
            && find_special(key.as_bytes()).is_none();
        if matches {
            self.i += key.len() + 2;
        }
        matches
    }

    /// Reads a string at the cursor: its raw contents and whether they hold
    /// escapes.
    fn string(&mut self) -> Result<(&'j [u8], bool), GiveUp> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let rest = self.s.get(self.i..).ok_or(GiveUp)?;
            let stop = find_special(rest).ok_or(GiveUp)?;
            self.i += stop;
            match rest[stop] {
                b'"' => {
                    let contents = self.s.get(start..self.i).ok_or(GiveUp)?;
                    self.i += 1;
                    return Ok((contents, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                // A raw control character is not allowed inside a string.
                _ => return Err(GiveUp),
            }
        }
    }

    /// Steps over one escape at the cursor, the backslash included.
    fn escape(&mut self) -> Result<(), GiveUp> {
        match self.s.get(self.i + 1).ok_or(GiveUp)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
            b'u' => {
                let hex = self.s.get(self.i + 2..self.i + 6).ok_or(GiveUp)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(GiveUp);
                }
                self.i += 6;
            }
            _ => return Err(GiveUp),
        }
        Ok(())
    }

    /// Skips one value at the cursor. Returns whether it was a string with
    /// escapes.
    fn value(&mut self) -> Result<bool, GiveUp> {
        match self.peek() {
            Some(b'{' | b'[') => self.nested().map(|()| false),
            _ => self.scalar(),
        }
    }

    /// Skips a string, number or literal. Returns whether it was a string
    /// with escapes.
    fn scalar(&mut self) -> Result<bool, GiveUp> {
        match self.peek().ok_or(GiveUp)? {
            b'"' => self.string().map(|(_, escaped)| escaped),
            b't' => self.literal(b"true").map(|()| false),
            b'f' => self.literal(b"false").map(|()| false),
            b'n' => self.literal(b"null").map(|()| false),
            b'-' | b'0'..=b'9' => self.number().map(|()| false),
            _ => Err(GiveUp),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), GiveUp> {
        let rest = self.s.get(self.i..).ok_or(GiveUp)?;
        if !rest.starts_with(word) {
            return Err(GiveUp);
        }
        self.i += word.len();
        Ok(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; what may
    /// follow it is checked by the caller, like after any value.
    fn number(&mut self) -> Result<(), GiveUp> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.bump() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(GiveUp),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Result<(), GiveUp> {
        let start = self.i;
        self.digits();
        if self.i == start { Err(GiveUp) } else { Ok(()) }
    }

    /// A member's `"key":` inside a skipped object, and the whitespace after.
    fn member_key(&mut self) -> Result<(), GiveUp> {
        self.string()?;
        self.skip_ws();
        self.eat(b':')?;
        self.skip_ws();
        Ok(())
    }

    /// Skips an object or array, checking its grammar, without recursion:
    /// one bit per open level says whether it is an object.
    fn nested(&mut self) -> Result<(), GiveUp> {
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        'value: loop {
            // At the start of a value, whitespace already skipped.
            match self.peek().ok_or(GiveUp)? {
                open @ (b'{' | b'[') => {
                    if depth == MAX_DEPTH {
                        return Err(GiveUp);
                    }
                    let is_object = open == b'{';
                    if is_object {
                        objects |= 1 << depth;
                    } else {
                        objects &= !(1 << depth);
                    }
                    depth += 1;
                    self.i += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                }
                _ => {
                    self.scalar()?;
                }
            }
            // After a value: close levels, or go on to the next element.
            while depth > 0 {
                self.skip_ws();
                let in_object = objects & (1 << (depth - 1)) != 0;
                match self.bump() {
                    Some(b',') => {
                        self.skip_ws();
                        if in_object {
                            self.member_key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => depth -= 1,
                    Some(b']') if !in_object => depth -= 1,
                    _ => return Err(GiveUp),
                }
            }
            return Ok(());
        }
    }
}

/// The index of the first `"`, `\` or control character in `bytes`: the
/// bytes that end or interrupt a string's plain run. Eight bytes a step (SWAR):
/// strings are most of an event, and wasm has no faster safe way.
pub(crate) fn find_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it was 0 (or below 0x20). Borrows
        // can flag bytes above a flagged one, never below, so the lowest
        // flag is exact.
        let flags = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGHS;
        if flags != 0 {
            return Some(offset + (flags.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|at| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str, key: &str) -> Result<Option<String>, GiveUp> {
        find(json.as_bytes(), key)
            .map(|found| found.map(|f| String::from_utf8(f.json.to_vec()).expect("utf-8")))
    }

    fn plain(json: &str, key: &str) -> Option<String> {
        find(json.as_bytes(), key)
            .expect("scannable")
            .and_then(|f| f.plain_str())
            .map(|s| String::from_utf8(s.to_vec()).expect("utf-8"))
    }

    const REFERENCE: &str = r#"{"username": "user1", "event_type": "buy_item", "Accept": "*/*", "User-Agent": "ApacheBench/2.3", "item_type": "shield", "Host": "user1.comcast.com", "inventory": ["sword", "potion", "shield"], "item_quality": "common"}"#;

    #[test]
    fn finds_each_key_of_a_reference_event() {
        assert_eq!(plain(REFERENCE, "username").as_deref(), Some("user1"));
        assert_eq!(plain(REFERENCE, "event_type").as_deref(), Some("buy_item"));
        assert_eq!(plain(REFERENCE, "Accept").as_deref(), Some("*/*"));
        assert_eq!(plain(REFERENCE, "item_quality").as_deref(), Some("common"));
        assert_eq!(
            text(REFERENCE, "inventory"),
            Ok(Some(r#"["sword", "potion", "shield"]"#.to_owned()))
        );
    }

    #[test]
    fn a_missing_key_is_none() {
        assert_eq!(text(REFERENCE, "guild_name"), Ok(None));
        assert_eq!(text("{}", "a"), Ok(None));
        assert_eq!(text(" { \n } ", "a"), Ok(None));
    }

    #[test]
    fn keys_match_exactly() {
        assert_eq!(text(REFERENCE, "host"), Ok(None));
        assert_eq!(text(REFERENCE, "user_agent"), Ok(None));
        assert_eq!(text(REFERENCE, "event_typ"), Ok(None));
        assert_eq!(text(REFERENCE, "event_type "), Ok(None));
        assert_eq!(text(r#"{"ab": 1}"#, "a"), Ok(None));
        assert_eq!(text(r#"{"": 1}"#, ""), Ok(Some("1".to_owned())));
    }

    #[test]
    fn every_kind_of_value_is_skipped_and_returned_whole() {
        let json = r#"{"s": "x", "n": -12.5e+3, "z": 0, "t": true, "f": false, "u": null,
            "o": {"a": {"b": [1, {"c": "}]"}]}}, "a": [[], {}, "[", "{"], "e": "a\"b", "last": "yes"}"#;
        assert_eq!(text(json, "n"), Ok(Some("-12.5e+3".to_owned())));
        assert_eq!(text(json, "z"), Ok(Some("0".to_owned())));
        assert_eq!(text(json, "t"), Ok(Some("true".to_owned())));
        assert_eq!(text(json, "f"), Ok(Some("false".to_owned())));
        assert_eq!(text(json, "u"), Ok(Some("null".to_owned())));
        assert_eq!(
            text(json, "o"),
            Ok(Some(r#"{"a": {"b": [1, {"c": "}]"}]}}"#.to_owned()))
        );
        assert_eq!(
            text(json, "a"),
            Ok(Some(r#"[[], {}, "[", "{"]"#.to_owned()))
        );
        assert_eq!(text(json, "e"), Ok(Some(r#""a\"b""#.to_owned())));
        assert_eq!(plain(json, "last").as_deref(), Some("yes"));
        assert_eq!(plain(json, "s").as_deref(), Some("x"));
    }

    #[test]
    fn nested_keys_are_not_top_level() {
        let json = r#"{"user_info": {"event_type": "inner"}, "list": ["event_type"], "event_type": "outer"}"#;
        assert_eq!(plain(json, "event_type").as_deref(), Some("outer"));
        let json = r#"{"user_info": {"event_type": "inner"}}"#;
        assert_eq!(text(json, "event_type"), Ok(None));
    }

    #[test]
    fn a_key_inside_a_string_value_is_not_a_key() {
        let json = r#"{"description": "\"event_type\": \"fake\"", "event_type": "real"}"#;
        assert_eq!(plain(json, "event_type").as_deref(), Some("real"));
        let json = r#"{"description": "event_type", "x": 1}"#;
        assert_eq!(text(json, "event_type"), Ok(None));
    }

    #[test]
    fn escaped_strings_are_returned_raw_not_plain() {
        let json = r#"{"a": "tab\there", "b": "quote\"", "c": "\\", "d": "\u00e9"}"#;
        for key in ["a", "b", "c", "d"] {
            let found = find(json.as_bytes(), key)
                .expect("scannable")
                .expect("present");
            assert_eq!(found.plain_str(), None, "{key}");
        }
        assert_eq!(text(json, "c"), Ok(Some(r#""\\""#.to_owned())));
    }

    #[test]
    fn non_ascii_plain_strings_are_plain() {
        assert_eq!(
            plain(r#"{"ü": "grüße 🎮"}"#, "ü").as_deref(),
            Some("grüße 🎮")
        );
    }

    #[test]
    fn non_string_values_have_no_plain_str() {
        assert_eq!(plain(r#"{"a": 1, "b": ["x"]}"#, "a"), None);
        assert_eq!(plain(r#"{"a": 1, "b": ["x"]}"#, "b"), None);
    }

    #[test]
    fn an_escaped_key_gives_up_before_the_key_is_reached() {
        assert_eq!(
            text(r#"{"event\u005ftype": "x"}"#, "event_type"),
            Err(GiveUp)
        );
        assert_eq!(
            text(r#"{"a\"b": 1, "event_type": "x"}"#, "event_type"),
            Err(GiveUp)
        );
        // ...but not when the key comes first.
        assert_eq!(
            text(r#"{"event_type": "x", "a\"b": 1}"#, "event_type"),
            Ok(Some(r#""x""#.to_owned()))
        );
    }

    #[test]
    fn find_special_agrees_with_a_byte_loop() {
        let slow = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        };
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"ab\"\\\x00\x1f\x20\x7f\x80\xff!#[\x21\x5b\x5d";
        for len in 0..40 {
            for _ in 0..500 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Mostly plain bytes, so specials land at every position.
                        if state.is_multiple_of(8) {
                            alphabet[(state >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (state >> 8) as u8 % 26
                        }
                    })
                    .collect();
                assert_eq!(find_special(&bytes), slow(&bytes), "{bytes:?}");
            }
        }
        for special in [b'"', b'\\', 0, 0x1f] {
            for at in 0..24 {
                let mut bytes = vec![0x80 | b'a'; 24];
                bytes[at] = special;
                assert_eq!(find_special(&bytes), Some(at));
            }
        }
    }

    #[test]
    fn keys_that_need_escapes_never_match_raw_bytes() {
        // The raw text `a\"b` is the key `a"b`, not `a\`.
        assert_eq!(text(r#"{"a\"b": 1}"#, "a\\"), Err(GiveUp));
        assert_eq!(text(r#"{"a\"b": 1}"#, "a\""), Err(GiveUp));
        assert_eq!(text(r#"{"x": 1, "a\\": 2}"#, "a\\"), Err(GiveUp));
        // A longer key that starts with the one asked for is another key.
        assert_eq!(
            text(r#"{"event_types": 1, "event_type": 2}"#, "event_type"),
            Ok(Some("2".to_owned()))
        );
    }

    #[test]
    fn whitespace_anywhere_between_tokens() {
        let json = " \t\r\n{ \"a\" \n: \t[ 1 , 2 ] \r, \"b\"  :\"v\"  } \n";
        assert_eq!(text(json, "a"), Ok(Some("[ 1 , 2 ]".to_owned())));
        assert_eq!(plain(json, "b").as_deref(), Some("v"));
    }

    #[test]
    fn find_unique_reads_to_the_end_and_refuses_duplicates() {
        let unique = |json: &str, key| {
            find_unique(json.as_bytes(), key)
                .map(|found| found.map(|f| String::from_utf8(f.json.to_vec()).expect("utf-8")))
        };
        assert_eq!(
            unique(REFERENCE, "item_quality"),
            Ok(Some(r#""common""#.to_owned()))
        );
        assert_eq!(unique(REFERENCE, "nope"), Ok(None));
        assert_eq!(unique(" { } ", "a"), Ok(None));
        assert_eq!(unique(r#"{"k": 1, "k": 2}"#, "k"), Err(GiveUp));
        assert_eq!(
            unique(r#"{"k": 1, "j": 2, "j": 3}"#, "k"),
            Ok(Some("1".to_owned()))
        );
        // Unlike `find`, nothing after the key goes unchecked.
        assert_eq!(unique(r#"{"k": 1, "a\"b": 2}"#, "k"), Err(GiveUp));
        assert_eq!(unique(r#"{"k": 1, "x": tru}"#, "k"), Err(GiveUp));
        assert_eq!(unique(r#"{"k": 1} x"#, "k"), Err(GiveUp));
        assert_eq!(unique(r#"{"k": 1"#, "k"), Err(GiveUp));
    }

    #[test]
    fn first_of_duplicate_keys_wins() {
        assert_eq!(plain(r#"{"k": "1", "k": "2"}"#, "k").as_deref(), Some("1"));
    }

    #[test]
    fn malformed_input_gives_up_and_never_panics() {
        let cases = [
            "",
            " ",
            "[1,2]",
            "\"event_type\"",
            "null",
            "{",
            "{\"",
            "{\"event_type",
            "{\"event_type\"",
            "{\"event_type\":",
            "{\"event_type\": }",
            "{\"event_type\" \"x\"}",
            "{\"a\": 1 \"event_type\": \"x\"}",
            "{\"a\": 1,, \"event_type\": \"x\"}",
            "{\"a\": 1, }",
            "{, \"event_type\": \"x\"}",
            "{\"a\": [1, 2}, \"event_type\": \"x\"}",
            "{\"a\": {\"b\": 1], \"event_type\": \"x\"}",
            "{\"a\": [1,], \"event_type\": \"x\"}",
            "{\"a\": [1 2], \"event_type\": \"x\"}",
            "{\"a\": {\"b\" 1}, \"event_type\": \"x\"}",
            "{\"a\": {1: 2}, \"event_type\": \"x\"}",
            "{\"a\": {\"b\": 1,}, \"event_type\": \"x\"}",
            "{\"a\": [tru], \"event_type\": \"x\"}",
            "{\"a\": ]}",
            "{\"a\": tru, \"event_type\": \"x\"}",
            "{\"a\": nullx, \"event_type\": \"x\"}",
            "{\"a\": -, \"event_type\": \"x\"}",
            "{\"a\": 01, \"event_type\": \"x\"}",
            "{\"a\": 1., \"event_type\": \"x\"}",
            "{\"a\": 1e, \"event_type\": \"x\"}",
            "{\"a\": .5, \"event_type\": \"x\"}",
            "{\"a\": +1, \"event_type\": \"x\"}",
            "{\"a\": [-], \"event_type\": \"x\"}",
            "{\"a\": \"unterminated}",
            "{\"a\": \"trailing backslash\\",
            "{\"a\": \"bad \\x escape\", \"event_type\": \"x\"}",
            "{\"a\": \"short \\u12\", \"event_type\": \"x\"}",
            "{\"a\": \"not hex \\u12g4\", \"event_type\": \"x\"}",
            "{\"a\": \"ctl\u{1}\", \"event_type\": \"x\"}",
            "{\"a\": @, \"event_type\": \"x\"}",
            "{a: 1, \"event_type\": \"x\"}",
            "{\"a\": [[[",
            "{\"a\": 1 ",
            "{\"a\": 1 x",
        ];
        for case in cases {
            let found = find(case.as_bytes(), "event_type");
            assert_eq!(found, Err(GiveUp), "{case:?}");
            assert!(
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(case).is_err(),
                "{case:?} is a valid JSON object, the case is wrong"
            );
        }
    }

    #[test]
    fn nesting_past_the_limit_gives_up_without_recursion() {
        let deep = format!(
            "{{\"a\": {}{}, \"event_type\": \"x\"}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(text(&deep, "event_type"), Err(GiveUp));
        let ok = format!(
            "{{\"a\": {}{}, \"event_type\": \"x\"}}",
            "[".repeat(MAX_DEPTH as usize),
            "]".repeat(MAX_DEPTH as usize)
        );
        assert_eq!(plain(&ok, "event_type").as_deref(), Some("x"));
    }

    #[test]
    fn every_truncation_of_a_valid_event_is_safe() {
        let json = r#"{"a": {"b": [1, "x\"y", true, null, {}, []]}, "c": -1.5e3, "event_type": "purchase_sword", "z": false}"#;
        let value_end = json.find("purchase_sword").expect("present") + "purchase_sword\"".len();
        for end in 0..json.len() {
            let found = find(&json.as_bytes()[..end], "event_type");
            if end < value_end {
                assert_eq!(found, Err(GiveUp), "prefix of {end}");
            } else {
                let found = found.expect("scannable").expect("present");
                assert_eq!(found.plain_str(), Some(&b"purchase_sword"[..]));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: the scanner must end on any input.
        let alphabet = b"{}[]\":,\\ \tabtrufnl0-1.eE\x01\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let mut bytes = vec![b'{'];
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let _ = find(&bytes, "a");
        }
    }

    #[test]
    fn agrees_with_serde_json_on_valid_objects() {
        let events = [
            REFERENCE,
            r#"{"event_type": "signup", "username": "user1", "user_info": {"session_datetime": "2018-08-13 02:16:20", "inventory": []}}"#,
            r#"{"x": [{"y": "}"}], "n": 1e-7, "event_type": "purchase_knife", "description": "very sharp knife"}"#,
        ];
        for json in events {
            let parsed: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(json).expect("valid");
            for (key, value) in &parsed {
                let found = find(json.as_bytes(), key)
                    .expect("scannable")
                    .expect("present");
                let reparsed: serde_json::Value =
                    serde_json::from_slice(found.json).expect("a whole value");
                assert_eq!(&reparsed, value, "{key} in {json}");
            }
        }
    }
}
