"""Vectorized MinHash signatures: tokenize, shingle and sketch whole Arrow chunks with numpy.

Per text, the result is bit-identical to datasketch's own
``MinHash(num_perm, seed, hashfunc=shingle_hash).update_batch(shingles(text, n))``
(scheme ``affine32``): the permutations and the finalizer come from datasketch; only the loop
over records is replaced by array operations over a chunk of records.

Tokens are maximal runs of letters/digits of the lowercased text, with apostrophes deleted
(``don't`` -> ``dont``) and everything else a separator. A token of ``L`` UTF-8 bytes hashes to
``acc = L * C; acc = fmix64(acc ^ word_k)`` over its little-endian 8-byte words ``word_k``
(zero padded); a shingle of tokens ``t_0 .. t_{k-1}`` hashes to
``fmix64(sum_j K_j * h(t_j) mod 2**64) >> 32``. A text with fewer than ``n`` tokens has one
shingle (all its tokens); a text without tokens has none and an empty (all-max) signature.

Short texts (fewer than ``short_tokens`` tokens, ``dedup.yml`` ``short_text_tokens``) have too few
word n-grams for a one-word change ("What's your name" / "What is your name") to keep them similar:
they are sketched over the character ``char_ngram``-grams of
:func:`lakehouse.dedup.text.short_text_key` instead (contractions expanded). A character n-gram
hashes as :func:`char_shingle_hash` (its UTF-32-LE bytes through the token hash, then the 1-gram
shingle mix), so a signature is still datasketch's MinHash over ``char_shingles(text, n)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

SCHEME = "affine32"
EMPTY_HASH = (1 << 32) - 1
_M64 = (1 << 64) - 1
_C = 0x9E3779B97F4A7C15  # odd: seeds a token hash with its length
_K_SALT = 0x632BE59BD9B4E019
_APOSTROPHES = "['\u2018\u2019\u02bc]"
_NON_WORD = r"[^\p{L}\p{N}\p{M}]+"


def fmix64(x: int) -> int:
    """MurmurHash3 64-bit finalizer on a Python int (same as datasketch's ``_fmix(.., 64)``)."""
    x &= _M64
    x ^= x >> 33
    x = (x * 0xFF51AFD7ED558CCD) & _M64
    x ^= x >> 33
    x = (x * 0xC4CEB9FE1A85EC53) & _M64
    return x ^ (x >> 33)


@lru_cache(maxsize=None)
def shingle_weight(j: int) -> int:
    """Odd 64-bit multiplier of the j-th token of a shingle."""
    return fmix64(j + _K_SALT) | 1


def token_hash(token: str) -> int:
    """64-bit hash of one token (pure-Python reference of the vectorized path)."""
    raw = token.encode("utf-8")
    acc = (len(raw) * _C) & _M64
    for k in range(0, len(raw), 8):
        acc = fmix64(acc ^ int.from_bytes(raw[k : k + 8], "little"))
    return acc


def bytes_hash(raw: bytes) -> int:
    """64-bit hash of a byte string (the token hash of :func:`token_hash`, on raw bytes)."""
    acc = (len(raw) * _C) & _M64
    for k in range(0, len(raw), 8):
        acc = fmix64(acc ^ int.from_bytes(raw[k : k + 8], "little"))
    return acc


def char_shingle_hash(gram: str) -> int:
    """32-bit hash of a character n-gram of a short text; usable as a datasketch ``hashfunc``."""
    return fmix64((shingle_weight(0) * bytes_hash(gram.encode("utf-32-le"))) & _M64) >> 32


def shingle_hash(shingle: str) -> int:
    """32-bit hash of a shingle (tokens joined by one space); usable as a datasketch ``hashfunc``."""
    acc = 0
    for j, tok in enumerate(shingle.split(" ")):
        acc = (acc + shingle_weight(j) * token_hash(tok)) & _M64
    return fmix64(acc) >> 32


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple["np.ndarray", "np.ndarray"]:
    """datasketch's affine32 permutation parameters ``(a, b)`` for ``(num_perm, seed)``."""
    from datasketch import MinHash

    try:
        a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    except TypeError as err:  # datasketch < 2.0 has no permutation schemes
        raise ImportError("lakehouse.dedup needs datasketch>=2.0 (affine32 MinHash scheme)") from err
    return a.copy(), b.copy()


def prepare(texts: "pa.Array | pa.ChunkedArray") -> tuple["np.ndarray", "np.ndarray"]:
    """Lowercase ``texts`` (nulls -> empty) and return their UTF-8 bytes and int64 offsets.

    ASCII apostrophes are deleted; rows with non-ASCII characters also lose typographic
    apostrophes and get other non-letter/digit runs turned into spaces by regex, so that
    afterwards every non-ASCII byte is part of a word.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    arr = pc.replace_substring(pc.utf8_lower(pc.fill_null(texts.cast(pa.large_string()), "")), "'", "")
    nonascii = pc.invert(pc.string_is_ascii(arr))
    if pc.any(nonascii).as_py():
        rows = pc.replace_substring_regex(pc.filter(arr, nonascii), _APOSTROPHES, "")
        rows = pc.replace_substring_regex(rows, _NON_WORD, " ")
        arr = pc.replace_with_mask(arr, nonascii, rows.cast(pa.large_string()))
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    if len(offsets) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def token_spans(data: "np.ndarray", offsets: "np.ndarray") -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """Token ``(starts, ends)`` byte positions of prepared bytes, and the token count of each text."""
    import numpy as np

    word = (
        (np.subtract(data, 97, dtype=np.uint8) < 26) | (np.subtract(data, 48, dtype=np.uint8) < 10) | (data >= 128)
    ).view(np.int8)
    size = len(data)
    if size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(len(offsets) - 1, dtype=np.int64)
    edge = np.empty(size + 1, dtype=np.int8)  # +1 where a word run starts, -1 after it ends
    edge[0] = word[0]
    np.subtract(word[1:], word[:-1], out=edge[1:size])
    edge[size] = -word[-1]
    flips = np.flatnonzero(edge != 0)
    starts, ends = flips[0::2], flips[1::2]
    inner = offsets[1:-1]
    cut = inner[(inner > 0) & (inner < size)]
    cut = cut[(word[cut] == 1) & (word[cut - 1] == 1)]  # a text boundary inside a word run
    if len(cut):
        starts = np.sort(np.concatenate((starts, cut)))
        ends = np.sort(np.concatenate((ends, cut)))
    counts = np.diff(np.searchsorted(starts, offsets)).astype(np.int64)
    return starts, ends, counts


_LOW_BYTES = tuple((1 << (8 * k)) - 1 for k in range(8)) + ((1 << 64) - 1,)


def token_hashes(data: "np.ndarray", starts: "np.ndarray", ends: "np.ndarray") -> "np.ndarray":
    """uint64 hash of every token span (vectorized :func:`token_hash`)."""
    import numpy as np
    from datasketch.minhash import _fmix

    lens = (ends - starts).astype(np.uint64)
    acc = lens * np.uint64(_C)
    if len(starts) == 0:
        return acc
    padded = np.concatenate((data, np.zeros(8, dtype=np.uint8)))
    words = np.ndarray((len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))  # unaligned 8-byte loads
    low = np.array(_LOW_BYTES, dtype=np.uint64)
    idx = np.arange(len(starts))
    k = 0
    while len(idx):
        word = words[starts[idx] + k] & low[np.minimum(lens[idx] - np.uint64(k), 8).astype(np.intp)]
        acc[idx] = _fmix(acc[idx] ^ word, 64)
        k += 8
        idx = idx[lens[idx] > k]
    return acc


def shingle_hashes(tok: "np.ndarray", counts: "np.ndarray", n: int) -> tuple["np.ndarray", "np.ndarray"]:
    """uint32 shingle hashes of consecutive texts and the number of shingles of each text."""
    import numpy as np
    from datasketch.minhash import _fmix

    padded_len = np.where(counts > 0, np.maximum(counts, n), 0)
    if np.array_equal(padded_len, counts):
        padded = tok
    else:  # texts shorter than n: pad with zero hashes, one shingle of all their tokens
        padded = np.zeros(int(padded_len.sum()), dtype=np.uint64)
        shift = (np.cumsum(padded_len) - padded_len) - (np.cumsum(counts) - counts)
        padded[np.repeat(shift, counts) + np.arange(len(tok))] = tok
    n_sh = np.where(padded_len > 0, padded_len - n + 1, 0)
    total = int(n_sh.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint32), n_sh
    width = len(padded) - n + 1
    mixed = padded[:width] * np.uint64(shingle_weight(0))
    for j in range(1, n):
        mixed += padded[j : j + width] * np.uint64(shingle_weight(j))
    pstart = np.cumsum(padded_len) - padded_len
    idx = np.repeat(pstart - (np.cumsum(n_sh) - n_sh), n_sh) + np.arange(total)
    return (_fmix(mixed[idx], 64) >> np.uint64(32)).astype(np.uint32), n_sh


def minhash_matrix(sh: "np.ndarray", n_sh: "np.ndarray", num_perm: int, seed: int) -> "np.ndarray":
    """Signatures ``(texts, num_perm)`` uint32 from shingle hashes; texts without shingles get all-max."""
    import numpy as np
    from datasketch.minhash import _fmix

    a, b = permutations(num_perm, seed)
    out = np.full((num_perm, len(n_sh)), EMPTY_HASH, dtype=np.uint32)
    nonempty = n_sh > 0
    if not nonempty.any():
        return np.ascontiguousarray(out.T)
    starts = (np.cumsum(n_sh) - n_sh)[nonempty]
    hv = _fmix(sh, 32)
    tmp = np.empty_like(hv)
    rows = np.empty(len(starts), dtype=np.uint32)
    for k in range(num_perm):
        np.multiply(hv, a[k], out=tmp)
        np.add(tmp, b[k], out=tmp)
        np.minimum.reduceat(tmp, starts, out=rows)
        out[k, nonempty] = rows
    return np.ascontiguousarray(out.T)


def _chunk_bounds(offsets: "np.ndarray", chunk_bytes: int) -> list[tuple[int, int]]:
    """Split texts into consecutive ranges of about ``chunk_bytes`` bytes (at least one text each)."""
    import numpy as np

    n = len(offsets) - 1
    bounds: list[tuple[int, int]] = []
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + chunk_bytes, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        bounds.append((lo, hi))
        lo = hi
    return bounds


@lru_cache(maxsize=1)
def _short_defaults() -> tuple[int, int]:
    from lakehouse.dedup.config import load_dedup_config

    cfg = load_dedup_config()
    return cfg.short_text_tokens, cfg.char_ngram


def char_signatures(texts: "list[str | None]", *, num_perm: int, n: int, seed: int) -> "np.ndarray":
    """MinHash signatures ``(len, num_perm)`` over :func:`lakehouse.dedup.text.char_shingles` (per text,
    independent of the other texts)."""
    import numpy as np

    from lakehouse.dedup.text import short_text_key

    keys = [short_text_key(t or "") for t in texts]
    raw = [k.encode("utf-32-le") for k in keys]
    lens = np.array([len(k) for k in keys], dtype=np.int64)  # characters
    data = np.frombuffer(b"".join(raw), dtype=np.uint8) if raw else np.zeros(0, np.uint8)
    char_off = np.concatenate(([0], np.cumsum(lens)))[:-1]
    grams = np.where(lens >= n, lens - n + 1, np.minimum(lens, 1))  # shorter than n: one gram of all of it
    first = np.repeat(char_off, grams) + (np.arange(int(grams.sum())) - np.repeat(np.cumsum(grams) - grams, grams))
    width = np.repeat(np.minimum(lens, n), grams)
    starts, ends = first * 4, (first + width) * 4
    sh, n_sh = shingle_hashes(token_hashes(data, starts.astype(np.int64), ends.astype(np.int64)), grams, 1)
    return minhash_matrix(sh, n_sh, num_perm, seed)


def signatures(
    texts: "pa.Array | pa.ChunkedArray", *, num_perm: int, ngram: int, seed: int, chunk_bytes: int = 1_000_000,
    short_tokens: int | None = None, char_ngram: int | None = None,
) -> tuple["np.ndarray", "np.ndarray"]:
    """MinHash signatures of ``texts``: ``(uint32 [len, num_perm], bool nonempty [len])``.

    Texts with fewer than ``short_tokens`` tokens (default: ``dedup.yml``; 0 disables) are sketched
    over character ``char_ngram``-grams (see the module docstring); every row depends only on its text.
    """
    import numpy as np
    import pyarrow as pa

    if short_tokens is None or char_ngram is None:
        d_short, d_char = _short_defaults()
        short_tokens = d_short if short_tokens is None else short_tokens
        char_ngram = d_char if char_ngram is None else char_ngram
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    data, offsets = prepare(texts)
    sigs: list[np.ndarray] = []
    nonempty: list[np.ndarray] = []
    for lo, hi in _chunk_bounds(offsets, chunk_bytes):
        off = offsets[lo : hi + 1]
        chunk = data[off[0] : off[-1]]
        starts, ends, counts = token_spans(chunk, off - off[0])
        sh, n_sh = shingle_hashes(token_hashes(chunk, starts, ends), counts, ngram)
        sig = minhash_matrix(sh, n_sh, num_perm, seed)
        short = np.flatnonzero((counts > 0) & (counts < short_tokens))
        if len(short):
            sig[short] = char_signatures(texts.take(pa.array(short + lo)).to_pylist(), num_perm=num_perm,
                                         n=char_ngram, seed=seed)
        sigs.append(sig)
        nonempty.append(n_sh > 0)
    if not sigs:
        return np.zeros((0, num_perm), dtype=np.uint32), np.zeros(0, dtype=bool)
    return np.concatenate(sigs), np.concatenate(nonempty)
