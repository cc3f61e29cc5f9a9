//! Applying a git delta (pack entries of type ofs-delta and ref-delta) to its base.

/// `base` patched by `delta`; `None` when the delta is malformed or does not fit the base.
pub fn apply(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    let source_len = varint(delta, &mut pos)?;
    let target_len = varint(delta, &mut pos)?;
    if source_len != base.len() {
        return None;
    }
    let mut out = Vec::with_capacity(target_len);
    while pos < delta.len() {
        let op = delta[pos];
        pos += 1;
        if op & 0x80 != 0 {
            // Copy from the base: which offset and size bytes follow is given by the op's bits.
            let mut offset = 0usize;
            let mut size = 0usize;
            for i in 0..4 {
                if op & (1 << i) != 0 {
                    offset |= usize::from(*delta.get(pos)?) << (8 * i);
                    pos += 1;
                }
            }
            for i in 0..3 {
                if op & (0x10 << i) != 0 {
                    size |= usize::from(*delta.get(pos)?) << (8 * i);
                    pos += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            out.extend_from_slice(base.get(offset..offset.checked_add(size)?)?);
        } else if op != 0 {
            // Insert the next `op` bytes of the delta.
            let len = usize::from(op);
            out.extend_from_slice(delta.get(pos..pos + len)?);
            pos += len;
        } else {
            return None;
        }
    }
    (out.len() == target_len).then_some(out)
}

/// A size: 7 bits per byte, least significant first.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<usize> {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= usize::from(byte & 0x7f).checked_shl(shift)?;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some(value);
        }
        if shift > 63 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::apply;

    #[test]
    fn copies_and_inserts() {
        let base = b"hello world";
        // source 11, target 13; copy 6 bytes at 0 ("hello "), insert "there!", copy 1 at 10 ("d")
        let mut delta = vec![11, 13, 0x90, 6, 6];
        delta.extend_from_slice(b"there!");
        delta.extend_from_slice(&[0x91, 10, 1]);
        assert_eq!(apply(base, &delta).as_deref(), Some(&b"hello there!d"[..]));
        assert_eq!(apply(b"short", &delta), None);
        assert_eq!(apply(base, &[11, 1, 0]), None);
    }
}
