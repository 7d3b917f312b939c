"""Counting words (`count`) and putting the counts together (`summarize`)."""

from collections import Counter

from text import STOPWORDS  # the other module of this function's code


def count(params):
    """{"words": [...]} -> {"counts": {word: times}}, stopwords left out."""
    return {"counts": dict(Counter(word for word in params["words"] if word not in STOPWORDS))}


def summarize(params):
    """{"counted": one count's answer or a list of them (one per chunk), "total": words} -> the summary."""
    counted = params["counted"]
    parts = counted if isinstance(counted, list) else [counted]
    counts = Counter()
    for part in parts:
        counts.update(part["counts"])
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
    return {"words": params["total"], "distinct": len(counts), "chunks": len(parts),
            "top": ["%s: %d" % (word, times) for word, times in top]}
