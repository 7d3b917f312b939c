"""Words of a text: the `tokenize` function, and the words that counting leaves out."""

import re

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
CHUNK_WORDS = 20  # a text of more words than this is counted in chunks of this many (see workflow.yaml)
STOPWORDS = frozenset(
    "a an and are as at be but by for from has in is it its of on one or that the then to was when with".split())


def tokenize(params):
    """{"text": "..."} -> the words in lower case, how many there are, and the words in chunks."""
    words = WORD.findall(params["text"].lower())
    chunks = [{"words": words[i:i + CHUNK_WORDS]} for i in range(0, len(words), CHUNK_WORDS)]
    return {"words": words, "total": len(words), "chunks": chunks}
