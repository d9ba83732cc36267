//! The splice: an event's bytes copied once, compacted, with its edits
//! written in, in a single pass that also finds the top-level keys.
//!
//! It is the hot path of every transform that changes events, so it is one
//! loop over the bytes rather than a scanner plus a writer: strings are
//! crossed eight bytes a step (SWAR) and copied a word at a time into an
//! output sized up front, and what lies between strings is a byte or two.
//!
//! It reads events the host (or [`Event::from_json`](super::Event::from_json))
//! has validated, so it follows the structure — strings, brackets, colons
//! and commas — and copies numbers, literals and escapes as they are,
//! without checking their grammar again. It gives up ([`GiveUp`]) on an
//! escaped or duplicated key, whose handling only a real parse gets right,
//! and on any byte out of place; the event is then parsed instead. Whatever
//! the input, it never panics and always ends: every step moves forward.

use super::edits::Edits;
use super::scan::{self, GiveUp};

/// Bytes of slack past the worst case, so an eight-byte step that runs past
/// a string's end still lands inside the output.
const SLACK: usize = 16;

/// Writes the event `raw` with `edits` applied to `out`, compact, and
/// returns whether any key ended up with another value (or none) than it
/// had. On `Ok(false)` and on `GiveUp`, what it wrote is left for the caller
/// to cut off.
///
/// Existing keys keep their place, removed ones are left out, new ones
/// follow in the order they were first set: what `serde_json` with
/// `preserve_order` writes after parsing `raw` and applying the edits.
pub(super) fn splice(raw: &[u8], edits: &Edits, out: &mut Vec<u8>) -> Result<bool, GiveUp> {
    // Which edits met their key in `raw`, one bit each.
    if edits.len() > 64 {
        return Err(GiveUp);
    }
    let mark = out.len();
    // Compacting and removing only shrink `raw`; each edit adds its text
    // at most once, with a separator, quotes and a colon.
    out.resize(
        mark + raw.len() + edits.text_len() + 4 * edits.len() + SLACK,
        0,
    );
    let buf = out.get_mut(mark..).unwrap_or_default();
    // The read and write positions are plain locals, passed and returned by
    // value: a struct lent out by `&mut` would live in the wasm shadow stack,
    // in linear memory, and every step would load and store it there.
    let mut w = 0;

    let edited_lengths = edits.key_lengths();
    let mut met: u64 = 0;
    let mut changed = false;
    let mut keys = SeenKeys::new();
    // What goes before the next member written: the brace, then commas.
    let mut sep = b'{';

    let mut i = skip_ws(raw, 0);
    if byte(raw, i) != Some(b'{') {
        return Err(GiveUp);
    }
    i = skip_ws(raw, i + 1);
    match byte(raw, i) {
        Some(b'}') => i += 1,
        Some(b'"') => loop {
            // At a key's opening quote.
            let member_start = w;
            w = put(buf, w, sep)?;
            let key_start = i + 1;
            let copied = copy_string(raw, i, buf, w)?;
            if copied.escaped {
                // `"event\u005ftype"` is `event_type`: only a parse can tell.
                return Err(GiveUp);
            }
            (i, w) = (copied.i, copied.w);
            let key_end = i - 1;
            keys.insert(key_hash(copied.fold, key_end - key_start))?;

            // The colon, in one look for the usual `: "` and `:"`.
            let value_is_string = if copied.next & 0x00ff_ffff == u32::from_le_bytes(*b": \"\0") {
                i += 2;
                true
            } else if copied.next & 0xffff == u32::from_le_bytes(*b":\"\0\0") {
                i += 1;
                true
            } else {
                i = skip_ws(raw, i);
                if byte(raw, i) != Some(b':') {
                    return Err(GiveUp);
                }
                i = skip_ws(raw, i + 1);
                byte(raw, i) == Some(b'"')
            };
            w = put(buf, w, b':')?;
            let (value_start, value_out) = (i, w);
            let (value_escaped, next);
            if value_is_string {
                let copied = copy_string(raw, i, buf, w)?;
                (i, w, value_escaped, next) = (copied.i, copied.w, copied.escaped, copied.next);
            } else {
                (i, w, value_escaped) = copy_other(raw, i, buf, w)?;
                next = four(raw, i);
            }

            let edited = if edited_lengths & length_bit(key_end - key_start) == 0 {
                None
            } else {
                edits.position(raw.get(key_start..key_end).ok_or(GiveUp)?)
            };
            match edited {
                None => sep = b',',
                Some(at) => {
                    met |= 1 << at;
                    let (new, moved_to_end) = edits.entry(at);
                    match new {
                        None => {
                            changed = true;
                            w = member_start;
                        }
                        Some(new) => {
                            let old = raw.get(value_start..i).ok_or(GiveUp)?;
                            changed = changed || !same_value(old, value_escaped, new);
                            if moved_to_end {
                                w = member_start;
                            } else {
                                let end = value_out + new.len();
                                buf.get_mut(value_out..end)
                                    .ok_or(GiveUp)?
                                    .copy_from_slice(new);
                                w = end;
                                sep = b',';
                            }
                        }
                    }
                }
            }

            // The comma and the next key's quote, in one look for the usual
            // `, "` and `,"`; else the end.
            if next & 0x00ff_ffff == u32::from_le_bytes(*b", \"\0") {
                i += 2;
            } else if next & 0xffff == u32::from_le_bytes(*b",\"\0\0") {
                i += 1;
            } else {
                i = skip_ws(raw, i);
                match byte(raw, i) {
                    Some(b',') => i = skip_ws(raw, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return Err(GiveUp),
                }
                if byte(raw, i) != Some(b'"') {
                    return Err(GiveUp);
                }
            }
        },
        _ => return Err(GiveUp),
    }
    if skip_ws(raw, i) != raw.len() {
        return Err(GiveUp);
    }

    out.truncate(mark + w);
    for (at, key, new, moved_to_end) in edits.sets() {
        let is_new = met & (1 << at) == 0;
        if is_new || moved_to_end {
            changed |= is_new;
            out.push(std::mem::replace(&mut sep, b','));
            write_key(out, key);
            out.extend_from_slice(new);
        }
    }
    if sep == b'{' {
        out.push(b'{');
    }
    out.push(b'}');
    Ok(changed)
}

#[inline(always)]
fn byte(s: &[u8], i: usize) -> Option<u8> {
    s.get(i).copied()
}

/// The position of the first byte at or after `i` that is not whitespace.
#[inline(always)]
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = byte(s, i) {
        i += 1;
    }
    i
}

/// The four bytes at `i` as one little-endian word (zero near the end): one
/// load to recognize a separator, where byte by byte costs four.
#[inline(always)]
fn four(s: &[u8], i: usize) -> u32 {
    s.get(i..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |bytes| u32::from_le_bytes(*bytes))
}

/// Writes `b` at `w`; returns the next write position.
#[inline(always)]
fn put(buf: &mut [u8], w: usize, b: u8) -> Result<usize, GiveUp> {
    *buf.get_mut(w).ok_or(GiveUp)? = b;
    Ok(w + 1)
}

/// A string copied by [`copy_string`].
struct Copied {
    /// Read and write positions past the closing quote.
    i: usize,
    w: usize,
    /// Whether it holds escapes (copied as they are).
    escaped: bool,
    /// Its bytes folded into a word, for [`key_hash`]: every step's eight
    /// bytes from the opening quote, the last step's cut at the closing
    /// quote.
    fold: u64,
    /// The four bytes after the closing quote, little-endian (zero past the
    /// end of the text), mostly taken from the last step's word: what
    /// separator follows, without another load.
    next: u32,
}

/// Copies the string whose opening quote is at `raw[i]` to `buf[w..]`,
/// quotes included.
///
/// Each step copies eight bytes and looks for a quote or backslash among
/// them; the opening quote is copied with the first step and masked off.
/// The byte found is told apart by which test found it, not read again:
/// in wasm every load costs a bounds check.
#[inline(always)]
fn copy_string(raw: &[u8], mut i: usize, buf: &mut [u8], mut w: usize) -> Result<Copied, GiveUp> {
    let mut escaped = false;
    let mut fold = 0_u64;
    // Skip the opening quote's own flag on the first step.
    let mut ignore = 0x80;
    loop {
        let word = raw.get(i..).and_then(<[u8]>::first_chunk::<8>);
        let slot = buf.get_mut(w..).and_then(<[u8]>::first_chunk_mut::<8>);
        let (Some(word), Some(slot)) = (word, slot) else {
            return copy_string_tail(raw, i, buf, w, escaped, ignore != 0, fold);
        };
        *slot = *word;
        let word = u64::from_le_bytes(*word);
        let quotes = zero_bytes(word ^ (ONES * u64::from(b'"'))) & !ignore;
        let backslashes = zero_bytes(word ^ (ONES * u64::from(b'\\')));
        ignore = 0;
        if quotes | backslashes == 0 {
            fold = fold.rotate_left(23) ^ word;
            i += 8;
            w += 8;
            continue;
        }
        let quote_at = quotes.trailing_zeros() / 8;
        let backslash_at = backslashes.trailing_zeros() / 8;
        if quote_at < backslash_at {
            // The closing quote, copied with the word.
            let kept = (1_u64 << (8 * quote_at)) - 1;
            let past = quote_at as usize + 1;
            let next = if quote_at <= 3 {
                (word >> (8 * past)) as u32
            } else {
                four(raw, i + past)
            };
            return Ok(Copied {
                i: i + past,
                w: w + past,
                escaped,
                fold: fold.rotate_left(23) ^ (word & kept),
                next,
            });
        }
        // A backslash: it and the byte it escapes are copied together, so
        // `\"` does not end the string (`\u` digits are plain bytes).
        escaped = true;
        i += backslash_at as usize;
        w += backslash_at as usize;
        let escape = raw.get(i..i + 2).ok_or(GiveUp)?;
        buf.get_mut(w..w + 2).ok_or(GiveUp)?.copy_from_slice(escape);
        i += 2;
        w += 2;
    }
}

/// [`copy_string`] over the last bytes of the text, byte by byte, from the
/// opening quote if `at_open` or else from inside the string. Its bytes are
/// folded in the same groups of eight as by the steps, so a key hashes the
/// same wherever it stands.
#[inline(never)]
fn copy_string_tail(
    raw: &[u8],
    mut i: usize,
    buf: &mut [u8],
    mut w: usize,
    mut escaped: bool,
    at_open: bool,
    mut fold: u64,
) -> Result<Copied, GiveUp> {
    let (mut group, mut grouped) = (0_u64, 0);
    if at_open {
        if byte(raw, i) != Some(b'"') {
            return Err(GiveUp);
        }
        w = put(buf, w, b'"')?;
        i += 1;
        (group, grouped) = (u64::from(b'"'), 1);
    }
    loop {
        let b = byte(raw, i).ok_or(GiveUp)?;
        w = put(buf, w, b)?;
        i += 1;
        match b {
            b'"' => {
                return Ok(Copied {
                    i,
                    w,
                    escaped,
                    fold: fold.rotate_left(23) ^ group,
                    next: four(raw, i),
                });
            }
            b'\\' => {
                // An escaped string is no key the splice matches: its fold
                // does not matter.
                escaped = true;
                w = put(buf, w, byte(raw, i).ok_or(GiveUp)?)?;
                i += 1;
            }
            _ => {
                group |= u64::from(b) << (8 * grouped);
                grouped += 1;
                if grouped == 8 {
                    fold = fold.rotate_left(23) ^ group;
                    (group, grouped) = (0, 0);
                }
            }
        }
    }
}

/// Copies the value at `raw[i]` that is most likely not a string (a
/// number, literal, array or object) to `buf[w..]` without the whitespace
/// between its tokens. Returns the positions past it and whether it is a
/// string with escapes.
#[inline(never)]
fn copy_other(
    raw: &[u8],
    i: usize,
    buf: &mut [u8],
    w: usize,
) -> Result<(usize, usize, bool), GiveUp> {
    let (i, w) = match byte(raw, i).ok_or(GiveUp)? {
        b'"' => {
            let copied = copy_string(raw, i, buf, w)?;
            return Ok((copied.i, copied.w, copied.escaped));
        }
        b'{' | b'[' => copy_nested(raw, i, buf, w)?,
        _ => copy_scalar(raw, i, buf, w)?,
    };
    Ok((i, w, false))
}

/// Copies a number or literal: the bytes up to the next delimiter.
#[inline(always)]
fn copy_scalar(
    raw: &[u8],
    mut i: usize,
    buf: &mut [u8],
    mut w: usize,
) -> Result<(usize, usize), GiveUp> {
    let start = i;
    while let Some(b) = byte(raw, i) {
        if matches!(
            b,
            b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' | b'"' | b':'
        ) {
            break;
        }
        w = put(buf, w, b)?;
        i += 1;
    }
    if i == start { Err(GiveUp) } else { Ok((i, w)) }
}

/// Copies an array or object, compact, counting brackets (the host checked
/// that they match).
fn copy_nested(
    raw: &[u8],
    mut i: usize,
    buf: &mut [u8],
    mut w: usize,
) -> Result<(usize, usize), GiveUp> {
    let mut depth: usize = 0;
    loop {
        match byte(raw, i).ok_or(GiveUp)? {
            b'"' => {
                let copied = copy_string(raw, i, buf, w)?;
                (i, w) = (copied.i, copied.w);
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b @ (b'{' | b'[') => {
                depth += 1;
                w = put(buf, w, b)?;
                i += 1;
            }
            b @ (b'}' | b']') => {
                depth = depth.checked_sub(1).ok_or(GiveUp)?;
                w = put(buf, w, b)?;
                i += 1;
                if depth == 0 {
                    return Ok((i, w));
                }
            }
            b @ (b',' | b':') => {
                w = put(buf, w, b)?;
                i += 1;
            }
            _ => (i, w) = copy_scalar(raw, i, buf, w)?,
        }
    }
}

/// `0x01` in every byte.
const ONES: u64 = u64::from_ne_bytes([1; 8]);

/// The high bit of each byte of `word` that is zero, exactly (the shorter
/// `(x - ONES) & !x` test may also flag the byte above a zero one).
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = ONES * 0x7f;
    !(((word & LOW7) + LOW7) | word) & (ONES * 0x80)
}

/// A key from an edit, unescaped UTF-8, then the colon: escaped the way
/// serde_json does.
fn write_key(out: &mut Vec<u8>, key: &[u8]) {
    // What serde_json escapes: `"`, `\` and control characters.
    let needs_escapes = scan::find_special(key).is_some();
    if needs_escapes && let Ok(key) = std::str::from_utf8(key) {
        // Writing a string into memory cannot fail.
        if let Err(error) = serde_json::to_writer(&mut *out, key) {
            unreachable!("serializing a string into memory failed: {error}");
        }
    } else {
        out.push(b'"');
        out.extend_from_slice(key);
        out.push(b'"');
    }
    out.push(b':');
}

/// A bit standing for keys of length `len` (modulo 64).
pub(super) fn length_bit(len: usize) -> u64 {
    1 << (len % 64)
}

/// Whether the event's value `old` (its raw text, `escaped` if a string
/// with escapes) equals the new value `new` (serialized by serde_json), as
/// `Value`s compare: the test for "setting a key to the value it has changes
/// nothing". Strings without escapes, the usual case, compare as bytes;
/// anything else is parsed.
fn same_value(old: &[u8], escaped: bool, new: &[u8]) -> bool {
    let old_is_string = old.first() == Some(&b'"');
    if old_is_string != (new.first() == Some(&b'"')) {
        return false;
    }
    if old == new {
        return true;
    }
    if old_is_string && !escaped && !new.contains(&b'\\') {
        // Two plain strings, and their bytes differ.
        return false;
    }
    match (
        serde_json::from_slice::<serde_json::Value>(old),
        serde_json::from_slice::<serde_json::Value>(new),
    ) {
        (Ok(old), Ok(new)) => old == new,
        _ => false,
    }
}

/// The keys met so far in one object, to catch a duplicate: the full parse
/// keeps one of them (the last value in the first place), which the splice
/// does not imitate.
///
/// Each key is kept as a 64-bit hash of all its bytes ([`key_hash`]), tried
/// first against a 128-bit filter kept in two registers; two keys with the
/// same hash give up, so a (rare) collision of different keys costs a
/// parse, never a wrong answer. The first 32 hashes live on the stack: an
/// event costs no allocation here.
struct SeenKeys {
    low: u64,
    high: u64,
    hashes: [u64; 32],
    count: usize,
    more: Vec<u64>,
}

impl SeenKeys {
    fn new() -> SeenKeys {
        SeenKeys {
            low: 0,
            high: 0,
            hashes: [0; 32],
            count: 0,
            more: Vec::new(),
        }
    }

    /// Adds a key's hash; gives up if it was there.
    #[inline(always)]
    fn insert(&mut self, hash: u64) -> Result<(), GiveUp> {
        // One bit of the 128, chosen without a branch or a pointer, so the
        // two words stay in registers.
        let bit = 1_u64 << (hash >> 58);
        let low = if hash >> 57 & 1 == 0 { bit } else { 0 };
        let high = bit ^ low;
        if self.low & low | self.high & high != 0 {
            let kept = self.hashes.get(..self.count).unwrap_or(&self.hashes);
            if kept.contains(&hash) || self.more.contains(&hash) {
                return Err(GiveUp);
            }
        }
        self.low |= low;
        self.high |= high;
        match self.hashes.get_mut(self.count) {
            Some(kept) => *kept = hash,
            None => self.more.push(hash),
        }
        self.count += 1;
        Ok(())
    }
}

/// A 64-bit hash of a key from its bytes folded by [`copy_string`] and its
/// length.
#[inline(always)]
fn key_hash(fold: u64, len: usize) -> u64 {
    let mixed = (fold ^ (len as u64).rotate_left(53)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed ^ (mixed >> 29)
}

#[cfg(test)]
mod tests;
