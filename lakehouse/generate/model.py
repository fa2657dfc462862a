"""Model access for the generators: a local Hugging Face folder (transformers) or an OpenAI-compatible
endpoint (vLLM, llama.cpp server, ...). Nothing is downloaded.

    model = open_model("/models/my-8b", Sampling(temperature=0.7))        # local folder
    model = open_model("http://127.0.0.1:8000/v1", Sampling(), model_name="qwen")  # endpoint
    text = model.chat([{"role": "system", ...}, {"role": "user", ...}], seed=1234)
    model.identity   # {"model": ..., "model_hash": ..., "model_kind": ..., "model_endpoint": ...}

A local folder with a seed is deterministic: ``torch.manual_seed(seed)`` before every call (greedy
when temperature is 0). An endpoint receives the seed in the request (``seed``); whether it honours
it is the server's business. The endpoint key comes from ``LAKEHOUSE_GENERATOR_API_KEY`` (the name is
configurable in generators.yml) and is never logged or recorded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from lakehouse.generate import GeneratorError

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@functools.lru_cache(maxsize=1)
def generators_config() -> dict[str, Any]:
    import yaml

    from lakehouse.config import config_path

    return yaml.safe_load(config_path("generators.yml").read_text(encoding="utf-8")) or {}


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256

    @classmethod
    def defaults(cls, **overrides: Any) -> "Sampling":
        base = dict(generators_config().get("sampling") or {})
        base.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(temperature=float(base.get("temperature", 0.7)), top_p=float(base.get("top_p", 0.95)),
                max_new_tokens=int(base.get("max_new_tokens", 256)))
        if s.temperature < 0 or not (0 < s.top_p <= 1) or s.max_new_tokens < 1:
            raise GeneratorError(f"invalid sampling: temperature {s.temperature} (>= 0), top_p {s.top_p} (0..1], "
                                 f"max_new_tokens {s.max_new_tokens} (>= 1)")
        return s

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "do_sample": self.do_sample}


class ChatModel(Protocol):
    identity: dict[str, Any]
    sampling: Sampling

    def chat(self, messages: Messages, *, seed: int) -> str: ...


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def clean_generation(text: str) -> str:
    """Drop control characters and U+FFFD (undecodable byte runs) from a generation; strip the ends."""
    return _CONTROL.sub("", text).strip()


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the run seed and a record's key parts (independent of run order)."""
    h = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def is_endpoint(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def open_model(spec: str, sampling: Sampling, *, model_name: str | None = None) -> ChatModel:
    """A local folder (must exist; nothing is downloaded) or an http(s):// OpenAI-compatible base URL."""
    spec = (spec or "").strip()
    if not spec:
        raise GeneratorError("--model is empty: give a local model folder or an http(s):// OpenAI-compatible URL")
    if is_endpoint(spec):
        return EndpointModel(spec, sampling, model_name=model_name)
    if spec.startswith("s3://"):
        raise GeneratorError("--model must be a local folder or an endpoint URL (copy S3 weights to a local folder first)")
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise GeneratorError(f"--model {spec}: no such folder (a local Hugging Face model folder or an http(s):// endpoint; "
                             "nothing is downloaded)")
    if not (path / "config.json").exists():
        raise GeneratorError(f"--model {spec}: no config.json, not a Hugging Face model folder")
    return LocalModel(path, sampling)


# -- local folder ---------------------------------------------------------------------------------
def folder_hash(path: str | os.PathLike[str], full_limit_bytes: int | None = None) -> str:
    """sha256 over each file's relative path, size and content (big files: first and last MiB)."""
    if full_limit_bytes is None:
        full_limit_bytes = int(float((generators_config().get("model") or {}).get("hash_full_limit_mb", 64)) * (1 << 20))
    root = Path(path)
    outer = hashlib.sha256()
    mib = 1 << 20
    for p in sorted(q for q in root.rglob("*") if q.is_file() and ".cache" not in q.relative_to(root).parts):
        rel = p.relative_to(root).as_posix()
        size = p.stat().st_size
        inner = hashlib.sha256()
        with open(p, "rb") as f:
            if size <= full_limit_bytes:
                for block in iter(lambda: f.read(mib), b""):
                    inner.update(block)
            else:
                inner.update(f.read(mib))
                f.seek(size - mib)
                inner.update(f.read(mib))
        outer.update(f"{rel}\t{size}\t{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def _plain_prompt(messages: Messages) -> str:
    """A prompt for a tokenizer without a chat template."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


class LocalModel:
    """A Hugging Face causal LM folder, loaded once, run on CPU (or the default torch device)."""

    def __init__(self, path: Path, sampling: Sampling) -> None:
        self.path = path.resolve()
        self.sampling = sampling
        self.identity = {"model": self.path.name, "model_kind": "local",
                         "model_hash": "sha256:" + folder_hash(self.path), "model_endpoint": None}
        self._tok: Any = None
        self._model: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise GeneratorError("a local --model folder needs transformers: pip install -e '.[train]'") from e
        try:
            self._tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self._model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise GeneratorError(f"--model {self.path}: cannot load ({e.__class__.__name__}: {str(e).splitlines()[0]})") from e
        self._model.eval()
        threads = int(os.environ.get("LAKEHOUSE_GENERATOR_THREADS")
                      or (generators_config().get("model") or {}).get("torch_threads") or 0)
        if threads > 0:
            import torch

            torch.set_num_threads(threads)

    def _render(self, messages: Messages) -> str:
        """The model's chat template; templates without a system role (Gemma...) get the system text
        prepended to the first user turn; no template at all: ``role: content`` lines."""
        tok = self._tok
        if not getattr(tok, "chat_template", None):
            return _plain_prompt(messages)
        try:
            return str(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        except Exception:  # noqa: BLE001 - jinja TemplateError ("System role not supported") and kin
            if not messages or messages[0]["role"] != "system":
                raise
            merged = [dict(m) for m in messages[1:]]
            if merged and merged[0]["role"] == "user":
                merged[0]["content"] = messages[0]["content"] + "\n\n" + merged[0]["content"]
            else:
                merged.insert(0, {"role": "user", "content": messages[0]["content"]})
            return str(tok.apply_chat_template(merged, tokenize=False, add_generation_prompt=True))

    def chat(self, messages: Messages, *, seed: int) -> str:
        import torch

        self._load()
        tok, model = self._tok, self._model
        prompt = self._render(messages)
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        max_pos = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        budget = max_pos - self.sampling.max_new_tokens if max_pos else 0
        if max_pos and budget < 8:
            raise GeneratorError(f"--max-new-tokens {self.sampling.max_new_tokens} leaves no room for a prompt in a "
                                 f"{max_pos}-token context")
        if budget and ids.shape[1] > budget:
            ids = ids[:, -budget:]  # keep the end of the conversation (the system prompt goes first)
        kwargs: dict[str, Any] = {"max_new_tokens": self.sampling.max_new_tokens,
                                  "do_sample": self.sampling.do_sample,
                                  "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id}
        if self.sampling.do_sample:
            kwargs.update(temperature=self.sampling.temperature, top_p=self.sampling.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        return clean_generation(str(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))


# -- OpenAI-compatible endpoint -------------------------------------------------------------------
def _base_url(url: str) -> str:
    u = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if u.endswith(suffix):
            u = u[: -len(suffix)]
    parsed = urllib.parse.urlsplit(u)
    if parsed.username or parsed.password:
        raise GeneratorError("--model URL must not carry credentials: set LAKEHOUSE_GENERATOR_API_KEY instead")
    if parsed.path in ("", "/"):
        u = u + "/v1"
    return u


class EndpointModel:
    """An OpenAI-compatible ``/chat/completions`` endpoint over the standard-library HTTP client."""

    def __init__(self, url: str, sampling: Sampling, *, model_name: str | None = None) -> None:
        cfg = generators_config().get("model") or {}
        self.base = _base_url(url)
        self.sampling = sampling
        self.timeout = float(cfg.get("timeout_s", 120))
        self.retries = int(cfg.get("retries", 3))
        self._key = os.environ.get(str(cfg.get("api_key_env") or "LAKEHOUSE_GENERATOR_API_KEY"), "").strip()
        name = model_name or self._first_model()
        self.identity = {"model": name, "model_kind": "endpoint", "model_endpoint": self.base,
                         "model_hash": None}

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode() if body is not None else None
        last = ""
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
                if e.code in (401, 403):
                    raise GeneratorError(f"{self.base}{path}: {last} (check LAKEHOUSE_GENERATOR_API_KEY)") from e
                if e.code != 429 and e.code < 500:
                    raise GeneratorError(f"{self.base}{path}: {last}") from e
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"{e.__class__.__name__}: {getattr(e, 'reason', e)}"
            except json.JSONDecodeError as e:
                raise GeneratorError(f"{self.base}{path}: the response is not JSON") from e
            if attempt < self.retries:
                time.sleep(min(30.0, 0.5 * 2 ** attempt))
        raise GeneratorError(f"{self.base}{path}: unreachable after {self.retries + 1} attempts ({last})")

    def _first_model(self) -> str:
        data = self._request("GET", "/models")
        models = [m.get("id") for m in data.get("data") or [] if isinstance(m, dict) and m.get("id")]
        if not models:
            raise GeneratorError(f"{self.base}/models lists no model: pass --model-name")
        return str(models[0])

    def chat(self, messages: Messages, *, seed: int) -> str:
        body = {"model": self.identity["model"], "messages": messages, "seed": seed,
                "temperature": self.sampling.temperature, "top_p": self.sampling.top_p,
                "max_tokens": self.sampling.max_new_tokens, "stream": False}
        data = self._request("POST", "/chat/completions", body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as e:
            raise GeneratorError(f"{self.base}/chat/completions: unexpected response (no choices[0].message.content)") from e
        return clean_generation(str(content or ""))
