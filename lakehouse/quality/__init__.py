"""Clinical quality scores per conversation (lakehouse.quality).

Engine entry point: ``lakehouse.quality.batch:score_batch`` (pyarrow RecordBatch in, flat score
columns out). Scores: empathy with the three mechanisms of Sharma et al. (EMNLP 2020), coherence,
reasoning completeness, crisis disclosure / handling, harmful response, toxic assistant turns and
the preference margin. Policy over the scores (quarantine reasons): lakehouse.quality.policy.
Config: lakehouse/config/quality.yml (+ quality_lexicon.yml); meanings: docs/quality.md.
Heavy libraries (torch, transformers) load lazily, once per process, only with embeddings on.
"""

from __future__ import annotations

from .config import QualityConfig, QualityConfigError, load_quality_config

__all__ = ["QualityConfig", "QualityConfigError", "load_quality_config"]
