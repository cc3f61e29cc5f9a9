//! Packfiles (gitformat-pack): decode a received pack into objects, verifying each by its hash
//! and the pack by its trailer; encode a pack of whole objects for a push.

use std::collections::HashMap;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
use sluice_plugin::TaskError;

use crate::delta;
use crate::object::{Kind, Object, Objects};
use crate::oid::{Oid, sha1};

/// Where each object sits in the pack, for the `.idx` file.
pub struct Located {
    pub oid: Oid,
    pub offset: u64,
    pub crc32: u32,
}

/// The decoded pack: its objects, their places, and its checksum (which names the pack file).
pub struct Decoded {
    pub objects: Objects,
    pub located: Vec<Located>,
    pub checksum: [u8; 20],
}

/// An entry before delta resolution.
enum Raw {
    Whole(Kind),
    OfsDelta(u64),
    RefDelta(Oid),
}

fn corrupt(why: impl std::fmt::Display) -> TaskError {
    TaskError::failed(format!("the packfile from the server is corrupt: {why}"))
}

/// Decode and verify a whole pack.
pub fn decode(pack: &[u8]) -> Result<Decoded, TaskError> {
    if pack.len() < 32 || &pack[..4] != b"PACK" {
        return Err(corrupt("it does not start with `PACK`"));
    }
    let version = u32::from_be_bytes([pack[4], pack[5], pack[6], pack[7]]);
    if version != 2 && version != 3 {
        return Err(corrupt(format!("unsupported version {version}")));
    }
    let count = u32::from_be_bytes([pack[8], pack[9], pack[10], pack[11]]) as usize;
    let body_end = pack.len() - 20;
    let checksum: [u8; 20] = sha1(&pack[..body_end]);
    if checksum[..] != pack[body_end..] {
        return Err(corrupt("its SHA-1 trailer does not match its content"));
    }

    let mut raws = Vec::with_capacity(count);
    let mut datas: Vec<Vec<u8>> = Vec::with_capacity(count);
    let mut offsets = Vec::with_capacity(count);
    let mut crcs = Vec::with_capacity(count);
    let mut inflater = DecompressorOxide::new();
    let mut pos = 12usize;
    for _ in 0..count {
        let start = pos;
        let (pack_type, size) = entry_header(pack, &mut pos, body_end)?;
        let raw = match pack_type {
            1..=4 => Raw::Whole(Kind::from_pack_type(pack_type).ok_or_else(|| corrupt("bad type"))?),
            6 => {
                let distance = ofs_distance(pack, &mut pos, body_end)?;
                let base = (start as u64)
                    .checked_sub(distance)
                    .ok_or_else(|| corrupt("a delta base before the pack"))?;
                Raw::OfsDelta(base)
            }
            7 => {
                let base =
                    pack.get(pos..pos + 20).and_then(Oid::from_bytes).ok_or_else(|| corrupt("truncated"))?;
                pos += 20;
                Raw::RefDelta(base)
            }
            other => return Err(corrupt(format!("unknown object type {other}"))),
        };
        let (data, used) = inflate(&mut inflater, &pack[pos..body_end], size)?;
        pos += used;
        raws.push(raw);
        datas.push(data);
        offsets.push(start as u64);
        crcs.push(crc32fast::hash(&pack[start..pos]));
    }
    if pos != body_end {
        return Err(corrupt("bytes left after the last object"));
    }

    // Resolve deltas: kinds and contents of every entry, bases first (following chains).
    let mut kinds: Vec<Option<Kind>> =
        raws.iter().map(|r| if let Raw::Whole(k) = r { Some(*k) } else { None }).collect();
    let mut ids: Vec<Option<Oid>> = vec![None; count];
    let mut by_oid: HashMap<Oid, usize> = HashMap::with_capacity(count);
    for i in 0..count {
        if let Some(kind) = kinds[i] {
            let oid = Oid::of_object(kind.name(), &datas[i]);
            ids[i] = Some(oid);
            by_oid.insert(oid, i);
        }
    }
    let mut progress = true;
    while progress {
        progress = false;
        for i in 0..count {
            if kinds[i].is_some() {
                continue;
            }
            let base = match raws[i] {
                Raw::OfsDelta(offset) => offsets.binary_search(&offset).ok(),
                Raw::RefDelta(oid) => by_oid.get(&oid).copied(),
                Raw::Whole(_) => None,
            };
            let Some(base) = base.filter(|&b| kinds[b].is_some()) else { continue };
            let target = delta::apply(&datas[base], &datas[i])
                .ok_or_else(|| corrupt("a delta does not apply to its base"))?;
            let kind = kinds[base].ok_or_else(|| corrupt("unresolved base"))?;
            let oid = Oid::of_object(kind.name(), &target);
            datas[i] = target;
            kinds[i] = Some(kind);
            ids[i] = Some(oid);
            by_oid.insert(oid, i);
            progress = true;
        }
    }

    let mut objects = Objects::with_capacity(count);
    let mut located = Vec::with_capacity(count);
    for (i, data) in datas.into_iter().enumerate() {
        let (Some(kind), Some(oid)) = (kinds[i], ids[i]) else {
            return Err(corrupt("a delta's base is missing (the server sent a thin pack)"));
        };
        located.push(Located { oid, offset: offsets[i], crc32: crcs[i] });
        objects.insert(oid, Object { kind, data });
    }
    Ok(Decoded { objects, located, checksum })
}

/// Type and inflated size of the entry at `pos`.
fn entry_header(pack: &[u8], pos: &mut usize, end: usize) -> Result<(u8, usize), TaskError> {
    let mut byte = *pack[..end].get(*pos).ok_or_else(|| corrupt("truncated"))?;
    *pos += 1;
    let pack_type = (byte >> 4) & 7;
    let mut size = usize::from(byte & 0x0f);
    let mut shift = 4;
    while byte & 0x80 != 0 {
        byte = *pack[..end].get(*pos).ok_or_else(|| corrupt("truncated"))?;
        *pos += 1;
        if shift > 57 {
            return Err(corrupt("an object size is too large"));
        }
        size |= usize::from(byte & 0x7f) << shift;
        shift += 7;
    }
    Ok((pack_type, size))
}

/// The backwards distance of an ofs-delta's base (a big-endian varint with an offset per byte).
fn ofs_distance(pack: &[u8], pos: &mut usize, end: usize) -> Result<u64, TaskError> {
    let mut byte = *pack[..end].get(*pos).ok_or_else(|| corrupt("truncated"))?;
    *pos += 1;
    let mut distance = u64::from(byte & 0x7f);
    while byte & 0x80 != 0 {
        byte = *pack[..end].get(*pos).ok_or_else(|| corrupt("truncated"))?;
        *pos += 1;
        distance = ((distance + 1) << 7) | u64::from(byte & 0x7f);
        if distance > 1 << 56 {
            return Err(corrupt("a delta offset is too large"));
        }
    }
    Ok(distance)
}

/// Inflate one zlib stream of known output size; returns it and the input bytes it used.
fn inflate(
    inflater: &mut DecompressorOxide,
    input: &[u8],
    size: usize,
) -> Result<(Vec<u8>, usize), TaskError> {
    inflater.init();
    let mut out = vec![0u8; size];
    let flags =
        inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, used, written) = decompress(inflater, input, &mut out, 0, flags);
    match status {
        TINFLStatus::Done if written == size => Ok((out, used)),
        TINFLStatus::Done => Err(corrupt("an object is shorter than its header says")),
        TINFLStatus::HasMoreOutput => Err(corrupt("an object is longer than its header says")),
        other => Err(corrupt(format!("zlib: {other:?}"))),
    }
}

/// A pack of whole (undeltified) objects, for a push.
pub fn encode(objects: &[(Kind, &[u8])]) -> Vec<u8> {
    let mut pack = Vec::new();
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(objects.len() as u32).to_be_bytes());
    for (kind, data) in objects {
        push_entry_header(&mut pack, *kind as u8, data.len());
        pack.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(data, 1));
    }
    let checksum = sha1(&pack);
    pack.extend_from_slice(&checksum);
    pack
}

/// An entry's type and size: 3 bits of type and 4 of size, then 7 bits of size per byte.
fn push_entry_header(pack: &mut Vec<u8>, pack_type: u8, mut size: usize) {
    let mut byte = (pack_type << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        pack.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    pack.push(byte);
}

/// The `.idx` (version 2) of a pack, so that the real `git` can read the clone's repository.
pub fn index(located: &[Located], pack_checksum: &[u8; 20]) -> Vec<u8> {
    let mut sorted: Vec<&Located> = located.iter().collect();
    sorted.sort_by_key(|l| l.oid);
    let mut out = Vec::with_capacity(1072 + sorted.len() * 28);
    out.extend_from_slice(&[0xff, b't', b'O', b'c', 0, 0, 0, 2]);
    let mut fanout = [0u32; 256];
    for l in &sorted {
        fanout[usize::from(l.oid.0[0])] += 1;
    }
    let mut running = 0u32;
    for n in fanout {
        running += n;
        out.extend_from_slice(&running.to_be_bytes());
    }
    for l in &sorted {
        out.extend_from_slice(&l.oid.0);
    }
    for l in &sorted {
        out.extend_from_slice(&l.crc32.to_be_bytes());
    }
    let mut large = Vec::new();
    for l in &sorted {
        if l.offset < 1 << 31 {
            out.extend_from_slice(&(l.offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&((large.len() as u32) | 1 << 31).to_be_bytes());
            large.push(l.offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let checksum = sha1(&out);
    out.extend_from_slice(&checksum);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_packs_decode_to_the_same_objects() {
        let big = vec![b'x'; 1000];
        let pack = encode(&[(Kind::Blob, b""), (Kind::Blob, b"hello\n"), (Kind::Blob, &big)]);
        let decoded = decode(&pack).unwrap_or_else(|e| panic!("{e}"));
        let hello = Oid::from_hex("ce013625030ba8dba906f756967f9e9ca394464a").unwrap_or(Oid::ZERO);
        assert_eq!(decoded.objects.len(), 3);
        assert_eq!(decoded.objects.get(&hello).map(|o| o.data.as_slice()), Some(&b"hello\n"[..]));
        assert_eq!(decoded.located[0].offset, 12);
        let mut broken = pack.clone();
        broken[20] ^= 1;
        assert!(decode(&broken).is_err());
    }

    #[test]
    fn ref_and_ofs_deltas_resolve() {
        let base = b"hello world";
        let mut delta = vec![11, 13, 0x90, 6, 6];
        delta.extend_from_slice(b"there!");
        delta.extend_from_slice(&[0x91, 10, 1]);
        let base_oid = Oid::of_object("blob", base);
        let mut pack = b"PACK\0\0\0\x02\0\0\0\x03".to_vec();
        push_entry_header(&mut pack, 3, base.len());
        pack.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(base, 6));
        let second = pack.len();
        push_entry_header(&mut pack, 7, delta.len());
        pack.extend_from_slice(&base_oid.0);
        pack.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&delta, 6));
        // An ofs-delta on the ref-delta's result (a chain of two).
        let third = pack.len();
        let chained = [13, 2, 0x90, 2];
        push_entry_header(&mut pack, 6, chained.len());
        pack.push((third - second) as u8);
        pack.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(&chained, 6));
        let checksum = sha1(&pack);
        pack.extend_from_slice(&checksum);
        let decoded = decode(&pack).unwrap_or_else(|e| panic!("{e}"));
        let target = Oid::of_object("blob", b"hello there!d");
        assert_eq!(decoded.objects.get(&target).map(|o| o.data.as_slice()), Some(&b"hello there!d"[..]));
        let last = Oid::of_object("blob", b"he");
        assert_eq!(decoded.objects.get(&last).map(|o| o.data.as_slice()), Some(&b"he"[..]));
        assert_eq!(
            decoded.located.iter().map(|l| l.offset).collect::<Vec<_>>(),
            [12, second as u64, third as u64]
        );
    }

    #[test]
    fn truncated_packs_are_refused() {
        let pack = encode(&[(Kind::Blob, b"x"), (Kind::Blob, b"y")]);
        // Drop the last object but keep a valid trailer: the count no longer matches.
        let mut short = pack[..pack.len() - 20 - 11].to_vec();
        let checksum = sha1(&short);
        short.extend_from_slice(&checksum);
        let err = decode(&short).err().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(err.contains("corrupt"), "{err}");
    }
}
